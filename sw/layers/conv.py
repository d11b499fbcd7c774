"""Convolutions on the accelerator (``acc.conv2d``, ``acc.depthwise_conv2d``), every one
through ``Accelerator.linear``.

Each is bit-exact with its golden twin in :mod:`models.conv`, sets ``acc.stats`` to the sum of
the :class:`~sw.driver.stats.Stats` of its ``linear`` calls and ``acc.mapping`` to the
:class:`~sw.layers.mapping.Mapping` it used.

Lowering (why: ``sw/layers/mapping.py`` and the README): patch lowering (im2col of blocks of
output pixels) in the driver, one ``linear`` per group; a fused ``max_pool`` orders each
window's rows consecutively for the hardware's max-pooling stage. When the layers run as
programs, a convolution with stride 1, dilation 1, one group and no pooling may instead run
**per tap** over images kept on chip (:mod:`sw.driver.taps`): whichever the cycle model
predicts faster.
"""

from __future__ import annotations

import math

import numpy as np

from models.conv import conv_shape, max_pool_args

from ..driver.arguments import (
    check_accumulator_range,
    check_int,
    fold_input_zero_point,
    multipliers,
)
from ..driver.taps import tap_options
from .mapping import Mapping, choose_block, packings, program_estimate, rank_blocks, run_calls

__all__ = ["conv2d", "depthwise_conv2d"]


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
    check_int("input_zero_point", input_zero_point, -128, 127)
    check_int("zero_point", zero_point, -128, 127)  # (before the plan choice compiles it)
    scales = None
    if scale is not None:
        multipliers(scale, s.cout)  # checks scale, naming it
        scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (s.cout,))
    int8, bias = scale is not None, b is not None or input_zero_point != 0
    zp = int(zero_point) if int8 else 0  # (the programs compiled for predictions are kept)
    low = _block(acc, s, pool, int8, bias, relu, lut, zp)
    taps = _per_tap(acc, s, low, pool, int8, bias, relu, lut, zp)
    if taps is not None:
        return _run_taps(acc, taps, s, x, w, b, scales, zero_point, lut, input_zero_point)
    cg, og = s.cin // s.groups, s.cout // s.groups
    calls = []
    for g in range(0, s.groups, low.pack):
        kwargs = dict(input_zero_point=input_zero_point)
        if scales is not None:
            kwargs.update(scale=low.column_values(scales, g), zero_point=zero_point, relu=relu,
                          lut=lut, pool=low.offsets ** 2)
        bias = None if b is None else low.column_values(b, g)
        calls.append((low.rows(x[:, g * cg:(g + low.pack) * cg], input_zero_point),
                      low.weights(w[g * og:(g + low.pack) * og]), bias, kwargs))
    depthwise = s.groups == s.cin and cg == 1
    (ph, pw), kh, kw = low.patch, *s.kernel
    m, k, n = low.gemm
    packed = f" ({low.pack} groups a call, block-diagonal)" if low.pack > 1 else ""
    mapping = Mapping(
        op="depthwise_conv2d" if depthwise else "conv2d", name="patch",
        detail=(f"{low.calls} x linear [{m}, {k}] x [{n}, {k}]{packed}: blocks of "
                f"{low.block[0]}x{low.block[1]} {'pooled ' if pool else ''}outputs from "
                f"{ph}x{pw} patches"
                + (f", max-pool {pool[0]}x{pool[0]}/{pool[1]} in hardware" if pool else "")),
        macs=s.n * s.cout * s.ho * s.wo * cg * kh * kw, calls=low.calls, block=low.block,
        pack=low.pack)
    parts = [low.scatter(y) for y in run_calls(acc, calls, mapping)]
    return np.concatenate(parts, axis=1)


#: blocks the cycle model compares when the layer runs as programs (the best by
#: :func:`~sw.layers.mapping.program_estimate`, a group a call), and besides them the best of
#: each packing
BLOCK_CANDIDATES = 3


