"""The register-level driver: commands, data movement and ``linear`` (:mod:`.driver`), the tiler
(:mod:`.tiling`, a pure function with its cost model), argument checks, word packing and the
statistics of a call."""

from .driver import AcceleratorError, Driver
from .stats import Stats

__all__ = ["AcceleratorError", "Driver", "Stats"]
