"""Requantization of int32 accumulators to int8."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Requantize", "vector_stream"]


def vector_stream(elem_shape, cols, addr_width):
    """A stream of one output row: its row address and ``cols`` elements."""
    return stream.Signature(data.StructLayout({
        "addr": unsigned(addr_width),
        "data": data.ArrayLayout(elem_shape, cols),
    }), always_ready=True)


class Requantize(wiring.Component):
    """int32 -> int8 with a per-column Q31 multiplier and right shift, then the zero point.

    Golden twin: :func:`models.requantize`. For each column::

        p = acc * mult                              (64-bit, mult in 0 .. 2**31-1)
        q = (p + 2**(shift-1)) >> shift  if shift > 0 else p     (round half up, toward +inf)
        y = clamp(q + zero_point, -128, 127)

    The rounding shift is computed as ``((p >> (shift-1)) + 1) >> 1``, which is the same
    integer for every p and avoids a 64-bit variable left shift.

    Pipeline, ``LATENCY = 3``: stage 1 multiply, stage 2 rounding shift, stage 3 zero point and
    saturation. The row address travels along unchanged.
    """

    LATENCY = 3

    def __init__(self, cols, addr_width):
        self.cols = cols
        super().__init__({
            "i": In(vector_stream(signed(32), cols, addr_width)),
            "o": Out(vector_stream(signed(8), cols, addr_width)),
            "mult": In(data.ArrayLayout(unsigned(31), cols)),
            "shift": In(data.ArrayLayout(unsigned(6), cols)),
            "zero_point": In(signed(8)),
        })

    def elaborate(self, platform):
        m = Module()
        valid = [Signal(name=f"valid_{i}") for i in range(self.LATENCY)]
        addr = [Signal.like(self.i.payload.addr, name=f"addr_{i}") for i in range(self.LATENCY)]
        m.d.sync += [valid[0].eq(self.i.valid), addr[0].eq(self.i.payload.addr)]
        for s in range(1, self.LATENCY):
            m.d.sync += [valid[s].eq(valid[s - 1]), addr[s].eq(addr[s - 1])]

        for c in range(self.cols):
            # Stage 1: the 64-bit product.
            p = Signal(signed(64), name=f"p_{c}")
            shift = Signal(unsigned(6), name=f"shift_{c}")
            with m.If(self.i.valid):
                m.d.sync += [p.eq(self.i.payload.data[c] * self.mult[c]), shift.eq(self.shift[c])]
            # Stage 2: rounding right shift.
            q = Signal(signed(64), name=f"q_{c}")
            rounded = ((p >> (shift - 1)[:6]) + 1) >> 1
            with m.If(valid[0]):
                m.d.sync += q.eq(Mux(shift == 0, p, rounded))
            # Stage 3: zero point and saturation to int8.
            y = Signal(signed(66), name=f"y_{c}")
            m.d.comb += y.eq(q + self.zero_point)
            with m.If(valid[1]):
                with m.If(y > 127):
                    m.d.sync += self.o.payload.data[c].eq(127)
                with m.Elif(y < -128):
                    m.d.sync += self.o.payload.data[c].eq(-128)
                with m.Else():
                    m.d.sync += self.o.payload.data[c].eq(y[:8])

        m.d.comb += [self.o.valid.eq(valid[-1]), self.o.payload.addr.eq(addr[-1])]
        return m
