"""The convolution family on the accelerator, every operation through ``Accelerator.linear``.

Written as functions of an :class:`~sw.accelerator.Accelerator` and bound as its methods
(``acc.conv2d(x, w, b, padding=1, scale=s, relu=True, max_pool=2)``). Each one is bit-exact with
its golden twin in :mod:`models.conv`, sets ``acc.stats`` to the sum of the
:class:`~sw.stats.Stats` of its ``linear`` calls and ``acc.mapping`` to the
:class:`~sw.conv_mapping.Mapping` it used.

Lowerings (why: ``sw/conv_mapping.py`` and the README):

* ``conv2d`` / ``depthwise_conv2d``: patch lowering (im2col of blocks of output pixels) in the
  driver, one ``linear`` per group; a fused ``max_pool`` orders each window's rows consecutively
  for the hardware's max-pooling stage.
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

import numbers

import numpy as np

from models.conv import conv_shape, max_pool_args
from models.pool import add_weights, check_add_operands, pool_shape, pool_windows

from .arguments import multipliers
from .conv_mapping import Mapping, choose_block, estimate, sum_stats

__all__ = ["add", "avg_pool2d", "conv2d", "depthwise_conv2d", "global_avg_pool2d",
           "max_pool2d"]


def _check_zero_point(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not -128 <= value <= 127:
        raise ValueError(f"{name} must be in -128..127, got {value}")


def _run(acc, calls, mapping):
    """Run ``(x, w, b, kwargs)`` linear calls; sum their stats into ``acc.stats``."""
    results, stats = [], []
    for x, w, b, kwargs in calls:
        results.append(acc.linear(x, w, b, **kwargs))
        stats.append(acc.stats)
    acc.stats, acc.mapping = sum_stats(stats), mapping
    return results


def conv2d(acc, x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, scale=None,
           zero_point=0, relu=False, input_zero_point=0, max_pool=None, lut=None):
    """A 2-D convolution on the accelerator, bit-exact with :func:`models.conv.conv2d`.

    Parameters
    ----------
    x : ndarray of int8, shape [N, C, H, W]
    w : ndarray of int8, shape [Cout, C/groups, kh, kw]
    b : ndarray of int32, shape [Cout], optional
    stride, padding, dilation : int or (int, int)
    groups : int
        Divides C and Cout (``groups == C``: depthwise).
    scale : float or ndarray of float [Cout], optional
        None: int32 output; else requantized to int8 per output channel on the accelerator.
    zero_point, relu, lut, input_zero_point
        As ``Accelerator.linear``; padding holds ``input_zero_point``.
    max_pool : int or (int, int), optional
        Max-pooling (kernel, stride) after requantization and ReLU, in hardware (needs scale).

    Returns
    -------
    ndarray of int32 [N, Cout, Ho, Wo] or int8 [N, Cout, Ho', Wo'].

    Raises
    ------
    TypeError, ValueError
        Naming the argument (layout, dtype, groups, kernel larger than the padded input, a
        pool that does not fit, ...).
    """
    s = conv_shape(x, w, b, stride, padding, dilation, groups)
    pool = max_pool_args(max_pool, s.ho, s.wo)
    if scale is None and (relu or zero_point or lut is not None or pool is not None):
        raise ValueError("relu, zero_point, lut and max_pool need scale (int8 output)")
    _check_zero_point("input_zero_point", input_zero_point)
    scales = None
    if scale is not None:
        multipliers(scale, s.cout)  # checks scale, naming it
        scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (s.cout,))
    low = choose_block(s, pool, acc.geometry, acc.latency, int8=scale is not None,
                       bias=b is not None or input_zero_point != 0)
    cg, og = s.cin // s.groups, s.cout // s.groups
    units = low.block[0] * low.block[1]
    calls = []
    for g in range(s.groups):
        kwargs = dict(input_zero_point=input_zero_point)
        if scales is not None:
            kwargs.update(scale=np.tile(scales[g * og:(g + 1) * og], units),
                          zero_point=zero_point, relu=relu, lut=lut, pool=low.offsets ** 2)
        bias = None if b is None else np.tile(b[g * og:(g + 1) * og], units)
        calls.append((low.rows(x[:, g * cg:(g + 1) * cg], input_zero_point),
                      low.weights(w[g * og:(g + 1) * og]), bias, kwargs))
    depthwise = s.groups == s.cin and cg == 1
    (ph, pw), kh, kw = low.patch, *s.kernel
    m, k, n = low.gemm
    mapping = Mapping(
        op="depthwise_conv2d" if depthwise else "conv2d", name="patch",
        detail=(f"{s.groups} x linear [{m}, {k}] x [{n}, {k}]: blocks of {low.block[0]}x"
                f"{low.block[1]} {'pooled ' if pool else ''}outputs from {ph}x{pw} patches"
                + (f", max-pool {pool[0]}x{pool[0]}/{pool[1]} in hardware" if pool else "")),
        macs=s.n * s.cout * s.ho * s.wo * cg * kh * kw, calls=s.groups, block=low.block)
    parts = [low.scatter(y) for y in _run(acc, calls, mapping)]
    return np.concatenate(parts, axis=1)


def depthwise_conv2d(acc, x, w, b=None, *, stride=1, padding=0, dilation=1, **kwargs):
    """:func:`conv2d` with ``groups = C`` (``w`` [C * multiplier, 1, kh, kw])."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an int8 numpy array [N, C, H, W], got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return conv2d(acc, x, w, b, stride=stride, padding=padding, dilation=dilation,
                  groups=x.shape[1], **kwargs)


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
    (y,) = _run(acc, [(rows, np.eye(slots, dtype=np.int8), None,
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
    (y,) = _run(acc, [(rows, weights, bias, dict(scale=_divide(d), zero_point=-128))],
                mapping)
    return y.reshape(-1)[:win.shape[0]].reshape(x.shape[0], x.shape[1], shape.ho, shape.wo)


def global_avg_pool2d(acc, x):
    """:func:`avg_pool2d` over the whole map: int8 [N, C, 1, 1]."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an int8 numpy array [N, C, H, W], got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return avg_pool2d(acc, x, x.shape[2:])


def add(acc, a, b, *, scale_a, scale_b, zero_point=0, relu=False, zero_point_a=0,
        zero_point_b=0):
    """Residual add on the accelerator, exact with :func:`models.conv.add`.

    Rows ``[a_j | b_j]`` of ``G = min(R, C)`` elements each, weights ``[wa*I | wb*I]`` (two K
    tiles accumulated in hardware), bias ``-(wa*zero_point_a + wb*zero_point_b)``, requantized
    with ``m`` of :func:`models.conv.add_weights`; then ReLU.
    """
    check_add_operands(a, b)
    for name, v in (("zero_point_a", zero_point_a), ("zero_point_b", zero_point_b)):
        _check_zero_point(name, v)
    wa, wb, m = add_weights(scale_a, scale_b)
    slots = _slots(acc)
    rows = np.concatenate([_pack(a.reshape(-1), slots, 0), _pack(b.reshape(-1), slots, 0)],
                          axis=1)
    eye = np.eye(slots, dtype=np.int8)
    weights = np.concatenate([wa * eye, wb * eye], axis=1).astype(np.int8)
    offset = -(wa * int(zero_point_a) + wb * int(zero_point_b))
    bias = np.full(slots, offset, dtype=np.int32) if offset else None
    mapping = Mapping("add", "concat", f"linear [{rows.shape[0]}, {2 * slots}] x "
                      f"[{wa}*I | {wb}*I], scale {m:.6g}", macs=2 * a.size)
    (y,) = _run(acc, [(rows, weights, bias, dict(scale=m, zero_point=zero_point, relu=relu))],
                mapping)
    return y.reshape(-1)[:a.size].reshape(a.shape)
