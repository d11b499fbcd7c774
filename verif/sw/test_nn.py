"""sw.nn on the register-level model: attention and Linear exactly equal to their golden
pipelines, KV-cache decoding bit-identical to full causal attention, MAC counts, errors."""

import math

import numpy as np
import pytest

from models.lut import ACTIVATIONS
from sw import Accelerator
from sw.knobs import seed
from sw.nn import Attention, KVCache, Linear

pytestmark = pytest.mark.nosim

GEOMETRIES = {
    "4x4": dict(rows=4, cols=4, in_depth=16, acc_depth=8, out_depth=8),
    "8x16x3": dict(rows=8, cols=16, banks=3, in_depth=64, acc_depth=24, out_depth=24),
    "16x16": {},
}
#: T, D, heads, causal, biases
SHAPES = [(1, 8, 1, True, False), (7, 16, 2, False, True), (13, 32, 4, True, True),
          (33, 24, 3, False, False), (20, 64, 8, True, False)]


def make(rng, d, heads, causal=True, bias=False, t_cal=16):
    ws = [rng.standard_normal((d, d)) / math.sqrt(d) for _ in range(4)]
    bs = {n: 0.1 * rng.standard_normal(d) for n in ("bq", "bk", "bv", "bo")} if bias else {}
    return Attention.from_float(*ws, heads=heads, causal=causal,
                                calibration=rng.standard_normal((4, t_cal, d)), **bs)


def full_macs(t, length, d):
    """QKV t*D*3D, scores and P.V t*L*D each, output projection t*D*D."""
    return t * (4 * d * d + 2 * length * d)


@pytest.fixture(scope="module", params=list(GEOMETRIES))
def acc(request):
    with Accelerator.open("regmodel", **GEOMETRIES[request.param]) as acc:
        yield acc


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}_D{}_h{}_{}{}".format(
    *s[:3], "causal" if s[3] else "full", "_bias" if s[4] else ""))
def test_attention_exact(acc, shape):
    t, d, heads, causal, bias = shape
    s = seed() + 100 * t + d + heads
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    attn = make(rng, d, heads, causal, bias)
    x = rng.standard_normal((t, d)).astype(np.float32)
    y = attn(acc, x)
    assert y.dtype == np.float32 and y.shape == (t, d)
    np.testing.assert_array_equal(y, attn.golden(x))
    assert [r["op"] for r in attn.records] == ["qkv"] + ["scores"] * heads + ["pv"] * heads \
        + ["out"]
    assert sum(r["stats"].macs for r in attn.records) == full_macs(t, t, d)


@pytest.mark.parametrize("chunks", [[1] * 12, [5, 1, 1, 4, 1], [12]], ids=["tokens", "mixed",
                                                                           "one"])
def test_decode_equals_full_causal(acc, chunks):
    s = seed() + len(chunks)
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    d, heads, t = 32, 4, sum(chunks)
    attn = make(rng, d, heads, causal=True, bias=True)
    x = rng.standard_normal((t, d)).astype(np.float32)
    full = attn(acc, x)
    cache, gcache = attn.kv_cache(16), attn.kv_cache(16)
    rows, pos = [], 0
    for n in chunks:
        rows.append(attn.step(acc, x[pos:pos + n], cache))
        np.testing.assert_array_equal(rows[-1], attn.golden_step(x[pos:pos + n], gcache))
        assert sum(r["stats"].macs for r in attn.records) == n * (4 * d * d + 2 * (pos + n) * d)
        pos += n
    np.testing.assert_array_equal(np.concatenate(rows), full)
    assert cache.pos == t and repr(cache) == f"KVCache({t}/16 tokens, 4 heads)"
    np.testing.assert_array_equal(cache.k, gcache.k)


@pytest.mark.parametrize("dma, ratio", [(False, 2), (None, 1.5)], ids=["registers", "program"])
def test_decode_costs_far_less_than_recompute(dma, ratio):
    """Token 48: one decoding step against recomputing attention over the whole prefix (through
    the registers, and as programs, whose weight loads are faster so a step gains less)."""
    rng = np.random.default_rng(seed())
    print(f"seed={seed()}")
    d, heads, t = 64, 4, 48
    attn = make(rng, d, heads)
    x = rng.standard_normal((t, d)).astype(np.float32)
    with Accelerator.open("regmodel", dma=dma) as acc:
        cache = attn.kv_cache(64)
        attn.step(acc, x[:-1], cache)
        last = attn.step(acc, x[-1:], cache)
        step_macs = sum(r["stats"].macs for r in attn.records)
        step_cycles = sum(r["stats"].cycles for r in attn.records)
        full = attn(acc, x)
        full_cycles = sum(r["stats"].cycles for r in attn.records)
        recompute_macs = sum(r["stats"].macs for r in attn.records)
    np.testing.assert_array_equal(last, full[-1:])
    # the last token's row costs as much as any row of the full causal product: 1/t of it
    assert step_macs == full_macs(1, t, d) and recompute_macs == t * step_macs
    print(f"decode step: {step_macs} MACs, {step_cycles} cycles; recompute: "
          f"{recompute_macs} MACs, {full_cycles} cycles")
    # Cycles fall less than MACs: one token uses each weight once, so a step is bound by
    # writing W_qkv and W_o (4 D^2 bytes) into the banks, which a recompute amortises over t rows.
    assert full_cycles > ratio * step_cycles


