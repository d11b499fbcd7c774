# amaranth: UnusedElaboratable=no
"""hw.decoder.AddressDecoder in amaranth.sim against a naive model built from the spec alone.

The model enumerates every word that exists with ``Geometry.*_addr`` (and the register
offsets), so it shares no bit slicing with the decoder: an address is mapped exactly when the
model lists it, with the fields the model lists. Checked, for three geometries: the first and
last word of every window and of its mapped part, random mapped words, every byte offset,
the padding holes inside windows, the addresses past each buffer's depth, and the holes
between the windows.
"""

import pytest

from hw.decoder import SPACES, AddressDecoder, Region
from hw.spec import ADDR_WIDTH, LUT_ENTRIES, PARAM_FIELDS, REGISTERS, Geometry, words_for
from verif.hw.sim_util import raw, rng, simulate

pytestmark = pytest.mark.unit

GEOMETRIES = {
    "16x16": Geometry.default(),
    "5x3x3": Geometry(rows=5, cols=3, banks=3, in_depth=40, acc_depth=24, out_depth=20),
    "12x6": Geometry.default(rows=12, cols=6, banks=1, in_depth=7, acc_depth=5, out_depth=9),
    "4x4": Geometry.default(rows=4, cols=4, in_depth=16, acc_depth=16, out_depth=16),
}


def mapped_words(g):
    """{word address: (space name, {field: value})} of every word that exists."""
    words = {r.offset: ("REG", {"word": r.offset // 4}) for r in REGISTERS}
    for w in range(words_for(LUT_ENTRIES)):
        words[g.lut_addr(w)] = ("LUT", {"word": w})
    for c in range(g.cols):
        for name, offset in PARAM_FIELDS.items():
            words[g.param_addr(c, name)] = ("PARAM", {"col": c, "field": offset // 4})
    for b in range(g.banks):
        for c in range(g.cols):
            for w in range(g.row_words):
                words[g.weight_addr(b, c, w)] = ("WEIGHT", {"bank": b, "col": c, "word": w})
    for v in range(g.in_depth):
        for w in range(g.row_words):
            words[g.in_addr(v, w)] = ("IN", {"vector": v, "word": w})
    for a in range(g.acc_depth):
        for c in range(g.cols):
            words[g.acc_addr(a, c)] = ("ACC", {"row": a, "col": c})
    for o in range(g.out_depth):
        for w in range(g.col_words):
            words[g.out_addr(o, w)] = ("OUT", {"row": o, "word": w})
    return words


def space_of(addr):
    for space in SPACES:
        if space.base <= addr < space.base + space.size:
            return space.name
    return None


def test_addresses(g, words, r):
    """The addresses to check: corners, random words, holes and byte offsets."""
    out = set()
    for space in SPACES:
        mine = sorted(a for a, (s, _) in words.items() if s == space.name)
        end = space.base + space.size
        out |= {space.base, end - 4, end, space.base - 4, mine[0], mine[-1], mine[-1] + 4}
        out |= set(r.sample(mine, min(len(mine), 40)))
        out |= {r.randrange(space.base, end) for _ in range(40)}   # mostly holes in big ones
    out |= {r.randrange(1 << ADDR_WIDTH) for _ in range(200)}
    out |= {a + r.randrange(1, 4) for a in list(out)[:300]}        # byte offsets
    return sorted(a for a in out if 0 <= a < 1 << ADDR_WIDTH)


test_addresses.__test__ = False


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_decoder_equals_the_spec(name):
    g = GEOMETRIES[name]
    words = mapped_words(g)
    r = rng(len(name))
    dut = AddressDecoder(g)
    addresses = test_addresses(g, words, r)
    checked = {"mapped": 0, "unmapped": 0}

    async def tb(ctx):
        for addr in addresses:
            ctx.set(dut.addr, addr)
            space = space_of(addr)
            expected = words.get(addr & ~3)
            where = f"{name}: address 0x{addr:05X}"
            select = {s.name: ctx.get(dut.select[s.name]) for s in SPACES}
            assert select == {s.name: int(s.name == space) for s in SPACES}, where
            region = ctx.get(dut.region)
            assert region == (Region[space] if space else Region.NONE), where
            assert ctx.get(dut.mapped) == (expected is not None), where
            if expected is not None:
                assert expected[0] == space, where
                fields = {f: ctx.get(raw(dut.fields[space][f])) for f in expected[1]}
                assert fields == expected[1], where
            checked["mapped" if expected else "unmapped"] += 1

    simulate(dut, tb, clock=False)
    print(f"{name}: {checked}")
    assert checked["mapped"] > 100 and checked["unmapped"] > 100


def test_every_register_offset_and_every_word_of_a_small_geometry():
    """Exhaustive over the register space and over every mapped word of a small geometry."""
    g = Geometry(rows=5, cols=3, banks=2, in_depth=3, acc_depth=2, out_depth=2)
    words = mapped_words(g)
    dut = AddressDecoder(g)

    async def tb(ctx):
        for addr in [*range(0, 0x1000, 4), *sorted(words)]:
            ctx.set(dut.addr, addr)
            expected = words.get(addr)
            assert ctx.get(dut.mapped) == (expected is not None), hex(addr)
            if expected:
                space, fields = expected
                assert ctx.get(dut.select[space]) == 1
                assert {f: ctx.get(raw(dut.fields[space][f])) for f in fields} == fields

    simulate(dut, tb, clock=False)


def test_decoder_checks_its_arguments():
    with pytest.raises(TypeError, match="geometry must be a Geometry"):
        AddressDecoder({"rows": 4})
    with pytest.raises(ValueError, match="does not fit 12 address bits"):
        AddressDecoder(Geometry.default(), addr_width=12)
