"""The convolution-family golden model against the seed's worked examples and naive loops."""

import math
from fractions import Fraction

import numpy as np
import pytest

from models import quantize_multiplier
from models.conv import (
    add,
    add_weights,
    avg_pool2d,
    conv2d,
    conv_output_size,
    conv_param_count,
    depthwise_conv2d,
    depthwise_separable_param_count,
    fold_batchnorm,
    global_avg_pool2d,
    max_pool2d,
    quantize_conv_bn,
)
from models.pool import ADD_RATIO_MAX, weight_parts

pytestmark = pytest.mark.nosim

SEED_MAP = np.array([[12, 13, 30, 1], [9, 12, 2, 0], [33, 98, 37, 4], [100, 73, 25, 12]],
                    dtype=np.int8)[None, None]


def ref_requant(acc, scale, zp=0):
    """Python-int requantization (docs/architecture.md), unbounded integers."""
    mult, shift = quantize_multiplier(scale)
    p = int(acc) * mult
    q = (p + (1 << (shift - 1))) >> shift if shift > 0 else p
    return min(max(q + zp, -128), 127)


def naive_conv(x, w, b, stride, padding, dilation, groups, izp=0):
    """Seven nested loops over Python ints; padding holds ``izp``."""
    n, cin, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    og = cout // groups
    out = np.zeros((n, cout, ho, wo), dtype=object)
    for i in range(n):
        for o in range(cout):
            g = o // og
            for oy in range(ho):
                for ox in range(wo):
                    acc = int(b[o]) if b is not None else 0
                    for c in range(cg):
                        for ky in range(kh):
                            for kx in range(kw):
                                y = oy * stride + ky * dilation - padding
                                xx = ox * stride + kx * dilation - padding
                                inside = 0 <= y < h and 0 <= xx < wd
                                v = int(x[i, g * cg + c, y, xx]) if inside else izp
                                acc += (v - izp) * int(w[o, c, ky, kx])
                    out[i, o, oy, ox] = acc
    return out


# --- the seed's worked examples -----------------------------------------------------------------

def test_seed_max_pool_example():
    np.testing.assert_array_equal(max_pool2d(SEED_MAP, 2, 2)[0, 0], [[13, 30], [100, 37]])


def test_seed_avg_pool_example():
    # 46/4 = 11.5 -> 12 and 78/4 = 19.5 -> 20 (round half up), 33/4 = 8.25 -> 8, 304/4 = 76
    np.testing.assert_array_equal(avg_pool2d(SEED_MAP, 2)[0, 0], [[12, 8], [76, 20]])


def test_seed_parameter_counts():
    assert conv_param_count(3, 4, 3) == 4 * 3 * 3 * 3 == 108
    assert conv_param_count(3, 3, 3, groups=3) == 27
    assert conv_param_count(3, 4, 1) == 12
    assert depthwise_separable_param_count(3, 4, 3) == 27 + 12 == 39
    assert conv_param_count(3, 4, 3, bias=True) == 112
    w = np.zeros((4, 3, 3, 3), np.int8)
    assert w.size == conv_param_count(*w.shape[1::-1], w.shape[2:])


@pytest.mark.parametrize("h,r,u", [(5, 3, 1), (7, 3, 2), (224, 3, 2), (8, 8, 1), (9, 2, 3)])
def test_output_size_is_the_seeds_formula(h, r, u):
    assert conv_output_size(h, r, u) == (h - r + u) // u


def test_output_size_with_padding_and_dilation():
    # "same" 3x3 and 5x5 (dilation 2 makes a 3x3 kernel span 5); MobileNet's s2 layers halve
    assert conv_output_size(112, 3, 1, 1) == 112
    assert conv_output_size(112, 3, 1, 2, 2) == 112
    assert conv_output_size(224, 3, 2, 1) == 112
    assert conv_output_size(7, 3, 3, 1, 2) == 2


# --- against naive loops ------------------------------------------------------------------------

