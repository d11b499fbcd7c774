"""Driver fuzzing with hypothesis (issue 8): random shapes, dtypes, scales, zero points, strides,
paddings and groups on the register-level model. Every call either equals the golden model
bit for bit, or raises TypeError/ValueError whose message names one of the call's arguments;
never another exception, never a wrong number.

The examples are derandomized with a fixed seed (hypothesis prints a failing example in full);
``make test`` runs a few hundred, the ``slow`` variant ten times more.
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import models
import models.conv as golden
from sw import Accelerator

pytestmark = pytest.mark.nosim
SEED = 20261201
GEOMETRIES = [dict(rows=4, cols=4, in_depth=64, acc_depth=16, out_depth=8),
              dict(rows=8, cols=4, banks=3, in_depth=40, acc_depth=24, out_depth=12)]
ACCS = {}


def accelerator(i):
    if i not in ACCS:
        ACCS[i] = Accelerator.open("regmodel", **GEOMETRIES[i])
    return ACCS[i]


DTYPES = [np.int8] * 40 + [np.uint8, np.int16, np.int32, np.float32, np.bool_]


@st.composite
def arrays(draw, shape, dtypes=DTYPES, lo=-128, hi=127):
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.integers(0, 9)) == 0:  # extremes
        data = rng.choice([lo, hi], shape)
    else:
        data = rng.integers(lo, hi + 1, shape)
    return data.astype(dtype)


def sizes(most):
    """Mostly 1..most, sometimes 0 (an empty array must be refused)."""
    return mostly(st.integers(1, most), st.just(0))


def mostly(good, bad, bad_percent=5):
    """``good`` values, and ``bad`` ones in about ``bad_percent`` % of the draws."""
    return st.integers(0, 99).flatmap(lambda r: bad if r < bad_percent else good)


SCALES = mostly(st.floats(2.0**-20, 4.0),
                st.sampled_from([0.0, -1.0, float("inf"), float("nan"), 2.0**-40, 2.0**32, True,
                                 "0.5", None]))
ZERO_POINTS = mostly(st.integers(-128, 127), st.sampled_from([-129, 128, 1000, True, 0.5]))


def names_an_argument(message, arguments):
    return any(re.search(rf"\b{re.escape(name)}\b", message) for name in arguments)


def check(run, reference, arguments):
    """``run()`` equals ``reference()`` exactly, or raises TypeError/ValueError naming one of
    ``arguments``."""
    try:
        got = run()
    except (TypeError, ValueError) as e:
        assert names_an_argument(str(e), arguments), f"{type(e).__name__}: {e}"
        return "refused"
    expected = reference()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    return "equal"


@st.composite
def linear_calls(draw):
    m, k, n = draw(sizes(20)), draw(sizes(40)), draw(sizes(12))
    x = draw(arrays((m, k)))
    w = draw(arrays((n, k) if draw(st.integers(0, 19)) else (n, k + 1)))
    b = draw(st.one_of(st.none(), arrays((n,), [np.int32] * 4 + [np.int64], -2**20, 2**20)))
    kw = {}
    if draw(st.booleans()):
        kw["scale"] = draw(st.one_of(SCALES, st.lists(st.floats(2.0**-16, 2.0), min_size=n,
                                                        max_size=n + draw(st.integers(0, 1)))))
        kw["zero_point"] = draw(ZERO_POINTS)
        kw["relu"] = draw(mostly(st.sampled_from([False, True, np.bool_(True)]), st.just(1)))
        if draw(st.booleans()):
            kw["pool"] = draw(mostly(st.sampled_from([1, 2, 4]), st.sampled_from([3, 0, 300])))
        if draw(st.booleans()):
            kw["lut"] = draw(arrays((256,), [np.int8] * 3 + [np.uint8]))
    if draw(st.booleans()):
        kw["input_zero_point"] = draw(ZERO_POINTS)
    return draw(st.integers(0, len(GEOMETRIES) - 1)), x, w, b, kw


@st.composite
def conv_calls(draw):
    n, c, h, wd = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 9)), \
        draw(st.integers(1, 9))
    groups = draw(st.sampled_from([1, 1, c, 2, 3]))
    cout = draw(st.integers(1, 6)) * (groups if groups <= c and c % groups == 0 else 1)
    kh, kw_ = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = draw(arrays((n, c, h, wd)))
    w = draw(arrays((cout, max(1, c // max(groups, 1)), kh, kw_)))
    kw = dict(stride=draw(mostly(st.sampled_from([1, 1, 2, (1, 2), 3]), st.just(0))),
              padding=draw(mostly(st.sampled_from([0, 0, 1, 2, (1, 0)]), st.just(-1))),
              dilation=draw(mostly(st.sampled_from([1, 1, 2]), st.just(0))), groups=groups)
    b = draw(st.one_of(st.none(), arrays((cout,), [np.int32], -2**15, 2**15)))
    if draw(st.booleans()):
        kw.update(scale=draw(SCALES), zero_point=draw(ZERO_POINTS), relu=draw(st.booleans()))
        if draw(st.integers(0, 3)) == 0:
            kw["max_pool"] = draw(mostly(st.sampled_from([2, 3, (2, 1)]), st.just(0)))
    if draw(st.booleans()):
        kw["input_zero_point"] = draw(ZERO_POINTS)
    return draw(st.integers(0, len(GEOMETRIES) - 1)), x, w, b, kw


@st.composite
def pool_calls(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 8)),
             draw(st.integers(1, 8)))
    x = draw(arrays(shape))
    op = draw(st.sampled_from(["max_pool2d", "avg_pool2d", "global_avg_pool2d", "add"]))
    if op == "add":
        other = draw(arrays(shape if draw(st.integers(0, 19)) else shape[:3] + (shape[3] + 1,)))
        kw = dict(scale_a=draw(SCALES), scale_b=draw(SCALES), zero_point=draw(ZERO_POINTS),
                  relu=draw(st.booleans()), zero_point_a=draw(ZERO_POINTS),
                  zero_point_b=draw(ZERO_POINTS))
        return draw(st.integers(0, 1)), op, (x, other), kw
    if op == "global_avg_pool2d":
        return draw(st.integers(0, 1)), op, (x,), {}
    kw = dict(kernel_size=draw(mostly(st.sampled_from([1, 2, 3, (2, 3)]), st.sampled_from([0, 9]))),
              stride=draw(mostly(st.sampled_from([None, 1, 2]), st.just(0))))
    if op == "max_pool2d":
        kw["padding"] = draw(st.sampled_from([0, 1, 2]))
    return draw(st.integers(0, 1)), op, (x,), kw


LINEAR_ARGS = ["x", "w", "b", "scale", "zero_point", "relu", "input_zero_point", "lut", "pool",
               "K", "M", "N", "accumulators"]
CONV_ARGS = ["x", "w", "b", "stride", "padding", "dilation", "groups", "scale", "zero_point",
             "relu", "input_zero_point", "max_pool", "kernel", "accumulators"]
POOL_ARGS = ["x", "a", "b", "kernel_size", "stride", "padding", "scale_a", "scale_b",
             "zero_point", "relu", "zero_point_a", "zero_point_b", "window"]


def _linear(case):
    i, x, w, b, kw = case
    return check(lambda: accelerator(i).linear(x, w, b, **kw),
                 lambda: models.linear(x, w, b, **kw), LINEAR_ARGS)


def _conv(case):
    i, x, w, b, kw = case
    return check(lambda: accelerator(i).conv2d(x, w, b, **kw),
                 lambda: golden.conv2d(x, w, b, **kw), CONV_ARGS)


def _pool(case):
    i, op, args, kw = case
    if op == "add":
        return check(lambda: accelerator(i).add(*args, **kw),
                     lambda: golden.add(*args, kw["scale_a"], kw["scale_b"], kw["zero_point"],
                                        kw["relu"], kw["zero_point_a"], kw["zero_point_b"]),
                     POOL_ARGS)
    return check(lambda: getattr(accelerator(i), op)(*args, **kw),
                 lambda: getattr(golden, op)(*args, **kw), POOL_ARGS)


def _fuzz(examples):
    cfg = settings(max_examples=examples, deadline=None, derandomize=False, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    print(f"seed={SEED} examples={examples} per operation")
    outcomes = {}

    def fuzz(name, strategy, run):
        seen = outcomes.setdefault(name, {"equal": 0, "refused": 0})

        @seed(SEED)
        @cfg
        @given(strategy)
        def one(case):
            seen[run(case)] += 1

        one()

    fuzz("linear", linear_calls(), _linear)
    fuzz("conv2d", conv_calls(), _conv)
    fuzz("pooling/add", pool_calls(), _pool)
    print(outcomes)
    for name, seen in outcomes.items():  # the strategies reach both outcomes
        assert seen["equal"] > examples // 10 and seen["refused"] > examples // 10, (name, seen)


def test_driver_fuzz():
    _fuzz(150)


@pytest.mark.slow
def test_driver_fuzz_long():
    _fuzz(1500)
