"""The public accelerator: the register-level driver plus the layers lowered onto it."""

from __future__ import annotations

from .driver import AcceleratorError, Driver
from .layers import Layers
from .targets import TARGETS

__all__ = ["TARGETS", "Accelerator", "AcceleratorError"]


class Accelerator(Layers, Driver):
    """Runs layers on a pimacc: ``Accelerator.open(target, dma=None, **geometry)`` or
    ``Accelerator(transport, dma=None)``.

    ``linear``, ``run_program`` and the register protocol come from
    :class:`~sw.driver.Driver`: a layer runs as one program from the memory behind the
    accelerator when the target has memory (``dma=None``), else, or with ``dma=False``, through
    the registers; ``dma=True`` requires memory. ``conv2d``,
    ``depthwise_conv2d``, ``max_pool2d``, ``avg_pool2d``, ``global_avg_pool2d`` and ``add`` from
    :class:`~sw.layers.Layers`, each lowered onto ``linear``.
    """
