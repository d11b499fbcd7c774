"""Generated documents match the code, and the register map is consistent with its consumers."""

import pytest

from hw import docs
from hw.csr import RegisterFile, port_name
from hw.spec import ADDR_WIDTH, REGISTER_SPACE, REGISTERS, WINDOWS, Geometry

pytestmark = pytest.mark.nosim


def test_generated_documents_are_up_to_date():
    stale = [p.name for p, text in docs.expected_files().items() if p.read_text() != text]
    assert not stale, f"{stale} are stale: run `make docs`"


def test_block_table_lists_every_block():
    names = {cls.__name__ for cls in docs.blocks()}
    assert {"AxiLiteSlave", "RegisterFile", "Controller", "VmmArray", "Accumulator",
            "PostProcess", "Requantize", "Lut", "Relu", "GroupMax", "PimAccelerator"} <= names


def test_replace_section_needs_its_markers():
    with pytest.raises(ValueError, match="no section 'x'"):
        docs.replace_section("text", "x", "y", "z")


def test_register_block_has_a_port_for_every_writable_field():
    config = Geometry.default().as_dict() | {"latency": 4, "features": 0}
    members = RegisterFile(config).signature.members
    for reg in REGISTERS:
        if reg.config or reg.constant:
            continue
        for fld in reg.fields:
            assert port_name(reg, fld) in members, (reg.name, fld.name)


def test_registers_do_not_overlap_and_are_word_aligned():
    offsets = [r.offset for r in REGISTERS]
    assert len(set(offsets)) == len(offsets)
    assert all(o % 4 == 0 and o < REGISTER_SPACE.size for o in offsets)
    for r in REGISTERS:
        used = 0
        for f in r.fields:
            assert f.mask & used == 0 and f.lsb + f.width <= 32, (r.name, f.name)
            used |= f.mask


def test_windows_fit_the_address_space():
    spans = sorted((w.base, w.base + w.size) for w in WINDOWS)
    assert spans[0][0] >= REGISTER_SPACE.size and spans[-1][1] <= 1 << ADDR_WIDTH
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
