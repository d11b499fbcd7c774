"""Requantization of int32 accumulators to int8."""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..pipeline import delay
from ..spec import timing
from ..streams import vector_stream

__all__ = ["Requantize"]


class Requantize(wiring.Component):
    """int32 -> int8 with a per-column Q31 multiplier and right shift, then the zero point.

    Golden twin: :func:`models.requantize`. For each column::

        p = acc * mult                              (64-bit, mult in 0 .. 2**31-1)
        q = (p + 2**(shift-1)) >> shift  if shift > 0 else p     (round half up, toward +inf)
        y = clamp(q + zero_point, -128, 127)

    The rounding shift is computed as ``((p >> (shift-1)) + 1) >> 1``, which is the same
    integer for every p and avoids a 64-bit variable left shift.

    Pipeline, ``LATENCY = 4``: stage 1 registers the inputs (so the multipliers see a change
    only once per valid row, never while idle), stage 2 multiplies, stage 3 shifts with
    rounding, stage 4 adds the zero point and saturates. The row address travels along
    unchanged. Only the valid bits are reset: the data registers (``reset_less``) are read only
    with their valid bit, and without a reset their next values do not depend on the reset
    inputs, which Verilator would otherwise evaluate again whenever an input changes. Every
    intermediate stays within 64 bits (|p| < 2**62), which keeps Icarus on its fast native
    arithmetic.
    """

    LATENCY = timing.stage_latency("Requantize")
    #: cycles from a row's ``i.valid`` to the stage that adds ``zero_point`` (stage 4)
    ZERO_POINT_DELAY = LATENCY - 1

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
        valid = delay(m, self.i.valid, self.LATENCY, name="valid")
        addr = delay(m, self.i.payload.addr, self.LATENCY, name="addr")
        # one register per column (a packed row register would make Verilator build the whole
        # row's next value outside the valid bit's ``if``)
        out = [Signal(signed(8), name=f"out_{c}", reset_less=True) for c in range(self.cols)]
        m.d.comb += self.o.payload.data.eq(Cat(*out))

        # Stage 4's bounds: the sum q + zero_point saturates where q passes them.
        top = Signal(signed(9), name="sat_hi")
        bottom = Signal(signed(9), name="sat_lo")
        m.d.comb += [top.eq(127 - self.zero_point), bottom.eq(-128 - self.zero_point)]
        for c in range(self.cols):
            # Stage 1: register the inputs.
            acc = Signal(signed(32), name=f"acc_{c}", reset_less=True)
            mult = Signal(unsigned(31), name=f"mult_{c}", reset_less=True)
            shift = [Signal(unsigned(6), name=f"shift_{c}_{i}", reset_less=True)
                     for i in range(2)]
            with m.If(self.i.valid):
                m.d.sync += [acc.eq(self.i.payload.data[c]), mult.eq(self.mult[c]),
                             shift[0].eq(self.shift[c])]
            # Stage 2: the product (signed(63), the shape of acc * mult).
            p = Signal(signed(63), name=f"p_{c}", reset_less=True)
            with m.If(valid[0]):
                m.d.sync += [p.eq(acc * mult), shift[1].eq(shift[0])]
            # Stage 3: rounding right shift, ((p >> (shift-1)) + 1) >> 1.
            # (the last >> 1 as the sum's bits 1.., within 63 bits as |p|: a signed >> would
            # read the sum twice, its sign and its bits, and not be inlined by Verilator)
            q = Signal(signed(63), name=f"q_{c}", reset_less=True)
            with m.If(valid[1]):
                m.d.sync += q.eq(Mux(shift[1] == 0, p,
                                     ((p >> (shift[1] - 1)[:6]) + 1)[1:].as_signed()))
            # Stage 4: zero point and saturation to int8: q + zero_point compared through q
            # (the bounds above), its low 8 bits from the low 8 bits of the two.
            with m.If(valid[2]):
                m.d.sync += out[c].eq(Mux(q > top, 127, Mux(q < bottom, -128,
                                                            q[:8] + self.zero_point[:8])))

        m.d.comb += [self.o.valid.eq(valid[-1]), self.o.payload.addr.eq(addr[-1])]
        return m
