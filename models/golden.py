"""The golden model of pimacc: plain NumPy, explicit dtypes, bit-exact with docs/architecture.md.

int8 operands are multiplied and summed exactly in int64 and wrapped to int32, which is the same
as accumulating in int32 with two's complement wrap-around. Requantization products are int64.

Rounding: ``requantize`` shifts right arithmetically after adding ``1 << (shift - 1)``, so ties
round half up (toward +inf): 2.5 -> 3, -2.5 -> -2. Results saturate to int8.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MULT_MAX",
    "SHIFT_MAX",
    "linear",
    "quantize_multiplier",
    "quantize_multipliers",
    "requantize",
    "vmm",
    "wrap_int32",
]

MULT_MAX = 2**31 - 1  #: largest Q31 multiplier
SHIFT_MAX = 63        #: largest right shift
SCALE_RANGE = "2**-33 <= scale < 2**31"


def wrap_int32(values):
    """Wrap integers (any integer dtype, or Python ints) to int32, two's complement."""
    v = np.asarray(values).astype(np.int64)
    return ((v + 2**31) % 2**32 - 2**31).astype(np.int32)


def _check_int8(name, a, ndim):
    if not isinstance(a, np.ndarray) or a.dtype != np.int8:
        got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(f"{name} must be an int8 numpy array, got {got}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")


def vmm(x, w):
    """Vector-matrix multiply of the VMM array.

    Parameters
    ----------
    x : ndarray of int8, shape [M, K]
        Input vectors, one per row.
    w : ndarray of int8, shape [N, K]
        Weights, one output column per row (PyTorch ``Linear`` layout).

    Returns
    -------
    ndarray of int32, shape [M, N]
        ``x @ w.T`` with int32 wrap-around.
    """
    _check_int8("x", x, 2)
    _check_int8("w", w, 2)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x is [M, K={x.shape[1]}] but w is [N, K={w.shape[1]}]")
    # Exact in int64 for K < 2**49; wrapping afterwards equals wrapping at every step.
    return wrap_int32(x.astype(np.int64) @ w.astype(np.int64).T)


