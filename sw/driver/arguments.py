"""Argument checks of the driver: clear exceptions that name the argument and what is allowed."""

from __future__ import annotations

import numbers

import numpy as np

from models import quantize_multiplier

__all__ = ["INT32_MAX", "check_accumulator_range", "check_array", "check_extras", "check_int",
           "check_linear", "multipliers"]

INT32_MAX = 2**31 - 1


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


def multipliers(scale, n):
    """Per-column (MULT, SHIFT) as a uint32 array [2, n] for ``scale`` (a real or [n] reals)."""
    if isinstance(scale, bool | np.bool_):
        raise TypeError(f"scale must be a float or an array of {n} floats, got bool")
    scalar = isinstance(scale, numbers.Real)
    if scalar:
        scale = np.full(n, float(scale))
    else:
        try:
            scale = np.asarray(scale, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"scale must be a float or an array of {n} floats, "
                            f"got {type(scale).__name__}") from None
        if scale.shape != (n,):
            raise ValueError(f"scale must be a float or an array of N={n} floats, "
                             f"got shape {scale.shape}")
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
    number). The rule, per output column n::

        |b[n]| + max|x - input_zero_point| * sum_k |w[n, k]|  <=  2**31 - 1

    bounds ``|sum_k (x[m, k] - input_zero_point) * w[n, k] + b[n]|`` for every row m, which is
    what the accumulator holds at the end (its partial sums may wrap on the way: two's
    complement makes the end value right whenever it fits). Without a bias or zero point and
    with extreme weights this allows K <= 131071; with ``input_zero_point = -128``, K <= 65793.
    """
    zp = int(input_zero_point)
    x_reach = max(abs(int(x.max()) - zp), abs(int(x.min()) - zp))
    w_sums = np.abs(w.astype(np.int64)).sum(axis=1)
    bound = x_reach * w_sums
    if b is not None:
        bound = bound + np.abs(b.astype(np.int64))
    worst = int(np.argmax(bound))
    if bound[worst] > INT32_MAX:
        bias = f", |b[{worst}]| = {abs(int(b[worst]))}" if b is not None else ""
        raise ValueError(
            f"the int32 accumulators could overflow: for output column {worst}, "
            f"|b| + max|x - input_zero_point| * sum|w| = {int(bound[worst])} > 2**31 - 1 "
            f"(K = {x.shape[1]}, input_zero_point = {zp}, max|x - input_zero_point| = "
            f"{x_reach}, sum|w[{worst}]| = {int(w_sums[worst])}{bias}); "
            "split K over several calls, or use smaller weights, bias or zero point")
