"""The driver: registers, commands, data movement, programs and ``linear`` (:mod:`.driver`),
the tiler (:mod:`.tiling`, a pure function with its cost model), the program builder and the
compiler of a plan into a program (:mod:`.program`), argument checks, word packing and the
statistics of a call."""

from .driver import AcceleratorError, Driver
from .program import Program
from .stats import Stats

__all__ = ["AcceleratorError", "Driver", "Program", "Stats"]
