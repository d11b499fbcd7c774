"""Max-pooling on the output stream: one row per group of consecutive rows."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
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
        # rows of the current group seen so far, plus one (so that the test for the group's
        # last row compares a register with ``group``, no incrementer before it)
        seen1 = Signal(9, init=1)
        index = Signal.like(self.o.payload.addr)
        # the data registers are read only with o.valid or after a first row: no reset (see
        # Requantize)
        running = [Signal(signed(8), name=f"max_{c}", reset_less=True) for c in range(self.cols)]
        out = Signal(data.ArrayLayout(signed(8), self.cols), reset_less=True)
        m.d.comb += self.o.payload.data.eq(out)
        # ``restart`` comes with the first row of a command: it starts group 0 itself.
        at = Mux(self.restart, 0, index)
        first = Mux(self.restart, 1, seen1 == 1)
        last = Mux(self.restart, self.group <= 1, seen1 >= self.group)

        m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid):
            best = []
            for c in range(self.cols):
                x = self.i.payload.data[c]
                best.append(Mux(first | (x > running[c]), x, running[c]))
            m.d.sync += [r.eq(b) for r, b in zip(running, best, strict=True)]
            with m.If(last):
                m.d.sync += [seen1.eq(1), index.eq(at + 1), self.o.valid.eq(1),
                             self.o.payload.addr.eq(at)]
                m.d.sync += [out[c].eq(b) for c, b in enumerate(best)]
            with m.Else():
                m.d.sync += [seen1.eq(Mux(self.restart, 2, seen1 + 1)), index.eq(at)]
        return m
