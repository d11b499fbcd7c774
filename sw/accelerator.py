"""The public accelerator: the register-level driver plus the layers lowered onto it."""

from __future__ import annotations

import dataclasses

from hw.spec import CimGeometry, Feature, Geometry, register

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

    A compute-in-memory build (CFG_FEATURES has Feature.CIM; open one with
    ``Accelerator.open(target, cim=models.cim.CimConfig(...), **geometry)``) has a
    :class:`~hw.spec.CimGeometry` (``geometry.cim`` from CFG_CIM); every product then goes
    through the ADCs with the window :attr:`cim_shift`, set per layer, e.g. by
    :meth:`calibrate_cim` from calibration data (:func:`sw.cim.calibrate_shift`).
    """

    def __init__(self, transport, *, dma=None, plan_cache=None, predict_workers=None):
        super().__init__(transport, dma=dma, plan_cache=plan_cache,
                         predict_workers=predict_workers)
        if Feature.CIM in self.features:
            digital = {f.name: getattr(self.geometry, f.name)
                       for f in dataclasses.fields(Geometry)}
            self.geometry = CimGeometry(**digital, cim=CimGeometry.cim_from_word(
                self._read_reg("CFG_CIM")))

    def _cim(self):
        if not isinstance(self.geometry, CimGeometry):
            raise AcceleratorError(f"{self!r} is not a compute-in-memory build (no Feature.CIM "
                                   f"in CFG_FEATURES)")
        return self.geometry.cim

    @property
    def cim_shift(self):
        """The ADC window (CIM_SHIFT) the next products use (CIM builds only)."""
        self._cim()
        return self._read_reg("CIM_SHIFT")

    @cim_shift.setter
    def cim_shift(self, shift):
        self._cim()
        self.write_words(register("CIM_SHIFT").offset, [register("CIM_SHIFT").pack(value=shift)])

    def calibrate_cim(self, x, w):
        """Set :attr:`cim_shift` for a layer of int8 weights ``w`` [N, K] from calibration
        inputs ``x`` [M, K] (:func:`sw.cim.calibrate_shift`); returns the shift."""
        from .cim import calibrate_shift
        shift = calibrate_shift(x, w, self._cim())
        self.cim_shift = shift
        return shift

    def cim_counters(self):
        """{"adc_conversions": PERF_ADC, "row_activations": PERF_ROWS} (CIM builds only)."""
        self._cim()
        return {"adc_conversions": self._read_reg("PERF_ADC"),
                "row_activations": self._read_reg("PERF_ROWS")}
