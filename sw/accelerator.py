"""The public accelerator: the register-level driver plus the layers lowered onto it."""

from __future__ import annotations

from .driver import AcceleratorError, Driver
from .layers import Layers
from .targets import TARGETS

__all__ = ["TARGETS", "Accelerator", "AcceleratorError"]


class Accelerator(Layers, Driver):
    """Runs layers on a pimacc: ``Accelerator.open(target, **geometry)`` or
    ``Accelerator(transport)``.

    ``linear`` and the register protocol come from :class:`~sw.driver.Driver`; ``conv2d``,
    ``depthwise_conv2d``, ``max_pool2d``, ``avg_pool2d``, ``global_avg_pool2d`` and ``add`` from
    :class:`~sw.layers.Layers`, each lowered onto ``linear``.
    """