def _block(acc, s, pool, int8, bias, relu, lut, zero_point=0):
    """The patch lowering's block: on the register path by the bus-word estimate, one group a
    call; as programs, of the :data:`BLOCK_CANDIDATES` best by
    :func:`~sw.layers.mapping.program_estimate` of a group a call and the best of each packing
    (:func:`~sw.layers.mapping.packings`), the fastest on the cycle model for all its calls
    as one program (``acc.predict_linear(..., calls=)``; the estimate does not see the PARAM
    loads that packing saves)."""
    if not acc.programs_possible():
        return choose_block(s, pool, acc.plan_geometry, acc.latency, int8=int8, bias=bias)
    ranked = rank_blocks(s, pool, acc.plan_geometry, acc.latency, int8=int8, bias=bias,
                         cost=program_estimate, packs=packings(s, acc.plan_geometry))
    cands = [low for low in ranked if low.pack == 1][:BLOCK_CANDIDATES]
    for pack in sorted({low.pack for low in ranked} - {1}):
        cands.append(next(low for low in ranked if low.pack == pack))
    if len(cands) == 1:
        return cands[0]
    best = (math.inf, cands[0])
    for low in cands:  # the first fastest (a candidate slower than the best so far is skipped)
        cycles = acc.predict_linear(*low.gemm, int8=int8, bias=bias, relu=bool(relu),
                                    lut=lut is not None, pool=low.offsets ** 2, limit=best[0],
                                    zero_point=zero_point, calls=low.calls)
        best = (cycles, low) if cycles < best[0] else best
    return best[1]


def _per_tap(acc, s, low, pool, int8, bias, relu, lut, zero_point=0):
    """The per-tap plan to run instead of ``low`` (the patch lowering), or None: only as a
    program, stride 1, dilation 1, one group, no pooling, and only when the cycle model predicts
    it faster than the patch lowering's ``linear`` program."""
    if (not acc.programs_possible() or s.groups != 1 or s.stride != (1, 1)
            or s.dilation != (1, 1) or pool is not None):
        return None
    (kh, kw) = s.kernel
    plans = tap_options(s.n, s.cin, s.h, s.w, s.cout, kh, kw, s.padding, acc.plan_geometry,
                        int8=int8, bias=bias, relu=bool(relu), lut=lut is not None)
    if not plans:
        return None
    acc.prefetch_taps(plans, lut=lut is not None, zero_point=zero_point)  # (side by side)
    best = (math.inf, None)
    for p in plans:  # the first fastest (a plan slower than the best so far is skipped)
        cycles = acc.predict_taps(p, lut=lut is not None, limit=best[0], zero_point=zero_point)
        best = (cycles, p) if cycles < best[0] else best
    if best[1] is None:
        return None
    m, k, n = low.gemm
    patch = acc.predict_linear(m, k, n, int8=int8, bias=bias, relu=bool(relu),
                               lut=lut is not None, pool=low.offsets ** 2, limit=best[0],
                               zero_point=zero_point)
    return best[1] if best[0] < patch else None


def _run_taps(acc, plan, s, x, w, b, scales, zero_point, lut, input_zero_point):
    """``conv2d`` by :meth:`~sw.driver.driver.Driver.run_taps`: the same checks and bias
    folding as ``linear`` (the padding holds the input zero point)."""
    k = s.cin * s.kernel[0] * s.kernel[1]
    probe = np.empty((2, k), np.int8)
    probe[0], probe[1] = x.min(), x.max()  # the accumulators' range depends on these alone
    w2 = w.reshape(s.cout, k)
    check_accumulator_range(probe, w2, b, input_zero_point)
    b = fold_input_zero_point(w2, b, input_zero_point)
    params = None if scales is None else multipliers(scales, s.cout)
    y = acc.run_taps(plan, x, w, b, params, int(zero_point), lut, pad_value=input_zero_point)
    (kh, kw), (hp, wp) = s.kernel, plan.padded
    acc.mapping = Mapping(
        op="conv2d", name="taps",
        detail=(f"per-tap program: {kh * kw} taps x {plan.planes} planes x {plan.n_tiles} N "
                f"tiles per band of {plan.rows} output rows over {hp}x{wp} padded planes kept "
                f"on chip{' (resident)' if plan.resident else ''}"),
        macs=s.n * s.cout * s.ho * s.wo * s.cin * kh * kw)
    return y


def depthwise_conv2d(acc, x, w, b=None, *, stride=1, padding=0, dilation=1, **kwargs):
    """:func:`conv2d` with ``groups = C`` (``w`` [C * multiplier, 1, kh, kw])."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an int8 numpy array [N, C, H, W], got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return conv2d(acc, x, w, b, stride=stride, padding=padding, dilation=dilation,
                  groups=x.shape[1], **kwargs)
