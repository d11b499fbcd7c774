"""The CIM build in the spec: CimGeometry, its registers and feature bit, its timing."""

import dataclasses

import pytest

from hw.spec import ALL_FEATURES, REGISTERS, CimGeometry, Feature, Geometry, cim_of, timing
from hw.spec.geometry import build_key
from hw.spec.regmap import CIM_REGISTERS, register, registers
from models.cim import CimConfig

pytestmark = pytest.mark.nosim


def test_default_with_cim_is_a_cim_geometry():
    g = Geometry.default(rows=8, cols=4, cim=CimConfig(2, 4, 6))
    assert isinstance(g, CimGeometry) and cim_of(g) == CimConfig(2, 4, 6)
    assert cim_of(Geometry.default()) is None and type(Geometry.default()) is Geometry
    assert Geometry.default(cim=None) == Geometry.default()
    assert g.cim_word == 2 | 4 << 8 | 6 << 16 | 8 << 24
    assert CimGeometry.cim_from_word(g.cim_word) == g.cim
    # the digital fields are the same; the replace keeps the kind
    digital = {f.name: getattr(g, f.name) for f in dataclasses.fields(Geometry)}
    assert Geometry(**digital) == Geometry.default(rows=8, cols=4)
    assert g.replace(banks=3).cim == g.cim


def test_sliced_cells_are_a_cim_build():
    g = Geometry.default(rows=8, cols=4, cim=CimConfig(2, 4, 6, 2))
    assert g.cim_word == 2 | 4 << 8 | 6 << 16 | 2 << 24
    assert CimGeometry.cim_from_word(g.cim_word) == g.cim == CimConfig(2, 4, 6, 2)
    assert build_key(g).endswith("_2_4_6_2")


def test_build_keys():
    assert build_key(Geometry.default()) == "_".join(
        str(v) for v in dataclasses.astuple(Geometry.default()))  # unchanged for digital
    assert build_key(Geometry.default(rows=8, cim=CimConfig(1, 8, 5))) == \
        "8_16_2_1024_256_256_128_1_8_5_8"


@pytest.mark.parametrize("cim,message", [
    (CimConfig(1, 3, 8), r"group_rows \(3\) must divide rows \(16\)"),
    ("b1", "must be a models.cim.CimConfig"),
])
def test_bad_cim_geometries_say_why(cim, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Geometry.default(cim=cim)


def test_cim_registers_exist_only_in_cim_builds():
    assert registers() is REGISTERS and registers(cim=True) == REGISTERS + CIM_REGISTERS
    names = {r.name for r in CIM_REGISTERS}
    assert names == {"CFG_CIM", "CIM_SHIFT", "PERF_ADC", "PERF_ROWS"}
    assert not names & {r.name for r in REGISTERS}
    used = {r.offset for r in REGISTERS}
    assert all(r.offset not in used for r in CIM_REGISTERS)
    assert register("CIM_SHIFT").locked_while_busy
    assert register("CIM_SHIFT").field("VALUE").width == 5  # 0..models.cim.SHIFT_MAX
    assert not ALL_FEATURES & Feature.CIM  # the digital build does not report CIM


@pytest.mark.parametrize("count", [1, 2, 7])
@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_cim_timing(count, bits):
    vc = timing.cim_vector_cycles(bits)
    latency = timing.cim_array_latency(bits)
    assert vc == 8 // bits and latency == vc + 2
    assert timing.busy_cycles(count, latency, True, vc) == \
        (count - 1) * vc + 1 + timing.drain(latency)
    assert timing.compute_cycles(count, latency, vc) == (count - 1) * vc + latency
    # one vector per cycle is the digital formula
    assert timing.busy_cycles(count, 3, False, 1) == count + timing.drain(3, False)


def test_cim_timing_refuses_bad_bits():
    with pytest.raises(ValueError, match=r"one of \(1, 2, 4, 8\), got 3"):
        timing.cim_vector_cycles(3)
