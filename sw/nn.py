"""Float layers brought onto the accelerator: post-training int8 quantization, fixed scales.

``from_float`` quantizes weights per output channel and fixes every activation scale from
calibration data, so a result never depends on the batch it was computed in. Calling a layer
runs every matrix product on the accelerator (``acc.linear``); ``golden`` runs the same integer
pipeline on :func:`models.linear` and equals it exactly.

>>> attn = Attention.from_float(wq, wk, wv, wo, heads=4, causal=True, calibration=x_cal)
>>> y = attn(acc, x)                  # float32 [T, D]
>>> cache = attn.kv_cache(max_len)
>>> y_t = attn.step(acc, x_t, cache)  # only the new rows; bit-identical to attn(acc, x) rows
>>> lin = Linear.from_float(w, b, calibration=x_cal, activation="gelu")
"""

from __future__ import annotations

import time

import numpy as np

import models
from models import attention as _att
from models.lut import ACTIVATIONS, lut_table

from .accelerator import Accelerator

__all__ = ["Attention", "KVCache", "Linear"]


def _check_float(name, a, shape):
    """TypeError unless a floating numpy array; ValueError unless ``shape`` (None = any) and
    finite. Returns it as float64."""
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
        got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(f"{name} must be a float numpy array, got {got}")
    if len(a.shape) != len(shape) or any(s is not None and s != g
                                         for s, g in zip(shape, a.shape, strict=True)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(a.shape)}")
    if 0 in a.shape:
        raise ValueError(f"{name} must not be empty, got shape {list(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a.astype(np.float64)


def _check_acc(acc):
    if not isinstance(acc, Accelerator):
        raise TypeError(f"acc must be an Accelerator, got {type(acc).__name__}")


class _Recorder:
    """``linear(op, x, w, b, **kw)`` on ``acc``, keeping each product's :class:`Stats`."""

    def __init__(self, acc):
        self.acc, self.records = acc, []

    def __call__(self, op, x, w, b=None, **kw):
        start = time.perf_counter()
        y = self.acc.linear(x, w, b, **kw)
        self.records.append({"op": op, "shape": [x.shape[0], x.shape[1], w.shape[0]],
                             "stats": self.acc.stats, "wall_s": time.perf_counter() - start})
        return y


class KVCache:
    """Keys and values of the tokens seen so far, int8 ``[max_context, heads, head_dim]``.

    Members
    -------
    k, v : ndarray of int8
    pos : int
        Tokens stored; the next step writes at ``pos``.
    """

    def __init__(self, owner, max_len, heads, head_dim):
        self.owner = owner
        self.k = np.zeros((max_len, heads, head_dim), dtype=np.int8)
        self.v = np.zeros_like(self.k)
        self.pos = 0

    @property
    def max_len(self):
        return self.k.shape[0]

    def __repr__(self):
        return f"KVCache({self.pos}/{self.max_len} tokens, {self.k.shape[1]} heads)"


class Attention:
    """Quantized multi-head self-attention (pipeline: :mod:`models.attention`).

    Members
    -------
    params : models.attention.AttentionParams
        Quantized weights and scales.
    records : list of dict
        Per matrix product of the last accelerator call: ``op`` (qkv, scores, pv, out),
        ``shape`` [M, K, N], ``stats`` (:class:`sw.Stats`) and ``wall_s`` (host seconds).
    """

    def __init__(self, params: _att.AttentionParams):
        self.params = params
        self.records = []

    @classmethod
    def from_float(cls, wq, wk, wv, wo, *, heads, causal=True, calibration, bq=None, bk=None,
                   bv=None, bo=None):
        """Quantize a float layer (weights [D, D] in PyTorch ``Linear`` layout, biases [D]).

        ``calibration`` (float [T, D], one sequence, or [B, T, D]) fixes every activation
        scale (:func:`models.attention.make_params`): the more representative data, the
        fewer values saturate later.
        """
        if not isinstance(wq, np.ndarray) or wq.ndim != 2:
            _check_float("wq", wq, (None, None))
        d = wq.shape[0]
        ws = [_check_float(n, w, (d, d)) for n, w in zip("wq wk wv wo".split(),
                                                          (wq, wk, wv, wo), strict=True)]
        bs = [None if b is None else _check_float(n, b, (d,))
              for n, b in zip("bq bk bv bo".split(), (bq, bk, bv, bo), strict=True)]
        if isinstance(heads, bool) or not isinstance(heads, int | np.integer) or heads < 1:
            raise ValueError(f"heads must be an int >= 1, got {heads!r}")
        if d % heads:
            raise ValueError(f"D={d} is not divisible by heads={heads}")
        if isinstance(calibration, np.ndarray) and calibration.ndim == 3:
            x = _check_float("calibration", calibration, (None, None, d))
        else:
            x = _check_float("calibration", calibration, (None, d))
        return cls(_att.make_params(*ws, bs, int(heads), bool(causal), x))

    @property
    def dim(self):
        return self.params.dim

    def _quantize_input(self, name, x):
        return _att.quantize(_check_float(name, x, (None, self.dim)), self.params.x_scale)

    def _run(self, linear, x, name="x", cache=None):
        p = self.params
        xq = self._quantize_input(name, x)
        t = xq.shape[0]
        if cache is None:
            k = np.zeros((t, p.heads, p.head_dim), dtype=np.int8)
            y = _att.attend(p, linear, xq, k, np.zeros_like(k), 0)
        else:
            self._check_cache(cache, t)
            y = _att.attend(p, linear, xq, cache.k, cache.v, cache.pos)
            cache.pos += t
        return y

    def __call__(self, acc, x):
        """Attention over ``x`` (float [T, D]) with every product on ``acc``: float32 [T, D]."""
        _check_acc(acc)
        rec = _Recorder(acc)
        y = self._run(rec, x)
        self.records = rec.records
        return y

    def golden(self, x):
        """The same integer pipeline on the golden model: equals ``self(acc, x)`` exactly."""
        return self._run(_att.golden_linear, x)

    def kv_cache(self, max_len):
        """An empty :class:`KVCache` for up to ``max_len`` tokens (causal layers only)."""
        if not self.params.causal:
            raise ValueError("a KV cache needs a causal layer (from_float(..., causal=True))")
        if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) \
                or max_len < 1:
            raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
        return KVCache(self, int(max_len), self.params.heads, self.params.head_dim)

    def _check_cache(self, cache, t):
        if cache is None:
            raise ValueError("no KV cache: create one with attn.kv_cache(max_len) first")
        if not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache from attn.kv_cache(), "
                            f"got {type(cache).__name__}")
        if cache.owner is not self:
            raise ValueError("cache belongs to another Attention layer")
        if cache.pos + t > cache.max_len:
            raise ValueError(f"KV cache overflow: {cache.pos} tokens stored + {t} new > "
                             f"max_len={cache.max_len}")

    def step(self, acc, x_t, cache):
        """Append ``x_t`` (float [t_new, D]) to ``cache`` and return its rows (float32
        [t_new, D]), bit-identical to those rows of ``self(acc, x)`` over the whole sequence."""
        _check_acc(acc)
        self._check_cache(cache, 0)
        rec = _Recorder(acc)
        y = self._run(rec, x_t, "x_t", cache)
        self.records = rec.records
        return y

    def golden_step(self, x_t, cache):
        """:meth:`step` on the golden model (use a cache of its own)."""
        self._check_cache(cache, 0)
        return self._run(_att.golden_linear, x_t, "x_t", cache)


