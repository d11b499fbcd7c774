"""sw.nn attention (and a LUT-activated Linear) on the generated Verilog, exactly against the
golden pipeline: T = 8, D = 32, 2 heads on an 8x8 array, plus a short KV-cache decode."""

import math

import numpy as np
import pytest

from sw import Accelerator
from sw.knobs import seed, simulator
from sw.nn import Attention, Linear

pytestmark = pytest.mark.layer

GEOMETRY = dict(rows=8, cols=8, in_depth=64, acc_depth=32, out_depth=32)
T, D, HEADS = 8, 32, 2


@pytest.fixture(scope="module")
def acc():
    with Accelerator.open(simulator(), **GEOMETRY) as acc:
        yield acc


def make(rng, causal, bias):
    ws = [rng.standard_normal((D, D)) / math.sqrt(D) for _ in range(4)]
    bs = {n: 0.1 * rng.standard_normal(D) for n in ("bq", "bk", "bv", "bo")} if bias else {}
    return Attention.from_float(*ws, heads=HEADS, causal=causal,
                                calibration=rng.standard_normal((8, T, D)), **bs)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_attention_exact(acc, causal):
    s = seed() + causal
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    attn = make(rng, causal, bias=not causal)
    x = rng.standard_normal((T, D)).astype(np.float32)
    np.testing.assert_array_equal(attn(acc, x), attn.golden(x))
    macs = sum(r["stats"].macs for r in attn.records)
    cycles = sum(r["stats"].cycles for r in attn.records)
    assert macs == T * (4 * D * D + 2 * T * D)
    print(f"{simulator()}: {macs} MACs, {cycles} cycles")


def test_decode(acc):
    """A 6-token prompt, then 2 tokens one at a time: equal to full causal attention."""
    s = seed() + 2
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    attn = make(rng, causal=True, bias=True)
    x = rng.standard_normal((T, D)).astype(np.float32)
    full = attn.golden(x)
    cache = attn.kv_cache(T)
    rows = [attn.step(acc, x[:6], cache)]
    for i in (6, 7):
        rows.append(attn.step(acc, x[i:i + 1], cache))
        assert sum(r["stats"].macs for r in attn.records) == 4 * D * D + 2 * (i + 1) * D
    np.testing.assert_array_equal(np.concatenate(rows), full)


def test_linear_gelu(acc):
    s = seed() + 3
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    w = rng.standard_normal((12, 20)) / math.sqrt(20)
    lin = Linear.from_float(w, 0.1 * rng.standard_normal(12),
                            calibration=rng.standard_normal((64, 20)), activation="gelu")
    x = rng.standard_normal((5, 20)).astype(np.float32)
    np.testing.assert_array_equal(lin(acc, x), lin.golden(x))


def test_attention_with_bus_stalls():
    """Random stalls on all five AXI4-Lite channels (issue 8): the same results."""
    s = seed() + 7
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    attn = make(rng, causal=True, bias=True)
    x = rng.standard_normal((4, D)).astype(np.float32)
    with Accelerator.open(simulator(), stall_seed=s, **GEOMETRY) as stalled:
        np.testing.assert_array_equal(attn(stalled, x), attn.golden(x))