CASES = [  # n, cin, h, w, cout, k, stride, padding, dilation, groups
    (1, 3, 5, 5, 4, 3, 1, 0, 1, 1), (2, 4, 7, 6, 6, 3, 2, 1, 1, 2), (1, 6, 8, 8, 6, 3, 1, 1, 1, 6),
    (1, 2, 9, 7, 3, 3, 1, 2, 2, 1), (2, 3, 6, 6, 6, 1, 1, 0, 1, 3), (1, 4, 5, 9, 8, 2, 3, 1, 1, 4),
    (1, 1, 1, 1, 1, 1, 1, 0, 1, 1), (1, 2, 4, 4, 2, 5, 1, 2, 1, 1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_conv2d_against_naive_loops(case):
    n, cin, h, wd, cout, k, stride, padding, dilation, groups = case
    seed = sum(case)
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n, cin, h, wd), dtype=np.int8)
    w = rng.integers(-128, 128, (cout, cin // groups, k, k), dtype=np.int8)
    b = rng.integers(-2**20, 2**20, cout, dtype=np.int32)
    izp = int(rng.integers(-128, 128))
    ref = naive_conv(x, w, b, stride, padding, dilation, groups, izp)
    y = conv2d(x, w, b, stride, padding, dilation, groups, input_zero_point=izp)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, ref.astype(np.int64))
    scale = rng.uniform(2**-14, 2**-9, cout)
    y8 = conv2d(x, w, b, stride, padding, dilation, groups, scale=scale, zero_point=-3,
                relu=True, input_zero_point=izp)
    ref8 = np.vectorize(lambda a, o: max(ref_requant(a, scale[o], -3), -3))(
        ref, np.arange(cout)[None, :, None, None])
    np.testing.assert_array_equal(y8, ref8)
    assert y8.dtype == np.int8


def test_conv2d_int32_wraps_like_the_accumulators():
    x = np.full((1, 64, 3, 3), -128, np.int8)
    w = np.full((1, 64, 3, 3), -128, np.int8)
    b = np.array([2**31 - 1], np.int32)
    total = 64 * 9 * 2**14 + 2**31 - 1
    assert conv2d(x, w, b)[0, 0, 0, 0] == (total + 2**31) % 2**32 - 2**31


def test_conv2d_lut_relu_and_pool_order():
    rng = np.random.default_rng(5)
    print("seed=5")
    x = rng.integers(-128, 128, (1, 3, 6, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (2, 3, 3, 3), dtype=np.int8)
    lut = rng.integers(-128, 128, 256, dtype=np.int8)
    plain = conv2d(x, w, padding=1, scale=1 / 600, zero_point=4)
    expect = np.maximum(lut[plain.astype(np.int16) + 128], 4).astype(np.int8)
    full = conv2d(x, w, padding=1, scale=1 / 600, zero_point=4, lut=lut, relu=True)
    np.testing.assert_array_equal(full, expect)
    pooled = conv2d(x, w, padding=1, scale=1 / 600, zero_point=4, lut=lut, relu=True,
                    max_pool=(3, 2))
    np.testing.assert_array_equal(pooled, max_pool2d(expect, 3, 2))
    assert pooled.shape == (1, 2, 2, 2)


def test_depthwise_is_grouped_conv():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 4, 7, 7), dtype=np.int8)
    w = rng.integers(-128, 128, (8, 1, 3, 3), dtype=np.int8)  # channel multiplier 2
    np.testing.assert_array_equal(depthwise_conv2d(x, w, stride=2, padding=1),
                                  conv2d(x, w, stride=2, padding=1, groups=4))


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), 1),
                                                   (3, 1, 0), (5, 3, 2)])
def test_pools_against_naive_loops(kernel, stride, padding):
    rng = np.random.default_rng(11)
    print("seed=11")
    x = rng.integers(-128, 128, (2, 3, 7, 8), dtype=np.int8)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sy, sx = (kh, kw) if stride is None else (stride, stride) if isinstance(stride, int) \
        else stride
    xp = np.pad(x.astype(int), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2),
                constant_values=-128)
    ho, wo = (xp.shape[2] - kh) // sy + 1, (xp.shape[3] - kw) // sx + 1
    win = [[[[xp[n, c, i * sy:i * sy + kh, j * sx:j * sx + kw] for j in range(wo)]
             for i in range(ho)] for c in range(3)] for n in range(2)]
    mx = np.array([[[[v.max() for v in r] for r in ch] for ch in im] for im in win])
    np.testing.assert_array_equal(max_pool2d(x, kernel, stride, padding), mx)
    if padding == 0:
        avg = [[[[math.floor(Fraction(int(v.sum()), kh * kw) + Fraction(1, 2)) for v in r]
                 for r in ch] for ch in im] for im in win]
        np.testing.assert_array_equal(avg_pool2d(x, kernel, stride), np.array(avg))


def test_avg_pool_rounds_half_up_including_negative_ties():
    x = np.array([[[[-12, -11], [-12, -11]]]], np.int8)  # -46/4 = -11.5 -> -11
    assert avg_pool2d(x, 2)[0, 0, 0, 0] == -11
    x = np.array([[[[-128] * 6]]], np.int8).reshape(1, 1, 2, 3)
    assert avg_pool2d(x, (2, 3))[0, 0, 0, 0] == -128
    x = np.full((1, 1, 7, 7), 127, np.int8)
    x[0, 0, 0, 0] = 127 - 24  # 49 * 127 - 24 -> mean 126.51 -> 127
    assert global_avg_pool2d(x)[0, 0, 0, 0] == 127 and global_avg_pool2d(x).shape == (1, 1, 1, 1)


