"""acc.linear on a compute-in-memory build in a simulator (SIM, Icarus by default), exactly
against the CIM golden model; counters and busy cycles against the register model."""

import numpy as np
import pytest

from models import cim
from models.cim import CimConfig
from sw import Accelerator
from sw.knobs import seed, simulator

pytestmark = pytest.mark.layer

#: (name, geometry overrides, CimConfig)
SETTINGS = [
    ("8x8-B2G4A6", dict(rows=8, cols=8, in_depth=64, acc_depth=32, out_depth=32),
     CimConfig(2, 4, 6)),
    ("8x4-B1G8A7", dict(rows=8, cols=4, in_depth=64, acc_depth=32, out_depth=32),
     CimConfig(1, 8, 7)),
    ("4x8-B8G2A9", dict(rows=4, cols=8, in_depth=64, acc_depth=32, out_depth=32),
     CimConfig(8, 2, 9)),
    ("8x4-B2G4A6C2", dict(rows=8, cols=4, in_depth=64, acc_depth=32, out_depth=32),
     CimConfig(2, 4, 6, 2)),  # weights sliced into 2-bit cells
]


@pytest.mark.parametrize("dma", [False, None], ids=["registers", "program"])
@pytest.mark.parametrize(("name", "overrides", "cfg"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_linear_in_cim_mode(name, overrides, cfg, dma):
    s = seed() + SETTINGS.index((name, overrides, cfg))
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    m, k, n = 7, 2 * overrides["rows"] + 3, overrides["cols"] + 3
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    b = rng.integers(-2000, 2000, n).astype(np.int32)
    x[0, :4], w[0, :4] = -128, -128
    kw = dict(scale=rng.uniform(2**-12, 2**-8, n), zero_point=-3, relu=True,
              input_zero_point=-128)
    results = {}
    for target in (simulator(), "regmodel"):
        with Accelerator.open(target, cim=cfg, dma=dma, **overrides) as acc:
            assert acc.geometry.cim == cfg
            shift = acc.calibrate_cim(x, w)
            acc.write_words(0x008, [8])  # CTRL.CLEAR_COUNTERS
            y = acc.linear(x, w)
            np.testing.assert_array_equal(y, cim.cim_vmm(x, w, cfg, shift))
            counters, stats = acc.cim_counters(), acc.stats
            assert counters == cim.counts(stats.vectors, overrides["rows"], overrides["cols"],
                                          cfg)
            acc.cim_shift = shift + 1
            np.testing.assert_array_equal(acc.linear(x, w, b, **kw),
                                          cim.linear(x, w, b, config=cfg, shift=shift + 1, **kw))
            results[target] = (shift, counters, stats.busy_cycles, stats.compute_cycles)
    rtl, model = results.values()
    assert rtl[:2] == model[:2]
    if dma is False:  # the register path's busy cycles are exact in the model
        assert rtl[2:] == model[2:], results
