"""The per-column post-processing parameters: BIAS, MULT and SHIFT."""

from amaranth import Module, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .spec import PARAM_BITS, PARAM_FIELDS, PARAM_STRIDE

__all__ = ["ParamFile"]


class ParamFile(wiring.Component):
    """Per-column BIAS (int32), MULT (Q31, 31 bits) and SHIFT (6 bits) registers, one 32-bit word
    each, written and read back word by word through the PARAM window.

    The word layout is :data:`~hw.spec.regmap.PARAM_FIELDS` / :data:`~hw.spec.regmap.PARAM_STRIDE`:
    field ``f`` of column ``c`` is word ``PARAM_FIELDS[f] // 4`` of the column's stride. A write
    changes the bytes selected by ``w_strb`` (bits above a field's width are dropped); a write to a
    column >= ``cols`` or to an unused word changes nothing. The registers are not reset (a soft
    reset keeps them). The values are used by the accumulators (``bias``) and the requantizer
    (``mult``, ``shift``).

    Parameters
    ----------
    cols : int
        Columns (>= 1).

    Members
    -------
    w_en, w_col, w_field, w_data, w_strb : In
        Write port: ``w_field`` is the word within the column's stride.
    r_en, r_col, r_field : In
        Read port; ``r_data`` holds the word one cycle after ``r_en`` and until the next
        ``r_en`` of an existing word.
    bias, mult, shift : Out(ArrayLayout(..., cols))
        The registers.
    """

    #: the shape of each field's register
    SHAPES = {name: (signed if name == "BIAS" else unsigned)(bits)
              for name, bits in PARAM_BITS.items()}

    def __init__(self, cols):
        if not isinstance(cols, int) or isinstance(cols, bool) or cols < 1:
            raise TypeError(f"cols must be a positive integer, not {cols!r}")
        if set(self.SHAPES) != set(PARAM_FIELDS):
            raise ValueError(f"ParamFile.SHAPES {set(self.SHAPES)} != PARAM_FIELDS "
                             f"{set(PARAM_FIELDS)}")
        self.cols = cols
        col_bits = max(1, (cols - 1).bit_length())
        field_bits = exact_log2(PARAM_STRIDE // 4)
        super().__init__({
            "w_en": In(1), "w_col": In(col_bits), "w_field": In(field_bits), "w_data": In(32),
            "w_strb": In(4),
            "r_en": In(1), "r_col": In(col_bits), "r_field": In(field_bits), "r_data": Out(32),
            **{name.lower(): Out(data.ArrayLayout(shape, cols))
               for name, shape in self.SHAPES.items()},
        })
        # The storage: not reset, by CTRL.SOFT_RESET or by rst (ports cannot be reset-less).
        self._regs = {name: Signal(data.ArrayLayout(shape, cols), name=name.lower() + "_q",
                                   reset_less=True) for name, shape in self.SHAPES.items()}

    def elaborate(self, platform):
        m = Module()
        for name, regs in self._regs.items():
            m.d.comb += getattr(self, name.lower()).eq(regs)
        # Each byte of a register loads under its own enable with the bus's byte as it is: a
        # flip-flop's clock enable and no logic on its data (written as the old word merged
        # with the new bytes, each bit took a LUT4 to merge).
        for c in range(self.cols):
            with m.If(self.w_en & (self.w_col == c)):
                with m.Switch(self.w_field):
                    for name, offset in PARAM_FIELDS.items():
                        with m.Case(offset // 4):
                            reg = Value.cast(self._regs[name][c])
                            for i in range(0, len(reg), 8):
                                with m.If(self.w_strb[i // 8]):
                                    m.d.sync += reg[i:i + 8].eq(self.w_data[i:i + 8])
        # The read: one multiplexer tree over the columns' words (a chain of per-column
        # conditions had put a column-deep priority chain before r_data)
        word = Signal(32, name="r_word")
        hit = Signal(name="r_hit")
        m.d.comb += hit.eq(0)
        with m.Switch(self.r_col):
            for c in range(self.cols):
                with m.Case(c):
                    with m.Switch(self.r_field):
                        for name, offset in PARAM_FIELDS.items():
                            with m.Case(offset // 4):
                                m.d.comb += [word.eq(Value.cast(self._regs[name][c])),
                                             hit.eq(1)]
        with m.If(self.r_en & hit):
            m.d.sync += self.r_data.eq(word)
        return m
