"""acc.linear's input_zero_point, lut and pool on the register-level model, exactly."""

import numpy as np
import pytest

import models
from sw import Accelerator

pytestmark = pytest.mark.nosim

GEOMETRIES = [dict(rows=4, cols=4, in_depth=16, acc_depth=8, out_depth=3),
              dict(rows=8, cols=16, banks=3), dict(rows=16, cols=16)]
CASES = [(12, 20, 13, 4), (18, 9, 3, 9), (6, 17, 10, 1), (40, 5, 9, 2), (9, 33, 1, 3)]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g['rows']}x{g['cols']}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_extras_exact(geometry, case):
    m, k, n, pool = case
    seed = sum(case) + geometry["rows"]
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    b = rng.integers(-5000, 5000, n, dtype=np.int32)
    lut = rng.integers(-128, 128, 256, dtype=np.int8)
    with Accelerator.open("regmodel", **geometry) as acc:
        g = acc.geometry
        if pool > min(g.acc_depth, g.in_depth):  # a pooling group must fit one command
            with pytest.raises(ValueError, match=f"pool={pool} needs chunks of {pool} rows"):
                acc.linear(x, w, b, scale=1.0, pool=pool)
            return
        for kw in (dict(scale=0.002, zero_point=-3, relu=True, input_zero_point=7, lut=lut,
                        pool=pool),
                   dict(scale=rng.uniform(1e-3, 1e-2, n), pool=pool),
                   dict(input_zero_point=-128)):
            y = acc.linear(x, w, b, **kw)
            np.testing.assert_array_equal(y, models.linear(x, w, b, **kw))
            assert acc.stats.macs == m * k * n


def test_lut_is_loaded_once_and_reloaded_when_it_changes():
    with Accelerator.open("regmodel", rows=4, cols=4, dma=False) as acc:
        x = np.ones((2, 4), np.int8)
        w = np.ones((4, 4), np.int8)
        lut = np.arange(256, dtype=np.int16).astype(np.int8)
        words = []
        original = acc.transport.write

        def spy(addr, data):
            words.append(addr)
            original(addr, data)

        acc.transport.write = spy
        lut_base = acc.geometry.lut_addr(0)
        acc.linear(x, w, scale=1.0, lut=lut)
        acc.linear(x, w, scale=1.0, lut=lut)
        assert words.count(lut_base) == 1
        acc.linear(x, w, scale=1.0, lut=-lut)
        assert words.count(lut_base) == 2


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(scale=1.0, pool=3), ValueError, "pool=3 must divide the number of rows M=4"),
    (dict(scale=1.0, pool=0), ValueError, "pool must be in 1..255"),
    (dict(pool=2), ValueError, "lut and pool need scale"),
    (dict(lut=np.zeros(256, np.int8)), ValueError, "lut and pool need scale"),
    (dict(scale=1.0, lut=np.zeros(255, np.int8)), ValueError, r"lut must have shape \[256\]"),
    (dict(scale=1.0, lut=np.zeros(256, np.int16)), TypeError, "lut must be int8"),
    (dict(input_zero_point=200), ValueError, "input_zero_point must be in -128..127"),
    (dict(input_zero_point=1.5), TypeError, "input_zero_point must be an int"),
])
def test_extras_errors(kwargs, error, match):
    with Accelerator.open("regmodel", rows=4, cols=4) as acc:
        with pytest.raises(error, match=match):
            acc.linear(np.ones((4, 4), np.int8), np.ones((2, 4), np.int8), **kwargs)
