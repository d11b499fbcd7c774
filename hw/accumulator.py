"""int32 accumulator memory with overwrite / bias / accumulate updates."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import KEEP_APART, delay
from .spec import timing
from .streams import tagged_stream

__all__ = ["Accumulator"]


class Accumulator(wiring.Component):
    """One C-wide row of int32 accumulators per (vector index, column).

    For every row of column sums arriving on ``i`` (payload ``addr``, ``sums``, ``tag``)::

        base = acc[addr] if accumulate else (bias if use_bias else 0)
        acc[addr] = base + sums          (int32, wraps)

    ``accumulate``, ``use_bias`` and ``bias`` are sampled with the row (in the cycle of its
    ``i.valid``), so every row may have its own. The new row is written, and leaves on ``o``
    (payload ``data``, ``tag``), one cycle after the sums arrive (``LATENCY = 1``). The tag
    travels along. Golden twin: the accumulation in :func:`models.linear`.

    The old row is read in the cycle the sums arrive, and the block RAM's output goes through
    the adder into the write in the next (the read port is transparent to the write port, so a
    row written in one cycle can be read back-to-back in the next). With ``read_ahead`` the
    read comes a cycle earlier: ``ahead_valid`` and ``ahead_addr`` announce the row that
    arrives on ``i`` in the next cycle (its ``valid`` and ``addr``, exactly), and
    ``ahead_accumulate`` and ``ahead_use_bias`` its update rule (in place of ``accumulate``
    and ``use_bias``, which this variant does not have). The block RAM's output is registered
    in the arrival cycle, and the adder starts at that register (the block RAM's 4.1 ns from
    clock to data and a 32-bit adder were one cycle). A row written in the arrival cycle (the
    row just before, same address) is taken from the adder instead of the read, which came
    before that write. The register holds the row's base already (the old row, the bias or 0,
    by the row's rule), so the output is the adder alone after registers (the update rule's
    two multiplexers before it and the route from the adder into the requantizer's DSP
    blocks were 60 routed end points 0.2 to 0.8 ns over 8 ns at 8x8). The rule's selects and
    the row's valid (the base's and the sums' load enable) are registered from the
    announcement, one copy per column (:data:`hw.pipeline.KEEP_APART`): each drives 32 bits,
    not ``32 * cols`` (at 16x16 the shared selects were among the most congested nets of the
    route). The same results and cycles.

    Parameters
    ----------
    cols : int
        Columns (int32 values) per row.
    depth : int
        Rows.
    tag_width : int
        Bits of the tag carried with each row.
    read_ahead : bool
        Read the old row a cycle before the sums arrive (``ahead_valid``, ``ahead_addr``;
        default False).

    Members
    -------
    i : In(stream), o : Out(stream)
        Rows in and updated rows out.
    accumulate, use_bias, bias : In
        The update rule of the row on ``i`` (with ``read_ahead``: ``ahead_accumulate`` and
        ``ahead_use_bias``, of the row on ``i`` in the next cycle, and ``bias``).
    rd_addr, rd_en : In
        Bus read port; ``rd_data`` (the whole row, column c in bits 32c+31..32c) follows one
        cycle after ``rd_en`` and holds until the next one.
    """

    LATENCY = timing.ACCUMULATOR_LATENCY

    def __init__(self, cols, depth, tag_width, read_ahead=False):
        for name, value, least in (("cols", cols, 1), ("depth", depth, 1),
                                   ("tag_width", tag_width, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise TypeError(f"{name} must be an integer >= {least}, not {value!r}")
        self.cols, self.depth, self.tag_width = cols, depth, tag_width
        self.read_ahead = bool(read_ahead)
        sums = data.ArrayLayout(signed(32), cols)
        if read_ahead:
            rule = {"ahead_valid": In(1), "ahead_addr": In(range(depth)),
                    "ahead_accumulate": In(1), "ahead_use_bias": In(1)}
        else:
            rule = {"accumulate": In(1), "use_bias": In(1)}
        super().__init__({
            **rule,
            "i": In(tagged_stream({"addr": range(depth), "sums": sums,
                                   "tag": unsigned(tag_width)})),
            "bias": In(sums),
            "o": Out(tagged_stream({"data": sums, "tag": unsigned(tag_width)})),
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

        # Stage 1 (the read of the old row is in flight): the row registered, and below its
        # update rule (or, reading ahead, its base) with it.
        valid_q, = delay(m, self.i.valid, self.LATENCY, name="valid_q")
        row = self.i.payload
        addr_q = Signal.like(row.addr, name="addr_q")
        sums_q = Signal.like(row.sums, name="sums_q")
        with m.If(self.i.valid):
            m.d.sync += [addr_q.eq(row.addr), self.o.payload.tag.eq(row.tag)]
        layout = data.ArrayLayout(signed(32), self.cols)
        if self.read_ahead:
            # the read a cycle before the row; its base registered as it arrives: the old
            # row (read, or the row written now: the one before, same address, whose write
            # comes after that read), the bias or 0, so the output is one adder after
            # registers. The block RAM's data (4.1 ns from the clock) meets one multiplexer,
            # the last. The selects and the load enable are registered from the
            # announcement, a copy per column: the row arrives (``arrive``), its base is the
            # read (``take_read``: accumulating, and the row before did not write this
            # address), else the adder's row (``forward``: accumulating), else the bias
            # (``with_bias``) or 0.
            m.d.comb += [rmw.addr.eq(self.ahead_addr), rmw.en.eq(self.ahead_valid)]
            rewritten_next = Signal(name="rewritten_next")
            m.d.comb += rewritten_next.eq(self.i.valid & (row.addr == self.ahead_addr))
            read = data.View(layout, rmw.data)
            base_q = Signal(layout, name="base_q", reset_less=True)
            for c in range(self.cols):
                arrive, take_read, forward, with_bias = (
                    Signal(name=f"{what}_c{c}", attrs=KEEP_APART)
                    for what in ("arrive", "take_read", "forward", "with_bias"))
                m.d.sync += [arrive.eq(self.ahead_valid),
                             take_read.eq(self.ahead_accumulate & ~rewritten_next),
                             forward.eq(self.ahead_accumulate),
                             with_bias.eq(self.ahead_use_bias)]
                with m.If(arrive):
                    m.d.sync += [
                        sums_q[c].eq(row.sums[c]),
                        base_q[c].eq(Mux(take_read, read[c],
                                         Mux(forward, self.o.payload.data[c],
                                             Mux(with_bias, self.bias[c], 0))))]
            bases = [base_q[c] for c in range(self.cols)]
        else:
            with m.If(self.i.valid):
                m.d.sync += sums_q.eq(row.sums)
            m.d.comb += [rmw.addr.eq(row.addr), rmw.en.eq(self.i.valid)]
            old = data.View(layout, rmw.data)
            accumulate_q = Signal(name="accumulate_q")
            use_bias_q = Signal(name="use_bias_q")
            bias_q = Signal.like(self.bias, name="bias_q")
            with m.If(self.i.valid):
                m.d.sync += [accumulate_q.eq(self.accumulate), use_bias_q.eq(self.use_bias),
                             bias_q.eq(self.bias)]
            bases = [Mux(accumulate_q, old[c], Mux(use_bias_q, bias_q[c], 0))
                     for c in range(self.cols)]
        for c, base in enumerate(bases):
            m.d.comb += self.o.payload.data[c].eq(base + sums_q[c])
        m.d.comb += [
            wp.addr.eq(addr_q), wp.data.eq(self.o.payload.data.as_value()), wp.en.eq(valid_q),
            self.o.valid.eq(valid_q),
            bus.addr.eq(self.rd_addr), bus.en.eq(self.rd_en), self.rd_data.eq(bus.data),
        ]
        return m
