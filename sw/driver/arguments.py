"""Argument checks of the driver: clear exceptions that name the argument and what is allowed."""

from __future__ import annotations

import decimal
import numbers

import numpy as np

from hw.spec import register
from models import quantize_multiplier, wrap_int32

__all__ = ["INT32_MAX", "MAX_MACS", "check_accumulator_range", "check_array", "check_extras",
           "check_int",
           "check_linear", "multipliers"]

INT32_MAX = 2**31 - 1
#: the most multiply-accumulates one call may do: what PERF_MACS counts without wrapping, so
#: ``acc.stats`` is exact (a larger layer is split into several calls)
MAX_MACS = (1 << register("PERF_MACS").field("VALUE").width) - 1


def check_array(name, a, dtype, ndim, shape_doc):
    """TypeError unless ``a`` is a numpy array of ``dtype``; ValueError unless ``ndim``-D and
    non-empty (``shape_doc`` describes the expected shape in the message)."""
    dtype = np.dtype(dtype).name
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy {dtype} array {shape_doc}, "
                        f"got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must be {dtype}, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_doc}, got {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name} must have shape {shape_doc} with every size >= 1, got {a.shape}")


def _is_real(value):
    """A real number: int, float, NumPy number, Fraction or Decimal (not bool or complex)."""
    return (isinstance(value, numbers.Real | decimal.Decimal)
            and not isinstance(value, bool | np.bool_))


def multipliers(scale, n):
    """Per-column (MULT, SHIFT) as a uint32 array [2, n] for ``scale``: one real number (an int,
    float, NumPy scalar or 0-d array, Fraction or Decimal) or ``n`` of them (a sequence or
    array). TypeError for anything else (bool, str, complex, ...), ValueError for a wrong
    length or a scale :func:`models.quantize_multiplier` cannot represent."""
    what = f"scale must be a real number or an array of N={n} real numbers"
    if isinstance(scale, str | bytes):
        raise TypeError(f"{what}, got {type(scale).__name__} {scale!r}")
    values = np.asarray(scale)
    if values.dtype.kind == "O":
        if not all(_is_real(v) for v in values.ravel()):
            bad = next(v for v in values.ravel() if not _is_real(v))
            raise TypeError(f"{what}, got {type(bad).__name__} {bad!r}")
    elif values.dtype.kind not in "iuf":
        raise TypeError(f"{what}, got {type(scale).__name__}"
                        + (f" of {values.dtype}" if values.ndim else ""))
    scalar = values.ndim == 0
    if scalar:
        scale = np.full(n, float(values.item()))
    elif values.shape != (n,):
        raise ValueError(f"{what}, got shape {values.shape}")
    else:
        scale = values.astype(np.float64)
    pairs = []
    for i, s in enumerate(scale):
        try:
            pairs.append(quantize_multiplier(s))
        except ValueError as e:
            where = "scale" if scalar else f"scale[{i}]"
            raise ValueError(f"{where}: {e}") from None
    return np.array(pairs, dtype=np.uint32).T


