"""Programmable lookup-table activation on int8 values."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
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
    :func:`models.linear`. ``LATENCY = 1``.

    The memory asks for LUT-RAM (``ram_style = "distributed"``): its C + 1 read ports are
    combinational, which block RAM cannot give. Yosys builds LUT-RAM by itself up to 8 columns
    (one copy of the 2,048 bits per read port), but from 16 it built the table from flip-flops
    and read multiplexers: 32,721 LUT4 for ``Lut(16)`` alone, against 3,063 LUT4 and 544
    TRELLIS_DPR16X4 with the attribute (README, "Synthesis"). Simulators ignore it.
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

        m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.addr.eq(self.i.payload.addr)]
        # the data register is read only with o.valid: no reset (see Requantize)
        out = Signal(data.ArrayLayout(signed(8), self.cols), reset_less=True)
        m.d.comb += self.o.payload.data.eq(out)
        for c in range(self.cols):
            x = self.i.payload.data[c]
            index = Signal(8, name=f"index_{c}")
            m.d.comb += index.eq(x.as_unsigned() ^ 0x80)  # x + 128 for int8 x
            lookup = table.read_port(domain="comb")
            m.d.comb += lookup.addr.eq(index[2:])
            with m.If(self.i.valid):
                m.d.sync += out[c].eq(x)
                with m.If(self.enable):
                    m.d.sync += out[c].eq(lookup.data.word_select(index[:2], 8))
        return m
