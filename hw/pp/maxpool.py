"""Max-pooling on the output stream: one row per group of consecutive rows."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec import timing
from ..streams import vector_stream

__all__ = ["GroupMax"]


class GroupMax(wiring.Component):
    """Elementwise max over each group of ``group`` consecutive int8 rows.

    The driver orders the rows of a command so that every pooling window's pixels are
    consecutive (pixels shared by overlapping windows are computed once per window), so one
    running max per column is all the hardware needs. Rows arrive with their index ``j`` in the
    command; the k-th group leaves as row ``k`` (``= j // group``). ``restart``, high with the
    first row of a command (sampled with ``i.valid``, like ``group``), makes that row begin
    group 0, whatever came before: commands can follow each other row after row. ``group`` = 1
    passes rows through. Golden twin: the ``pool``
    argument of :func:`models.linear`. ``LATENCY = 1`` after the last row of a group.
    """

    LATENCY = timing.stage_latency("GroupMax")

    def __init__(self, cols, addr_width):
        self.cols = cols
        super().__init__({
            "i": In(vector_stream(signed(8), cols, addr_width)),
            "o": Out(vector_stream(signed(8), cols, addr_width)),
            "group": In(8),
            "restart": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        # The test for a group's last row is a register (``last_q``) with the compare done a
        # row ahead: ``last`` fans out to the index, the address and the valid, and came after
        # a counter's comparison with ``group`` (the routed 8x8's critical path at cffbbae).
        # ``after_last``: the previous row ended its group (or there was none): this row
        # begins a group. ``last_q``: a row that does not begin its group ends it.
        # ``seen2``: the rows of the group seen so far, plus two (the next row's test).
        after_last = Signal(init=1)
        last_q = Signal()
        seen2 = Signal(9)
        index = Signal.like(self.o.payload.addr)
        # the running max is the output: after a group's last row it is the group's max, and
        # the next row changes it only at the end of the cycle that shows it (o.valid). No
        # reset: read only with o.valid or after a first row (see Requantize)
        running = [Signal(signed(8), name=f"max_{c}", reset_less=True) for c in range(self.cols)]
        m.d.comb += [self.o.payload.data[c].eq(r) for c, r in enumerate(running)]
        # ``restart`` comes with the first row of a command: it starts group 0 itself.
        at = Mux(self.restart, 0, index)
        first = self.restart | after_last
        last = Mux(first, self.group <= 1, last_q)

        m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid):
            best = []
            for c in range(self.cols):
                x = self.i.payload.data[c]
                best.append(Mux(first | (x > running[c]), x, running[c]))
            m.d.sync += [r.eq(b) for r, b in zip(running, best, strict=True)]
            m.d.sync += after_last.eq(last)
            with m.If(last):
                m.d.sync += [index.eq(at + 1), self.o.valid.eq(1), self.o.payload.addr.eq(at)]
            with m.Else():
                m.d.sync += index.eq(at)
            # the next row's test, if this one does not end its group
            with m.If(first):
                m.d.sync += [last_q.eq(self.group <= 2), seen2.eq(3)]
            with m.Else():
                m.d.sync += [last_q.eq(seen2 >= self.group), seen2.eq(seen2 + 1)]
        return m
