"""Golden model of the convolution family: conv2d, depthwise, pooling, residual add, BatchNorm.

Plain NumPy with explicit dtypes, bit-exact with what ``sw/conv.py`` runs on the accelerator.
Layouts are PyTorch/ONNX: ``x`` int8 [N, C, H, W], ``w`` int8 [Cout, Cin/groups, kh, kw],
``b`` int32 [Cout]. Output sizes follow :func:`conv_output_size`.

Integer rules (the accelerator reproduces each one exactly):

* **conv2d**: ``acc = sum (x - input_zero_point) * w + b`` in int32 (two's complement wrap),
  padding holds ``input_zero_point`` (so it adds 0); with ``scale`` per output channel as
  :func:`models.linear`: requantize (Q31, round half up), ``lut``, ReLU (clamp at the zero
  point), then ``max_pool`` on the int8 map.
* **max_pool2d**: max over each window; padding is -128 (never wins over a real value).
* **avg_pool2d**: with ``D = kh * kw`` and ``s`` the window sum,
  ``y = floor((2*s + D) / (2*D))``, the mean rounded half up (toward +inf): 11.5 -> 12,
  -11.5 -> -11, 8.25 -> 8. The result always fits int8.
* **add**: ``y = requantize(wa*(a - za) + wb*(b - zb), m)`` with the int8 weights and real
  multiplier of :func:`add_weights`, then ReLU.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .golden import apply_lut, quantize_multipliers, requantize, wrap_int32
from .pool import (
    add,
    add_weights,
    avg_pool2d,
    check_int8_nd,
    global_avg_pool2d,
    max_pool2d,
    pair,
    pool_windows,
)

__all__ = [
    "ConvShape", "QuantizedConv", "add", "add_weights", "avg_pool2d", "conv2d", "conv_output_size",
    "conv_param_count", "conv_shape", "depthwise_conv2d", "depthwise_separable_param_count",
    "fold_batchnorm", "global_avg_pool2d", "max_pool2d", "max_pool_args", "pair", "pool_windows",
    "quantize_conv_bn",
]


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """``floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1``.

    The seed's ``E = (H - R + U) / U`` (kernel R, stride U) with padding and dilation added.
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class ConvShape(NamedTuple):
    """Checked sizes of a convolution (pairs are (height, width))."""
    n: int
    cin: int
    h: int
    w: int
    cout: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    ho: int
    wo: int