class Linear:
    """A quantized fully connected layer, activation in the hardware's ReLU or LUT stage.

    Members
    -------
    w : ndarray of int8 [N, K]; b : ndarray of int32 [N] or None
    x_scale : float
    scale : ndarray of float64 [N]
        Requantization scale ``s_x * s_w / s_pre`` (``s_pre``: step of the pre-activation).
    lut : ndarray of int8 [256] or None
    relu : bool
    out_scale : float; out_zero_point : int
        The real output is ``(y - out_zero_point) * out_scale``.
    """

    def __init__(self, w, b, x_scale, scale, lut, relu, out_scale, out_zero_point):
        self.w, self.b, self.x_scale, self.scale = w, b, x_scale, scale
        self.lut, self.relu = lut, relu
        self.out_scale, self.out_zero_point = out_scale, out_zero_point

    @classmethod
    def from_float(cls, w, b=None, *, calibration, activation=None):
        """Quantize ``w`` (float [N, K]) per output channel; scales from ``calibration``.

        ``activation``: None, ``"relu"`` (the ReLU stage) or ``"gelu"``, ``"sigmoid"``,
        ``"tanh"`` (a :func:`models.lut.lut_table` in the LUT stage, output range from the
        calibration data, asymmetric: ``[lo, hi]`` onto -128..127).
        """
        w = _check_float("w", w, (None, None))
        n, k = w.shape
        b = None if b is None else _check_float("b", b, (n,))
        x = _check_float("calibration", calibration, (None, k))
        if activation not in (None, "relu", *ACTIVATIONS):
            raise ValueError(f"activation must be None, 'relu' or one of "
                             f"{', '.join(map(repr, ACTIVATIONS))}, got {activation!r}")
        amax = np.abs(x).max()
        s_x = amax / 127 if amax > 0 else 1.0
        wmax = np.abs(w).max(axis=1)
        s_w = np.where(wmax > 0, wmax / 127, 1.0)
        w_q = np.clip(np.rint(w / s_w[:, None]), -127, 127).astype(np.int8)
        b_q = None if b is None else \
            np.clip(np.rint(b / (s_x * s_w)), -2**31, 2**31 - 1).astype(np.int32)
        pre = x @ w.T + (0 if b is None else b)
        top = np.abs(pre).max() if activation != "relu" else max(pre.max(), 0)
        s_pre = top / 127 if top > 0 else 1.0
        lut, out_scale, zp = None, s_pre, 0
        if activation in ACTIVATIONS:
            fn = ACTIVATIONS[activation]
            act = fn(pre)
            lo, hi = min(act.min(), 0.0), max(act.max(), 0.0)
            out_scale = (hi - lo) / 255 if hi > lo else 1.0
            zp = int(np.clip(np.rint(-128 - lo / out_scale), -128, 127))
            lut = lut_table(fn, s_pre, out_scale, zp)
        return cls(w_q, b_q, s_x, s_x * s_w / s_pre, lut, activation == "relu", out_scale, zp)

    def _run(self, linear, x):
        xq = _att.quantize(_check_float("x", x, (None, self.w.shape[1])), self.x_scale)
        y = linear(xq, self.w, self.b, scale=self.scale, relu=self.relu, lut=self.lut)
        return ((y.astype(np.float32) - self.out_zero_point) * self.out_scale).astype(np.float32)

    def __call__(self, acc, x):
        """``act(x @ w.T + b)`` for float ``x`` [M, K] on ``acc``: float32 [M, N]."""
        _check_acc(acc)
        return self._run(acc.linear, x)

    def golden(self, x):
        """The same on :func:`models.linear`: equals ``self(acc, x)`` exactly."""
        return self._run(models.linear, x)
