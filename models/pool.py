"""Golden model of pooling and the residual add (integer rules in :mod:`models.conv`).

Plain NumPy, bit-exact with ``sw/conv.py``. ``x`` is int8 [N, C, H, W]; a kernel, stride or
padding is an int or an (height, width) pair.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .golden import quantize_multiplier, requantize

__all__ = ["ADD_RATIO_MAX", "PoolShape", "add", "add_weights", "avg_pool2d", "check_add_operands",
           "global_avg_pool2d", "max_pool2d", "pair", "pool_shape", "pool_windows",
           "weight_parts"]

ADD_WEIGHT_MAX = 127   #: one int8 weight
ADD_REPEAT_MAX = 8     #: times an add may feed one operand (its weight split into int8 parts)
ADD_RATIO_MAX = ADD_WEIGHT_MAX * ADD_REPEAT_MAX  #: largest integer weight of an add operand


def check_int8_nd(name, a, shape_doc, ndim=4):
    """TypeError unless ``a`` is an int8 numpy array; ValueError unless ``ndim``-D and
    non-empty (``shape_doc`` describes the shape in the message)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be an int8 numpy array {shape_doc}, got {type(a).__name__}")
    if a.dtype != np.int8:
        raise TypeError(f"{name} must be int8, got {a.dtype}")
    if a.ndim != ndim or 0 in a.shape:
        raise ValueError(f"{name} must have shape {shape_doc} with every size >= 1, "
                         f"got {a.shape}")


def pair(name, value, minimum):
    """``value`` (an int or two ints) as an (int, int) pair, each >= ``minimum``."""
    items = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(items) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                  for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


class PoolShape(NamedTuple):
    """Checked sizes of a pooling (pairs are (height, width))."""
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    ho: int
    wo: int


