"""acc.conv2d and friends on the register-level model, exactly against models/conv.py."""

import math
import zlib

import numpy as np
import pytest

import models.conv as golden
from hw.spec import Geometry
from models import quantize_multiplier
from sw import Accelerator
from sw.driver.stats import Stats
from sw.knobs import seed as sim_seed
from sw.layers import pool
from sw.layers.mapping import PatchLowering, depthwise_limit, estimate

pytestmark = pytest.mark.nosim

GEOMETRIES = {
    "4x4-small": dict(rows=4, cols=4, in_depth=16, acc_depth=12, out_depth=3),
    "8x16x3": dict(rows=8, cols=16, banks=3, in_depth=64, acc_depth=24, out_depth=24),
    "12x6": dict(rows=12, cols=6, banks=3, in_depth=40, acc_depth=20, out_depth=20),
    "16x16": {},
}
CONVS = [  # n, cin, h, w, cout, kernel, stride, padding, dilation, groups
    (1, 3, 8, 8, 4, 3, 1, 1, 1, 1), (2, 5, 7, 9, 7, 3, 2, 1, 1, 1),
    (1, 4, 9, 6, 6, 3, 1, 2, 2, 2), (1, 6, 7, 7, 6, 3, 1, 1, 1, 6),
    (2, 4, 9, 9, 8, 3, 2, 1, 1, 4), (1, 16, 5, 5, 20, 1, 1, 0, 1, 1),
    (1, 2, 6, 11, 3, (1, 5), (1, 2), (0, 2), 1, 1), (3, 1, 4, 4, 1, 2, 1, 0, 1, 1),
    (1, 8, 6, 6, 8, 3, 1, 0, 1, 2), (1, 3, 10, 10, 2, 5, 3, 2, 1, 1),
]


@pytest.fixture(scope="module", params=list(GEOMETRIES))
def acc(request):
    with Accelerator.open("regmodel", **GEOMETRIES[request.param]) as acc:
        yield acc


def rand(rng, shape, lo=-128, hi=128, dtype=np.int8):
    return rng.integers(lo, hi, shape, dtype=dtype)


