"""Issue 8, defect 1: an int32 accumulator that could overflow is refused, never wrapped.

Before the fix, ``acc.linear`` returned -2147467264 for the all -128 case (true +2147500032).
The reference here is Python's unbounded integers, not the golden model (which wraps, as the
hardware's accumulators do).
"""

import numpy as np
import pytest

from sw import Accelerator

pytestmark = pytest.mark.nosim
SEED = 808
LO, HI = -2**31, 2**31 - 1


@pytest.fixture(scope="module")
def acc():
    with Accelerator.open("regmodel", rows=8, cols=8) as a:
        yield a


def exact(x, w, b, zp):
    """int32 results by Python integers (object arrays), no wrap-around."""
    y = (x.astype(object) - zp) @ w.astype(object).T
    return y + (b.astype(object) if b is not None else 0)


@pytest.mark.parametrize("kwargs", [{}, {"scale": 1e-9}])
def test_the_reported_cases_are_refused(acc, kwargs):
    x = w = np.full((1, 131073), -128, np.int8)
    with pytest.raises(ValueError, match=r"can reach 2147500032 \.\. 2147500032.*K = 131073"):
        acc.linear(x, w, **kwargs)
    x, w = np.full((1, 65794), 127, np.int8), np.full((1, 65794), -128, np.int8)
    with pytest.raises(ValueError, match="input_zero_point = -128"):
        acc.linear(x, w, input_zero_point=-128, **kwargs)
    ones = np.ones((1, 1000), np.int8)
    with pytest.raises(ValueError, match=r"b\[0\] = 2147482648"):
        acc.linear(ones, ones, np.array([2**31 - 1000], np.int32), scale=2**-24)


def test_largest_k_with_zero_point_is_exact(acc):
    k = 65793  # 255 * 128 * 65793 = 2**31 - 128
    x, w = np.full((2, k), 127, np.int8), np.full((3, k), -128, np.int8)
    np.testing.assert_array_equal(acc.linear(x, w, input_zero_point=-128),
                                  exact(x, w, None, -128).astype(np.int64))


def test_extreme_bias_that_fits_is_exact(acc):
    x, w = np.full((3, 20), -128, np.int8), np.full((2, 20), -128, np.int8)
    b = np.array([-2**31, 2**31 - 1 - 20 * 16384], np.int32)  # the sums are +327680
    np.testing.assert_array_equal(acc.linear(x, w, b), exact(x, w, b, 0).astype(np.int64))
    with pytest.raises(ValueError, match="output column 1 can reach 2147483648"):
        acc.linear(x, w, b + np.array([0, 1], np.int32))


def test_near_the_bound_either_exact_or_refused(acc):
    """Random layers whose bias brings a column near the int32 limits: every call returns
    Python's exact integers, or raises because the stated rule (recomputed here with Python
    integers) lets a column leave int32."""
    rng = np.random.default_rng(SEED)
    print(f"seed={SEED}")
    refused = exact_calls = 0
    for _ in range(80):
        m, k, n = rng.integers(1, 6), rng.integers(1, 40), rng.integers(1, 12)
        x = rng.integers(-128, 128, (m, k), dtype=np.int8)
        w = rng.integers(-128, 128, (n, k), dtype=np.int8)
        zp = int(rng.choice([0, -128, 127, int(rng.integers(-128, 128))]))
        lo, hi = int(x.min()) - zp, int(x.max()) - zp
        low = [sum(min(lo * int(v), hi * int(v)) for v in row) for row in w]
        high = [sum(max(lo * int(v), hi * int(v)) for v in row) for row in w]
        delta = int(rng.integers(-50, 50))  # > 0: some column passes a limit
        up = rng.random() < 0.5
        b = np.array([HI - h + delta if up else LO - lo_ - delta for lo_, h in zip(low, high,
                                                                                      strict=True)])
        b = b.clip(LO, HI).astype(np.int32)
        leaves = any(bi + h > HI or bi + lo_ < LO for bi, lo_, h in zip(b.tolist(), low, high,
                                                                          strict=True))
        if leaves:
            with pytest.raises(ValueError, match="could overflow"):
                acc.linear(x, w, b, input_zero_point=zp)
            refused += 1
        else:
            got = acc.linear(x, w, b, input_zero_point=zp)
            np.testing.assert_array_equal(got, exact(x, w, b, zp).astype(np.int64))
            exact_calls += 1
    assert refused > 10 and exact_calls > 10, (refused, exact_calls)


def test_conv2d_is_covered_through_linear(acc):
    x = np.full((1, 1, 3, 3), 127, np.int8)
    w = np.full((1, 1, 3, 3), 127, np.int8)
    with pytest.raises(ValueError, match="could overflow"):
        acc.conv2d(x, w, np.array([2**31 - 100], np.int32))
