"""Golden integer pipeline of quantized multi-head self-attention (plain NumPy).

Every matrix product goes through a ``linear(op, x, w, b=None, **kw)`` callable with the
arguments of :func:`models.linear` (``op`` names the product: ``"qkv"``, ``"scores"``, ``"pv"``,
``"out"``): :func:`golden_linear` is the NumPy twin, ``sw.nn`` passes ``acc.linear``. The host
steps in between are shared code, so the accelerator and the golden model agree bit for bit.

Pipeline for int8 inputs ``xq`` at positions ``pos .. pos+t-1`` (scales: :class:`AttentionParams`,
fixed once from calibration data by :func:`make_params`):

1. accelerator: ``qkv = linear(xq, W_qkv, b_qkv, scale=s_x s_w / s_{q,k,v})``, one product,
   int8 [t, 3D]; the K and V rows go into the caches ``[max_context, heads, head_dim]`` at
   ``pos``.
2. accelerator, per head: ``z = linear(q_h, K_h[:L], scale=s_q s_k / (sqrt(d_head) s_s))``,
   int8 scores [t, L] (L = pos + t): the keys are the array's resident "weights".
3. host, :func:`softmax_int`: causal mask, per-row max ``m``, ``d = clip(z - m, -128, 0)``,
   ``e = EXP_LUT[d + 128]`` (0..127, :func:`models.lut.exp_table`), row sums ``S`` (int64).
   Host: per row i the bound ``B_i = max_h (sum_j e_ij vmax_hj) / S_hi`` (``vmax_hj`` =
   ``max_c |V_h[j, c]|``) of the attention context ``|ctx_i| <= s_v B_i`` over every head.
4. accelerator, per head: ``ctx_h^T = linear(V_h[:L]^T, e, scale=127 / (S_hi B_i))``, int8
   [d_head, t]: the value columns stream through and the exponentials of query i are the
   "weights" of output column i, so the softmax normalisation ``1 / S_hi`` is that column's
   requantization multiplier (``models.quantize_multiplier``: the Q31 fixed-point reciprocal)
   and costs nothing. Row i of ctx has the step ``r_i = s_v B_i / 127``: it never saturates and
   needs no calibration (a static scale saturates on rows that attend to few values).
5. accelerator: ``acc = linear(ctx, W_o)``, int32 [t, D]; host:
   ``y = acc * r_i * s_wo + b_o`` in float64, returned as float32.

Where each step runs, by cycles: every product (``t D (3D + D) + 2 t L D`` MACs) runs on the
array. The per-row max is known only once a whole row of scores is back, so subtracting it on
the accelerator would need a second pass over Q.K^T (``t L d_head`` MACs per head again, with
the operands rewritten and the scores read back a second time) before the LUT stage could apply
``exp``; on the host the max, the table look-up and the sum are ``O(t L)`` integer operations on
scores that are read back once anyway. Deferring the normalisation to the requantizer (step 4)
keeps each exponential at 7 bits relative to the row maximum, where normalised int8
probabilities would have 8 bits relative to the row sum (for 64 spread-out keys, ~2 levels).
The output stays int32 (4 bus words per value instead of 1) for the same reason: a static int8
output scale would add its rounding and saturation to every result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .golden import linear as _linear
from .lut import exp_table

__all__ = ["HEADROOM", "AttentionParams", "attend", "causal_mask", "golden_linear",
           "make_params", "quantize", "softmax_int"]

HEADROOM = 1.1  #: activation scales cover 1.1 x the calibrated max-abs (rarer, larger values)


def golden_linear(op, x, w, b=None, **kw):
    """:func:`models.linear` with the ``op`` label of the pipeline's callable (ignored)."""
    return _linear(x, w, b, **kw)