@pytest.mark.parametrize("activation", [None, "relu", *sorted(ACTIVATIONS)])
def test_linear_from_float(acc, activation):
    s = seed() + len(str(activation))
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    n, k = 30, 40
    w = rng.standard_normal((n, k)) / math.sqrt(k)
    b = 0.1 * rng.standard_normal(n)
    lin = Linear.from_float(w, b, calibration=rng.standard_normal((256, k)),
                            activation=activation)
    x = rng.standard_normal((9, k)).astype(np.float32)
    y = lin(acc, x)
    assert y.dtype == np.float32 and y.shape == (9, n)
    np.testing.assert_array_equal(y, lin.golden(x))
    pre = x.astype(np.float64) @ w.T + b
    ref = {None: pre, "relu": np.maximum(pre, 0)}.get(activation)
    if ref is None:
        ref = ACTIVATIONS[activation](pre)
    rel = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    print(f"{activation}: relative L2 error {rel:.4f}")
    assert rel < 0.03
    assert (lin.lut is not None) == (activation in ACTIVATIONS)


def test_errors():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((12, 12))
    cal = rng.standard_normal((8, 12))
    with pytest.raises(ValueError, match="D=12 is not divisible by heads=5"):
        Attention.from_float(w, w, w, w, heads=5, calibration=cal)
    with pytest.raises(ValueError, match="heads must be an int >= 1"):
        Attention.from_float(w, w, w, w, heads=0, calibration=cal)
    with pytest.raises(ValueError, match=r"wk must have shape \[12, 12\]"):
        Attention.from_float(w, w[:, :6], w, w, heads=2, calibration=cal)
    with pytest.raises(TypeError, match="wq must be a float numpy array"):
        Attention.from_float(w.astype(np.int8), w, w, w, heads=2, calibration=cal)
    with pytest.raises(ValueError, match=r"bo must have shape \[12\]"):
        Attention.from_float(w, w, w, w, heads=2, calibration=cal, bo=np.zeros(3))
    with pytest.raises(ValueError, match=r"calibration must have shape \[\*, 12\]"):
        Attention.from_float(w, w, w, w, heads=2, calibration=cal[:, :5])
    with pytest.raises(ValueError, match="calibration must be finite"):
        Attention.from_float(w, w, w, w, heads=2, calibration=cal * np.nan)
    attn = Attention.from_float(w, w, w, w, heads=2, calibration=cal)
    other = Attention.from_float(w, w, w, w, heads=2, calibration=cal)
    x = rng.standard_normal((3, 12)).astype(np.float32)
    with Accelerator.open("regmodel", rows=4, cols=4) as acc:
        with pytest.raises(TypeError, match="x must be a float numpy array, got int8"):
            attn(acc, x.astype(np.int8))
        with pytest.raises(ValueError, match=r"x must have shape \[\*, 12\], got \[3, 11\]"):
            attn(acc, x[:, :11])
        with pytest.raises(TypeError, match="acc must be an Accelerator"):
            attn("model", x)
        with pytest.raises(ValueError, match="no KV cache: create one with attn.kv_cache"):
            attn.step(acc, x, None)
        with pytest.raises(TypeError, match="cache must be a KVCache"):
            attn.step(acc, x, {})
        with pytest.raises(ValueError, match="cache belongs to another Attention layer"):
            attn.step(acc, x, other.kv_cache(8))
        cache = attn.kv_cache(4)
        attn.step(acc, x, cache)
        with pytest.raises(ValueError, match=r"KV cache overflow: 3 tokens stored \+ 2 new > "
                                             r"max_len=4"):
            attn.step(acc, x[:2], cache)
        assert cache.pos == 3  # a refused step changes nothing
        with pytest.raises(ValueError, match=r"x_t must have shape \[\*, 12\]"):
            attn.step(acc, x[:1, :4], cache)
    with pytest.raises(ValueError, match="max_len must be an int >= 1"):
        attn.kv_cache(0)
    full = Attention.from_float(w, w, w, w, heads=2, causal=False, calibration=cal)
    with pytest.raises(ValueError, match="a KV cache needs a causal layer"):
        full.kv_cache(8)
    assert isinstance(cache, KVCache)


def test_linear_errors():
    w = np.ones((4, 6))
    with pytest.raises(ValueError, match="activation must be None, 'relu' or one of"):
        Linear.from_float(w, calibration=np.ones((2, 6)), activation="softplus")
    with pytest.raises(ValueError, match=r"calibration must have shape \[\*, 6\]"):
        Linear.from_float(w, calibration=np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"b must have shape \[4\]"):
        Linear.from_float(w, np.ones(5), calibration=np.ones((2, 6)))
    lin = Linear.from_float(w, calibration=np.ones((2, 6)))
    with pytest.raises(TypeError, match="x must be a float numpy array, got int32"):
        lin.golden(np.ones((2, 6), dtype=np.int32))


def test_bench_records():
    """sw.bench.attention on the model: every record carries the keys sw.bench reports."""
    from sw.bench.attention import records
    with Accelerator.open("regmodel") as acc:
        recs = [r.as_dict() for r in records(acc, np.random.default_rng(seed()), "regmodel")]
    keys = {"name", "target", "op", "macs", "cycles", "compute_cycles", "utilization_compute",
            "utilization_total", "wall_s"}
    assert all(keys <= set(r) and len(r["name"]) <= 28 for r in recs)
    by_name = {r["name"]: r for r in recs}
    layer, decode = by_name["attn_T64_D128_h4"], recs[-1]
    assert layer["macs"] == 64 * (4 * 128 * 128 + 2 * 64 * 128)
    assert decode["last_token_macs"] * 64 == decode["recompute_macs"] == layer["macs"]
    assert decode["last_token_cycles"] < decode["recompute_cycles"]
