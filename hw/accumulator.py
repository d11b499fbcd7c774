"""int32 accumulator memory with overwrite / bias / accumulate updates."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .spec import timing

__all__ = ["Accumulator"]


class Accumulator(wiring.Component):
    """One C-wide row of int32 accumulators per (vector index, column).

    For every valid row of column sums ``i_sums`` arriving for row ``i_addr``::

        base = acc[i_addr] if accumulate else (bias if use_bias else 0)
        acc[i_addr] = base + i_sums          (int32, wraps)

    ``accumulate``, ``use_bias`` and ``bias`` are sampled with the row (in the cycle of its
    ``i_valid``, like ``i_addr`` and ``i_sums``), so every row may have its own. The read is
    issued in the cycle the sums arrive; the new row is written, and leaves on ``o_*``, one
    cycle later (``LATENCY = 1``). The read port is transparent to the write port, so a row
    written in one cycle can be read back-to-back in the next. ``i_tag`` travels along.
    Golden twin: the accumulation in :func:`models.linear`.

    Members
    -------
    rd_addr, rd_en : In
        Bus read port; ``rd_data`` (the whole row, column c in bits 32c+31..32c) follows one
        cycle after ``rd_en`` and holds until the next one.
    """

    LATENCY = timing.ACCUMULATOR_LATENCY

    def __init__(self, cols, depth, tag_width):
        self.cols, self.depth = cols, depth
        super().__init__({
            "i_valid": In(1),
            "i_addr": In(range(depth)),
            "i_sums": In(data.ArrayLayout(signed(32), cols)),
            "i_tag": In(tag_width),
            "accumulate": In(1),
            "use_bias": In(1),
            "bias": In(data.ArrayLayout(signed(32), cols)),
            "o_valid": Out(1),
            "o_data": Out(data.ArrayLayout(signed(32), cols)),
            "o_tag": Out(tag_width),
            "rd_addr": In(range(depth)),
            "rd_en": In(1),
            "rd_data": Out(unsigned(32 * cols)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=unsigned(32 * self.cols), depth=self.depth,
                                               init=[])
        wp = mem.write_port()
        rmw = mem.read_port(transparent_for=(wp,))
        bus = mem.read_port()

        valid_q = Signal()
        addr_q = Signal.like(self.i_addr)
        sums_q = Signal.like(self.i_sums)
        # The update rule of the row, registered with it: the old row is only known next cycle.
        accumulate_q = Signal()
        use_bias_q = Signal()
        bias_q = Signal.like(self.bias)
        m.d.sync += valid_q.eq(self.i_valid)
        with m.If(self.i_valid):
            m.d.sync += [addr_q.eq(self.i_addr), sums_q.eq(self.i_sums),
                         self.o_tag.eq(self.i_tag), accumulate_q.eq(self.accumulate),
                         use_bias_q.eq(self.use_bias), bias_q.eq(self.bias)]
        m.d.comb += [rmw.addr.eq(self.i_addr), rmw.en.eq(self.i_valid)]

        old = data.View(data.ArrayLayout(signed(32), self.cols), rmw.data)
        for c in range(self.cols):
            base = Mux(accumulate_q, old[c], Mux(use_bias_q, bias_q[c], 0))
            m.d.comb += self.o_data[c].eq(base + sums_q[c])
        m.d.comb += [
            wp.addr.eq(addr_q), wp.data.eq(self.o_data.as_value()), wp.en.eq(valid_q),
            self.o_valid.eq(valid_q),
            bus.addr.eq(self.rd_addr), bus.en.eq(self.rd_en), self.rd_data.eq(bus.data),
        ]
        return m
