"""Host software of pimacc: the driver, its transports and the register-level model."""

from .accelerator import TARGETS, Accelerator, AcceleratorError
from .stats import Stats
from .transport import BusErrorResponse, Transport

__all__ = ["TARGETS", "Accelerator", "AcceleratorError", "BusErrorResponse", "Stats", "Transport"]
