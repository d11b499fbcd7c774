"""The golden model against hand-computed cases and a Python-integer reference."""

import math

import numpy as np
import pytest

from models import linear, quantize_multiplier, quantize_multipliers, requantize, vmm

pytestmark = pytest.mark.nosim

I32_MIN, I32_MAX, MULT_MAX = -2**31, 2**31 - 1, 2**31 - 1


def i8(a):
    return np.array(a, dtype=np.int8)


def i32(a):
    return np.array(a, dtype=np.int32)


def ref_requant(acc, mult, shift, zp=0, relu=False):
    """Python-int reference of docs/architecture.md (unbounded integers, no numpy)."""
    p = int(acc) * int(mult)
    q = (p + (1 << (shift - 1))) >> shift if shift > 0 else p
    y = min(max(q + zp, -128), 127)
    return max(y, zp) if relu else y


# --- vmm ----------------------------------------------------------------------------------------

def test_vmm_small_by_hand():
    x = i8([[1, 2, 3], [-1, 0, 4]])
    w = i8([[1, 1, 1], [2, -3, 0]])
    # row 0: [1+2+3, 2-6+0] ; row 1: [-1+0+4, -2+0+0]
    np.testing.assert_array_equal(vmm(x, w), i32([[6, -4], [3, -2]]))
    assert vmm(x, w).dtype == np.int32


def test_vmm_extremes():
    x = i8([[-128, -128, 127]])
    w = i8([[-128, 127, 127]])
    # 16384 - 16256 + 16129
    np.testing.assert_array_equal(vmm(x, w), i32([[16257]]))


def test_vmm_wraps_int32():
    k = 2**17 + 1  # 131073 * 16384 = 2**31 + 16384 -> wraps to -2**31 + 16384
    x = np.full((1, k), -128, np.int8)
    np.testing.assert_array_equal(vmm(x, x), i32([[-2**31 + 16384]]))


def test_vmm_random_matches_python():
    seed = 1234
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (5, 7), dtype=np.int8)
    w = rng.integers(-128, 128, (3, 7), dtype=np.int8)
    ref = [[sum(int(x[m, k]) * int(w[n, k]) for k in range(7)) for n in range(3)] for m in range(5)]
    np.testing.assert_array_equal(vmm(x, w), i32(ref))


def test_vmm_errors():
    with pytest.raises(TypeError, match="x must be an int8"):
        vmm(np.zeros((2, 2)), i8([[1, 2]]))
    with pytest.raises(ValueError, match="w must be 2-D"):
        vmm(i8([[1, 2]]), i8([1, 2]))
    with pytest.raises(ValueError, match="K=3"):
        vmm(i8([[1, 2]]), i8([[1, 2, 3]]))


# --- quantize_multiplier ------------------------------------------------------------------------

@pytest.mark.parametrize("scale, mult, shift", [
    (0.5, 2**30, 31), (1.0, 2**30, 30), (0.75, 3 * 2**29, 31), (2.0**-33, 2**30, 63),
    (2**31 - 1, 2**31 - 1, 0), (3.0, 3 * 2**29, 29),
])
def test_quantize_multiplier_by_hand(scale, mult, shift):
    assert quantize_multiplier(scale) == (mult, shift)


def test_quantize_multiplier_carry():
    # f = 1 - 2**-33 rounds up to 2**31: carry to 2**30 with e + 1
    scale = (1 - 2**-33) * 2.0**-1
    assert quantize_multiplier(scale) == (2**30, 31 - 0 - 1 + 1)  # 0.5 * 2**0 -> e = 0


def test_quantize_multiplier_round_trip():
    seed = 77
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    for scale in np.exp(rng.uniform(math.log(2**-33), math.log(2**31 - 1), 2000)):
        mult, shift = quantize_multiplier(scale)
        assert 2**30 <= mult <= MULT_MAX and 0 <= shift <= 63
        assert abs(mult * 2.0**-shift - scale) <= scale * 2**-31


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, -math.inf, math.nan, 2.0**31, 2.0**40,
                                 2.0**-34, 1e-300])
def test_quantize_multiplier_errors(bad):
    with pytest.raises(ValueError, match="scale"):
        quantize_multiplier(bad)


def test_quantize_multiplier_range_message():
    with pytest.raises(ValueError, match=r"2\*\*-33 <= scale < 2\*\*31"):
        quantize_multiplier(2.0**31)


def test_quantize_multipliers_vectorised():
    m, s = quantize_multipliers([0.5, 1.0, 0.75])
    np.testing.assert_array_equal(m, [2**30, 2**30, 3 * 2**29])
    np.testing.assert_array_equal(s, [31, 30, 31])


# --- requantize ---------------------------------------------------------------------------------

def test_requantize_ties_round_half_up():
    # mult 2**30, shift 31: y = acc / 2 ; 5/2 = 2.5 -> 3, -5/2 = -2.5 -> -2, 3/2 -> 2, -3/2 -> -1
    acc = i32([5, -5, 3, -3, 4, -4, 1, -1])
    np.testing.assert_array_equal(requantize(acc, 2**30, 31), i8([3, -2, 2, -1, 2, -2, 1, 0]))


def test_requantize_saturation_and_zero_point():
    acc = i32([1000, -1000, 100, -100])
    one = (2**30, 30)  # scale 1
    np.testing.assert_array_equal(requantize(acc, *one, zero_point=0), i8([127, -128, 100, -100]))
    np.testing.assert_array_equal(requantize(acc, *one, zero_point=50), i8([127, -128, 127, -50]))
    np.testing.assert_array_equal(requantize(acc, *one, zero_point=-128),
                                  i8([127, -128, -28, -128]))


