"""The VMM array in compute-in-memory mode: bit-serial inputs, one ADC per group of rows."""

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from models.cim import OFFSET, SHIFT_MAX, CimConfig

from .pipeline import counters as perf_counters
from .spec import timing
from .streams import tagged_stream
from .vmm_array import VmmArray

__all__ = ["CimArray"]


def _ceil_log2(n):
    return (n - 1).bit_length()


def _tree(terms):
    """A balanced adder tree."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


class CimArray(VmmArray):
    """R x C array with resident int8 weights that computes as a compute-in-memory macro.

    Golden twin: :func:`models.cim.cim_vmm` (the arithmetic is stated there): each accepted
    vector is applied ``B = config.bits_per_cycle`` bits per cycle, least significant slice
    first (the top slice two's complement); every cycle each column's rows are summed per group
    of ``config.group_rows`` rows (the last group may be shorter), each group's partial sum
    passes the ADC (``(p + 2**(shift-1)) >> shift``, round half up, clipped to
    ``config.adc_bits`` signed bits), and the codes are shifted by ``shift + B*s`` and added
    into the column (int32, wrapping). The weights, their ports and the bank select are the
    digital array's (:class:`~hw.vmm_array.VmmArray`). With ``config.cell_bits`` 1, 2 or 4
    each weight is read as ``8 / cell_bits`` cells of that many bits, the slices of the
    offset-encoded ``w + 128``, each slice with its own bit lines and ADC conversions (side by
    side, as adjacent cell columns would be: no more cycles), unsigned codes but in the top
    input slice, weighted ``2**(cell_bits*j)``; the last slice subtracts ``128 * sum(x)``.

    Pipeline (``latency = 8/B + 2`` cycles from the accepting cycle to ``o.valid``,
    :func:`hw.spec.timing.cim_array_latency`):

    * Stage 0: on ``i.valid & i.ready`` the vector, its bank, tag and ``shift`` are registered.
    * Slices: for ``8/B`` cycles the slice's B bits of every row (the vector shifted right by B
      each cycle) select the selected bank's weights (or cells), with no multiplier: per input
      bit, each group's selected weights are summed (a bit line), and the B sums are weighted
      ``2**i`` (the top slice's top bit ``-2**(B-1)``); every group's (and weight slice's)
      partial sum is registered.
    * ADC: the registered partial sums are converted, summed over the groups, shifted and
      accumulated; the last slice's sum is registered into ``o.payload.y``.

    ``i.ready`` is high when no vector is in the slice stage or in its last slice, so vectors
    follow each other every ``8/B`` cycles (:func:`hw.spec.timing.cim_vector_cycles`).

    Parameters
    ----------
    rows, cols, banks, tag_width, weight_store
        As :class:`~hw.vmm_array.VmmArray` (with ``"ram"`` a vector's weights are read as it
        is accepted: a write to its bank during its slices is not seen; with ``"ff"`` it is).
    config : models.cim.CimConfig
        The CIM build (every ``cell_bits``: 8, or sliced into 1, 2 or 4).

    Members
    -------
    i : In(stream)
        As the digital array's, with ``ready``.
    shift : In(range(SHIFT_MAX + 1))
        The ADC window, taken with each accepted vector (set per layer).
    clear_counters : In(1)
        Zeroes ``perf_adc`` and ``perf_rows``.
    perf_adc, perf_rows : Out(32)
        ADC conversions (``C * ceil(R / group_rows) * 8 / cell_bits`` per slice) and row
        activations (``R`` per slice), wrapping: :func:`models.cim.counts` of the vectors
        taken.
    o, active, w_*, wl_*, r_*
        As :class:`~hw.vmm_array.VmmArray`; ``active`` covers the ``latency`` cycles from the
        accepting cycle.
    """

    def __init__(self, rows, cols, banks=2, tag_width=0, *, config, weight_store="ff"):
        if not isinstance(config, CimConfig):
            raise TypeError(f"config must be a models.cim.CimConfig, not {config!r}")
        self.config = config
        super().__init__(rows, cols, banks, tag_width, weight_store=weight_store)

    def _stream_members(self):
        members = super()._stream_members()
        members["i"] = In(stream.Signature(data.StructLayout({
            "x": data.ArrayLayout(signed(8), self.rows), "bank": range(self.banks),
            "tag": unsigned(self.tag_width)})))
        members["o"] = Out(tagged_stream({"y": data.ArrayLayout(signed(32), self.cols),
                                          "tag": unsigned(self.tag_width)}))
        return {**members, "shift": In(range(SHIFT_MAX + 1)), "clear_counters": In(1),
                "perf_adc": Out(32), "perf_rows": Out(32)}

    @property
    def latency(self):
        """Cycles from the accepting cycle to ``o.valid``: ``timing.cim_array_latency``."""
        return timing.cim_array_latency(self.config.bits_per_cycle)

    @property
    def groups(self):
        return -(-self.rows // self.config.group_rows)

    def elaborate(self, platform):
        m = Module()
        R, C, cfg = self.rows, self.cols, self.config
        B, S, G, A = cfg.bits_per_cycle, cfg.input_slices, cfg.group_rows, cfg.adc_bits

        # Stage 0 and the slice stage: the vector shifts right by B bits per cycle.
        busy = Signal()                       # a vector is in the slice stage
        s = Signal(range(S))                  # its slice
        x_sh = Signal(data.ArrayLayout(signed(8), R), name="x_sh")
        tag_x = Signal(self.tag_width, name="tag_x")
        shift_x = Signal.like(self.shift, name="shift_x")
        last = Signal()
        m.d.comb += [last.eq(s == S - 1), self.i.ready.eq(~busy | last)]
        accept = Signal()
        m.d.comb += accept.eq(self.i.valid & self.i.ready)
        # the weights of the accepted vector's bank, from the cycle after it is accepted
        weights = self._elaborate_weights(m, accept, self.i.payload.bank)
        with m.If(accept):
            m.d.sync += [x_sh.eq(self.i.payload.x),
                         tag_x.eq(self.i.payload.tag), shift_x.eq(self.shift), s.eq(0),
                         busy.eq(1)]
        with m.Elif(busy):
            m.d.sync += [x_sh[r].eq(x_sh[r] >> B) for r in range(R)]
            m.d.sync += [s.eq(s + 1), busy.eq(~last)]

        # The slice's bits: the low B bits of each row (x_sh is shifted right by B each cycle;
        # in the top slice it is the arithmetic shift of x by B*(S-1), so its bit B-1 is the
        # sign bit, weighing -2**(B-1)).
        bits = [x_sh[r][:B] for r in range(R)]

        # Sliced cells: the vector's sum for the offset's correction, - OFFSET * sum(x) in the
        # last slice (digital and exact, as models.cim states), carried with the vector.
        sum_width = 8 + _ceil_log2(R)
        sum_x, sum_p = Signal(signed(sum_width)), Signal(signed(sum_width))
        if cfg.sliced:
            with m.If(accept):
                m.d.sync += sum_x.eq(_tree([self.i.payload.x[r] for r in range(R)]))

        # Partial sums per (group, weight slice, column), registered with the slice's
        # bookkeeping.
        p_width = B + 9 + _ceil_log2(G)
        pv, ps = Signal(), Signal(range(S))
        tag_p, shift_p, last_p = Signal(self.tag_width), Signal.like(self.shift), Signal()
        m.d.sync += pv.eq(busy)
        with m.If(busy):
            m.d.sync += [ps.eq(s), tag_p.eq(tag_x), shift_p.eq(shift_x), last_p.eq(last),
                         sum_p.eq(sum_x)]
        partial = []  # [column][weight slice][group]
        for c in range(C):
            column = []
            for j, cells in enumerate(self._cells(weights[c])):
                by_group = []
                for g in range(self.groups):
                    rows = range(g * G, min(R, g * G + G))
                    # No multipliers, as in a CIM macro: per input bit, the group's cells whose
                    # input bit is 1 add their value on the bit line; the B bit-line sums are
                    # weighted 2**i (the top slice's top bit -2**(B-1)).
                    planes = []
                    for i in range(B):
                        plane = _tree([Mux(bits[r][i], cells[r], 0) for r in rows]) << i
                        if i == B - 1:
                            plane = Mux(last, -plane, plane)
                        planes.append(plane)
                    p = Signal(signed(p_width), name=f"p_g{g}_j{j}_c{c}" if cfg.sliced
                               else f"p_g{g}_c{c}")
                    with m.If(busy):
                        m.d.sync += p.eq(_tree(planes))
                    by_group.append(p)
                column.append(by_group)
            partial.append(column)

        # ADC: round half up, shift, clip (signed codes where the partial sum can be negative:
        # int8 cells, or the top input slice; else unsigned); then shift-and-add into the
        # column, each weight slice's codes at its cells' weight 2**(cell_bits*j).
        signed_lo, signed_hi = -(1 << (A - 1)), (1 << (A - 1)) - 1
        lo, hi = Signal(signed(A + 1)), Signal(signed(A + 1))
        if cfg.sliced:
            m.d.comb += [lo.eq(Mux(last_p, signed_lo, 0)),
                         hi.eq(Mux(last_p, signed_hi, (1 << A) - 1))]
        else:
            m.d.comb += [lo.eq(signed_lo), hi.eq(signed_hi)]
        rnd = Signal(32)
        m.d.comb += rnd.eq((Const(1, 1) << shift_p) >> 1)
        amount = Signal(range(SHIFT_MAX + 8 + 1))
        m.d.comb += amount.eq(shift_p + (ps << exact_log2(B)))
        acc = [Signal(32, name=f"acc_c{c}") for c in range(C)]
        for c in range(C):
            slices = []
            for j, by_group in enumerate(partial[c]):
                codes = []
                for g, p in enumerate(by_group):
                    suffix = f"g{g}_j{j}_c{c}" if cfg.sliced else f"g{g}_c{c}"
                    q = Signal(signed(max(p_width, 32) + 2), name=f"q_{suffix}")
                    m.d.comb += q.eq((p + rnd) >> shift_p)
                    code = Signal(signed(A + 1) if cfg.sliced else signed(A),
                                  name=f"code_{suffix}")
                    m.d.comb += code.eq(Mux(q < lo, lo, Mux(q > hi, hi, q)))
                    codes.append(code)
                slices.append(sum(codes[1:], codes[0]) << (cfg.cell_bits * j))
            total = Signal(signed(32) if not cfg.sliced else signed(A + 2 + 8 + _ceil_log2(
                self.groups)), name=f"codes_c{c}")
            m.d.comb += total.eq(sum(slices[1:], slices[0]))
            term = Signal(32, name=f"term_c{c}")
            m.d.comb += term.eq((total << amount)[:32])
            new = Mux(ps == 0, term, acc[c] + term)[:32]
            with m.If(pv):
                m.d.sync += acc[c].eq(new)
                with m.If(last_p):
                    y = (new - OFFSET * sum_p)[:32] if cfg.sliced else new
                    m.d.sync += self.o.payload.y[c].eq(y)
        m.d.sync += self.o.valid.eq(pv & last_p)
        with m.If(pv & last_p):
            m.d.sync += self.o.payload.tag.eq(tag_p)
        m.d.comb += self.active.eq(accept | busy | pv)

        conversions = C * self.groups * cfg.weight_slices
        perf_counters(m, [(self.perf_adc, Mux(busy, conversions, 0)),
                          (self.perf_rows, Mux(busy, R, 0))], self.clear_counters)
        return m

    def _cells(self, w_sel):
        """A column's cells, per weight slice: ``[w]`` (the signed int8 weights) with int8
        cells, else the ``cell_bits``-bit unsigned slices of the offset-encoded ``w + 128``
        (the sign bit inverted), least significant first."""
        cfg = self.config
        if not cfg.sliced:
            return [[w_sel[r] for r in range(self.rows)]]
        offset = [w_sel[r].as_unsigned() ^ OFFSET for r in range(self.rows)]
        return [[u[cfg.cell_bits * j:cfg.cell_bits * (j + 1)] for u in offset]
                for j in range(cfg.weight_slices)]
