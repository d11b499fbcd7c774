# amaranth: UnusedElaboratable=no
"""A pipelined array (``PimAccelerator(array_pipeline=)``, a build parameter) in a simulator
(SIM, Icarus by default): the driver reads the longer CFG_LATENCY and runs layers exactly as
the golden model computes them, with the register model's cycles at that latency."""

import numpy as np
import pytest

import models
import models.conv as golden
from hw.spec import Geometry, timing
from sw import Accelerator
from sw.knobs import seed, simulator
from sw.targets.regmodel import RegisterModel
from sw.targets.sim.build import accelerator_verilog
from sw.targets.sim.client import SimTransport
from sw.targets.sim.system import build_system

pytestmark = pytest.mark.layer

G = Geometry.default(rows=8, cols=8, banks=2, in_depth=128, acc_depth=64, out_depth=64)


def test_array_pipeline_is_checked():
    from hw.spec import CimGeometry
    from hw.top import PimAccelerator
    from models.cim import CimConfig
    with pytest.raises(ValueError, match=r"pipeline must be one of \(0, 1, 2, 3\), got 4"):
        PimAccelerator(G, array_pipeline=4)
    with pytest.raises(ValueError, match="CIM geometry"):
        PimAccelerator(CimGeometry(**G.as_dict(), cim=CimConfig(2, 4, 6)), array_pipeline=1)
    assert PimAccelerator(G, array_pipeline=2).array_latency == timing.array_latency(8) + 2
    assert PimAccelerator(G, array_pipeline=3).array_latency == timing.array_latency(8) + 3


def _layers(rng):
    x = rng.integers(-128, 128, (9, 2 * G.rows + 5), dtype=np.int8)
    w = rng.integers(-128, 128, (G.cols + 3, x.shape[1]), dtype=np.int8)
    b = rng.integers(-3000, 3000, w.shape[0]).astype(np.int32)
    scale = rng.uniform(2**-13, 2**-9, w.shape[0])
    xc = rng.integers(-128, 128, (1, 5, 7, 7), dtype=np.int8)
    wc = rng.integers(-128, 128, (6, 5, 3, 3), dtype=np.int8)
    bc = rng.integers(-3000, 3000, 6).astype(np.int32)
    return {
        "linear": (lambda acc: acc.linear(x, w, b, scale=scale, zero_point=-5, relu=True),
                   lambda: models.linear(x, w, b, scale=scale, zero_point=-5, relu=True)),
        "conv2d": (lambda acc: acc.conv2d(xc, wc, bc, padding=1, scale=0.0004),
                   lambda: golden.conv2d(xc, wc, bc, padding=1, scale=0.0004)),
    }


#: (array_pipeline, array_mult_cells): "ecp5", the products in MULT18X18D blocks (their model)
BUILDS = [(p, "inferred") for p in timing.ARRAY_PIPELINES[1:]] + [(2, "ecp5"), (3, "ecp5")]


@pytest.mark.parametrize("dma", [False, None], ids=["registers", "program"])
@pytest.mark.parametrize(("pipeline", "mult_cells"), BUILDS,
                         ids=[f"p{p}" + ("" if c == "inferred" else f"-{c}") for p, c in BUILDS])
def test_layers_on_a_pipelined_array(pipeline, mult_cells, dma):
    s = seed() + 10 * pipeline
    print(f"seed={s}")
    latency = timing.array_latency(G.rows, pipeline)
    build = build_system(G, simulator(), accelerator=accelerator_verilog(
        G, array_pipeline=pipeline, array_mult_cells=mult_cells))
    cycles = {}
    for target in ("rtl", "regmodel"):
        transport = (SimTransport(simulator(), G, build=build) if target == "rtl"
                     else RegisterModel(G, latency=latency))
        with Accelerator(transport, dma=dma) as acc:
            assert acc.latency == latency
            for name, (run, want) in _layers(np.random.default_rng(s)).items():
                np.testing.assert_array_equal(run(acc), want(), err_msg=f"{target} {name}")
                cycles[target, name] = (acc.stats.cycles, acc.stats.busy_cycles)
    print(cycles)
    for name in ("linear", "conv2d"):
        rtl, model = cycles["rtl", name], cycles["regmodel", name]
        if dma is False:   # the register path's busy cycles are exact in the model
            assert rtl[1] == model[1], (name, rtl, model)
        else:              # programs: the cycle model within 3 % (as on the default build)
            assert abs(rtl[0] - model[0]) <= 0.03 * rtl[0], (name, rtl, model)
