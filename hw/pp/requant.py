"""Requantization of int32 accumulators to int8."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..ecp5 import check_cells, mult18x18d
from ..pipeline import KEEP_APART, delay
from ..spec import timing
from ..streams import vector_stream

__all__ = ["Requantize"]


class Requantize(wiring.Component):
    """int32 -> int8 with a per-column Q31 multiplier and right shift, then the zero point.

    Golden twin: :func:`models.requantize`. For each column::

        p = acc * mult                              (63-bit signed, mult in 0 .. 2**31-1)
        q = (p + 2**(shift-1)) >> shift  if shift > 0 else p     (round half up, toward +inf)
        y = clamp(q + zero_point, -128, 127)

    The datapath computes only what the clamp can see. With ``P = 2 * p`` (64 bits) and
    ``t = P >> shift`` (``p >> (shift-1)``, or ``2p`` for shift 0)::

        q = (t + 1) >> 1 = (t >> 1) + t[0]        for every shift 0 .. 63

    and ``clamp(q + zero_point)`` is the same for every ``t >= 509`` (``q >= 255``: 127 for
    any zero point) and for every ``t <= -512`` (``q <= -256``: -128), so only a ``t`` within
    ``signed(10)`` needs its exact value. ``t`` is within ``signed(10)`` exactly when P's bits
    from ``shift + 9`` up all equal its sign; its bit 9 is then that sign, so the shifter
    needs only P's :attr:`WINDOW` (9) bits from ``shift`` up, plus a flag ``over``: "one of
    P's bits from ``shift + 9`` up differs from the sign" (then y is 127 or -128 by the sign).

    The narrow shifter takes ``shift``'s bits from the top: the stage of bit k shifts right
    by ``2**k`` or not and keeps the ``WINDOW + 2**k - 1`` low bits that the smaller shifts
    can still reach. What a stage drops when it does not shift are bits of P from
    ``shift + 9`` up (and the stages together drop all of them), which it compares with the
    sign for ``over``; what it drops when it shifts is sign extension. That is 111 two-way
    muxes and 54 bits compared instead of a 64-bit barrel shifter, a 63-bit rounding adder and
    two 63-bit compares (``verif/hw/test_requant_sim.py`` proves the block equal to the
    formula above, boundaries included).

    Pipeline, ``LATENCY = 4``: stage 1 registers the inputs (so the multipliers see a change
    only once per valid row, never while idle, and start at a register), stage 2 multiplies in
    four parts (the ``acc`` and ``mult`` halves at bit :data:`SPLIT`, each part one 18x18 DSP
    product, registered), stage 3 adds the parts into ``p`` (two sums side by side, then
    theirs), stage 4 shifts the window out and flags ``over``, stage 5 rounds, adds the zero
    point and saturates (``(t + 2 * zero_point + 1) >> 1`` on 11 bits, the zero point from a
    register of each column's, taken a cycle before: :data:`ZERO_POINT_DELAY`)
    *combinationally*: the output is stage 4's registers through stage 5, valid with
    ``o.valid``, and whoever takes
    it registers it (:class:`~hw.pp.lut.Lut`, whose block RAM reads with the row's address
    that cycle; the row used to pass one more register here, and the LUT's entry then went
    from the block RAM's output through ReLU and max-pool in one cycle). (With four registered
    stages the whole multiply and its adder chains in one cycle were the 8x8 accelerator's
    critical path, 72.9 MHz; the parts straight from the accumulator's block RAM and adder
    without the input register then were, 54.9 MHz.) ``mult_cells`` "ecp5" builds each
    partial product as a MULT18X18D (:func:`hw.ecp5.mult18x18d`) whose input registers are
    stage 1's ``acc`` and ``mult`` halves and whose output register is stage 2's: the routes
    from a fabric register into the block and out of it to the next were the 8x8
    accelerator's critical path with the array's products in DSP blocks (96.4 MHz, 3.1 ns in
    the block, 3.1 + 3.9 ns of routing); the same results and cycles ("inferred", the
    default: ``*`` and fabric registers). The row address travels along unchanged.
    Only the valid bits are reset: the data registers (``reset_less``) are read only with
    their valid bit, and without a reset their next values do not depend on the reset
    inputs, which Verilator would otherwise evaluate again whenever an input changes.
    Stages 2 and 3 load every cycle (stage 1 keeps still while idle, so they do too): a
    clock enable from a stage's valid bit had been one net to a whole stage's registers,
    among the routed 16x16's most congested nets. Stage 1 and stage 4, the output, load
    with their valid bits. Every
    intermediate stays within 64 bits (|p| < 2**62), which keeps Icarus on its fast native
    arithmetic.
    """

    LATENCY = timing.stage_latency("Requantize")
    #: cycles from a row's ``i.valid`` to the cycle ``zero_point`` is taken: a cycle before
    #: stage 5 (the combinational output) adds it, as each column registers its own copy
    ZERO_POINT_DELAY = LATENCY - 1
    #: bits of ``t = 2p >> shift`` that stage 4 keeps; with the sign they make ``t`` exact
    #: in ``signed(WINDOW + 1)`` whenever it is not ``over``
    WINDOW = 9
    #: where ``acc`` and ``mult`` are cut for the partial products: each low half unsigned
    #: ``SPLIT`` bits, each high half the rest (``acc``'s signed), every product within a
    #: signed 18x18 multiply
    SPLIT = 17

    def __init__(self, cols, addr_width, mult_cells="inferred"):
        check_cells(mult_cells)
        self.cols, self.mult_cells = cols, mult_cells
        super().__init__({
            "i": In(vector_stream(signed(32), cols, addr_width)),
            "o": Out(vector_stream(signed(8), cols, addr_width)),
            "mult": In(data.ArrayLayout(unsigned(31), cols)),
            "shift": In(data.ArrayLayout(unsigned(6), cols)),
            "zero_point": In(signed(8)),
        })

    @classmethod
    def window_shift(cls, p, shift):
        """``(bits, over)``: the :attr:`WINDOW` low bits of ``2p >> shift`` and whether that
        value does not fit in ``signed(WINDOW + 1)`` (see the class docstring).

        The stages are expressions, not signals: each use of a stage then gets its own copy
        of the stages before it, trimmed to the bits it reads, so every window bit and every
        compared bit is a mux tree of its own, which Yosys maps onto LUT4s and the wide-mux
        cells (PFUMX, L6MUX21). Named stages shared by all of them took 18 % more LUT4 (3,703
        against 3,138 at 16 columns). The cost is a longer Verilog (about 500 lines a column),
        whose muxes change once a row."""
        sign = p[-1]
        x = Cat(Const(0, 1), p)   # P = 2p
        kept = len(x)
        over = []
        for k in reversed(range(len(shift))):
            step = 1 << k
            keep = cls.WINDOW + step - 1   # what shifts by 0 .. step-1 can still reach
            over.append(~shift[k] & (x[keep:kept] != sign.replicate(kept - keep)))
            # shifted, sign-extended where the shift reads beyond P (the first stage only)
            shifted = Cat(x[step:kept], sign.replicate(keep + step - kept))
            x, kept = Mux(shift[k], shifted, x[:keep]), keep
        return x, Cat(*over).any()

    def elaborate(self, platform):
        m = Module()
        valid = delay(m, self.i.valid, self.LATENCY, name="valid")
        addr = delay(m, self.i.payload.addr, self.LATENCY, name="addr")
        out = [Signal(signed(8), name=f"out_{c}") for c in range(self.cols)]
        m.d.comb += self.o.payload.data.eq(Cat(*out))

        for c in range(self.cols):
            # Stage 1: register the inputs.
            shift = [Signal(unsigned(6), name=f"shift_{c}_{i}", reset_less=True)
                     for i in range(3)]
            with m.If(self.i.valid):
                m.d.sync += shift[0].eq(self.shift[c])
            m.d.sync += shift[1].eq(shift[0])
            # Stage 2: the four partial products of acc * mult.
            k = self.SPLIT
            halves = {"l": slice(0, k), "h": slice(k, None)}
            pp = {}
            if self.mult_cells == "ecp5":
                # each part a MULT18X18D whose A/B registers are stage 1's (loading with the
                # row's valid) and whose P register is stage 2's (every cycle)
                for n in ("ll", "hl", "lh", "hh"):
                    a = self.i.payload.data[c][halves[n[0]]]
                    a = a.as_signed() if n[0] == "h" else a
                    b = self.mult[c][halves[n[1]]]
                    pp[n] = Signal(signed(len(a) + len(b)) if n[0] == "h" else len(a) + len(b),
                                   name=f"pp_{n}_{c}")
                    mult18x18d(m, a, b, pp[n], self.i.valid, Const(1),
                               name=f"requant_{n}_{c}")
            else:
                acc = Signal(signed(32), name=f"acc_{c}", reset_less=True)
                mult = Signal(unsigned(31), name=f"mult_{c}", reset_less=True)
                with m.If(self.i.valid):
                    m.d.sync += [acc.eq(self.i.payload.data[c]), mult.eq(self.mult[c])]
                parts = {"ll": acc[:k] * mult[:k], "hl": acc[k:].as_signed() * mult[:k],
                         "lh": acc[:k] * mult[k:], "hh": acc[k:].as_signed() * mult[k:]}
                pp = {n: Signal.like(v, name=f"pp_{n}_{c}", reset_less=True)
                      for n, v in parts.items()}
                m.d.sync += [pp[n].eq(v) for n, v in parts.items()]
            # Stage 3: p = acc * mult from its parts (signed(63), the shape of acc * mult):
            # its low k bits are the low part's, the rest (ll's high bits + hl) + (lh + hh << k),
            # two adders side by side and one after them (within 64 bits, as every
            # intermediate here)
            p = Signal(signed(63), name=f"p_{c}", reset_less=True)
            upper = (pp["ll"][k:] + pp["hl"]) + (pp["lh"] + (pp["hh"] << k))
            m.d.sync += [p.eq(Cat(pp["ll"][:k], upper)), shift[2].eq(shift[1])]
            # Stage 4: t = 2p >> shift, its window and sign, or over.
            t = Signal(signed(self.WINDOW + 1), name=f"t_{c}", reset_less=True)
            over = Signal(name=f"over_{c}", reset_less=True)
            bits, out_of_range = self.window_shift(p, shift[2])
            with m.If(valid[2]):
                m.d.sync += [t.eq(Cat(bits, p[-1])), over.eq(out_of_range)]
            # Stage 5 (combinational): q + zero_point = (t >> 1) + t[0] + zero_point, as one
            # adder, (t + 2 * zero_point + 1) >> 1 (the odd constant is the zero point's bits
            # after a 1: no logic), saturated to int8 when over (by the sign) or when its bits
            # 7.. are not all equal (by its own sign). (Two adders in a row had put the LUT's
            # block RAM address 8.0-8.3 ns after the t register, routed on the 8x8.)
            # The zero point comes from the column's own register (one register shared by
            # the columns had a 3 ns route to the farthest one's adder, the routed 8x8's worst
            # path at seed 1, 8.4 ns), kept apart from the others (KEEP_APART: Yosys would
            # merge them back into one).
            zp = Signal(signed(8), name=f"zp_{c}", reset_less=True, attrs=KEEP_APART)
            m.d.sync += zp.eq(self.zero_point)
            y = Signal(signed(self.WINDOW + 2), name=f"y_{c}")
            m.d.comb += y.eq((t + Cat(Const(1, 1), zp).as_signed()).shift_right(1))
            saturate = over | ~(y[7:].all() | ~y[7:].any())
            positive = Mux(over, ~t[-1], ~y[-1])
            m.d.comb += out[c].eq(Mux(saturate, Mux(positive, 127, -128), y[:8]))

        m.d.comb += [self.o.valid.eq(valid[-1]), self.o.payload.addr.eq(addr[-1])]
        return m