@pytest.mark.parametrize("case", CONVS, ids=lambda c: "-".join(map(str, c)))
def test_conv2d_exact(acc, case):
    n, cin, h, w, cout, k, stride, padding, dilation, groups = case
    seed = sim_seed() + zlib.crc32(repr(case).encode()) % 1000
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    kh, kw = (k, k) if isinstance(k, int) else k
    x, wt = rand(rng, (n, cin, h, w)), rand(rng, (cout, cin // groups, kh, kw))
    b = rand(rng, cout, -2**20, 2**20, np.int32)
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = acc.conv2d(x, wt, b, **geo)
    np.testing.assert_array_equal(y, golden.conv2d(x, wt, b, **geo))
    # one call per group, or per `pack` groups as programs (block-diagonal: test_packing_*)
    assert acc.mapping.calls * acc.mapping.pack == groups
    # groups run as one program (linear_batch), or a command each at least
    assert acc.stats.commands == 1 if acc.path == "program" else acc.stats.commands >= groups
    ho, wo = y.shape[2:]
    assert acc.mapping.macs == n * cout * ho * wo * (cin // groups) * kh * kw
    lut = rand(rng, 256)
    for kw_ in (dict(scale=rng.uniform(2**-14, 2**-9, cout), zero_point=-4, relu=True,
                     input_zero_point=int(rng.integers(-128, 128))),
                dict(scale=1 / 3000, lut=lut, relu=True, max_pool=2),
                dict(scale=1 / 5000, zero_point=7, input_zero_point=-9, max_pool=(2, 1))):
        if "max_pool" in kw_ and min(ho, wo) < 2:
            continue
        if "max_pool" in kw_ and 4 > acc.geometry.acc_depth:
            continue
        np.testing.assert_array_equal(acc.conv2d(x, wt, b, **geo, **kw_),
                                      golden.conv2d(x, wt, b, **geo, **kw_))


def test_conv2d_3x3_pool_3x3_stride_2_and_no_bias(acc):
    rng = np.random.default_rng(21)
    print("seed=21")
    x, w = rand(rng, (2, 3, 9, 8)), rand(rng, (5, 3, 3, 3))
    kw = dict(padding=1, scale=1 / 2000, zero_point=-128, relu=True, max_pool=(3, 2))
    np.testing.assert_array_equal(acc.conv2d(x, w, **kw), golden.conv2d(x, w, **kw))
    assert acc.mapping.detail.endswith("max-pool 3x3/2 in hardware")


@pytest.mark.parametrize("stride,mult", [(1, 1), (2, 1), (1, 2)])
def test_depthwise_exact(acc, stride, mult):
    rng = np.random.default_rng(30 + stride + mult)
    print(f"seed={30 + stride + mult}")
    x, w = rand(rng, (2, 5, 11, 10)), rand(rng, (5 * mult, 1, 3, 3))
    b = rand(rng, 5 * mult, -5000, 5000, np.int32)
    for kw in ({}, dict(scale=rng.uniform(1e-3, 1e-2, 5 * mult), zero_point=3, relu=True,
                        input_zero_point=-20)):
        y = acc.depthwise_conv2d(x, w, b, stride=stride, padding=1, **kw)
        np.testing.assert_array_equal(y, golden.depthwise_conv2d(x, w, b, stride, 1, **kw))
        assert acc.mapping.op == "depthwise_conv2d" and acc.mapping.calls * acc.mapping.pack == 5


@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((2, 3), 1, (1, 1)),
                                                   (1, 1, 0), (3, 3, 0)])
def test_pools_exact(acc, kernel, stride, padding):
    rng = np.random.default_rng(40)
    print("seed=40")
    x = rand(rng, (2, 7, 9, 10))
    x[0, 0, :3, :3] = -128
    x[1, 1, :3, :3] = 127
    if acc.geometry.acc_depth >= 9:
        np.testing.assert_array_equal(acc.max_pool2d(x, kernel, stride, padding),
                                      golden.max_pool2d(x, kernel, stride, padding))
        assert acc.mapping.name == "identity-max"
    np.testing.assert_array_equal(acc.avg_pool2d(x, kernel, stride),
                                  golden.avg_pool2d(x, kernel, stride))


def test_seed_pooling_examples(acc):
    x = np.array([[12, 13, 30, 1], [9, 12, 2, 0], [33, 98, 37, 4], [100, 73, 25, 12]],
                 np.int8)[None, None]
    np.testing.assert_array_equal(acc.max_pool2d(x, 2, 2)[0, 0], [[13, 30], [100, 37]])
    np.testing.assert_array_equal(acc.avg_pool2d(x, 2)[0, 0], [[12, 8], [76, 20]])


@pytest.mark.parametrize("kernel", [(2, 3), (6, 6), (7, 7), (3, 4), (5, 1)])
def test_avg_pool_ties_and_extremes(acc, kernel):
    """Windows whose sums sit exactly on .5 (negative too) and at the int8 limits."""
    kh, kw = kernel
    d = kh * kw
    rng = np.random.default_rng(d)
    print(f"seed={d}")
    x = rand(rng, (1, 7, kh, kw * 4))  # channel 6 stays random
    for c, v in enumerate([-128, 127, -1, 0, 1, -100]):
        x[0, c] = v
        if d % 2 == 0 and c >= 2:  # each window's first element: sum = v*d + d/2, a tie
            x[0, c, 0, ::kw] = v + d // 2
    np.testing.assert_array_equal(acc.avg_pool2d(x, kernel), golden.avg_pool2d(x, kernel))
    np.testing.assert_array_equal(acc.global_avg_pool2d(x[:, :, :, :kw]),
                                  golden.global_avg_pool2d(x[:, :, :, :kw]))


def test_divide_is_exact_for_every_window_sum():
    for d in [*range(1, 130), 144, 196, 225, 255, 1000, 4096, 12345, 2**20 + 7]:
        scale = pool._divide(d)
        mult, shift = quantize_multiplier(scale)
        acc = np.arange(0, 255 * d + 1, max(1, d // 997), dtype=np.int64)
        acc = np.union1d(acc, np.arange(d // 2 - 1, 255 * d, d))  # every tie and its neighbour
        q = (acc * mult + (1 << (shift - 1))) >> shift
        np.testing.assert_array_equal(q, (2 * acc + d) // (2 * d), err_msg=f"d={d}")


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 1), (4, 33), (1, 16, 4, 4)])
def test_add_exact(acc, shape):
    rng = np.random.default_rng(len(shape) * 7 + shape[0])
    a, b = rand(rng, shape), rand(rng, shape)
    for sa, sb, zp, relu, za, zb in ((0.5, 0.5, 0, False, 0, 0), (0.8, 0.35, -3, True, 5, -9),
                                     (1.9, 0.02, 100, False, -128, 127)):
        y = acc.add(a, b, scale_a=sa, scale_b=sb, zero_point=zp, relu=relu,
                     zero_point_a=za, zero_point_b=zb)
        np.testing.assert_array_equal(y, golden.add(a, b, sa, sb, zp, relu, za, zb))
        assert y.shape == a.shape and y.dtype == np.int8


def test_stats_are_summed_over_the_linear_calls():
    with Accelerator.open("regmodel", dma=False) as acc:  # (as programs: one program)
        rng = np.random.default_rng(50)
        x, w = rand(rng, (1, 3, 6, 6)), rand(rng, (3, 1, 3, 3))
        calls, original = [], acc.linear

        def spy(*args, **kwargs):
            y = original(*args, **kwargs)
            calls.append(acc.stats)
            return y
        acc.linear = spy
        acc.depthwise_conv2d(x, w, padding=1)
        assert len(calls) == 3 and acc.stats == Stats.total(calls)
        assert acc.stats.macs == sum(s.macs for s in calls) and acc.stats.cells == 256
        macs = acc.stats.macs
        block = acc.mapping.block
    with Accelerator.open("regmodel") as acc:  # the three channels as one program
        acc.depthwise_conv2d(x, w, padding=1)
        assert acc.path == "program" and acc.stats.commands == 1
        # (as programs the cycle model may pick another block, or pack the channels)
        if acc.mapping.block == block and acc.mapping.pack == 1:
            assert acc.stats.macs == macs
    assert Stats.total([]) == Stats()


def test_block_choice_fills_the_array_for_3x3_and_1x1():
    # (the patch lowering: as a program the 3x3 layer runs per tap, test_taps.py)
    with Accelerator.open("regmodel", dma=False) as acc:
        rng = np.random.default_rng(60)
        x = rand(rng, (1, 16, 16, 16))
        for k, pad in ((3, 1), (1, 0)):
            w = rand(rng, (16, 16, k, k))
            y = acc.conv2d(x, w, padding=pad, scale=1 / 4000, relu=True)
            np.testing.assert_array_equal(y, golden.conv2d(x, w, padding=pad, scale=1 / 4000,
                                                           relu=True))
            assert acc.mapping.block == (1, 1)
            assert acc.mapping.macs / (256 * acc.stats.compute_cycles) >= 0.95


def test_depthwise_reaches_its_limit():
    limit, block = depthwise_limit(16, 16)
    assert block == (2, 6) and limit == 12 * 9 / (2 * 256)
    assert depthwise_limit(4, 4)[0] == 4 * 9 / (4 * 16)
    # (the register path: a program may pick halved chunks, a few more array fill cycles for
    # fewer cycles in all)
    with Accelerator.open("regmodel", dma=False) as acc:
        rng = np.random.default_rng(70)
        x, w = rand(rng, (1, 4, 24, 24)), rand(rng, (4, 1, 3, 3))
        y = acc.depthwise_conv2d(x, w, padding=1, scale=1 / 500)
        np.testing.assert_array_equal(y, golden.depthwise_conv2d(x, w, padding=1, scale=1 / 500))
        measured = acc.mapping.macs / (256 * acc.stats.compute_cycles)
        assert 0.95 * limit <= measured <= limit, measured


def test_lowering_layout_round_trip():
    """rows() x weights() == the golden convolution, with a pooled block of 2x3."""
    rng = np.random.default_rng(80)
    x, w = rand(rng, (2, 4, 9, 11)), rand(rng, (6, 2, 3, 3))
    s = golden.conv_shape(x, w, None, 1, 1, 1, 2)
    low = PatchLowering(s, (2, 2), (2, 3))
    ref = golden.conv2d(x, w, padding=1, groups=2)[:, :3]
    acc32 = low.rows(x[:, :2], 0).astype(np.int64) @ low.weights(w[:3]).astype(np.int64).T
    full = acc32.reshape(-1, 4, acc32.shape[1]).max(axis=1)  # max of int32, as a pool would
    expect = golden.max_pool2d(np.clip(ref, -128, 127).astype(np.int8), 2)
    got = np.clip(low.scatter(full), -128, 127)
    np.testing.assert_array_equal(got, expect)


X = np.zeros((1, 4, 5, 5), np.int8)
W = np.zeros((2, 4, 3, 3), np.int8)


@pytest.mark.parametrize("call,error,match", [
    (lambda a: a.conv2d(X.astype(np.float32), W), TypeError, "x must be int8"),
    (lambda a: a.conv2d(np.zeros((1, 5, 5, 4), np.int8), W), ValueError, "looks NHWC"),
    (lambda a: a.conv2d(X, W, groups=3), ValueError, "groups=3 must divide"),
    (lambda a: a.conv2d(X, np.zeros((2, 4, 6, 6), np.int8)), ValueError, "larger than the pad"),
    (lambda a: a.conv2d(X, W, scale=1.0, max_pool=4), ValueError, "does not fit"),
    (lambda a: a.conv2d(X, W, scale=-1.0), ValueError, "scale"),
    (lambda a: a.conv2d(X, W, scale=np.ones(3)), ValueError, "scale"),
    (lambda a: a.conv2d(X, W, input_zero_point=128), ValueError, "input_zero_point"),
    (lambda a: a.conv2d(X, W, zero_point=3), ValueError, "need scale"),
    (lambda a: a.max_pool2d(X, 6), ValueError, "kernel_size"),
    (lambda a: a.max_pool2d(np.zeros((1, 1, 16, 16), np.int8), 16), ValueError,
     "does not fit the max-pooling stage"),
    (lambda a: a.avg_pool2d(X, 2, 0), ValueError, "stride"),
    (lambda a: a.add(X, X[:, :2], scale_a=1.0, scale_b=1.0), ValueError, "same non-empty"),
    (lambda a: a.add(X, X, scale_a=0.0, scale_b=1.0), ValueError, "scale_a"),
    (lambda a: a.add(X, X.astype(np.int32), scale_a=1.0, scale_b=1.0), TypeError, "b must be"),
])
def test_errors_name_the_argument(call, error, match):
    with Accelerator.open("regmodel", rows=4, cols=4, in_depth=16, acc_depth=8, out_depth=4) as acc:
        with pytest.raises(error, match=match):
            call(acc)


def test_add_over_the_whole_ratio_range(acc):
    """Issue 8, defect 3: the driver's add equals the golden add at every allowed scale ratio,
    including those past 1:127 where an operand is fed once per int8 weight part."""
    rng = np.random.default_rng(32)
    print("seed=32")
    a, b = rand(rng, (3, 50)), rand(rng, (3, 50))
    ratios = [*np.geomspace(1 / 1016, 1016, 25), 1 / 1016, 1 / 128, 128, 200, 1016]
    for ratio in ratios:
        sa, sb = float(ratio) * 0.01, 0.01
        y = acc.add(a, b, scale_a=sa, scale_b=sb, zero_point=3, zero_point_a=-2, zero_point_b=5)
        np.testing.assert_array_equal(y, golden.add(a, b, sa, sb, 3, False, -2, 5),
                                      err_msg=f"ratio {ratio}")
    with pytest.raises(ValueError, match="outside 1/1016"):
        acc.add(a, b, scale_a=2000.0, scale_b=1.0)


def test_estimate_reports_bad_arguments_and_only_impossible_plans_as_inf():
    """Issue 8, defect 9: estimate caught every ValueError as 'impossible plan'."""
    g = Geometry.default(rows=4, cols=4, in_depth=8, acc_depth=8, out_depth=4)
    assert estimate(g, 2, 64, 4, 4, int8=True, bias=False, pool=16) == math.inf  # 16 > 8 rows
    with pytest.raises(ValueError, match="m must be an int >= 1, got 0"):
        estimate(g, 2, 0, 4, 4, int8=True, bias=False)


@pytest.mark.parametrize("pack,block,pool", [(2, (1, 1), None), (3, (2, 2), None),
                                             (2, (1, 2), (2, 2))])
def test_packing_layout_round_trip(pack, block, pool):
    """Packed groups: rows() x weights() (block-diagonal) == the golden grouped convolution of
    those groups, and column_values() orders per-channel values as the columns."""
    rng = np.random.default_rng(90 + pack)
    print(f"seed={90 + pack}")
    x, w = rand(rng, (2, 6, 9, 8)), rand(rng, (12, 1, 3, 3))  # groups 6, 2 outputs a group
    s = golden.conv_shape(x, w, None, 1, 1, 1, 6)
    low = PatchLowering(s, pool, block, pack)
    assert low.calls == 6 // pack and low.gemm[2] == pack * 2 * block[0] * block[1]
    ref = golden.conv2d(x, w, padding=1, groups=6)
    for g in range(0, 6, pack):
        got = low.rows(x[:, g:g + pack], 0).astype(np.int64) @ \
            low.weights(w[2 * g:2 * (g + pack)]).astype(np.int64).T
        if pool is not None:  # max over each window's consecutive rows, as the hardware's pool
            got = got.reshape(-1, 4, got.shape[1]).max(axis=1)
            expect = golden.max_pool2d(np.clip(ref, -128, 127).astype(np.int8), 2)
            got = np.clip(low.scatter(got), -128, 127)
        else:
            expect = ref
            got = low.scatter(got)
        np.testing.assert_array_equal(got, expect[:, 2 * g:2 * (g + pack)])
    values = np.arange(12) * 10
    cols = low.column_values(values, pack)  # groups pack .. 2 pack - 1
    units = block[0] * block[1]
    assert cols.tolist() == [v for g in range(pack, 2 * pack) for _ in range(units)
                             for v in values[2 * g:2 * g + 2]]
    with pytest.raises(ValueError, match="divisor of groups"):
        PatchLowering(s, None, (1, 1), 4)


def test_packing_speeds_up_depthwise_on_a_small_image():
    """MobileNet's 14x14x512 depthwise layer's shape at 64 channels: the driver packs channels
    (one PARAM load and one LOAD/VMM/STORE set for several), bit-exact, in fewer cycles than
    the best lowering of one channel a call, and predict_linear(calls=) estimates the batch
    within 2 %."""
    import sw.layers.conv as conv
    rng = np.random.default_rng(100)
    print("seed=100")
    x, w = rand(rng, (1, 64, 14, 14)), rand(rng, (64, 1, 3, 3))
    b = rand(rng, 64, -5000, 5000, np.int32)
    kw = dict(padding=1, scale=rng.uniform(1e-3, 3e-3, 64), zero_point=-3, relu=True)
    expect = golden.depthwise_conv2d(x, w, b, **kw)
    with Accelerator.open("regmodel") as acc:
        np.testing.assert_array_equal(acc.depthwise_conv2d(x, w, b, **kw), expect)
        packed, low = acc.stats.cycles, acc.mapping
        assert low.pack > 1 and low.calls == 64 // low.pack
        lowering = PatchLowering(golden.conv_shape(x, w, b, 1, 1, 1, 64), None, low.block,
                                      low.pack)
        estimate = acc.predict_linear(*lowering.gemm, int8=True, bias=True, relu=True,
                                      calls=lowering.calls)
        assert abs(estimate - packed) <= 0.02 * packed, (estimate, packed)
        original = conv.packings
        try:  # the same layer with one channel a call
            conv.packings = lambda s, g: [1]
            np.testing.assert_array_equal(acc.depthwise_conv2d(x, w, b, **kw), expect)
            single = acc.stats.cycles
            assert acc.mapping.pack == 1 and acc.mapping.calls == 64
        finally:
            conv.packings = original
    print(f"packed {packed} cycles ({low.detail}), one channel a call {single}")
    assert packed < 0.85 * single
