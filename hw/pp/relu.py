"""ReLU on int8 values: clamp at the output zero point."""

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec import timing
from ..streams import vector_stream

__all__ = ["Relu"]


class Relu(wiring.Component):
    """``y = max(x, zero_point)`` when ``enable``, else ``y = x`` (quantized ReLU).

    Golden twin: the ``relu`` argument of :func:`models.requantize`. ``LATENCY = 1``.
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
        m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.addr.eq(self.i.payload.addr)]
        # the data register is read only with o.valid: no reset (see Requantize)
        out = Signal(data.ArrayLayout(signed(8), self.cols), reset_less=True)
        m.d.comb += self.o.payload.data.eq(out)
        for c in range(self.cols):
            x = self.i.payload.data[c]
            clamp = Signal(name=f"clamp_{c}")
            m.d.comb += clamp.eq(self.enable & (x < self.zero_point))
            with m.If(self.i.valid):
                m.d.sync += out[c].eq(x)
                with m.If(clamp):
                    m.d.sync += out[c].eq(self.zero_point)
        return m
