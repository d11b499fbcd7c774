"""Programmable lookup-table activation on int8 values."""

from amaranth import Cat, Const, Module, Mux, Signal, signed
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
    RAM copy each (``ram_style = "block"``, one DP16KD), an entry a word (256 x 8, written
    through four byte ports that Yosys merges into the block RAM's one 32-bit write port): a
    synchronous read port addressed with the input, enabled with the row's ``i.valid``, whose
    entry, or the input registered with the row (without ``enable``, also registered with
    it), gives the output register its value a cycle later. So the block RAM's
    clock-to-output (4.26 ns on an ECP5) ends at a register after one 2:1 select, not in the
    ReLU and max-pool after it (a 32-bit word read and its 4:1 entry select had been a LUT
    level more: 8.12 ns routed on the 8x8 accelerator at 6817fe9), and the input may come
    straight from the requantizer's last, combinational stage
    (:class:`~hw.pp.requant.Requantize`). A write to the table in a row's cycle is seen by
    the next row; the row itself gets unspecified entries from the written word: the block
    RAM copies are ``no_rw_check`` (Yosys builds no logic that would make a read of the
    entry being written return the old one: a delayed write, a bypass register
    per bit and an address compare per column, 43 % of ``Lut(4)``'s LUT4 and half its
    flip-flops, and on the 8x8 accelerator's deepest estimated path). Rows without ``enable``
    read an entry but do not use it. The accelerator never writes the table while a row is
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
            # memory_libmap run out of memory), an entry a word: four write ports, one a byte
            # of the bus's word (Yosys merges them into one 32-bit port of a DP16KD, read 9
            # bits wide)
            lookup = memory.Memory(shape=signed(8), depth=LUT_ENTRIES, init=[],
                                   attrs={"ram_style": "block", "no_rw_check": 1})
            m.submodules[f"lookup_{c}"] = lookup
            for k in range(4):
                lp = lookup.write_port()
                m.d.comb += [lp.addr.eq(Cat(Const(k, 2), self.w_word)),
                             lp.data.eq(self.w_data[8 * k:8 * k + 8]),
                             lp.en.eq(self.w_en & self.w_strb[k])]
            entry = lookup.read_port(domain="sync")   # with a write to it: unspecified
            m.d.comb += [entry.addr.eq(index), entry.en.eq(self.i.valid)]
            # the input and whether the table is used, registered with the row: a 2:1 select
            # after the block RAM, one LUT level (a 4:1 entry select from a 32-bit word, then
            # the enable select, had been two)
            x_q = Signal(signed(8), name=f"x_q_{c}", reset_less=True)
            use_table = Signal(name=f"use_table_{c}", reset_less=True)
            with m.If(self.i.valid):
                m.d.sync += [x_q.eq(x), use_table.eq(self.enable)]
            with m.If(valid):
                m.d.sync += out[c].eq(Mux(use_table, entry.data, x_q))
        return m
