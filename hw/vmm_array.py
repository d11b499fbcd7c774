"""The processing-in-memory style vector-matrix-multiply array."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from .ecp5 import MULT_CELLS, check_cells, mult18x18d
from .offset_binary import column_terms, offset_term, pair_sums, tree_level, tree_levels
from .pipeline import KEEP_APART, delay
from .spec import timing, words_for
from .streams import tagged_stream

__all__ = ["MULT_CELLS", "WEIGHT_STORES", "VmmArray", "check_mult_cells"]

#: how the resident weights are built: flip-flops, or one RAM per column
WEIGHT_STORES = ("ff", "ram")


def _below(value, bound):
    """``value < bound`` for a constant ``bound``: with a power of two, a zero test of the
    high bits (Yosys made the comparison a carry chain, on the load unit's weight-write path
    into the array)."""
    if bound & (bound - 1) == 0:
        bits = bound.bit_length() - 1
        return value.as_unsigned()[bits:] == 0 if bits < len(value) else Const(1)
    return value < bound


def check_mult_cells(mult_cells, pipeline):
    """Raise ValueError unless ``mult_cells`` is one of :data:`MULT_CELLS` and goes with
    ``pipeline`` ("ecp5" needs 2 or 3: the DSP blocks hold the broadcast and product
    registers of those builds)."""
    check_cells(mult_cells)
    if mult_cells == "ecp5" and pipeline not in (2, 3):
        raise ValueError("mult_cells 'ecp5' puts the broadcast and product registers of "
                         f"pipeline 2 into the DSP blocks: it needs pipeline 2 or 3, not "
                         f"{pipeline!r}")


class VmmArray(wiring.Component):
    """R x C int8 array whose weights are resident in the cells, as in a compute-in-memory macro.

    Every cell keeps ``banks`` int8 weights (one per bank) in its own registers. Each cycle one
    R-long int8 vector ``x`` is broadcast along the rows; column ``c`` produces
    ``y[c] = sum_r x[r] * W[bank][r][c]`` as an exact int32 (|y| <= R * 2**14). Golden twin:
    :func:`models.vmm`.

    Pipeline (one vector per cycle, ``latency`` cycles from ``i.valid`` to ``o.valid``):

    * Stage 0: register ``x`` and ``bank``, a copy of the bank per column (only when
      ``i.valid``: idle inputs stay still).
    * Stage 1..: the R x C products feed a balanced adder tree per column, registered every
      ``LEVELS_PER_STAGE`` levels (the products in the first stage); the last stage is the
      output ``o.payload.y``. So ``latency = 1 + max(1, ceil(log2(R) / 2))``: 2 for R <= 4, 3 for
      R <= 16, 4 for R <= 64. The registers after stage 0 load every cycle (what they hold
      between vectors is never read, and stage 0 keeps still), except ``y``, which holds
      while idle: no clock enable from a stage's valid bit reaches a whole stage's registers.
    * ``pipeline`` (a build parameter, :data:`hw.spec.timing.ARRAY_PIPELINES`) adds stages
      for the clock rate, each one cycle of latency: 1 registers the input broadcast (every
      column's own copy of ``x`` and of its bank's weights, the multipliers' input registers:
      the vector no longer fans out from one register to all R x C multipliers in the cycle of
      the products), 2 also registers the products (the multipliers' output registers), 3
      registers them once more (a copy beside the adder tree, so that the route out of a
      column of DSP blocks has a cycle to itself instead of sharing one with the first adder
      levels). The
      weights a vector meets are the same in every build: those of the cycle after its
      ``i.valid``.

    Columns summed in logic (``logic_columns``, a build parameter for FPGAs whose DSP blocks
    do not hold every product): the last ``logic_columns`` columns compute their sums without
    multiplies, by offset-binary distributed arithmetic (:mod:`hw.offset_binary`: per pair of
    rows and bit of ``x`` a select of the pair's weight sum or difference, then a tree of
    narrow ripple adders; Yosys 0.68 for an ECP5 at 16x16, ``pipeline`` 2: 47,668 logic cells
    with every column in logic, 63,947 with every product through ``booth``, 28,749 with all
    256 products on DSP blocks). The same results and latency: the column's tree
    has more levels, cut by as many registers as the other columns have after the broadcast
    stage (with ``pipeline`` 2 the first after a few levels instead of after the products),
    spread evenly over its levels, the last one ``y``; with ``pipeline`` >= 1 the column's
    pair sums and differences are registered beside its copy of the weights (computed from
    the same selected weights, so they change in the same cycle). One term shared by those columns,
    a function of the vector only, is computed from ``x_q`` (registered with the broadcast
    when ``pipeline`` >= 1). The other columns are unchanged: their products ``p_r{r}_c{c}``
    (the multiplies a synthesis flow maps onto DSP blocks by name) and their trees.

    Simulation speed shaped two choices: each (bank, column) keeps its weights in one packed
    register, and the products are not registered separately; both cut the number of Verilog
    processes that Icarus wakes every cycle (about 2.3x faster idle, 1.5x computing).

    Weights are written one 32-bit word at a time: word ``w`` of column ``c`` of bank ``b``
    holds rows 4w..4w+3 (row 4w in bits 7:0); ``w_strb`` selects the bytes. The weights are not
    reset, so a soft reset keeps them.

    Two builds of the weight store (``weight_store``), with the same latency, results and
    write ports:

    * ``"ff"`` (default): one packed register per (bank, column), a combinational bank select
      per column before the multipliers, a combinational read port ``r_data``.
    * ``"ram"``: one memory per column (``banks`` words of R bytes, byte write enables). Its
      read port takes the incoming vector's bank with ``i.valid`` (transparent to the cycle's
      write, as the registers are), so the column's weights arrive with ``x_q``. The bus read
      port is a second, synchronous read port: ``r_data`` answers the cycle after ``r_en``
      (``read_latency`` 1 instead of 0). The two write ports share the memory's one write port:
      in a cycle where both write one column, the column port's bank is written (its bytes,
      and the bus port's bytes if it writes the same bank); a bus write to another bank of
      that column is dropped (the accelerator never does both: bus writes of WEIGHT are
      refused while a program, whose load unit drives ``wl_*``, runs).

    ``exclusive_writes`` promises that ``w_en`` and ``wl_en`` are never high in one cycle (the
    accelerator's case: bus writes of WEIGHT are refused while a program, whose load unit
    drives ``wl_*``, runs; ``PimAccelerator`` builds the array so). The ``"ff"`` store then
    takes two shortcuts, with the same results under the promise: one byte select per row
    shared by every register (the column port's byte while ``wl_en``, else the bus's), not a
    2:1 select in front of every weight bit (4,096 LUT4 at 16x16 with 2 banks); and the bus
    read port reads a LUT-RAM copy of the weights, one memory per word of a column
    (``banks * cols`` words, address column and bank) written with the registers, instead of
    a multiplexer over all ``banks * cols * rows`` bytes (about 3,300 LUT4 there, Yosys
    ``-noabc9 -nowidelut``). The ``"ram"`` store merges the two ports' data once already.

    Measured (README, "Weight store"): at 16 banks the RAM synthesizes to a ninth of the LUT4
    at twice the clock and simulates 1.1-1.5x faster; at 2 banks Verilator runs it slower, so
    ``"ff"`` stays the default.

    Parameters
    ----------
    rows, cols : int
        Array shape R x C (each >= 1).
    banks : int
        Resident weight banks (>= 1; 2 or more allow double buffering).
    tag_width : int
        Bits of the tag that travels with each vector (>= 0).

    Members
    -------
    i : In(stream)
        The vectors: payload ``x`` (ArrayLayout(signed(8), rows)), ``bank`` and ``tag``
        (``tag_width`` bits that leave with the vector's sums, e.g. its index in the command).
    o : Out(stream)
        The column sums: payload ``y`` (ArrayLayout(signed(32), cols)) and the ``tag``, valid
        exactly ``latency`` cycles after the vector's ``i.valid``; both hold while idle.
    active : Out(1)
        Some vector is inside the pipeline (drives PERF_COMPUTE).
    w_en, w_bank, w_col, w_word, w_data, w_strb : In
        Weight write port (the bus's, a word at a time).
    wl_en, wl_bank, wl_col, wl_data, wl_mask : In
        Column write port (the load unit's): row r of the column takes byte r of ``wl_data``
        where bit r of ``wl_mask`` is set; a bank or column that does not exist is ignored.
    r_en, r_bank, r_col, r_word : In; r_data : Out(32)
        Weight read port, the layout of the write port's words; 0 outside the array.
        Combinational with ``"ff"`` (``r_en`` unused); with ``"ram"`` ``r_data`` is the word
        addressed in the last cycle with ``r_en`` (``read_latency``).
    weight_store : str
        One of :data:`WEIGHT_STORES` (keyword argument).
    pipeline : int
        Extra pipeline stages, one of :data:`hw.spec.timing.ARRAY_PIPELINES` (keyword
        argument; default 0).
    logic_columns : int
        How many of the columns, the last ones, sum in logic instead of products (0..cols,
        keyword argument; default 0: none).
    exclusive_writes : bool
        The two write ports never write in one cycle (keyword argument; default False: they
        may, the column port winning a byte both write).
    mult_cells : str
        How the product columns multiply, one of :data:`MULT_CELLS` (keyword argument):
        ``"inferred"`` (default) writes ``x * w`` for a synthesis flow to map; ``"ecp5"``
        (``pipeline`` 2 only) instantiates one Lattice ECP5 MULT18X18D per product
        (:func:`hw.ecp5.mult18x18d`) whose input registers are the broadcast's copies of the
        vector and the weights and whose output register is the product's: the same
        registers, loads and cycles, inside the DSP block instead of in fabric. Simulators
        need the block's model (:func:`hw.ecp5.mult18x18d_model`); the logic columns are
        built as before.

    Raises
    ------
    TypeError
        A size or ``logic_columns`` that is not an int, or a size below its least value.
    ValueError
        An unknown ``weight_store``, ``pipeline`` or ``mult_cells``, ``logic_columns``
        outside 0..cols, or ``mult_cells`` "ecp5" with a ``pipeline`` other than 2.
    """

    LEVELS_PER_STAGE = timing.ARRAY_LEVELS_PER_STAGE

    def __init__(self, rows, cols, banks=2, tag_width=0, *, weight_store="ff", pipeline=0,
                 logic_columns=0, exclusive_writes=False, mult_cells="inferred"):
        for name, value in (("rows", rows), ("cols", cols), ("banks", banks)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TypeError(f"{name} must be a positive integer, not {value!r}")
        if not isinstance(tag_width, int) or isinstance(tag_width, bool) or tag_width < 0:
            raise TypeError(f"tag_width must be a non-negative integer, not {tag_width!r}")
        if weight_store not in WEIGHT_STORES:
            raise ValueError(f"weight_store must be one of {WEIGHT_STORES}, not "
                             f"{weight_store!r}")
        timing.array_latency(rows, pipeline)  # (checks pipeline)
        if not isinstance(logic_columns, int) or isinstance(logic_columns, bool):
            raise TypeError(f"logic_columns must be an int, not {logic_columns!r}")
        if not 0 <= logic_columns <= cols:
            raise ValueError(f"logic_columns must be in 0..{cols} (cols), not {logic_columns}")
        check_mult_cells(mult_cells, pipeline)
        self.mult_cells = mult_cells
        self.logic_columns = logic_columns
        self.exclusive_writes = bool(exclusive_writes)
        self.rows, self.cols, self.banks, self.tag_width = rows, cols, banks, tag_width
        self.pipeline = pipeline
        self.weight_store = weight_store
        self.row_words = words_for(rows)
        super().__init__({**self._stream_members(), **self._weight_members()})
        # "ff": one packed register per (bank, column): row r in bits 8r+7..8r. Few wide
        # registers simulate much faster than many narrow ones (one always block each).
        self._w = [[Signal(data.ArrayLayout(signed(8), rows), name=f"w_b{b}_c{c}",
                           reset_less=True) for c in range(cols)] for b in range(banks)] \
            if weight_store == "ff" else None

    def _stream_members(self):
        """The vector stream in, the sums out, ``active`` (what a subclass may change)."""
        return {
            "i": In(tagged_stream({"x": data.ArrayLayout(signed(8), self.rows),
                                   "bank": range(self.banks),
                                   "tag": unsigned(self.tag_width)})),
            "o": Out(tagged_stream({"y": data.ArrayLayout(signed(32), self.cols),
                                    "tag": unsigned(self.tag_width)})),
            "active": Out(1),
        }

    def _weight_members(self):
        """The weight write and read ports."""
        banks, cols = self.banks, self.cols
        return {
            "w_en": In(1),
            "w_bank": In(range(banks)),
            "w_col": In(range(cols)),
            "w_word": In(range(self.row_words)),
            "w_data": In(32),
            "w_strb": In(4),
            "wl_en": In(1),
            "wl_bank": In(8),
            "wl_col": In(8),
            "wl_data": In(32 * self.row_words),
            "wl_mask": In(4 * self.row_words),
            "r_en": In(1),
            "r_bank": In(range(banks)),
            "r_col": In(range(cols)),
            "r_word": In(range(self.row_words)),
            "r_data": Out(32),
        }

    @property
    def latency(self):
        """Cycles from ``i.valid`` to ``o.valid``: :func:`hw.spec.timing.array_latency`."""
        return timing.array_latency(self.rows, self.pipeline)

    @property
    def read_latency(self):
        """Cycles from the weight read port's address to ``r_data``: 0 (``"ff"``) or 1."""
        return 0 if self.weight_store == "ff" else 1

    def _elaborate_weights(self, m, en, bank):
        """The weight store, its write and read ports; returns each column's weights (a
        View of R int8) of the bank ``bank`` had in the last cycle with ``en``."""
        if self.weight_store == "ram":
            return self._elaborate_ram(m, en, bank)
        R, C = self.rows, self.cols
        # Resident weights: the array's own storage (self._w, made in __init__). Each register
        # tests one condition (a write for it on either port) and only then its bytes: in the
        # Verilog a register's next value is one small block that does nothing while no write
        # is for it (per-byte conditions tested every cycle were ~1000 terms a cycle;
        # Verilator ran 2x slower). Inside, each byte loads under one enable, the OR of the
        # two ports' selects, with the column port's byte if it selects it (it wins a byte
        # both ports write), else the bus's: one clock enable and a 2:1 data select a bit
        # (Yosys found no enable in nested per-port writes: two LUT4 a bit). With
        # ``exclusive_writes`` the data select is one per row, shared by the registers.
        bus_rows = self._bus_rows(m)
        if self.exclusive_writes:
            row_data = [Signal(8, name=f"w_row_data_{r}") for r in range(R)]
            m.d.comb += [d.eq(Mux(self.wl_en, self._column_byte(r), self._bus_byte(r)))
                         for r, d in enumerate(row_data)]
        for b in range(self.banks):
            for c in range(C):
                w = self._w[b][c]
                bus = Signal(name=f"w_bus_b{b}_c{c}")
                col = Signal(name=f"w_col_b{b}_c{c}")
                m.d.comb += [bus.eq(self.w_en & (self.w_bank == b) & (self.w_col == c)),
                             col.eq(self.wl_en & (self.wl_bank == b) & (self.wl_col == c))]
                with m.If(bus | col):
                    for r in range(R):
                        col_r = col & self.wl_mask[r]
                        with m.If(col_r | (bus & bus_rows[r])):
                            m.d.sync += w[r].eq(
                                row_data[r] if self.exclusive_writes else
                                Mux(col_r, self._column_byte(r), self._bus_byte(r)))

        if self.exclusive_writes:
            self._elaborate_shadow(m)
        else:
            # Weight read port: the (bank, column) register, then its word (the words past
            # the column, and a bank or column that does not exist, read 0).
            r_column = Signal(8 * R, name="r_column")
            with m.Switch(self.r_bank):
                for b in range(self.banks):
                    with m.Case(b):
                        with m.Switch(self.r_col):
                            for c in range(C):
                                with m.Case(c):
                                    m.d.comb += r_column.eq(self._w[b][c])
            with m.Switch(self.r_word):
                for wd in range(self.row_words):
                    with m.Case(wd):
                        m.d.comb += self.r_data.eq(r_column[32 * wd:32 * wd + 32])

        # The bank select: the bank registered with ``en``, a copy per column (one register
        # selecting all R x C x 8 weight bits was a congested net of the routed 16x16), then
        # a select per column.
        bank_q = [Signal.like(bank, name=f"bank_q_c{c}", reset_less=True, attrs=KEEP_APART)
                  for c in range(C)]
        with m.If(en):
            m.d.sync += [q.eq(bank) for q in bank_q]
        return [self._selected(m, bank_q[c], c) for c in range(C)]

    def _bus_rows(self, m):
        """The rows whose bytes the bus's word and strobes select (one decode, R bits)."""
        bus_rows = Signal(self.rows, name="w_bus_rows")
        m.d.comb += bus_rows.eq(Cat(self.w_strb[r % 4] & (self.w_word == r // 4)
                                    for r in range(self.rows)))
        return bus_rows

    def _column_byte(self, r):
        """Row ``r``'s byte on the column write port."""
        return self.wl_data[8 * r:8 * r + 8]

    def _bus_byte(self, r):
        """Row ``r``'s byte on the bus write port (its lane of ``w_data``)."""
        return self.w_data[8 * (r % 4):8 * (r % 4) + 8]

    def _elaborate_shadow(self, m):
        """``exclusive_writes``: the bus read port reads a LUT-RAM copy of the registers, one
        memory per word of a column (address: column, then bank), written a cycle after them
        (the column port's word, else the bus's, through a register: the choice between the
        ports and the bus's refusal end at flip-flops, not at the LUT-RAM's write data and
        address; the bytes of rows and the words of banks or columns that do not exist are
        never written, so they read 0) and read combinationally. A bus read of a word sees
        the bus's write to it once the write's response is out (a manager that waits for it
        reads two cycles after the write at the earliest; AXI orders no read before it)."""
        R, C, banks = self.rows, self.cols, self.banks
        col_bits, bank_bits = max(1, (C - 1).bit_length()), max(1, (banks - 1).bit_length())
        bus_ok, col_ok = Signal(name="w_shadow_bus"), Signal(name="w_shadow_col")
        m.d.comb += [
            bus_ok.eq(self.w_en & _below(self.w_bank, banks) & _below(self.w_col, C)),
            col_ok.eq(self.wl_en & _below(self.wl_bank, banks) & _below(self.wl_col, C))]

        def address(col, bank):
            return Cat(col.as_unsigned()[:col_bits], bank.as_unsigned()[:bank_bits])
        words = []
        for wd in range(self.row_words):
            lanes = Const((1 << min(4, R - 4 * wd)) - 1, 4)   # the rows this word has
            mem = memory.Memory(shape=32, depth=1 << (col_bits + bank_bits), init=[],
                                attrs={"ram_style": "distributed"})
            m.submodules[f"w_shadow_{wd}"] = mem
            wp = mem.write_port(granularity=8)
            w_addr = Signal.like(wp.addr, name=f"w_shadow_addr_{wd}", reset_less=True)
            w_data = Signal.like(wp.data, name=f"w_shadow_data_{wd}", reset_less=True)
            w_lanes = Signal.like(wp.en, name=f"w_shadow_en_{wd}")
            m.d.comb += [wp.addr.eq(w_addr), wp.data.eq(w_data), wp.en.eq(w_lanes)]
            with m.If(col_ok):
                m.d.sync += [w_addr.eq(address(self.wl_col, self.wl_bank)),
                             w_data.eq(self.wl_data[32 * wd:32 * wd + 32]),
                             w_lanes.eq(self.wl_mask[4 * wd:4 * wd + 4] & lanes)]
            with m.Elif(bus_ok & (self.w_word == wd)):
                m.d.sync += [w_addr.eq(address(self.w_col, self.w_bank)),
                             w_data.eq(self.w_data), w_lanes.eq(self.w_strb & lanes)]
            with m.Else():
                m.d.sync += w_lanes.eq(0)
            rp = mem.read_port(domain="comb")
            m.d.comb += rp.addr.eq(address(self.r_col, self.r_bank))
            words.append(rp.data)
        with m.Switch(self.r_word):
            for wd, word in enumerate(words):
                with m.Case(wd):
                    m.d.comb += self.r_data.eq(word)

    def _elaborate_ram(self, m, en, bank):
        """``"ram"``: one memory per column, its write port shared by the two write ports
        (the column port wins), a read port for the vectors and one for the bus."""
        R, C, banks = self.rows, self.cols, self.banks
        column = data.ArrayLayout(signed(8), R)
        # What the two ports would write, as whole columns shared by every memory: the bus
        # word's bytes in its rows (byte enables ``bus_rows``), the column port's bytes over
        # them where its mask is set. Only the address and the enables are per column: few
        # wide terms, not per-byte conditions per column (which simulate slowly).
        bus_rows = self._bus_rows(m)
        load_bytes = Signal(8 * R, name="wl_bytes")     # the column port's mask, per bit
        m.d.comb += load_bytes.eq(Cat(*(self.wl_mask[r].replicate(8) for r in range(R))))
        bus_data = Signal(8 * R, name="w_bus_data")
        merged = Signal(8 * R, name="w_merged")
        m.d.comb += [bus_data.eq(self.w_data.replicate(self.row_words)[:8 * R]),
                     merged.eq((self.wl_data[:8 * R] & load_bytes) | (bus_data & ~load_bytes))]
        bus_en = Signal(name="w_bus_en")                # (banks need not be a power of 2)
        load_en = Signal(name="wl_load_en")
        same_bank = Signal(name="w_same_bank")
        m.d.comb += [bus_en.eq(self.w_en & _below(self.w_bank, banks)),
                     load_en.eq(self.wl_en & _below(self.wl_bank, banks)),
                     same_bank.eq(self.wl_bank == self.w_bank)]
        load_mask = self.wl_mask[:R]
        r_column = []
        weights = []
        for c in range(C):
            mem = memory.Memory(shape=column, depth=banks, init=[])
            m.submodules[f"w_c{c}"] = mem
            wp = mem.write_port(granularity=1)   # (elements of the layout: a byte each)
            with m.If(load_en & (self.wl_col == c)):
                # the column port's bank, and the bus's bytes if it writes the same bank
                m.d.comb += [wp.addr.eq(self.wl_bank), wp.data.eq(merged)]
                with m.If(bus_en & (self.w_col == c) & same_bank):
                    m.d.comb += wp.en.eq(load_mask | bus_rows)
                with m.Else():
                    m.d.comb += wp.en.eq(load_mask)
            with m.Elif(bus_en & (self.w_col == c)):
                m.d.comb += [wp.addr.eq(self.w_bank), wp.data.eq(bus_data), wp.en.eq(bus_rows)]
            # The vectors' port: transparent, so a vector sees its cycle's write as the
            # registers would (the products use the weights of the cycle after i.valid).
            rp = mem.read_port(transparent_for=(wp,))
            m.d.comb += [rp.en.eq(en), rp.addr.eq(bank)]
            weights.append(rp.data)
            bp = mem.read_port()
            m.d.comb += [bp.en.eq(self.r_en), bp.addr.eq(self.r_bank)]
            r_column.append(bp.data)

        # The bus read port: the column and word registered with the address, 0 outside.
        # (not reset, as the memory's data: the bus holds the word until its next read)
        r_col_q = Signal.like(self.r_col, name="r_col_q", reset_less=True)
        r_word_q = Signal.like(self.r_word, name="r_word_q", reset_less=True)
        r_ok_q = Signal(name="r_ok_q", reset_less=True)
        with m.If(self.r_en):
            m.d.sync += [r_col_q.eq(self.r_col), r_word_q.eq(self.r_word),
                         r_ok_q.eq(_below(self.r_bank, banks) & _below(self.r_col, C)
                                   & (self.r_word < self.row_words))]
        with m.If(r_ok_q):
            with m.Switch(r_col_q):
                for c in range(C):
                    with m.Case(c):
                        words = r_column[c].as_value()
                        with m.Switch(r_word_q):
                            for wd in range(self.row_words):
                                with m.Case(wd):
                                    m.d.comb += self.r_data.eq(words[32 * wd:32 * wd + 32])
        return weights

    def _selected(self, m, bank, c):
        """Column ``c``'s weights in bank ``bank`` (a combinational select)."""
        w_sel = Signal(data.ArrayLayout(signed(8), self.rows), name=f"wsel_c{c}")
        m.d.comb += w_sel.eq(self._w[0][c])
        for b in range(1, self.banks):
            with m.If(bank == b):
                m.d.comb += w_sel.eq(self._w[b][c])
        return w_sel

    def _logic_offset(self, m, x_q):
        """The logic columns' shared term (:func:`offset_term` of the vector): from ``x_q``,
        registered with the broadcast (``pipeline`` >= 1) as each column's copy of ``x``."""
        value, shift = offset_term(x_q)
        if self.pipeline >= 1:
            q = Signal.like(value, name="ob_offset", reset_less=True)
            m.d.sync += q.eq(value)
            value = q
        return value, shift

    def _logic_column(self, m, c, x, w, offset, y, y_en, sums=None):
        """Column ``c``'s sum in logic (:mod:`hw.offset_binary`) into ``y``. Its tree has more
        levels than the products' (8 terms per pair of rows), so its registers go by level:
        as many as the other columns have after the broadcast stage (the products' register
        with ``pipeline`` 2, then one per tree stage), after levels spread evenly over the
        tree, the last one ``y``, which loads with ``y_en``; the others every cycle.
        ``sums``: the weights' pair sums (:func:`~hw.offset_binary.pair_sums`), registered
        beside ``w`` (default: computed from ``w``)."""
        R = self.rows
        terms = column_terms([x[r] for r in range(R)], [w[r] for r in range(R)], sums) + \
            [offset]
        levels = tree_levels(len(terms))
        first = min(self.pipeline, 1)           # the first register's stage
        stages = self.latency - 1 - first
        cuts = [levels * (j + 1) // stages for j in range(stages)]
        assert 1 <= cuts[0] and len(set(cuts)) == stages, (levels, stages)
        for level in range(1, levels + 1):
            terms = tree_level(terms)
            if level not in cuts:
                continue
            stage = cuts.index(level)
            if level == levels:
                with m.If(y_en):
                    m.d.sync += y.eq(terms[0][0])
            else:
                regs = [Signal(signed(len(v)), name=f"ob{stage}_c{c}_{i}", reset_less=True)
                        for i, (v, _) in enumerate(terms)]
                m.d.sync += [q.eq(v) for q, (v, _) in zip(regs, terms, strict=True)]
                terms = [(q, shift) for q, (_, shift) in zip(regs, terms, strict=True)]

    def _product_copy(self, m, r, c, p_q):
        """The registered product ``p_q`` as the tree's term: with ``pipeline`` 3 its copy
        ``pc_r{r}_c{c}``, else ``p_q`` itself."""
        if self.pipeline < 3:
            return p_q
        copy = Signal(signed(16), name=f"pc_r{r}_c{c}", reset_less=True)
        m.d.sync += copy.eq(p_q)
        return copy

    def elaborate(self, platform):
        m = Module()
        R = self.rows
        weights = self._elaborate_weights(m, self.i.valid, self.i.payload.bank)

        # Stage 0: input register, enabled only by valid vectors. Only the valid bits are
        # reset: every datapath register (x_q, bank_q_c*, the tag line, the adder-tree registers,
        # y) is read only downstream of it with its stage's valid bit, so its value while
        # that bit is low is a don't-care (and y, the tag hold while idle, reset or not).
        # Without a reset their next values do not depend on ``rst`` or on the soft reset,
        # which Verilator would otherwise evaluate again on every input change.
        x_q = Signal.like(self.i.payload.x, name="x_q", reset_less=True)
        valid = delay(m, self.i.valid, self.latency, name="valid")
        # The tag moves with its vector: each stage loads only when the vector enters it.
        tag_in = Signal.like(self.i.payload.tag, name="tag_in", reset_less=True)
        m.d.comb += tag_in.eq(self.i.payload.tag)
        tag = delay(m, tag_in, self.latency, enable=[self.i.valid, *valid[:-1]], name="tag")
        m.d.comb += [self.o.valid.eq(valid[-1]), self.o.payload.tag.eq(tag[-1])]
        m.d.comb += self.active.eq(_any([self.i.valid, *valid[:-1]]))
        with m.If(self.i.valid):
            m.d.sync += x_q.eq(self.i.payload.x)

        # Stage 1: products with the vector's bank's weights (the store registered its bank
        # with x_q). With ``pipeline`` >= 1 each column first registers its own copy of x_q and
        # of its weights (the broadcast's stage); with 2 the products are registered too.
        # These registers and the tree's load every cycle: what they hold between vectors is
        # never read, and x_q and the weights keep still while idle, so they do too. A clock
        # enable from a stage's valid bit had been one net to every register of the stage
        # (thousands at 16x16, among the routed 16x16's most congested nets). Only y holds
        # while idle, loading with its column's own copy of the valid bit (``y_en_c<c>``).
        # The last ``logic_columns`` columns sum without products (_logic_column, its own
        # registers).
        y = Signal.like(self.o.payload.y, name="y", reset_less=True)
        m.d.comb += self.o.payload.y.eq(y)
        y_en = []
        for c in range(self.cols):
            en = Signal(name=f"y_en_c{c}", attrs=KEEP_APART)
            m.d.sync += en.eq(valid[self.latency - 3] if self.latency >= 3 else self.i.valid)
            y_en.append(en)
        first_logic = self.cols - self.logic_columns
        offset = None
        if self.logic_columns:
            offset = self._logic_offset(m, x_q)
        columns = {}
        for c, w_sel in enumerate(weights):
            if self.mult_cells == "ecp5" and c < first_logic:
                # The DSP block's A and B registers are this column's xb/wb copies, its P
                # register the product's pq (loading every cycle, as those do).
                terms = []
                for r in range(R):
                    p_q = Signal(signed(16), name=f"pq_r{r}_c{c}")
                    mult18x18d(m, x_q[r], w_sel[r], p_q, Const(1), Const(1),
                               name=f"mult_r{r}_c{c}")
                    terms.append(self._product_copy(m, r, c, p_q))
                columns[c] = terms
                continue
            x_c, sums = x_q, None
            if self.pipeline >= 1:
                # (each column's copy of x_q is a copy that Yosys would merge: KEEP_APART)
                x_c = Signal.like(x_q, name=f"xb_c{c}", reset_less=True, attrs=KEEP_APART)
                w_c = Signal.like(w_sel, name=f"wb_c{c}", reset_less=True)
                m.d.sync += [x_c.eq(x_q), w_c.eq(w_sel)]
                if c >= first_logic:
                    # a logic column's pair sums registered with its weights, from the same
                    # selected weights: the sums' adders before the register, not between
                    # it and the terms (the 16x16 array's critical path had been a weight
                    # register through its pair's sum into the first terms' register)
                    sums = []
                    for k, (s, d) in enumerate(pair_sums([w_sel[r] for r in range(R)])):
                        s_q = Signal(signed(9), name=f"sb_c{c}_{k}", reset_less=True)
                        d_q = Signal(signed(9), name=f"db_c{c}_{k}", reset_less=True)
                        m.d.sync += [s_q.eq(s), d_q.eq(d)]
                        sums.append((s_q, d_q))
                w_sel = w_c
            if c >= first_logic:
                self._logic_column(m, c, x_c, w_sel, offset, y[c], y_en[c], sums)
                continue
            terms = []
            for r in range(R):
                p = Signal(signed(16), name=f"p_r{r}_c{c}")
                m.d.comb += p.eq(x_c[r] * w_sel[r])
                if self.pipeline >= 2:
                    p_q = Signal(signed(16), name=f"pq_r{r}_c{c}", reset_less=True)
                    m.d.sync += p_q.eq(p)
                    p = self._product_copy(m, r, c, p_q)
                terms.append(p)
            columns[c] = terms

        # Stages 2..: balanced adder trees, LEVELS_PER_STAGE levels between registers; the
        # last stage registers straight into y.
        tree_stages = self.latency - 1 - self.pipeline
        for stage in range(tree_stages):
            for c, terms in columns.items():
                for _ in range(self.LEVELS_PER_STAGE):
                    terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                             for i in range(0, len(terms), 2)]
                if stage == tree_stages - 1:
                    assert len(terms) == 1
                    with m.If(y_en[c]):
                        m.d.sync += y[c].eq(terms[0])
                else:
                    regs = [Signal(signed(32), name=f"t{stage}_c{c}_{i}", reset_less=True)
                            for i in range(len(terms))]
                    m.d.sync += [q.eq(t) for q, t in zip(regs, terms, strict=True)]
                    terms = regs
                columns[c] = terms
        return m


def _any(signals):
    out = signals[0]
    for s in signals[1:]:
        out = out | s
    return out
