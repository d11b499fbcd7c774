"""Pooling and residual adds on the accelerator (``acc.max_pool2d``, ``acc.avg_pool2d``,
``acc.global_avg_pool2d``, ``acc.add``), every one through ``Accelerator.linear``.

Each is bit-exact with its golden twin in :mod:`models.conv`, and sets ``acc.stats`` and
``acc.mapping`` like :mod:`sw.layers.conv`. Lowerings:

* ``max_pool2d``: identity weights; each vector carries ``G = min(R, C)`` windows at one window
  offset, and the max-pooling stage takes the max over the ``k*k`` offsets.
* ``avg_pool2d``: window sums in the array, by whichever of two layouts is cheaper
  (``identity-accumulate``: K tile t holds offset t of G windows, accumulated in hardware;
  ``window-sum``: a vector holds whole windows, block-of-ones weights), then the
  requantizer divides exactly (see :func:`avg_pool2d`).
* ``add``: rows ``[a | b]`` of G elements each, weights ``[wa*I | wb*I]``, requantized by m
  (:func:`models.conv.add_weights`).
"""

from __future__ import annotations

import numpy as np

from models.pool import add_weights, check_add_operands, pool_shape, pool_windows, weight_parts

from ..driver.arguments import check_int
from .mapping import Mapping, estimate, run_calls

__all__ = ["add", "avg_pool2d", "global_avg_pool2d", "max_pool2d"]


def _slots(acc):
    return min(acc.geometry.rows, acc.geometry.cols)