def conv_shape(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Check the arguments of a convolution and return its :class:`ConvShape`.

    Raises
    ------
    TypeError, ValueError
        Naming the argument: wrong type, dtype, layout or size; ``groups`` not dividing the
        channels; a kernel larger than the padded input.
    """
    check_int8_nd("x", x, "[N, C, H, W] (NCHW)")
    check_int8_nd("w", w, "[Cout, Cin/groups, kh, kw]")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be an int >= 1, got {groups!r}")
    groups = int(groups)
    n, cin, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    if cin % groups:
        raise ValueError(f"groups={groups} must divide the input channels C={cin}")
    if cout % groups:
        raise ValueError(f"groups={groups} must divide the output channels Cout={cout}")
    if cg * groups != cin:
        hint = " (x looks NHWC; pass NCHW)" if x.shape[3] == cg * groups else ""
        raise ValueError(f"w must have shape [Cout, Cin/groups={cin // groups}, kh, kw] for x "
                         f"with C={cin} channels and groups={groups}, got {w.shape}{hint}")
    if b is not None:
        if not isinstance(b, np.ndarray) or b.dtype != np.int32:
            got = b.dtype if isinstance(b, np.ndarray) else type(b).__name__
            raise TypeError(f"b must be an int32 numpy array [Cout={cout}], got {got}")
        if b.shape != (cout,):
            raise ValueError(f"b must have shape [Cout] = ({cout},), got {b.shape}")
    stride, padding = pair("stride", stride, 1), pair("padding", padding, 0)
    dilation = pair("dilation", dilation, 1)
    ext = [d * (k - 1) + 1 for k, d in zip((kh, kw), dilation, strict=True)]
    padded = [s + 2 * p for s, p in zip((h, wd), padding, strict=True)]
    if ext[0] > padded[0] or ext[1] > padded[1]:
        raise ValueError(f"w: kernel {kh}x{kw} (dilation {dilation[0]}x{dilation[1]}: "
                         f"{ext[0]}x{ext[1]}) is larger than the padded input "
                         f"{padded[0]}x{padded[1]}")
    ho = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(wd, kw, stride[1], padding[1], dilation[1])
    return ConvShape(n, cin, h, wd, cout, (kh, kw), stride, padding, dilation, groups, ho, wo)


def max_pool_args(max_pool, ho, wo):
    """``max_pool`` of :func:`conv2d` (None, k or (k, s)) as None or (k, s), checked to fit the
    ho x wo map and the hardware's pooling group (k*k <= 255)."""
    if max_pool is None:
        return None
    if isinstance(max_pool, numbers.Integral) and not isinstance(max_pool, bool):
        k, s = int(max_pool), int(max_pool)
    elif isinstance(max_pool, tuple | list) and len(max_pool) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in max_pool):
        k, s = map(int, max_pool)
    else:
        raise TypeError(f"max_pool must be None, a kernel size k or a pair (k, stride), "
                        f"got {max_pool!r}")
    if not 1 <= k * k <= 255 or s < 1:
        raise ValueError(f"max_pool needs 1 <= k <= 15 (k*k rows per pooling group) and "
                         f"stride >= 1, got kernel {k}, stride {s}")
    if k > min(ho, wo):
        raise ValueError(f"max_pool kernel {k} does not fit the {ho}x{wo} convolution output")
    return k, s


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, scale=None, zero_point=0,
           relu=False, input_zero_point=0, max_pool=None, lut=None):
    """A 2-D convolution as the accelerator computes it (see the module docstring).

    Parameters
    ----------
    x : ndarray of int8, shape [N, C, H, W]
    w : ndarray of int8, shape [Cout, C/groups, kh, kw]
    b : ndarray of int32, shape [Cout], optional
    stride, padding, dilation : int or (int, int)
    groups : int
        Divides C and Cout; ``groups == C`` is a depthwise convolution.
    scale : float or ndarray of float, shape [Cout], optional
        None: int32 output. Else per output channel requantization to int8 (as
        :func:`models.linear`), then ``lut``, then ReLU, then ``max_pool``.
    zero_point, relu, lut
        As :func:`models.linear` (need ``scale``).
    input_zero_point : int
        -128..127: the real input is ``x - input_zero_point``; padding holds this value.
    max_pool : int or (int, int), optional
        Max-pooling kernel (stride = kernel) or (kernel, stride), no padding (needs ``scale``).

    Returns
    -------
    ndarray of int32 [N, Cout, Ho, Wo], or int8 [N, Cout, Ho', Wo'] with ``scale``.
    """
    s = conv_shape(x, w, b, stride, padding, dilation, groups)
    pool = max_pool_args(max_pool, s.ho, s.wo)
    if scale is None and (relu or zero_point or lut is not None or pool is not None):
        raise ValueError("relu, zero_point, lut and max_pool need scale (int8 output)")
    izp = int(input_zero_point)
    if not -128 <= izp <= 127:
        raise ValueError(f"input_zero_point must be in -128..127, got {input_zero_point}")
    (ph, pw), (sy, sx), (dy, dx) = s.padding, s.stride, s.dilation
    xp = np.pad(x.astype(np.int64) - izp, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    acc = np.zeros((s.n, s.cout, s.ho, s.wo), dtype=np.int64)
    cg, og = s.cin // s.groups, s.cout // s.groups
    for g in range(s.groups):
        xg, wg = xp[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og].astype(np.int64)
        for i in range(s.kernel[0]):
            for j in range(s.kernel[1]):
                tap = xg[:, :, i * dy:i * dy + (s.ho - 1) * sy + 1:sy,
                         j * dx:j * dx + (s.wo - 1) * sx + 1:sx]
                acc[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", tap, wg[:, :, i, j])
    if b is not None:
        acc += b.astype(np.int64)[:, None, None]
    acc = wrap_int32(acc)
    if scale is None:
        return acc
    mult, shift = quantize_multipliers(np.broadcast_to(np.asarray(scale, np.float64), (s.cout,)))
    y = requantize(acc, mult[:, None, None], shift[:, None, None], zero_point)
    if lut is not None:
        y = apply_lut(y, lut)
    if relu:
        y = np.maximum(y, np.int8(zero_point))
    y = y.astype(np.int8)
    return y if pool is None else max_pool2d(y, pool[0], pool[1])


def depthwise_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, **kwargs):
    """:func:`conv2d` with ``groups = C``: ``w`` is [C * multiplier, 1, kh, kw]."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be an int8 numpy array [N, C, H, W], got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return conv2d(x, w, b, stride, padding, dilation, groups=x.shape[1], **kwargs)


# --- BatchNorm folding --------------------------------------------------------------------------

def fold_batchnorm(w, b, gamma, beta, mean, var, eps=1e-5):
    """Fold an inference BatchNorm into the preceding convolution (float).

    ``BN(conv(x, w) + b) = conv(x, w * f) + (b - mean) * f + beta`` with
    ``f = gamma / sqrt(var + eps)`` per output channel.

    Returns
    -------
    (ndarray of float64 [Cout, ...], ndarray of float64 [Cout])
    """
    w = np.asarray(w, dtype=np.float64)
    cout = w.shape[0]
    b = np.zeros(cout) if b is None else np.asarray(b, dtype=np.float64)
    gamma, beta, mean, var = (np.broadcast_to(np.asarray(v, np.float64), (cout,))
                              for v in (gamma, beta, mean, var))
    if np.any(var + eps <= 0):
        raise ValueError("var + eps must be > 0")
    f = gamma / np.sqrt(var + eps)
    return w * f.reshape((cout,) + (1,) * (w.ndim - 1)), (b - mean) * f + beta


class QuantizedConv(NamedTuple):
    """A conv(-BN) block ready for ``conv2d(x, w, b, scale=scale, ...)``."""
    w: np.ndarray             #: int8, symmetric per output channel
    b: np.ndarray             #: int32, in units of input_scale * weight_scale
    scale: np.ndarray         #: float64 [Cout]: input_scale * weight_scale / output_scale
    weight_scale: np.ndarray  #: float64 [Cout]: real weight = w * weight_scale


def quantize_conv_bn(w, b, gamma, beta, mean, var, *, input_scale, output_scale, eps=1e-5):
    """Fold BatchNorm (:func:`fold_batchnorm`) and quantize the block to int8 / int32.

    Weights: symmetric per output channel, ``weight_scale = max|w_f| / 127``,
    ``w = round(w_f / weight_scale)``; bias ``round(b_f / (input_scale * weight_scale))``.
    """
    wf, bf = fold_batchnorm(w, b, gamma, beta, mean, var, eps)
    for name, v in (("input_scale", input_scale), ("output_scale", output_scale)):
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    peak = np.abs(wf).reshape(wf.shape[0], -1).max(axis=1)
    ws = np.where(peak > 0, peak / 127, 1.0)
    wq = np.clip(np.rint(wf / ws.reshape((-1,) + (1,) * (wf.ndim - 1))), -127, 127)
    bq = np.clip(np.rint(bf / (input_scale * ws)), -2**31, 2**31 - 1)
    return QuantizedConv(wq.astype(np.int8), bq.astype(np.int32),
                         input_scale * ws / output_scale, ws)


# --- parameter counts ---------------------------------------------------------------------------

def conv_param_count(cin, cout, kernel_size, groups=1, bias=False):
    """Weights (and biases) of a convolution: ``cout * cin/groups * kh * kw (+ cout)``.

    3x3, 3 -> 4 channels: 4 * 3 * 3 * 3 = 108.
    """
    kh, kw = pair("kernel_size", kernel_size, 1)
    if cin % groups or cout % groups:
        raise ValueError(f"groups={groups} must divide cin={cin} and cout={cout}")
    return cout * (cin // groups) * kh * kw + (cout if bias else 0)


def depthwise_separable_param_count(cin, cout, kernel_size, bias=False):
    """Depthwise (``cin * kh * kw``) plus pointwise 1x1 (``cout * cin``): 3x3, 3 -> 4: 27 + 12."""
    return (conv_param_count(cin, cin, kernel_size, groups=cin, bias=bias)
            + conv_param_count(cin, cout, 1, bias=bias))

