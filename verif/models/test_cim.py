"""The CIM golden model (models/cim.py) against Python integers and the exact digital mode."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models
from models import cim
from models.cim import CimConfig

pytestmark = pytest.mark.nosim

ALL_CONFIGS = [CimConfig(b, g, 8, c) for b, g, c in
               itertools.product(cim.BITS_PER_CYCLE, (1, 3, 16), cim.CELL_BITS)]


def ref_cim(x, w, cfg, shift):
    """Python-int reference of the module docstring, element by element (no numpy maths)."""
    b, cb, gr = cfg.bits_per_cycle, cfg.cell_bits, cfg.group_rows
    s_n, j_n = 8 // b, 8 // cb

    def digit(v, s):  # the B-bit slice s of int8 v; the top one two's complement
        u = (v >> (b * s)) & ((1 << b) - 1)
        return u - (1 << b) if s == s_n - 1 and u >> (b - 1) else u

    def cell(v, j):
        return v if cb == 8 else ((v + 128) >> (cb * j)) & ((1 << cb) - 1)

    def adc(p, signed):
        q = (p + (1 << (shift - 1))) >> shift if shift else p
        a = cfg.adc_bits
        lo, hi = (-(1 << (a - 1)), (1 << (a - 1)) - 1) if signed else (0, (1 << a) - 1)
        return min(max(q, lo), hi)

    m, k = x.shape
    out = np.zeros((m, w.shape[0]), np.int32)
    for i in range(m):
        xs = [int(v) for v in x[i]]
        for n in range(w.shape[0]):
            ws = [int(v) for v in w[n]]
            y = 0
            for g0 in range(0, k, gr):
                for s in range(s_n):
                    for j in range(j_n):
                        rows = range(g0, min(k, g0 + gr))
                        p = sum(digit(xs[r], s) * cell(ws[r], j) for r in rows)
                        signed = cb == 8 or s == s_n - 1
                        y += adc(p, signed) << (shift + b * s + cb * j)
            if cb != 8:
                y -= 128 * sum(xs)
            out[i, n] = (y + 2**31) % 2**32 - 2**31
    return out


def test_digits_rebuild_int8():
    x = np.arange(-128, 128, dtype=np.int8)
    for b in cim.BITS_PER_CYCLE:
        d = cim.input_digits(x, b)
        assert d.shape == (8 // b, 256)
        np.testing.assert_array_equal(
            sum(d[s] << (b * s) for s in range(8 // b)), x.astype(np.int64))
        top = d[-1]
        assert top.min() == -(1 << (b - 1)) and top.max() == (1 << (b - 1)) - 1
        if b < 8:
            assert d[:-1].min() == 0 and d[:-1].max() == (1 << b) - 1


def test_cells_rebuild_offset():
    w = np.arange(-128, 128, dtype=np.int8)
    for cb in (1, 2, 4):
        c = cim.weight_cells(w, cb)
        assert c.min() == 0 and c.max() == (1 << cb) - 1
        np.testing.assert_array_equal(sum(c[j] << (cb * j) for j in range(8 // cb)),
                                      w.astype(np.int64) + 128)
    np.testing.assert_array_equal(cim.weight_cells(w, 8)[0], w)


def test_adc_rounds_half_up_and_clips():
    p = np.array([5, 6, 7, -5, -6, -7, 100, -100])
    # shift 2: 1.25 -> 1, 1.5 -> 2, 1.75 -> 2, -1.25 -> -1, -1.5 -> -1, -1.75 -> -2
    np.testing.assert_array_equal(cim.adc(p, 2, -8, 7), [1, 2, 2, -1, -1, -2, 7, -8])
    np.testing.assert_array_equal(cim.adc(p, 0, 0, 15), [5, 6, 7, 0, 0, 0, 15, 0])


EXACT_CONFIGS = [c for c in ALL_CONFIGS if cim.exact_adc_bits(c) <= 16]


def test_exact_configs():
    # only whole int8 inputs on int8 cells over 3 or 16 rows need more than 16 bits
    assert [c for c in ALL_CONFIGS if c not in EXACT_CONFIGS] == [
        CimConfig(8, 3, 8, 8), CimConfig(8, 16, 8, 8)]


@pytest.mark.parametrize("cfg", EXACT_CONFIGS, ids=str)
def test_wide_adc_is_exact(cfg):
    """With an ADC as wide as the partial sums and no shift, every mode equals models.vmm."""
    seed = 13 + ALL_CONFIGS.index(cfg)
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (9, 37), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 37), dtype=np.int8)
    x[0], w[0] = -128, -128  # the extremes
    x[1], w[1] = 127, 127
    bits = cim.exact_adc_bits(cfg)
    np.testing.assert_array_equal(cim.cim_vmm(x, w, cfg.replace(adc_bits=bits), 0),
                                  models.vmm(x, w))


def test_exact_adc_bits_is_tight():
    """One bit fewer than exact_adc_bits clips on the extreme operands."""
    for cfg in ALL_CONFIGS:
        bits = cim.exact_adc_bits(cfg)
        if bits > 16:
            continue
        k = cfg.group_rows
        worst = [(np.full((1, k), a, np.int8), np.full((1, k), b, np.int8))
                 for a, b in itertools.product((-128, 127, -1, 85, -86), (-128, 127, -1))]
        small = cfg.replace(adc_bits=bits - 1) if bits > 1 else None
        if small is not None:
            assert any(not np.array_equal(cim.cim_vmm(x, w, small, 0), models.vmm(x, w))
                       for x, w in worst), cfg


def test_exact_adc_bits_known_values():
    # B=1, signed int8 cells, 16 rows: the top (sign) plane reaches -1 * -128 * 16 = 2048
    assert cim.exact_adc_bits(CimConfig(1, 16, 8, 8)) == 13
    # B=8: 16 * 128 * 128 = 2**18 -> 20 bits (signed, includes +2**18)
    assert cim.exact_adc_bits(CimConfig(8, 16, 8, 8)) == 20
    # B=1, 1-bit cells, 16 rows: 0..16 on the lower slices (5 bits unsigned), -16..0 on top
    # (5 bits signed)
    assert cim.exact_adc_bits(CimConfig(1, 16, 8, 1)) == 5


@settings(max_examples=120, deadline=None, derandomize=True)
@given(st.data())
def test_random_against_python_integers(data):
    cfg = CimConfig(data.draw(st.sampled_from(cim.BITS_PER_CYCLE), "bits_per_cycle"),
                    data.draw(st.integers(1, 9), "group_rows"),
                    data.draw(st.integers(1, 12), "adc_bits"),
                    data.draw(st.sampled_from(cim.CELL_BITS), "cell_bits"))
    shift = data.draw(st.integers(0, 12), "shift")
    seed = data.draw(st.integers(0, 2**32 - 1), "seed")
    rng = np.random.default_rng(seed)
    m, n, k = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 20))
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    np.testing.assert_array_equal(cim.cim_vmm(x, w, cfg, shift), ref_cim(x, w, cfg, shift))


def test_large_shift_wraps_like_python():
    seed = 7
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (4, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (3, 40), dtype=np.int8)
    for cfg in (CimConfig(1, 4, 16, 1), CimConfig(8, 40, 16, 8), CimConfig(2, 5, 16, 2)):
        for shift in (0, 20, 31):
            np.testing.assert_array_equal(cim.cim_vmm(x, w, cfg, shift),
                                          ref_cim(x, w, cfg, shift))


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 16, 4), (5, 17, 2), (2, 255, 3)])
@pytest.mark.parametrize("cfg", [CimConfig(1, 16), CimConfig(4, 8, 6, 2), CimConfig(8, 5, 3, 1)],
                         ids=str)
def test_counts_closed_form(m, k, n, cfg):
    c = cim.counts(m, k, n, cfg)
    # counted one by one: a conversion per (vector, column, group, input slice, weight slice)
    convs = sum(1 for _v, _c, _g, _s, _j in itertools.product(
        range(m), range(n), range(0, k, cfg.group_rows), range(cfg.input_slices),
        range(cfg.weight_slices)))
    assert c["adc_conversions"] == convs
    assert c["row_activations"] == m * k * (8 // cfg.bits_per_cycle)
    # the partial sums are one per conversion
    x, w = np.zeros((m, k), np.int8), np.zeros((n, k), np.int8)
    assert cim.partial_sums(x, w, cfg).size == convs


def test_linear_matches_golden_when_exact():
    seed = 21
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (8, 24), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 24), dtype=np.int8)
    b = rng.integers(-1000, 1000, 6).astype(np.int32)
    cfg = CimConfig(2, 8, 13, 8)
    assert cim.exact_adc_bits(cfg) <= 13
    kw = dict(scale=0.001, zero_point=-3, relu=True, input_zero_point=-128, pool=2)
    np.testing.assert_array_equal(cim.linear(x, w, b, config=cfg, shift=0, **kw),
                                  models.linear(x, w, b, **kw))
    np.testing.assert_array_equal(cim.linear(x, w, b, config=cfg, shift=0),
                                  models.linear(x, w, b))
    # a coarse window changes results, but the digital part stays exact around it
    coarse = cfg.replace(adc_bits=3)
    acc = cim.cim_vmm(x, w, coarse, 6).astype(np.int64)
    np.testing.assert_array_equal(cim.linear(x, w, b, config=coarse, shift=6),
                                  models.wrap_int32(acc + b))


@pytest.mark.parametrize("field,value,allowed", [
    ("bits_per_cycle", 3, "one of (1, 2, 4, 8)"), ("group_rows", 0, "1..255"),
    ("adc_bits", 17, "1..16"), ("cell_bits", 16, "one of (1, 2, 4, 8)"),
    ("bits_per_cycle", True, "one of")])
def test_bad_settings_say_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError, match=f"{field} must be .*{allowed}".replace("(", r"\(")
                       .replace(")", r"\)")):
        CimConfig(**{field: value})


def test_bad_shift_and_operands():
    x = np.zeros((1, 4), np.int8)
    with pytest.raises(ValueError, match="shift must be an int in 0..31"):
        cim.cim_vmm(x, x, CimConfig(), 32)
    with pytest.raises(TypeError, match="x must be a 2-D int8"):
        cim.cim_vmm(x.astype(np.int16), x, CimConfig(), 0)
    with pytest.raises(ValueError, match="K=4"):
        cim.cim_vmm(x, np.zeros((1, 5), np.int8), CimConfig(), 0)
    with pytest.raises(TypeError, match="CimConfig"):
        cim.cim_vmm(x, x, None, 0)