# --- residual add -------------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb,wa,wb", [(0.5, 0.5, 1, 1), (0.75, 1.0, 3, 4), (1.0, 0.01, 100, 1)])
def test_add_weights_exact_ratios(sa, sb, wa, wb):
    a, b, m = add_weights(sa, sb)
    assert a * wb == b * wa and math.isclose(a * m, sa) and math.isclose(b * m, sb)


def test_add_weights_error_is_small():
    rng = np.random.default_rng(2)
    for sa, sb in rng.uniform(0.05, 2.0, (200, 2)):
        wa, wb, m = add_weights(sa, sb)
        assert max(abs(wa * m - sa), abs(wb * m - sb)) <= 2e-3 * max(sa, sb), (sa, sb)


ADD_SWEEP_SEED = 31


def _add_ratios():
    """The whole allowed range of scale_a / scale_b, log-spaced, plus integer ratios at and past
    the 1:127 boundary (where an operand's weight is split into int8 parts)."""
    exact = [1 / 1016, 1 / 1000, 1 / 128, 1 / 127, 1 / 3, 1, 127, 128, 200, 255, 1000, 1016]
    return [(float(r), False) for r in np.geomspace(1 / 1016, 1016, 121)] + \
        [(r, True) for r in exact]


def test_add_sweeps_every_ratio():
    """Issue 8, defect 3: over every allowed ratio, ``add`` is the stated integer formula
    (checked with Python integers) with effective scales close to the requested ones - exact
    (relative 2**-29) for integer ratios. Before, ratio 200 gave [79, -128] for b = [50, -100]."""
    rng = np.random.default_rng(ADD_SWEEP_SEED)
    print(f"seed={ADD_SWEEP_SEED}")
    a = rng.integers(-128, 128, 400, dtype=np.int8)
    b = rng.integers(-128, 128, 400, dtype=np.int8)
    for ratio, integer in _add_ratios():
        sb = float(rng.uniform(0.002, 0.02))
        sa = ratio * sb
        wa, wb, m = add_weights(sa, sb)
        assert 1 <= min(wa, wb) and max(wa, wb) <= ADD_RATIO_MAX
        assert sum(weight_parts(wa)) == wa and max(weight_parts(wa)) <= 127
        mult, shift = quantize_multiplier(m)
        error = max(abs(wa * mult / 2**shift - sa), abs(wb * mult / 2**shift - sb))
        assert error <= (2**-29 if integer else 1e-3) * max(sa, sb), (ratio, wa, wb, error)
        zp, za, zb = (int(v) for v in rng.integers(-20, 20, 3))
        y = add(a, b, sa, sb, zp, False, za, zb)
        acc = [wa * (int(p) - za) + wb * (int(q) - zb) for p, q in zip(a, b, strict=True)]
        ref = [min(127, max(-128, ((v * mult + (1 << (shift - 1))) >> shift) + zp)) for v in acc]
        np.testing.assert_array_equal(y, ref, err_msg=f"ratio {ratio}")
    x0, x1 = np.zeros(2, np.int8), np.array([50, -100], np.int8)
    np.testing.assert_array_equal(add(x0, x1, 200.0, 1.0), [50, -100])
    assert add(np.array([100], np.int8), np.array([0], np.int8), 0.001, 1.0)[0] == 0
    # the documented near-tie: 0.1 * (2 + 3) with the 31-bit multiplier of 0.1 is just below 1/2
    assert add(np.array([2], np.int8), np.array([3], np.int8), 0.1, 0.1)[0] == 0


@pytest.mark.parametrize("sa, sb", [(1017.0, 1.0), (1.0, 2000.0), (1e-9, 1.0)])
def test_add_outside_the_ratio_range_is_refused(sa, sb):
    with pytest.raises(ValueError, match=r"scale_a / scale_b = .* is outside 1/1016 \.\. 1016"):
        add_weights(sa, sb)


def test_add_against_python_ints_and_reals():
    rng = np.random.default_rng(4)
    print("seed=4")
    a = rng.integers(-128, 128, (2, 3, 4, 5), dtype=np.int8)
    b = rng.integers(-128, 128, (2, 3, 4, 5), dtype=np.int8)
    sa, sb, zp, za, zb = 0.61, 0.37, -5, 3, -7
    wa, wb, m = add_weights(sa, sb)
    y = add(a, b, sa, sb, zp, True, za, zb)
    ref = np.vectorize(lambda p, q: max(ref_requant(wa * (p - za) + wb * (q - zb), m, zp), zp))
    np.testing.assert_array_equal(y, ref(a.astype(int), b.astype(int)))
    real = np.clip(sa * (a.astype(int) - za) + sb * (b.astype(int) - zb) + zp, zp, 127)
    assert np.abs(y - real).max() <= 1


