"""The register model of a compute-in-memory build (CimGeometry), through the driver and bare.

``acc.linear`` in CIM mode (register path and programs) at several settings equals
:func:`models.cim.linear` with the calibrated window, the CIM registers behave as the register
map says, and the counters and busy cycles follow their closed forms.
"""

import numpy as np
import pytest

from hw.spec import ALL_FEATURES, BusError, Feature, Geometry, register, timing
from models import cim
from models.cim import CimConfig
from sw.accelerator import Accelerator, AcceleratorError
from sw.cim import calibrate_shift
from sw.targets.regmodel import RegisterModel

pytestmark = pytest.mark.nosim

#: (geometry overrides, CimConfig)
SETTINGS = [
    (dict(rows=16, cols=16), CimConfig(1, 16, 8)),
    (dict(rows=8, cols=4), CimConfig(2, 4, 5)),
    (dict(rows=12, cols=6, banks=3), CimConfig(4, 6, 7)),
    (dict(rows=4, cols=8), CimConfig(8, 2, 10)),
    (dict(rows=8, cols=8), CimConfig(2, 4, 6, 2)),     # weights sliced into 2-bit cells
    (dict(rows=16, cols=16), CimConfig(1, 8, 7, 4)),   # ... into 4-bit cells
]
IDS = [f"{o['rows']}x{o['cols']}-B{c.bits_per_cycle}G{c.group_rows}A{c.adc_bits}"
       + (f"C{c.cell_bits}" if c.sliced else "") for o, c in SETTINGS]


def _rng(seed):
    print(f"seed={seed}")
    return np.random.default_rng(seed)


@pytest.mark.parametrize("dma", [False, None], ids=["registers", "program"])
@pytest.mark.parametrize(("overrides", "cfg"), SETTINGS, ids=IDS)
def test_linear_equals_the_cim_golden_model(overrides, cfg, dma):
    rng = _rng(1300 + SETTINGS.index((overrides, cfg)))
    m, k, n = 13, 2 * overrides["rows"] + 3, overrides["cols"] + 5
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    b = rng.integers(-3000, 3000, n).astype(np.int32)
    with Accelerator.open("regmodel", cim=cfg, dma=dma, **overrides) as acc:
        assert acc.geometry.cim == cfg and Feature.CIM in acc.features
        assert acc.latency == timing.cim_array_latency(cfg.bits_per_cycle)
        shift = acc.calibrate_cim(x[:8], w)
        assert shift == calibrate_shift(x[:8], w, cfg) == acc.cim_shift
        acc.write_words(register("CTRL").offset, [register("CTRL").pack(clear_counters=1)])
        y = acc.linear(x, w)
        assert acc.path == ("program" if dma is None else "registers (dma=False)")
        np.testing.assert_array_equal(y, cim.cim_vmm(x, w, cfg, shift))
        vectors = acc.stats.vectors
        want = cim.counts(vectors, overrides["rows"], overrides["cols"], cfg)
        assert acc.cim_counters() == want
        # requantized, with a bias and an input zero point, at another window
        acc.cim_shift = max(0, shift - 1)
        kw = dict(scale=0.0004, zero_point=-5, relu=True, input_zero_point=-128)
        np.testing.assert_array_equal(
            acc.linear(x, w, b, **kw),
            cim.linear(x, w, b, config=cfg, shift=max(0, shift - 1), **kw))


def test_a_wide_adc_is_the_digital_result():
    rng = _rng(1310)
    x = rng.integers(-128, 128, (9, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (7, 40), dtype=np.int8)
    cfg = CimConfig(1, 8, cim.exact_adc_bits(CimConfig(1, 8)))
    with Accelerator.open("regmodel", cim=cfg, rows=8, cols=8) as acc:
        assert acc.calibrate_cim(x, w) == 0
        with Accelerator.open("regmodel", rows=8, cols=8) as digital:
            np.testing.assert_array_equal(acc.linear(x, w), digital.linear(x, w))


def test_busy_cycles_of_a_command():
    """Register path: PERF_BUSY and PERF_COMPUTE of each command follow the CIM timing."""
    cfg = CimConfig(2, 4, 6)
    x = np.ones((5, 8), np.int8)
    w = np.ones((4, 8), np.int8)
    with Accelerator.open("regmodel", cim=cfg, rows=8, cols=4, dma=False) as acc:
        acc.linear(x, w)
        s, vc = acc.stats, 4
        assert (s.commands, s.vectors) == (1, 5)
        assert s.busy_cycles == timing.busy_cycles(5, acc.latency, False, vc) == 4 * 4 + 1 + \
            timing.drain(acc.latency, False)
        assert s.compute_cycles == timing.compute_cycles(5, acc.latency, vc)


def test_cim_registers_on_the_bus():
    g = Geometry.default(rows=8, cols=8, cim=CimConfig(4, 8, 6))
    dev = RegisterModel(g)
    features, cfg_cim = dev.read(register("CFG_FEATURES").offset)[0], \
        dev.read(register("CFG_CIM").offset)[0]
    assert features == ALL_FEATURES | Feature.CIM and cfg_cim == 4 | 8 << 8 | 6 << 16 | 8 << 24
    shift = register("CIM_SHIFT").offset
    dev.write(shift, [0xFFFF_FFFF])
    assert dev.read(shift) == [31]  # five bits
    for name in ("CFG_CIM", "PERF_ADC", "PERF_ROWS"):  # read only
        with pytest.raises(Exception, match="SLVERR|READ_ONLY"):
            dev.write(register(name).offset, [1])
    # the exact digital build has none of them
    plain = RegisterModel(Geometry.default(rows=8, cols=8))
    assert plain.read(register("CFG_FEATURES").offset)[0] == ALL_FEATURES
    for name in ("CFG_CIM", "CIM_SHIFT", "PERF_ADC", "PERF_ROWS"):
        with pytest.raises(Exception, match="DECERR|UNMAPPED"):
            plain.read(register(name).offset)
        assert plain.read(register("BUS_ERROR").offset)[0] == BusError.UNMAPPED


def test_cim_methods_need_a_cim_build():
    with Accelerator.open("regmodel", rows=4, cols=4) as acc:
        for call in (lambda: acc.cim_shift, lambda: acc.cim_counters(),
                     lambda: acc.calibrate_cim(np.zeros((1, 4), np.int8),
                                               np.zeros((1, 4), np.int8))):
            with pytest.raises(AcceleratorError, match="not a compute-in-memory build"):
                call()