def test_requantize_relu_at_nonzero_zero_point():
    acc = i32([-20, -10, -5, 0, 5, 200])
    np.testing.assert_array_equal(requantize(acc, 2**30, 30, zero_point=-7, relu=True),
                                  i8([-7, -7, -7, -7, -2, 127]))
    np.testing.assert_array_equal(requantize(acc, 2**30, 30, zero_point=10, relu=True),
                                  i8([10, 10, 10, 10, 15, 127]))


def test_requantize_per_column():
    acc = i32([[8, 8, 8], [-8, -8, -8]])
    mult = np.array([2**30, 2**30, 3 * 2**29])
    shift = np.array([30, 32, 32])  # x1, x1/4, x3/8
    np.testing.assert_array_equal(requantize(acc, mult, shift), i8([[8, 2, 3], [-8, -2, -3]]))


@pytest.mark.parametrize("acc", [I32_MIN, I32_MIN + 1, -1, 0, 1, I32_MAX])
@pytest.mark.parametrize("mult", [0, 1, 2**30, MULT_MAX])
@pytest.mark.parametrize("shift", [0, 1, 2, 31, 32, 62, 63])
@pytest.mark.parametrize("zp", [-128, 0, 5, 127])
def test_requantize_extremes(acc, mult, shift, zp):
    for relu in (False, True):
        got = requantize(i32([acc]), mult, shift, zp, relu)
        assert got.dtype == np.int8
        assert int(got[0]) == ref_requant(acc, mult, shift, zp, relu)


def test_requantize_extremes_by_hand():
    # (2**31-1)**2 / 2**62 = 0.99999999907 -> 1 ; -2**31 * (2**31-1) / 2**62 = -0.99999999953 -> -1
    assert int(requantize(i32([I32_MAX]), MULT_MAX, 62)[0]) == 1
    assert int(requantize(i32([I32_MIN]), MULT_MAX, 62)[0]) == -1
    # / 2**63: 0.4999999995 -> 0 and -0.49999999977 -> 0 ; 2**30 * -2**31 / 2**62 = -0.5 -> 0
    assert int(requantize(i32([I32_MAX]), MULT_MAX, 63)[0]) == 0
    assert int(requantize(i32([I32_MIN]), MULT_MAX, 63)[0]) == 0
    assert int(requantize(i32([I32_MIN]), 2**30, 62)[0]) == 0
    assert int(requantize(i32([I32_MIN]), 2**30, 61)[0]) == -1
    assert int(requantize(i32([I32_MIN]), MULT_MAX, 0)[0]) == -128
    assert int(requantize(i32([I32_MAX]), MULT_MAX, 1)[0]) == 127


def test_requantize_random_matches_python():
    seed = 4321
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    acc = rng.integers(I32_MIN, I32_MAX, 3000, endpoint=True).astype(np.int32)
    mult = rng.integers(0, MULT_MAX, 3000, endpoint=True)
    shift = rng.integers(0, 63, 3000, endpoint=True)
    zp = int(rng.integers(-128, 128))
    got = requantize(acc, mult, shift, zp, relu=True)
    ref = [ref_requant(a, m, s, zp, True) for a, m, s in zip(acc, mult, shift, strict=True)]
    np.testing.assert_array_equal(got, i8(ref))


def test_requantize_errors():
    with pytest.raises(ValueError, match="multiplier"):
        requantize(i32([1]), 2**31, 1)
    with pytest.raises(ValueError, match="multiplier"):
        requantize(i32([1]), -1, 1)
    with pytest.raises(ValueError, match="shift"):
        requantize(i32([1]), 1, 64)
    with pytest.raises(ValueError, match="zero_point"):
        requantize(i32([1]), 1, 1, zero_point=128)
    with pytest.raises(TypeError, match="acc must be int32"):
        requantize(np.array([1], np.int64), 1, 1)


# --- linear -------------------------------------------------------------------------------------

def test_linear_raw_with_bias_by_hand():
    x = i8([[1, 2], [3, 4]])
    w = i8([[1, 0], [0, 1], [1, 1]])
    b = i32([10, -10, 2**31 - 1])
    # x @ w.T = [[1, 2, 3], [3, 4, 7]] ; last column wraps
    np.testing.assert_array_equal(linear(x, w, b),
                                  i32([[11, -8, -2**31 + 2], [13, -6, -2**31 + 6]]))


def test_linear_requantized_by_hand():
    x = i8([[10, -3]])
    w = i8([[2, 1], [-1, 4]])
    # acc = [17, -22]; scale 0.5 -> [8.5 -> 9, -11]; per column [0.25, 0.1]: [4.25 -> 4, -2.2 -> -2]
    np.testing.assert_array_equal(linear(x, w, scale=0.5), i8([[9, -11]]))
    np.testing.assert_array_equal(linear(x, w, scale=np.array([0.25, 0.1])), i8([[4, -2]]))
    np.testing.assert_array_equal(linear(x, w, scale=0.5, zero_point=-3, relu=True), i8([[6, -3]]))
    np.testing.assert_array_equal(linear(x, w, i32([-17, 0]), scale=1.0), i8([[0, -22]]))


def test_linear_errors():
    x, w = i8([[1]]), i8([[1]])
    with pytest.raises(ValueError, match="b must be int32"):
        linear(x, w, np.array([1], np.int64))
    with pytest.raises(ValueError, match="need a scale"):
        linear(x, w, relu=True)