# --- BatchNorm ----------------------------------------------------------------------------------

def float_conv(x, w, b, padding):
    n, _, h, wd = x.shape
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    ho, wo = h + 2 * padding - kh + 1, wd + 2 * padding - kw + 1
    out = np.zeros((n, w.shape[0], ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", xp[:, :, i:i + kh, j:j + kw], w) + b
    return out


def test_fold_batchnorm_equals_conv_then_bn():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 6, 6))
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    gamma, beta = rng.uniform(0.5, 2, 4), rng.normal(size=4)
    mean, var, eps = rng.normal(size=4), rng.uniform(0.1, 3, 4), 1e-3
    bn = (float_conv(x, w, b, 1) - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps)
    bn = bn * gamma[:, None, None] + beta[:, None, None]
    wf, bf = fold_batchnorm(w, b, gamma, beta, mean, var, eps)
    np.testing.assert_allclose(float_conv(x, wf, bf, 1), bn, rtol=1e-10, atol=1e-10)


def test_quantized_conv_bn_block_tracks_the_float_block():
    rng = np.random.default_rng(8)
    print("seed=8")
    xs, ys = 0.05, 0.1
    xq = rng.integers(-128, 128, (1, 8, 6, 6), dtype=np.int8)
    w, b = rng.normal(0, 0.1, (8, 8, 3, 3)), rng.normal(0, 0.1, 8)
    gamma, beta = rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.2, 8)
    mean, var = rng.normal(0, 0.1, 8), rng.uniform(0.5, 2, 8)
    q = quantize_conv_bn(w, b, gamma, beta, mean, var, input_scale=xs, output_scale=ys)
    y = conv2d(xq, q.w, q.b, padding=1, scale=q.scale, relu=True)
    wf, bf = fold_batchnorm(w, b, gamma, beta, mean, var)
    real = np.maximum(float_conv(xq * xs, wf, bf, 1), 0) / ys
    assert np.abs(y - np.clip(real, -128, 127)).max() <= 2


# --- errors -------------------------------------------------------------------------------------

X = np.zeros((1, 4, 5, 5), np.int8)
W = np.zeros((2, 4, 3, 3), np.int8)


@pytest.mark.parametrize("call,error,match", [
    (lambda: conv2d(X.astype(np.int16), W), TypeError, "x must be int8"),
    (lambda: conv2d(X[0], W), ValueError, r"x must have shape \[N, C, H, W\]"),
    (lambda: conv2d(np.zeros((1, 5, 5, 4), np.int8), W), ValueError, "looks NHWC"),
    (lambda: conv2d(X, W, groups=3), ValueError, "groups=3 must divide the input channels"),
    (lambda: conv2d(X, np.zeros((3, 2, 3, 3), np.int8), groups=2), ValueError,
     "must divide the output channels"),
    (lambda: conv2d(X, np.zeros((2, 4, 7, 7), np.int8)), ValueError, "larger than the padded"),
    (lambda: conv2d(X, W, dilation=3), ValueError, "dilation 3x3: 7x7"),
    (lambda: conv2d(X, W, stride=0), ValueError, "stride must be >= 1"),
    (lambda: conv2d(X, W, padding=1.5), TypeError, "padding must be an int"),
    (lambda: conv2d(X, W, np.zeros(2, np.int64)), TypeError, "b must be an int32"),
    (lambda: conv2d(X, W, relu=True), ValueError, "need scale"),
    (lambda: conv2d(X, W, scale=1.0, max_pool=4), ValueError, "does not fit the 3x3"),
    (lambda: conv2d(X, W, scale=1.0, max_pool=(2, 0)), ValueError, "stride >= 1"),
    (lambda: conv2d(X, W, scale=1.0, max_pool="2"), TypeError, "max_pool must be"),
    (lambda: max_pool2d(X, 6), ValueError, "kernel_size 6x6 does not fit"),
    (lambda: max_pool2d(X, 2, padding=2), ValueError, "at most half the kernel"),
    (lambda: avg_pool2d(X.astype(np.uint8), 2), TypeError, "x must be int8"),
    (lambda: add(X, W, 1.0, 1.0), ValueError, "same non-empty shape"),
    (lambda: add(X, X, 1.0, -1.0), ValueError, "scale_b must be a finite number > 0"),
    (lambda: add(X, X, 1.0, 1.0, zero_point=200), ValueError, "zero_point must be"),
])
def test_errors_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
