"""hw.spec.isa: the encoding round-trips, reserved bits are refused, the check and the conflict
rule say what the module's docstring says."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw.spec import ErrorCode, Geometry, isa
from hw.spec.isa import End, Fence, Load, Op, Store, Vmm, Window

pytestmark = pytest.mark.nosim

G = Geometry.default()


def instructions():
    u16, u32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFF_FFFF)
    transfer = dict(window=st.integers(0, 15), first=u16, count=u16, mem_addr=u32)
    return st.one_of(
        st.just(End()), st.just(Fence()), st.builds(Load, **transfer),
        st.builds(Store, **transfer),
        st.builds(Vmm, bank=st.integers(0, 255), in_addr=u16, acc_addr=u16, out_addr=u16,
                  count=u16, rows=st.integers(0, 255), cols=st.integers(0, 255),
                  pool=st.integers(0, 255), flags=st.integers(0, 255),
                  out_zp=st.integers(-128, 127)))


@settings(max_examples=300, deadline=None)
@given(instructions())
def test_encode_decode_round_trip(instr):
    words = isa.encode(instr)
    assert all(0 <= w < 1 << 32 for w in words) and words[0] & 0xFF == instr.op
    assert isa.decode(words) == instr


@settings(max_examples=300, deadline=None)
@given(instructions(), st.integers(0, 3), st.integers(0, 31))
def test_a_set_reserved_bit_is_a_bad_instruction(instr, word, bit):
    """(Bits 7:0 of word 0 are the op itself.)"""
    if word == 0 and bit < 8:
        bit += 8
    mask = isa.reserved_mask(instr.op, word)
    words = list(isa.encode(instr))
    words[word] |= 1 << bit
    if mask >> bit & 1:
        assert isa.decode(words) is None
        assert isa.check(isa.decode(words), G) == ErrorCode.BAD_INSTR
    else:
        assert isa.decode(words) is not None


def test_fields_do_not_overlap_and_unknown_ops_are_refused():
    for op, fields in isa.FIELDS.items():
        taken = {(0, b) for b in range(8)}
        for f in fields:
            bits = {(f.word, f.lsb + i) for i in range(f.width)}
            assert not bits & taken and f.lsb + f.width <= 32, (op, f)
            taken |= bits
    assert isa.decode((5, 0, 0, 0)) is None and isa.decode((0xFF, 0, 0, 0)) is None
    with pytest.raises(ValueError, match="COUNT"):
        isa.encode(Load(Window.IN, 0, 1 << 16, 0))
    with pytest.raises(ValueError, match="OUT_ZP"):
        isa.encode(Vmm(out_zp=128))


@pytest.mark.parametrize("instr, code", [
    (Load(Window.IN, 0, 1, 0), ErrorCode.NONE),
    (Load(Window.ACC, 0, 1, 0), ErrorCode.BAD_WINDOW),
    (Store(Window.WEIGHT, 0, 1, 0), ErrorCode.BAD_WINDOW),
    (Load(9, 0, 1, 0), ErrorCode.BAD_WINDOW),
    (Load(Window.IN, 0, 0, 0), ErrorCode.WINDOW_RANGE),
    (Load(Window.IN, G.in_depth - 1, 2, 0), ErrorCode.WINDOW_RANGE),
    (Load(Window.WEIGHT, 0, G.banks * G.cols_p2, 0), ErrorCode.NONE),
    (Load(Window.PARAM, 0, 4 * G.cols + 1, 0), ErrorCode.WINDOW_RANGE),
    (Store(Window.OUT, 0, 1, 8), ErrorCode.MEM_ALIGN),
    (Vmm(count=1, rows=1, cols=1), ErrorCode.NONE),
    (Vmm(count=0, rows=1, cols=1), ErrorCode.BAD_COUNT),
    (Vmm(bank=2, count=1, rows=1, cols=1), ErrorCode.BAD_BANK),
    (None, ErrorCode.BAD_INSTR),
])
def test_check(instr, code):
    assert isa.check(instr, G) == code


def test_units_and_transfer_sizes_follow_the_window_layouts():
    g = Geometry.default(rows=12, cols=10, mem_bits=64)
    assert isa.unit_bytes(Window.IN, g) == 4 * g.row_words_p2 == 16
    assert isa.unit_bytes(Window.ACC, g) == 4 * g.cols_p2 == 64
    assert isa.unit_bytes(Window.OUT, g) == 4 * g.col_words_p2 == 16
    assert isa.units(Window.WEIGHT, g) == g.banks * g.cols_p2
    assert isa.transfer_bytes(Load(Window.PARAM, 0, 3, 0), g) == 16  # 12 bytes, 2 beats


def test_conflicts():
    vmm = Vmm(bank=1, in_addr=10, acc_addr=0, out_addr=4, count=8, rows=16, cols=16,
              flags=isa.register("CMD_FLAGS").pack(REQUANT=1, LUT=1))
    bank1 = G.cols_p2
    yes = [Load(Window.WEIGHT, bank1 + 3, 1, 0), Load(Window.IN, 17, 5, 0),
           Load(Window.PARAM, 0, 1, 0), Load(Window.LUT, 5, 1, 0), Store(Window.ACC, 7, 1, 0),
           Store(Window.OUT, 11, 1, 0)]
    no = [Load(Window.WEIGHT, 0, bank1, 0), Load(Window.IN, 18, 5, 0),
          Store(Window.ACC, 8, 4, 0), Store(Window.OUT, 12, 1, 0), Store(Window.OUT, 0, 4, 0),
          Load(Window.IN, 0, 10, 0), End(), Fence()]
    for other in yes:
        assert isa.conflicts(vmm, other, G) and isa.conflicts(other, vmm, G), other
    for other in no:
        assert not isa.conflicts(vmm, other, G) and not isa.conflicts(other, vmm, G), other
    plain = Vmm(out_addr=4, count=8, rows=16, cols=16)  # no REQUANT: OUT untouched
    assert not isa.conflicts(plain, Store(Window.OUT, 4, 1, 0), G)
    for window in (Window.PARAM, Window.LUT):  # nor PARAM (no BIAS either), nor the LUT
        assert not isa.conflicts(plain, Load(window, 0, 1, 0), G)
    biased = Vmm(count=8, rows=16, cols=16, flags=isa.register("CMD_FLAGS").pack(BIAS=1))
    assert isa.conflicts(biased, Load(Window.PARAM, 0, 1, 0), G)
    assert not isa.conflicts(biased, Load(Window.LUT, 0, 1, 0), G)
    assert isa.unit_of(vmm) == "compute" and isa.unit_of(End()) is None
    assert [op.name for op in Op] == ["END", "LOAD", "STORE", "VMM", "FENCE"]