def quantize(x, scale):
    """``clip(rint(x / scale), -128, 127)`` as int8 (``rint``: round half to even)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / scale), -128, 127).astype(np.int8)


def causal_mask(pos, t, length, causal=True):
    """bool [t, length]: query ``pos + r`` may attend to key ``j`` (``j <= pos + r`` if causal)."""
    allowed = np.ones((t, length), dtype=bool)
    if causal:
        allowed &= np.arange(length)[None, :] <= (pos + np.arange(t))[:, None]
    return allowed


def softmax_int(z, allowed, exp_lut):
    """The host part of the integer softmax: unnormalised exponentials and their row sums.

    ``m = max(z[allowed])``; ``d = clip(z - m, -128, 0)``; ``e = exp_lut[d + 128]`` where
    allowed, else 0; ``S = sum(e)`` per row. The probability is ``e / S``; ``S >= 127`` because
    the row maximum looks up ``exp_lut[128] = 127``.

    Parameters
    ----------
    z : ndarray of int8, shape [t, L]
    allowed : ndarray of bool, shape [t, L]
        Each row allows at least one key.
    exp_lut : ndarray of int8, shape [256]
        :func:`models.lut.exp_table` of the score step (non-negative entries).

    Returns
    -------
    (ndarray of int8 [t, L], ndarray of int64 [t])
        ``e`` and ``S``.
    """
    zi = z.astype(np.int32)
    m = np.where(allowed, zi, -129).max(axis=1, keepdims=True)
    d = np.clip(zi - m, -128, 0)
    e = np.where(allowed, exp_lut[d + 128], 0).astype(np.int8)
    return e, e.astype(np.int64).sum(axis=1)


@dataclass(frozen=True, eq=False)
class AttentionParams:
    """A quantized attention layer: int8 weights, int32 biases and the requantization scales.

    Members
    -------
    heads, head_dim : int
    causal : bool
    w_qkv : ndarray of int8 [3D, D]
        Q, K and V weights stacked, PyTorch layout, per output channel steps ``s_w``.
    b_qkv : ndarray of int32 [3D] or None
    qkv_scale : ndarray of float64 [3D]
        ``s_x s_w / s_q`` (``s_k``, ``s_v`` for the K and V channels).
    w_o : ndarray of int8 [D, D]
    b_o : ndarray of float64 [D] or None
        Added on the host.
    wo_scale : ndarray of float64 [D]
        ``s_wo``.
    x_scale, v_scale : float
        Steps of the input and of V.
    score_scale : float
        ``s_q s_k / (sqrt(head_dim) s_s)``: requantizes Q.K^T to int8 scores of step ``s_s``.
    exp_lut : ndarray of int8 [256]
        ``exp_table(s_s)``.
    """
    heads: int
    head_dim: int
    causal: bool
    w_qkv: np.ndarray
    b_qkv: np.ndarray | None
    qkv_scale: np.ndarray
    w_o: np.ndarray
    b_o: np.ndarray | None
    wo_scale: np.ndarray
    x_scale: float
    v_scale: float
    score_scale: float
    exp_lut: np.ndarray

    @property
    def dim(self):
        return self.heads * self.head_dim


def attend(p: AttentionParams, linear, xq, k_cache, v_cache, pos):
    """Run the pipeline (module docstring) for ``xq`` at positions ``pos .. pos+t-1``.

    Parameters
    ----------
    p : AttentionParams
    linear : callable
        ``linear(op, x, w, b=None, **kw)`` with the semantics of :func:`models.linear`.
    xq : ndarray of int8, shape [t, D]
    k_cache, v_cache : ndarray of int8, shape [max_context, heads, head_dim]
        Rows ``0 .. pos-1`` hold earlier keys and values; rows ``pos .. pos+t-1`` are written.
    pos : int

    Returns
    -------
    ndarray of float32, shape [t, D]
    """
    t, d, h, dh = xq.shape[0], p.dim, p.heads, p.head_dim
    length = pos + t
    qkv = linear("qkv", xq, p.w_qkv, p.b_qkv, scale=p.qkv_scale)
    q = qkv[:, :d].reshape(t, h, dh)
    k_cache[pos:length] = qkv[:, d:2 * d].reshape(t, h, dh)
    v_cache[pos:length] = qkv[:, 2 * d:].reshape(t, h, dh)
    allowed = causal_mask(pos, t, length, p.causal)
    vmax = np.abs(v_cache[:length].astype(np.int64)).max(axis=2)  # [L, heads]
    exps, sums, ratio = [], np.empty((h, t), np.int64), np.empty((h, t))
    for i in range(h):
        z = linear("scores", np.ascontiguousarray(q[:, i]),
                   np.ascontiguousarray(k_cache[:length, i]), scale=p.score_scale)
        e, sums[i] = softmax_int(z, allowed, p.exp_lut)
        exps.append(e)
        ratio[i] = (e.astype(np.int64) @ vmax[:, i]) / sums[i]
    bound = ratio.max(axis=0)
    bound = np.where(bound > 0, bound, 1.0)  # all values 0: any step will do
    ctx = np.empty((t, h, dh), dtype=np.int8)
    for i in range(h):
        ctx[:, i] = linear("pv", np.ascontiguousarray(v_cache[:length, i].T), exps[i],
                           scale=127 / (sums[i] * bound)).T
    acc = linear("out", ctx.reshape(t, d), p.w_o)
    y = acc * (p.v_scale * bound / 127)[:, None] * p.wo_scale
    return (y if p.b_o is None else y + p.b_o).astype(np.float32)


def _float_layer(ws, bs, heads, causal, x):
    """The float layer on sequences ``x`` [B, T, D]: (q, k, v, the scaled scores allowed)."""
    n, t, d = x.shape
    dh = d // heads
    qkv = [(x.reshape(n * t, d) @ w.T + (0 if b is None else b)).reshape(n, t, d)
           for w, b in zip(ws[:3], bs[:3], strict=True)]
    qh, kh = (a.reshape(n, t, heads, dh).transpose(0, 2, 1, 3) for a in qkv[:2])
    s = qh @ kh.transpose(0, 1, 3, 2) / math.sqrt(dh)
    return (*qkv, s[:, :, causal_mask(0, t, t, causal)])


def make_params(wq, wk, wv, wo, biases, heads, causal, calibration):
    """Quantize float weights and fix every activation scale from ``calibration``.

    Weights: per output channel, ``s_w = max|w[n]| / 127``, ``w_q = rint(w / s_w)``; biases
    ``rint(b / (s_in s_w))`` in int32. Activations: symmetric, zero point 0,
    ``s = HEADROOM * max|a| / 127`` over the float layer run on each calibration sequence
    (``calibration`` [T, D] or [B, T, D]): ``x``, Q, K, V and the scaled scores the mask
    allows (the context's step is set per row, see the module docstring). Arguments are
    checked by ``sw.nn.Attention.from_float``.
    """
    ws = [np.asarray(a, dtype=np.float64) for a in (wq, wk, wv, wo)]
    bs = [None if b is None else np.asarray(b, dtype=np.float64) for b in biases]
    d = ws[0].shape[0]
    seqs = np.asarray(calibration, dtype=np.float64).reshape(-1, *np.shape(calibration)[-2:])
    amax = np.array([np.abs(a).max() for a in (seqs, *_float_layer(ws, bs, heads, causal, seqs))])
    s_x, s_q, s_k, s_v, s_s = np.where(amax > 0, HEADROOM * amax / 127, 1.0)

    def weights(w, b, s_in):
        wmax = np.abs(w).max(axis=1)
        s_w = np.where(wmax > 0, wmax / 127, 1.0)
        w_q = np.clip(np.rint(w / s_w[:, None]), -127, 127).astype(np.int8)
        b_q = None if b is None else \
            np.clip(np.rint(b / (s_in * s_w)), -2**31, 2**31 - 1).astype(np.int32)
        return w_q, b_q, s_w

    parts = [weights(w, b, s_x) for w, b in zip(ws[:3], bs[:3], strict=True)]
    w_o, _, s_wo = weights(ws[3], None, 1.0)
    b_qkv = None
    if any(b is not None for b in bs[:3]):
        b_qkv = np.concatenate([np.zeros(d, np.int32) if pb is None else pb
                                for _, pb, _ in parts])
    qkv_scale = np.concatenate([s_x * sw / so for (_, _, sw), so in
                                zip(parts, (s_q, s_k, s_v), strict=True)])
    dh = d // heads
    return AttentionParams(
        heads=heads, head_dim=dh, causal=bool(causal),
        w_qkv=np.concatenate([pw for pw, _, _ in parts]), b_qkv=b_qkv, qkv_scale=qkv_scale,
        w_o=w_o, b_o=bs[3], wo_scale=s_wo, x_scale=float(s_x), v_scale=float(s_v),
        score_scale=float(s_q * s_k / (math.sqrt(dh) * s_s)),
        exp_lut=exp_table(float(s_s)))