def _pack(values, width, fill):
    """[L, ...] -> [ceil(L / width), width, ...], padded with ``fill``."""
    rows = -(-values.shape[0] // width)
    out = np.full((rows * width, *values.shape[1:]), fill, dtype=values.dtype)
    out[:values.shape[0]] = values
    return out.reshape(rows, width, *values.shape[1:])


def max_pool2d(acc, x, kernel_size, stride=None, padding=0):
    """Max pooling on the accelerator (int8 -> int8), exact with :func:`models.conv.max_pool2d`.

    Identity weights: row ``(j, t)`` carries offset ``t`` of windows ``j*G .. j*G+G-1``
    (``G = min(R, C)``, all channels and pixels flattened), and the hardware's max-pooling stage
    (``pool = kh*kw``, at most 255) takes the max over the offsets.
    """
    shape = pool_shape(x, kernel_size, stride, padding)
    kk = shape.kernel[0] * shape.kernel[1]
    g = acc.geometry
    if kk > min(255, g.acc_depth, g.in_depth):
        raise ValueError(f"kernel_size {shape.kernel}: a window of {kk} rows does not fit the "
                         f"max-pooling stage (at most {min(255, g.acc_depth, g.in_depth)})")
    win = pool_windows(x, shape)
    slots = _slots(acc)
    groups = _pack(win.reshape(-1, kk), slots, -128)         # [rows, G, kk]
    rows = groups.transpose(0, 2, 1).reshape(-1, slots)      # [(row, offset), G]
    mapping = Mapping("max_pool2d", "identity-max",
                      f"linear [{rows.shape[0]}, {slots}] x I{slots}, pool={kk}",
                      macs=win.size)
    (y,) = run_calls(acc, [(rows, np.eye(slots, dtype=np.int8), None,
                       dict(scale=1.0, pool=kk))], mapping)
    return y.reshape(-1)[:win.size // kk].reshape(win.shape[:4])


def _divide(d):
    """(scale, shift) with ``floor((acc' * M + 2**(s-1)) / 2**s) == floor(acc'/d + 1/2)`` for
    every ``0 <= acc' <= 255*d``: ``M = ceil(2**s / d)`` in 2**30 .. 2**31-1, as an exact float.

    M / 2**s exceeds 1/d by less than 2**-s, and acc'/d + 1/2 is a multiple of 1/(2d), so the
    excess ``acc' * (M/2**s - 1/d) < 255*d / 2**s <= 1/(2d)`` (for d < 2**21) never reaches
    the next integer."""
    s = 30 + (d - 1).bit_length()
    mult = -(-(1 << s) // d)
    assert 1 << 30 <= mult < 1 << 31 and 510 * d * d <= 1 << s
    return mult / 2.0 ** s


def avg_pool2d(acc, x, kernel_size, stride=None):
    """Average pooling on the accelerator, exact with :func:`models.conv.avg_pool2d`.

    The array sums each window; the bias adds ``128 * D`` (``D = kh*kw``) so the sum is
    non-negative; the requantizer multiplies by ``M / 2**s = ceil(2**s / D) / 2**s`` with its
    round-half-up shift, which gives ``floor(sum/D + 1/2) + 128`` exactly for every window
    (``_divide``); the output zero point -128 removes the offset.
    """
    shape = pool_shape(x, kernel_size, stride)
    d = shape.kernel[0] * shape.kernel[1]
    if d >= 1 << 21:
        raise ValueError(f"kernel_size {shape.kernel}: at most 2**21 - 1 elements per window")
    win = pool_windows(x, shape).reshape(-1, d)
    g, latency = acc.geometry, acc.latency
    wide = _slots(acc)
    narrow = max(1, min(g.cols, g.rows // d))
    options = {  # name: (slots, rows of x, weights)
        "identity-accumulate": (wide, lambda v: v.transpose(0, 2, 1),
                                np.tile(np.eye(wide, dtype=np.int8), d)),
        "window-sum": (narrow, lambda v: v,
                       np.kron(np.eye(narrow, dtype=np.int8), np.ones((1, d), np.int8))),
    }
    cost = {name: estimate(g, latency, -(-win.shape[0] // sl), sl * d, sl, int8=True,
                           bias=True) for name, (sl, _, _) in options.items()}
    name = min(cost, key=cost.get)
    slots, arrange, weights = options[name]
    rows = arrange(_pack(win, slots, 0)).reshape(-1, slots * d)
    mapping = Mapping("avg_pool2d", name, f"linear [{rows.shape[0]}, {slots * d}] x "
                      f"[{slots}, {slots * d}], bias 128*{d}, scale ceil(2**s/{d})/2**s",
                      macs=win.size)
    bias = np.full(slots, 128 * d, dtype=np.int32)
    (y,) = run_calls(acc, [(rows, weights, bias, dict(scale=_divide(d), zero_point=-128))],
                mapping)
    return y.reshape(-1)[:win.shape[0]].reshape(x.shape[0], x.shape[1], shape.ho, shape.wo)


def global_avg_pool2d(acc, x):
    """:func:`avg_pool2d` over the whole map: int8 [N, C, 1, 1]."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an int8 numpy array [N, C, H, W], got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return avg_pool2d(acc, x, x.shape[2:])


def add(acc, a, b, *, scale_a, scale_b, zero_point=0, relu=False, zero_point_a=0,
        zero_point_b=0, max_weight=127):
    """Residual add on the accelerator, exact with :func:`models.conv.add`.

    Rows ``[a_j | b_j]`` of ``G = min(R, C)`` elements each, weights ``[wa*I | wb*I]`` (K tiles
    accumulated in hardware), bias ``-(wa*zero_point_a + wb*zero_point_b)``, requantized with
    ``m`` of :func:`models.conv.add_weights`; then ReLU. A weight past 127 (scale ratios beyond
    1:127) is split into int8 parts and its operand fed once per part
    (:func:`models.pool.weight_parts`). Scale ratios beyond 1:1016 raise ValueError.
    ``max_weight``: see :func:`models.pool.add_weights` (closer ratios, more array passes).
    """
    check_add_operands(a, b)
    for name, v in (("zero_point_a", zero_point_a), ("zero_point_b", zero_point_b)):
        check_int(name, v, -128, 127)
    wa, wb, m = add_weights(scale_a, scale_b, max_weight)
    slots = _slots(acc)
    pa, pb = _pack(a.reshape(-1), slots, 0), _pack(b.reshape(-1), slots, 0)
    parts = [(pa, w) for w in weight_parts(wa)] + [(pb, w) for w in weight_parts(wb)]
    rows = np.concatenate([p for p, _ in parts], axis=1)
    eye = np.eye(slots, dtype=np.int64)
    weights = np.concatenate([w * eye for _, w in parts], axis=1).astype(np.int8)
    offset = -(wa * int(zero_point_a) + wb * int(zero_point_b))
    bias = np.full(slots, offset, dtype=np.int32) if offset else None
    mapping = Mapping("add", "concat", f"linear [{rows.shape[0]}, {len(parts) * slots}] x "
                      f"[{wa}*I | {wb}*I] in {len(parts)} int8 parts, scale {m:.6g}",
                      macs=2 * a.size)
    (y,) = run_calls(acc, [(rows, weights, bias, dict(scale=m, zero_point=zero_point,
                                                      relu=relu))], mapping)
    return y.reshape(-1)[:a.size].reshape(a.shape)