def check_int(name, value, lo, hi):
    """TypeError unless ``value`` is an int (not a bool); ValueError unless lo <= value <= hi."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {value}")


def check_extras(m, scale, input_zero_point, lut, pool):
    """Check ``input_zero_point``, ``lut`` and ``pool`` of ``Accelerator.linear``."""
    check_int("input_zero_point", input_zero_point, -128, 127)
    check_int("pool", pool, 1, 255)
    if lut is not None:
        check_array("lut", lut, np.int8, 1, "[256]")
        if lut.shape != (256,):
            raise ValueError(f"lut must have shape [256], got {lut.shape}")
    if scale is None and (lut is not None or pool != 1):
        raise ValueError("lut and pool need scale (int8 output); scale is None")
    if m % pool:
        raise ValueError(f"pool={pool} must divide the number of rows M={m}")


def check_linear(x, w, b, scale, zero_point, relu):
    """Check the arguments of ``Accelerator.linear``.

    Returns
    -------
    (m, k, n, params)
        The layer shape and the uint32 [2, N] (MULT, SHIFT) array, or None without ``scale``.
    """
    check_array("x", x, np.int8, 2, "[M, K]")
    check_array("w", w, np.int8, 2, "[N, K]")
    (m, k), n = x.shape, w.shape[0]
    if w.shape[1] != k:
        raise ValueError(f"w must have shape [N, K] with K = {k} (from x), got {w.shape}")
    if m * k * n > MAX_MACS:
        raise ValueError(f"the layer M x K x N = {m} x {k} x {n} has {m * k * n} MACs, more than "
                         f"one call can count ({MAX_MACS}, the 32-bit PERF_MACS); split it into "
                         "several calls")
    if b is not None:
        check_array("b", b, np.int32, 1, f"[N] = ({n},)")
        if b.shape != (n,):
            raise ValueError(f"b must have shape [N] = ({n},), got {b.shape}")
    if not isinstance(relu, bool | np.bool_):
        raise TypeError(f"relu must be a bool, got {type(relu).__name__}")
    if not isinstance(zero_point, numbers.Integral) or isinstance(zero_point, bool):
        raise TypeError(f"zero_point must be an int, got {type(zero_point).__name__}")
    if not -128 <= zero_point <= 127:
        raise ValueError(f"zero_point must be in -128..127, got {zero_point}")
    if scale is None and (relu or zero_point):
        raise ValueError("relu and zero_point need scale (int8 output); scale is None")
    return m, k, n, None if scale is None else multipliers(scale, n)


def check_accumulator_range(x, w, b, input_zero_point):
    """ValueError if an int32 accumulator of ``linear`` could overflow (it would wrap: a wrong
    number). With ``lo = min(x) - input_zero_point`` and ``hi = max(x) - input_zero_point``,
    every result of output column n lies in::

        b[n] + sum_k min(lo * w[n, k], hi * w[n, k])
            .. b[n] + sum_k max(lo * w[n, k], hi * w[n, k])

    and that interval must lie in int32 (-2**31 .. 2**31 - 1). That is what the accumulator holds
    at the end; its partial sums may wrap on the way, as two's complement makes the end value
    right whenever it fits. With extreme data this allows K <= 131071 without a bias or zero
    point (products up to 128 * 128), and K <= 65793 with ``input_zero_point = -128``.
    """
    zp = int(input_zero_point)
    lo, hi = int(x.min()) - zp, int(x.max()) - zp
    w64 = w.astype(np.int64)
    low = np.minimum(lo * w64, hi * w64).sum(axis=1)
    high = np.maximum(lo * w64, hi * w64).sum(axis=1)
    if b is not None:
        low, high = low + b, high + b
    bad = np.flatnonzero((high > INT32_MAX) | (low < -INT32_MAX - 1))
    if bad.size:
        n = int(bad[0])
        bias = f", b[{n}] = {int(b[n])}" if b is not None else ""
        raise ValueError(
            f"the int32 accumulators could overflow: output column {n} can reach "
            f"{int(low[n])} .. {int(high[n])}, outside -2**31 .. 2**31 - 1 (K = {x.shape[1]}, "
            f"x - input_zero_point in {lo} .. {hi} with input_zero_point = {zp}{bias}); "
            "split K over several calls, or use smaller weights, bias or zero point")


def fold_input_zero_point(w, b, input_zero_point):
    """The bias with the input zero point folded in: ``sum_k (x - zp) w = sum_k x w - zp *
    sum_k w``, so ``b - zp * w.sum(axis=1)`` (``w`` [N, K]; ``b`` int32 [N] or None), int32;
    ``b`` itself when the zero point is 0. (check_accumulator_range judges the range first.)"""
    if not input_zero_point:
        return b
    folded = -int(input_zero_point) * w.astype(np.int64).sum(axis=1)
    if b is not None:
        folded += b
    return wrap_int32(folded).astype(np.int32)
