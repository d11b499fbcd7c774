"""Host software of pimacc.

Public API at this level: :class:`Accelerator` (``sw/accelerator.py``) and :mod:`sw.nn`. The
machinery lives in subpackages, each importing only those below it::

    bench/   make bench: reference layers, one record type, figures
    layers/  convolution, pooling, add lowered onto linear; mapping and cost choice
    driver/  registers, commands, data movement, linear, tiling
    targets/ the register-level model and the simulators behind one Transport

Importing ``sw`` imports no Amaranth (the gateware is built only when a simulator target opens).
"""

from .accelerator import TARGETS, Accelerator, AcceleratorError
from .driver import Stats
from .targets import BusErrorResponse, Transport

__all__ = ["TARGETS", "Accelerator", "AcceleratorError", "BusErrorResponse", "Stats", "Transport"]