def quantize_multiplier(real_scale):
    """Split a positive real scale into a Q31 multiplier and a right shift.

    ``scale = f * 2**e`` with ``0.5 <= f < 1``; ``MULT = floor(f * 2**31 + 0.5)`` (if that is
    ``2**31``: ``MULT = 2**30`` and ``e += 1``); ``SHIFT = 31 - e``.

    Returns
    -------
    (int, int)
        ``(multiplier, shift)`` with ``2**30 <= multiplier < 2**31`` and ``0 <= shift <= 63``,
        so that ``multiplier * 2**-shift`` is within ``2**-31`` (relative) of ``real_scale``.

    Raises
    ------
    ValueError
        If ``real_scale`` is not finite, not positive, or outside ``2**-33 <= scale < 2**31``.
    """
    scale = float(real_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    f, e = math.frexp(scale)
    mult = math.floor(f * 2**31 + 0.5)  # exact: f * 2**31 has at most 22 fractional bits
    if mult == 2**31:
        mult, e = 2**30, e + 1
    shift = 31 - e
    if not 0 <= shift <= SHIFT_MAX:
        raise ValueError(f"scale {scale!r} needs a right shift of {shift}, outside "
                         f"0..{SHIFT_MAX}; the allowed range is {SCALE_RANGE}")
    return mult, shift


def quantize_multipliers(scales):
    """Vectorised :func:`quantize_multiplier`: returns (multipliers, shifts) as int64 arrays."""
    s = np.atleast_1d(np.asarray(scales, dtype=np.float64))
    pairs = [quantize_multiplier(v) for v in s.ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int64).reshape(s.shape)
    shift = np.array([p[1] for p in pairs], dtype=np.int64).reshape(s.shape)
    return mult, shift


def requantize(acc, multiplier, shift, zero_point=0, relu=False):
    """Requantize int32 accumulators to int8 (the post-processing chain).

    ``p = int64(acc) * mult``; ``q = (p + (1 << (shift-1))) >> shift`` if ``shift > 0`` else
    ``p`` (arithmetic shift: round half up); ``y = clip(q + zero_point, -128, 127)``; with
    ``relu``: ``y = max(y, zero_point)``. ``multiplier`` and ``shift`` broadcast against ``acc``
    (per column for [M, N] accumulators).

    No int64 overflow: ``|p| <= 2**31 * (2**31 - 1) < 2**62`` and the rounding term is at most
    ``2**62``, so ``p + round < 2**63``.

    Raises
    ------
    ValueError
        If a multiplier is outside 0..2**31-1, a shift outside 0..63 or the zero point outside
        -128..127.
    """
    acc = np.asarray(acc)
    if acc.dtype != np.int32:
        raise TypeError(f"acc must be int32, got {acc.dtype}")
    mult = np.asarray(multiplier, dtype=np.int64)
    sh = np.asarray(shift, dtype=np.int64)
    if mult.size and (mult.min() < 0 or mult.max() > MULT_MAX):
        raise ValueError(f"multiplier must be in 0..{MULT_MAX}, got {mult.min()}..{mult.max()}")
    if sh.size and (sh.min() < 0 or sh.max() > SHIFT_MAX):
        raise ValueError(f"shift must be in 0..{SHIFT_MAX}, got {sh.min()}..{sh.max()}")
    zp = int(zero_point)
    if not -128 <= zp <= 127:
        raise ValueError(f"zero_point must be in -128..127, got {zero_point}")
    p = acc.astype(np.int64) * mult
    rounding = np.where(sh > 0, np.left_shift(np.int64(1), np.maximum(sh - 1, 0)), 0)
    q = np.right_shift(p + rounding, sh)
    y = np.clip(q + zp, -128, 127)
    if relu:
        y = np.maximum(y, zp)
    return y.astype(np.int8)


def apply_lut(y, lut):
    """``lut[y + 128]`` for int8 ``y``: the lookup-table stage (entry i is for input i - 128)."""
    lut = np.asarray(lut)
    if lut.dtype != np.int8 or lut.shape != (256,):
        raise ValueError(f"lut must be int8 of shape (256,), got {lut.dtype} {lut.shape}")
    return lut[y.astype(np.int16) + 128]


def group_max(y, pool):
    """Elementwise max over each group of ``pool`` consecutive rows (the max-pooling stage)."""
    m = y.shape[0]
    if pool < 1 or m % pool:
        raise ValueError(f"pool must be >= 1 and divide the {m} rows, got {pool}")
    return y.reshape(m // pool, pool, *y.shape[1:]).max(axis=1)


def folded_bias(w, b, input_zero_point):
    """The int64 [N] bias the accumulators start from: ``b`` (int32 [N] or None) with the input
    zero point's correction ``-input_zero_point * sum_k w[n, k]`` folded in (wrapped to int32,
    as the driver folds it). ValueError for a ``b`` of the wrong type or shape."""
    n = w.shape[0]
    bias = np.zeros(n, dtype=np.int64)
    if b is not None:
        b = np.asarray(b)
        if b.dtype != np.int32 or b.shape != (n,):
            raise ValueError(f"b must be int32 of shape ({n},), got {b.dtype} {b.shape}")
        bias += b
    if input_zero_point:
        bias = wrap_int32(bias - int(input_zero_point) * w.astype(np.int64).sum(axis=1))
    return bias


def linear(x, w, b=None, scale=None, zero_point=0, relu=False, input_zero_point=0, lut=None,
           pool=1):
    """A fully connected layer, as the accelerator computes it.

    Parameters
    ----------
    x : ndarray of int8, shape [M, K]
    w : ndarray of int8, shape [N, K]
    b : ndarray of int32, shape [N], optional
        Added to the accumulators (int32 wrap).
    scale : float or ndarray of float, shape [N], optional
        None: return the int32 accumulators. Else requantize per column with
        ``quantize_multiplier(scale)`` and ``zero_point``, then the ``lut`` stage, then ``relu``
        (clamp at the zero point), then max over groups of ``pool`` consecutive rows.
    input_zero_point : int
        The real input is ``x - input_zero_point``; as the driver does it, the correction
        ``-input_zero_point * sum_k w[n, k]`` is folded into the (int32, wrapping) bias.

    Returns
    -------
    ndarray of int32 [M, N] (no scale) or int8 [M // pool, N] (with scale)
    """
    acc = vmm(x, w)
    bias = folded_bias(w, b, input_zero_point)
    if b is not None or input_zero_point:
        acc = wrap_int32(acc.astype(np.int64) + bias)
    return postprocess(acc, scale, zero_point, relu, lut, pool)


def postprocess(acc, scale=None, zero_point=0, relu=False, lut=None, pool=1):
    """The post-processing of int32 sums ``acc`` [M, N]: with ``scale`` (a float or one per
    column) requantize to int8, then the LUT, ReLU (at the zero point) and max over groups of
    ``pool`` rows; without, ``acc`` itself (ValueError if any of the others is asked for)."""
    if scale is None:
        if relu or zero_point or lut is not None or pool != 1:
            raise ValueError("relu, zero_point, lut and pool need a scale")
        return acc
    mult, shift = quantize_multipliers(np.broadcast_to(np.asarray(scale, dtype=np.float64),
                                                       (acc.shape[1],)))
    y = requantize(acc, mult, shift, zero_point, relu=False)
    if lut is not None:
        y = apply_lut(y, lut)
    if relu:
        y = np.maximum(y, np.int8(zero_point))
    return group_max(y.astype(np.int8), pool)
