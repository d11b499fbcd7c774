"""The convolution family on the generated Verilog in a simulator, exactly against models/conv.py.

One 16x16 accelerator for the whole file; layers are small (a 16x16 Icarus simulation runs
about a thousand cycles per second and a bus word costs about half a millisecond).
"""

import numpy as np
import pytest

import models.conv as golden
from sw import Accelerator
from sw.knobs import seed, simulator

pytestmark = pytest.mark.layer


@pytest.fixture(scope="module")
def acc():
    with Accelerator.open(simulator()) as acc:
        yield acc


@pytest.fixture
def rng(request):
    s = seed() + sum(map(ord, request.node.name))
    print(f"seed={s}")
    return np.random.default_rng(s)


def rand(rng, shape, lo=-128, hi=128, dtype=np.int8):
    return rng.integers(lo, hi, shape, dtype=dtype)


def check(y, expect):
    np.testing.assert_array_equal(y, expect)
    return y


def conv_bn(rng, cin, cout, k, groups=1, input_scale=0.05):
    """A float conv + BatchNorm block, folded and quantized (output scale 0.1)."""
    w = rng.normal(0, 0.3, (cout, cin // groups, k, k))
    gamma, beta = rng.uniform(0.5, 1.5, cout), rng.normal(0, 0.2, cout)
    mean, var = rng.normal(0, 0.1, cout), rng.uniform(0.5, 2, cout)
    return golden.quantize_conv_bn(w, rng.normal(0, 0.1, cout), gamma, beta, mean, var,
                                   input_scale=input_scale, output_scale=0.1)


def test_conv3x3_relu_maxpool2(acc, rng):
    x, w = rand(rng, (1, 8, 8, 8)), rand(rng, (16, 8, 3, 3))
    b = rand(rng, 16, -3000, 3000, np.int32)
    kw = dict(padding=1, scale=rng.uniform(1e-4, 4e-4, 16), zero_point=-10, relu=True,
              input_zero_point=3, max_pool=2)
    y = check(acc.conv2d(x, w, b, **kw), golden.conv2d(x, w, b, **kw))
    assert y.shape == (1, 16, 4, 4) and acc.mapping.block == (1, 1)


def test_depthwise3x3_stride2(acc, rng):
    x, w = rand(rng, (1, 6, 9, 9)), rand(rng, (6, 1, 3, 3))
    b = rand(rng, 6, -1000, 1000, np.int32)
    kw = dict(stride=2, padding=1, scale=1 / 700, relu=True)
    y = check(acc.depthwise_conv2d(x, w, b, **kw),
              golden.depthwise_conv2d(x, w, b, **kw))
    assert y.shape == (1, 6, 5, 5) and acc.mapping.calls * acc.mapping.pack == 6
    check(acc.depthwise_conv2d(x, w, stride=2), golden.depthwise_conv2d(x, w, stride=2))


def test_pointwise1x1(acc, rng):
    x, w = rand(rng, (2, 16, 4, 5)), rand(rng, (24, 16, 1, 1))
    b = rand(rng, 24, -2**20, 2**20, np.int32)
    check(acc.conv2d(x, w, b), golden.conv2d(x, w, b))
    kw = dict(scale=1 / 3000, zero_point=5)
    check(acc.conv2d(x, w, b, **kw), golden.conv2d(x, w, b, **kw))


def test_resnet_basic_block(acc, rng):
    """conv-BN-ReLU, conv-BN, residual add, ReLU; activations at scale 0.1 (inputs 0.05)."""
    x = rand(rng, (1, 8, 6, 6))
    c1, c2 = conv_bn(rng, 8, 8, 3), conv_bn(rng, 8, 8, 3, input_scale=0.1)
    y1 = check(acc.conv2d(x, c1.w, c1.b, padding=1, scale=c1.scale, relu=True),
               golden.conv2d(x, c1.w, c1.b, padding=1, scale=c1.scale, relu=True))
    y2 = check(acc.conv2d(y1, c2.w, c2.b, padding=1, scale=c2.scale),
               golden.conv2d(y1, c2.w, c2.b, padding=1, scale=c2.scale))
    # out = ReLU(y2 * 0.1 + x * 0.05) at scale 0.1
    kw = dict(scale_a=1.0, scale_b=0.5, zero_point=0, relu=True)
    out = check(acc.add(y2, x, **kw), golden.add(y2, x, 1.0, 0.5, 0, True))
    assert out.min() >= 0 and acc.mapping.name == "concat"


def test_mobilenet_depthwise_separable_block(acc, rng):
    """The seed's MobileNet rows 'Conv dw / s1, 3x3x32 dw, 112x112x32' and 'Conv / s1,
    1x1x32x64', at 6x6 instead of 112x112 (each conv followed by BN and ReLU)."""
    x = rand(rng, (1, 32, 6, 6), -128, 128)
    dw, pw = conv_bn(rng, 32, 32, 3, groups=32), conv_bn(rng, 32, 64, 1, input_scale=0.1)
    h = check(acc.depthwise_conv2d(x, dw.w, dw.b, padding=1, scale=dw.scale, relu=True),
              golden.depthwise_conv2d(x, dw.w, dw.b, 1, 1, scale=dw.scale, relu=True))
    y = check(acc.conv2d(h, pw.w, pw.b, scale=pw.scale, relu=True),
              golden.conv2d(h, pw.w, pw.b, scale=pw.scale, relu=True))
    assert y.shape == (1, 64, 6, 6)
    assert golden.depthwise_separable_param_count(32, 64, 3) == dw.w.size + pw.w.size


def test_pooling_and_seed_examples(acc, rng):
    seed_map = np.array([[12, 13, 30, 1], [9, 12, 2, 0], [33, 98, 37, 4], [100, 73, 25, 12]],
                        np.int8)[None, None]
    check(acc.max_pool2d(seed_map, 2, 2)[0, 0], [[13, 30], [100, 37]])
    check(acc.avg_pool2d(seed_map, 2)[0, 0], [[12, 8], [76, 20]])
    x = rand(rng, (1, 16, 6, 6))
    check(acc.max_pool2d(x, 3, 2, 1), golden.max_pool2d(x, 3, 2, 1))
    check(acc.avg_pool2d(x, 3), golden.avg_pool2d(x, 3))
    check(acc.global_avg_pool2d(x), golden.global_avg_pool2d(x))


def test_small_array_many_chunks(rng):
    """A 4x4 array with small buffers: K, N and M tiles, grouped conv, 3x3/2 pool, N > 1."""
    with Accelerator.open(simulator(), rows=4, cols=4, in_depth=32, acc_depth=16,
                          out_depth=4) as small:
        x, w = rand(rng, (2, 4, 7, 7)), rand(rng, (6, 2, 3, 3))
        b = rand(rng, 6, -3000, 3000, np.int32)
        kw = dict(padding=1, groups=2, scale=1 / 900, zero_point=-2, relu=True, max_pool=(3, 2))
        check(small.conv2d(x, w, b, **kw), golden.conv2d(x, w, b, **kw))
        # many chunks: many VMM commands (a program: one doorbell, many instructions)
        assert small.mapping.calls * small.mapping.pack == 2
        assert max(small.stats.commands, small.stats.instructions) > 2
        check(small.depthwise_conv2d(x, w[:4, :1], stride=2, dilation=2, padding=2),
              golden.depthwise_conv2d(x, w[:4, :1], stride=2, dilation=2, padding=2))
        a = rand(rng, (2, 4, 7, 7))
        check(small.add(x, a, scale_a=0.3, scale_b=0.7, zero_point=4),
              golden.add(x, a, 0.3, 0.7, 4))


def test_conv_family_with_bus_stalls(rng):
    """Random stalls on all five AXI4-Lite channels (issue 8): the same results."""
    s = seed()
    g = dict(rows=8, cols=8, in_depth=64, acc_depth=32, out_depth=32)
    with Accelerator.open(simulator(), stall_seed=s, **g) as stalled:
        x, w = rand(rng, (1, 4, 6, 6)), rand(rng, (8, 4, 3, 3))
        kw = dict(padding=1, scale=1 / 2048, zero_point=-5, relu=True, max_pool=2)
        check(stalled.conv2d(x, w, **kw), golden.conv2d(x, w, **kw))
        a = rand(rng, (1, 4, 6, 6))
        check(stalled.add(x, a, scale_a=0.6, scale_b=0.3), golden.add(x, a, 0.6, 0.3))
        check(stalled.avg_pool2d(x, 2), golden.avg_pool2d(x, 2))


def test_per_tap_program_and_its_cycles(acc, rng, monkeypatch):
    """A convolution per tap over an image kept on chip (sw/driver/taps.py) on the gateware
    (forced, whichever the driver would pick): exact, and its cycles as the register model's
    cycle model predicts them (within 2 %)."""
    from sw.driver.taps import tap_options
    from sw.layers import conv as conv_module
    x, w = rand(rng, (1, 16, 8, 8)), rand(rng, (16, 16, 3, 3))
    b = rand(rng, 16, -3000, 3000, np.int32)
    plan = tap_options(1, 16, 8, 8, 16, 3, 3, (1, 1), acc.geometry, bias=True)[0]
    for kw in ({}, dict(scale=1 / 3000, zero_point=5, relu=True, input_zero_point=-2)):
        plan = plan.__class__(**{**plan.__dict__, "int8": "scale" in kw,
                                 "relu": bool(kw.get("relu"))})
        monkeypatch.setattr(conv_module, "_per_tap", lambda *a, plan=plan: plan)
        check(acc.conv2d(x, w, b, padding=1, **kw), golden.conv2d(x, w, b, padding=1, **kw))
        assert acc.mapping.name == "taps"
        model = Accelerator.open("regmodel")
        model.conv2d(x, w, b, padding=1, **kw)
        assert model.mapping.name == "taps" and model.plan == acc.plan
        print(kw, "rtl", acc.stats.cycles, "model", model.stats.cycles)
        assert abs(acc.stats.cycles / model.stats.cycles - 1) <= 0.02


def test_register_path_cycles_as_the_model_predicts(rng):
    """Through the registers (dma=False), every AXI4-Lite transaction of n words takes n + 2
    cycles (regmodel TRANSACTION_CYCLES); the model's cycles are the RTL's within 2 % on a
    layer of 16x16x16 commands."""
    x, w = rand(rng, (64, 64)), rand(rng, (48, 64))
    with Accelerator.open(simulator(), dma=False) as rtl:
        base = _bus_cycles(rtl, 0)
        assert [_bus_cycles(rtl, n) - base for n in (1, 4, 16)] == [3, 6, 18]
        rtl.linear(x, w)
    model = Accelerator.open("regmodel", dma=False)
    assert [_bus_cycles(model, n) - _bus_cycles(model, 0) for n in (1, 4, 16)] == [3, 6, 18]
    model.linear(x, w)
    print("rtl", rtl.stats.cycles, "model", model.stats.cycles)
    assert abs(rtl.stats.cycles / model.stats.cycles - 1) <= 0.02


def _bus_cycles(acc, n):
    """PERF_CYCLES across a write of n words (0: none) between two reads of PERF_CYCLES."""
    from hw.spec import register
    pc = register("PERF_CYCLES").offset
    before = acc.read_words(pc, 1)[0]
    if n:
        acc.write_words(acc.geometry.in_addr(0), [0] * n)
    return acc.read_words(pc, 1)[0] - before
