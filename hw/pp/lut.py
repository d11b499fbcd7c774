"""Programmable lookup-table activation on int8 values."""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..spec import LUT_ENTRIES, timing
from ..streams import vector_stream

__all__ = ["Lut"]


class Lut(wiring.Component):
    """``y = table[x + 128]`` for every column when ``enable``, else ``y = x``.

    The table holds 256 int8 entries (entry i is the output for input i - 128) in a memory of
    its own (64 words of four entries, entry 4w in bits 7:0 of word w, all 0 at start, not
    reset), written one 32-bit word (byte strobes honoured) at a time through ``w_*`` and read
    back through ``r_word``/``r_data`` (combinational). Each column looks its entry up through
    a read port of its own (a memory, not a 2048-bit register indexed 16 times: simulators
    index an array directly instead of shifting the whole table). The driver offers tables
    for sigmoid, tanh, GELU and the exponential of softmax. Golden twin: the ``lut`` argument of
    :func:`models.linear`. ``LATENCY = 2``: the row's cycle reads the block RAM and registers
    the input, the next one registers the output.

    The table is kept twice, both copies written together. The bus reads a LUT-RAM copy
    (``ram_style = "distributed"``), its read port combinational. The columns look up a block
    RAM copy each (``ram_style = "block"``, one DP16KD): a synchronous read port, addressed
    with the row's ``i.valid``, whose word, and the input, and the output's source (one of
    the word's four entries, or the input without ``enable``: one-hot, registered with the
    row) give the output register its value a cycle later. So the
    block RAM's clock-to-output (4.26 ns on an ECP5) ends at a register, not in the ReLU and
    max-pool after it, and the input may come straight from the requantizer's last,
    combinational stage (:class:`~hw.pp.requant.Requantize`). A write to the table in a row's
    cycle is seen by the next row; the row itself gets unspecified entries from the written
    word: the block RAM copies are ``no_rw_check`` (Yosys builds no logic that would make a
    read of the word being written return the old entry: a delayed write, a bypass register
    per bit and an address compare per column, 43 % of ``Lut(4)``'s LUT4 and half its
    flip-flops, and on the 8x8 accelerator's deepest estimated path). Rows without ``enable``
    read the word but do not use it. The accelerator never writes the table while a row is
    looked up with ``enable``: a LOAD into the LUT window waits for a running VMM with the LUT
    flag (:func:`hw.spec.isa.conflicts`) and the bus's LUT writes are refused while busy
    (``verif/hw/test_program_sim.py`` watches for it every cycle). In LUT-RAM the C + 1 copies
    were 2,808 LUT4 and 544 TRELLIS_DPR16X4 of the 16x16 accelerator (Yosys ``-noabc9
    -nowidelut``, its hierarchy kept); without the attribute, from 16 columns Yosys had built
    the table from flip-flops and read multiplexers (32,721 LUT4 for ``Lut(16)`` alone; README,
    "Synthesis"). Simulators ignore the attributes.
    """

    LATENCY = timing.stage_latency("Lut")
    WORDS = LUT_ENTRIES // 4

    def __init__(self, cols, addr_width):
        self.cols = cols
        super().__init__({
            "i": In(vector_stream(signed(8), cols, addr_width)),
            "o": Out(vector_stream(signed(8), cols, addr_width)),
            "enable": In(1),
            "w_en": In(1), "w_word": In(range(self.WORDS)), "w_data": In(32), "w_strb": In(4),
            "r_word": In(range(self.WORDS)), "r_data": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.table = table = memory.Memory(shape=32, depth=self.WORDS, init=[],
                                                   attrs={"ram_style": "distributed"})
        wp = table.write_port(granularity=8)
        m.d.comb += [wp.addr.eq(self.w_word), wp.data.eq(self.w_data),
                     wp.en.eq(Mux(self.w_en, self.w_strb, 0))]
        bus = table.read_port(domain="comb")
        m.d.comb += [bus.addr.eq(self.r_word), self.r_data.eq(bus.data)]

        # the row's cycle: its address and valid bit registered (the data only ever
        # read with a valid bit: no reset), its entries read
        valid = Signal(name="valid_q")
        addr = Signal.like(self.i.payload.addr, name="addr_q", reset_less=True)
        m.d.sync += valid.eq(self.i.valid)
        with m.If(self.i.valid):
            m.d.sync += addr.eq(self.i.payload.addr)
        # the next cycle: the output registered, one register per column (a packed row
        # register would make Verilator build the whole row's next value outside the valid
        # bit's ``if``)
        m.d.sync += self.o.valid.eq(valid)
        out = [Signal(signed(8), name=f"out_{c}", reset_less=True) for c in range(self.cols)]
        m.d.comb += self.o.payload.data.eq(Cat(*out))
        with m.If(valid):
            m.d.sync += self.o.payload.addr.eq(addr)
        for c in range(self.cols):
            x = self.i.payload.data[c]
            index = Signal(8, name=f"index_{c}")
            m.d.comb += index.eq(x.as_unsigned() ^ 0x80)  # x + 128 for int8 x
            # a copy per column (one memory with 16 read ports makes Yosys 0.68's
            # memory_libmap run out of memory)
            lookup = memory.Memory(shape=32, depth=self.WORDS, init=[],
                                   attrs={"ram_style": "block", "no_rw_check": 1})
            m.submodules[f"lookup_{c}"] = lookup
            lp = lookup.write_port(granularity=8)
            m.d.comb += [lp.addr.eq(wp.addr), lp.data.eq(wp.data), lp.en.eq(wp.en)]
            word = lookup.read_port(domain="sync")   # with a write to its word: unspecified
            m.d.comb += [word.addr.eq(index[2:]), word.en.eq(self.i.valid)]
            # the output's source one-hot, registered with the row: the word's entry 0..3
            # (with ``enable``) or the input (without): an AND-OR of five terms a bit after
            # the block RAM, two LUT levels (a 4:1 entry select, then the 2:1 enable select,
            # had been four)
            x_q = Signal(signed(8), name=f"x_q_{c}", reset_less=True)
            pick = Signal(5, name=f"pick_{c}", reset_less=True)
            with m.If(self.i.valid):
                m.d.sync += [x_q.eq(x), pick.eq(Cat(
                    *(self.enable & (index[:2] == k) for k in range(4)), ~self.enable))]
            picked = x_q.as_unsigned() & pick[4].replicate(8)
            for k in range(4):
                picked = picked | (word.data.word_select(k, 8) & pick[k].replicate(8))
            with m.If(valid):
                m.d.sync += out[c].eq(picked)
        return m
