"""Programmable lookup-table activation on int8 values."""

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec import LUT_ENTRIES, timing
from ..streams import vector_stream

__all__ = ["Lut"]


class Lut(wiring.Component):
    """``y = table[x + 128]`` for every column when ``enable``, else ``y = x``.

    The table holds 256 int8 entries (entry i is the output for input i - 128) in registers of
    its own, written one 32-bit word (four entries, byte strobes honoured) at a time through
    ``w_*`` and read back through ``r_word``/``r_data`` (combinational). The driver offers tables
    for sigmoid, tanh, GELU and the exponential of softmax. Golden twin: the ``lut`` argument of
    :func:`models.linear`. ``LATENCY = 1``.
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
        self.table = Signal(data.ArrayLayout(signed(8), LUT_ENTRIES), reset_less=True)

    def elaborate(self, platform):
        m = Module()
        for wd in range(self.WORDS):
            for lane in range(4):
                with m.If(self.w_en & (self.w_word == wd) & self.w_strb[lane]):
                    m.d.sync += self.table[4 * wd + lane].eq(self.w_data[8 * lane:8 * lane + 8])
        words = data.View(data.ArrayLayout(32, self.WORDS), self.table.as_value())
        m.d.comb += self.r_data.eq(words[self.r_word])

        m.d.sync += [self.o.valid.eq(self.i.valid), self.o.payload.addr.eq(self.i.payload.addr)]
        for c in range(self.cols):
            x = self.i.payload.data[c]
            index = Signal(8, name=f"index_{c}")
            m.d.comb += index.eq(x.as_unsigned() ^ 0x80)  # x + 128 for int8 x
            with m.If(self.i.valid):
                m.d.sync += self.o.payload.data[c].eq(x)
                with m.If(self.enable):
                    m.d.sync += self.o.payload.data[c].eq(self.table[index])
        return m
