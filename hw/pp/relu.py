"""ReLU on int8 values: clamp at the output zero point."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec import timing
from ..streams import vector_stream

__all__ = ["Relu"]


class Relu(wiring.Component):
    """``y = max(x, zero_point)`` when ``enable``, else ``y = x`` (quantized ReLU).

    Golden twin: the ``relu`` argument of :func:`models.requantize`. ``LATENCY = 0``: one
    compare and a multiplexer per column after max-pool's output register, the chain's last
    stage (:class:`~hw.postproc.PostProcess`), no register of its own (the requantizer took
    that cycle for its input register, so the chain's latency stays
    :data:`hw.spec.timing.POSTPROC_LATENCY`).
    """

    LATENCY = timing.stage_latency("Relu")

    def __init__(self, cols, addr_width):
        self.cols = cols
        super().__init__({
            "i": In(vector_stream(signed(8), cols, addr_width)),
            "o": Out(vector_stream(signed(8), cols, addr_width)),
            "enable": In(1),
            "zero_point": In(signed(8)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o.valid.eq(self.i.valid), self.o.payload.addr.eq(self.i.payload.addr)]
        for c in range(self.cols):
            x = self.i.payload.data[c]
            clamp = Signal(name=f"clamp_{c}")
            m.d.comb += [clamp.eq(self.enable & (x < self.zero_point)),
                         self.o.payload.data[c].eq(Mux(clamp, self.zero_point, x))]
        return m
