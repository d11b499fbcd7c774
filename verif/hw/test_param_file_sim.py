# amaranth: UnusedElaboratable=no
"""hw.param_file.ParamFile in amaranth.sim against a naive model: one 32-bit word per
(column, field), merged by byte strobes and cut to the field's width."""

import pytest

from hw.param_file import ParamFile
from hw.spec import PARAM_FIELDS, PARAM_STRIDE
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit

WIDTHS = {name: shape.width for name, shape in ParamFile.SHAPES.items()}
SIGNED = {name: shape.signed for name, shape in ParamFile.SHAPES.items()}


def strobe_mask(strb):
    return sum(0xFF << 8 * i for i in range(4) if strb >> i & 1)


def as_field(name, word):
    """The register's value (as its port shows it) of a 32-bit word."""
    v = word & ((1 << WIDTHS[name]) - 1)
    if SIGNED[name] and v >> (WIDTHS[name] - 1):
        v -= 1 << WIDTHS[name]
    return v


@pytest.mark.parametrize("cols", [1, 3, 16])
def test_param_file_equals_a_word_model(cols):
    r = rng(cols)
    dut = ParamFile(cols)
    by_word = {offset // 4: name for name, offset in PARAM_FIELDS.items()}
    col_space = 1 << len(dut.w_col)
    field_space = 1 << len(dut.w_field)
    assert field_space == PARAM_STRIDE // 4
    model = {(c, name): 0 for c in range(cols) for name in PARAM_FIELDS}
    stats = {"writes": 0, "reads": 0, "ignored": 0}

    async def tb(ctx):
        # The registers are not reset: start from a known state through the write port.
        for c in range(cols):
            for offset in PARAM_FIELDS.values():
                ctx.set(dut.w_en, 1)
                ctx.set(dut.w_col, c)
                ctx.set(dut.w_field, offset // 4)
                ctx.set(dut.w_data, 0)
                ctx.set(dut.w_strb, 0xF)
                await ctx.tick()
        r_data = None
        for _ in range(1500):
            w_en, r_en = r.random() < 0.6, r.random() < 0.5
            wc, wf = r.randrange(col_space), r.randrange(field_space)
            rc, rf = r.randrange(col_space), r.randrange(field_space)
            data, strb = r.getrandbits(32), r.choice([0xF, 0xF, r.randrange(16)])
            for port, value in ((dut.w_en, w_en), (dut.w_col, wc), (dut.w_field, wf),
                                (dut.w_data, data), (dut.w_strb, strb), (dut.r_en, r_en),
                                (dut.r_col, rc), (dut.r_field, rf)):
                ctx.set(port, value)
            for c in range(cols):
                for name in PARAM_FIELDS:
                    got = ctx.get(getattr(dut, name.lower())[c])
                    assert got == as_field(name, model[c, name]), (c, name)
            if r_data is not None:
                assert ctx.get(dut.r_data) == r_data
            await ctx.tick()
            # The model after this edge: reads see the words before the write.
            if r_en and rc < cols and rf in by_word:
                r_data = model[rc, by_word[rf]] & ((1 << WIDTHS[by_word[rf]]) - 1)
                stats["reads"] += 1
            if w_en and wc < cols and wf in by_word:
                name, mask = by_word[wf], strobe_mask(strb)
                word = (model[wc, name] & ~mask) | (data & mask)
                model[wc, name] = word & ((1 << WIDTHS[name]) - 1)
                stats["writes"] += 1
            elif w_en:
                stats["ignored"] += 1

    simulate(dut, tb)
    print(stats)
    assert min(stats.values()) > 50


def test_param_file_checks_its_arguments():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(TypeError, match="cols must be a positive integer"):
            ParamFile(bad)