def pool_shape(x, kernel_size, stride=None, padding=0):
    """Check a pooling's arguments against ``x`` [N, C, H, W] and return its :class:`PoolShape`.

    ``stride`` defaults to the kernel; padding is at most half the kernel (as in PyTorch).
    """
    check_int8_nd("x", x, "[N, C, H, W] (NCHW)")
    k = pair("kernel_size", kernel_size, 1)
    s = k if stride is None else pair("stride", stride, 1)
    p = pair("padding", padding, 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding {p} must be at most half the kernel {k}")
    h, w = x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]
    if k[0] > h or k[1] > w:
        raise ValueError(f"kernel_size {k[0]}x{k[1]} does not fit the (padded) {h}x{w} input")
    return PoolShape(k, s, p, (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1)


def pool_windows(x, shape: PoolShape, pad_value=-128):
    """The pooling windows of ``x``: [N, C, Ho, Wo, kh * kw], row-major within a window."""
    (ph, pw), (kh, kw), (sy, sx) = shape.padding, shape.kernel, shape.stride
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    v = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    v = v[:, :, ::sy, ::sx][:, :, :shape.ho, :shape.wo]
    return v.reshape(*v.shape[:4], kh * kw)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling, int8 -> int8 [N, C, Ho, Wo]; padding is -128."""
    return pool_windows(x, pool_shape(x, kernel_size, stride, padding)).max(axis=-1)


def avg_pool2d(x, kernel_size, stride=None):
    """Average pooling, int8 -> int8: ``floor((2*sum + D) / (2*D))``, ``D = kh * kw``.

    The mean rounded half up (toward +inf); the seed's 2x2 example gives 46/4 = 11.5 -> 12.
    """
    shape = pool_shape(x, kernel_size, stride)
    d = shape.kernel[0] * shape.kernel[1]
    total = pool_windows(x, shape).astype(np.int64).sum(axis=-1)
    return ((2 * total + d) // (2 * d)).astype(np.int8)


def global_avg_pool2d(x):
    """:func:`avg_pool2d` over the whole map: int8 [N, C, 1, 1]."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an int8 numpy array [N, C, H, W], got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return avg_pool2d(x, x.shape[2:])


def add_weights(scale_a, scale_b, max_weight=ADD_WEIGHT_MAX):
    """The integer form of ``scale_a * a + scale_b * b``: integer weights and one multiplier.

    Chooses integer weights ``1 <= wa, wb <= ADD_RATIO_MAX`` and ``m = (scale_a + scale_b) /
    (wa + wb)`` minimising ``max(|wa*m - scale_a|, |wb*m - scale_b|)`` (the error per input
    step, in output steps; that ``m`` balances the two); ties go to the smallest ``wa``, then
    ``wb``. Within ratios 1/127 .. 127 both weights are at most 127 (one int8 weight each,
    searched exhaustively); beyond, the larger weight grows past 127 and the accelerator feeds
    that operand several times (:func:`weight_parts`). The weights are exact whenever
    ``scale_a / scale_b`` is a ratio of such integers (1:1, 3:4, 100:1, 200:1, 1:1000).
    ``max_weight`` (127..ADD_RATIO_MAX) widens the search for ratios of larger integers: a
    closer approximation of any ratio (about 1e-6 instead of 1e-4 at 1016), for up to eight
    times the array passes (the ONNX importer uses it to match ONNX Runtime's float adds).

    Raises
    ------
    ValueError
        A scale that is not a finite number > 0, or ``scale_a / scale_b`` outside
        ``1/ADD_RATIO_MAX .. ADD_RATIO_MAX``.

    Returns
    -------
    (int, int, float)
        ``(wa, wb, m)``; the accelerator multiplies by ``quantize_multiplier(m)``.
    """
    for name, v in (("scale_a", scale_a), ("scale_b", scale_b)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) \
                or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    sa, sb = float(scale_a), float(scale_b)
    ratio = sa / sb
    if not 1 / ADD_RATIO_MAX <= ratio <= ADD_RATIO_MAX:
        raise ValueError(f"scale_a / scale_b = {ratio:.6g} is outside 1/{ADD_RATIO_MAX} .. "
                         f"{ADD_RATIO_MAX}, the range of the integer weights of an add; "
                         "requantize one operand first")
    if not ADD_WEIGHT_MAX <= max_weight <= ADD_RATIO_MAX:
        raise ValueError(f"max_weight must be in {ADD_WEIGHT_MAX}..{ADD_RATIO_MAX}, got "
                         f"{max_weight!r}")
    if 1 / ADD_WEIGHT_MAX <= ratio <= ADD_WEIGHT_MAX:
        wa = np.arange(1, int(max_weight) + 1, dtype=np.float64)[:, None]
        wb = wa.T
    else:  # one weight past 127: the small one is at most ADD_RATIO_MAX / ratio
        big = max(ratio, 1 / ratio)
        small = np.arange(1, int(ADD_RATIO_MAX // big) + 1, dtype=np.float64)
        large = np.clip(np.rint(small * big), 1, ADD_RATIO_MAX)
        wa, wb = (large, small) if ratio > 1 else (small, large)
        wa, wb = wa[:, None], wb[:, None]
    m = (sa + sb) / (wa + wb)
    err = np.maximum(np.abs(wa * m - sa), np.abs(wb * m - sb))
    i = np.unravel_index(np.argmin(err), err.shape)
    return int(np.broadcast_to(wa, err.shape)[i]), int(np.broadcast_to(wb, err.shape)[i]), \
        float(m[i])


def weight_parts(weight):
    """An add weight as int8 weights that sum to it: ``[127] * q + [rest]`` (the operand is fed
    once per part)."""
    if not 1 <= weight <= ADD_RATIO_MAX:
        raise ValueError(f"an add weight must be in 1..{ADD_RATIO_MAX}, got {weight}")
    parts = [ADD_WEIGHT_MAX] * (weight // ADD_WEIGHT_MAX)
    return parts + ([weight % ADD_WEIGHT_MAX] if weight % ADD_WEIGHT_MAX else [])


def check_add_operands(a, b):
    """TypeError unless ``a`` and ``b`` are int8 arrays; ValueError unless same, non-empty shape."""
    for name, v in (("a", a), ("b", b)):
        if not isinstance(v, np.ndarray) or v.dtype != np.int8:
            got = v.dtype if isinstance(v, np.ndarray) else type(v).__name__
            raise TypeError(f"{name} must be an int8 numpy array, got {got}")
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"a and b must have the same non-empty shape, got {a.shape} and "
                         f"{b.shape}")


def add(a, b, scale_a, scale_b, zero_point=0, relu=False, zero_point_a=0, zero_point_b=0,
        max_weight=ADD_WEIGHT_MAX):
    """Residual add, int8: ``y ~ scale_a * (a - zero_point_a) + scale_b * (b - zero_point_b)
    + zero_point``, then ReLU (clamp at ``zero_point``).

    Exactly ``requantize(wa*(a - za) + wb*(b - zb), *quantize_multiplier(m), zero_point, relu)``
    with ``(wa, wb, m) = add_weights(scale_a, scale_b)``: one rounding, half up, of the real
    value with the *effective* scales ``wa * M / 2**s`` and ``wb * M / 2**s``, saturated. Those
    are within a relative 2**-30 of ``scale_a`` and ``scale_b`` when the ratio is one of
    integers (see :func:`add_weights`), so a real value within that of a half-integer may round
    either way (both scales 0.1: ``0.1 * 5`` is just below one half with the 31-bit multiplier,
    and rounds to 0), as in every requantization of the accelerator.
    """
    check_add_operands(a, b)
    for name, v in (("zero_point", zero_point), ("zero_point_a", zero_point_a),
                    ("zero_point_b", zero_point_b)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not -128 <= v <= 127:
            raise ValueError(f"{name} must be an int in -128..127, got {v!r}")
    wa, wb, m = add_weights(scale_a, scale_b, max_weight)
    acc = wa * (a.astype(np.int32) - zero_point_a) + wb * (b.astype(np.int32) - zero_point_b)
    mult, shift = quantize_multiplier(m)
    return requantize(acc, mult, shift, zero_point, relu)
