"""The register document and every consumer of the register map agree with hw/regmap.py."""

import dataclasses
import pathlib

import pytest

from hw import regmap
from hw.csr import RegisterFile, port_name

pytestmark = pytest.mark.nosim
ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_register_doc_is_generated():
    doc = (ROOT / "docs" / "registers.md").read_text()
    assert doc == regmap.markdown(), "docs/registers.md is stale: run `make docs`"


def test_readme_register_map_is_generated():
    readme = (ROOT / "README.md").read_text()
    assert regmap.readme_section() in readme, "README.md's register map is stale: `make docs`"


def test_register_block_has_a_port_for_every_writable_field():
    config = dataclasses.asdict(regmap.Geometry.default()) | {"latency": 4, "features": 0}
    members = RegisterFile(config).signature.members
    for reg in regmap.REGISTERS:
        if reg.config or reg.constant:
            continue
        for fld in reg.fields:
            assert port_name(reg, fld) in members, (reg.name, fld.name)


def test_registers_do_not_overlap_and_are_word_aligned():
    offsets = [r.offset for r in regmap.REGISTERS]
    assert len(set(offsets)) == len(offsets)
    assert all(o % 4 == 0 and o < 0x1000 for o in offsets)
    for r in regmap.REGISTERS:
        used = 0
        for f in r.fields:
            assert f.mask & used == 0 and f.lsb + f.width <= 32, (r.name, f.name)
            used |= f.mask


def test_windows_fit_the_address_space():
    spans = sorted((w.base, w.base + w.size) for w in regmap.WINDOWS)
    assert spans[0][0] >= 0x1000 and spans[-1][1] <= 1 << regmap.ADDR_WIDTH
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_geometry_too_large_for_a_window_is_refused():
    with pytest.raises(ValueError, match="ACC window"):
        regmap.Geometry.default(cols=256, acc_depth=4096).check()
