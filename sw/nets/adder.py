"""The seed's transformer (issue 11): tinygrad's ``examples/transformer.py`` task, adding two
two-digit numbers, trained here in float with tinygrad and decoded greedily on the accelerator,
int8, with the KV cache of :mod:`sw.nn`.

* The task (tinygrad's ``make_dataset``, after minGPT's adder): every pair ``a, b`` in 0..99
  is the digit sequence ``a1 a0 b1 b0 s2 s1 s0`` of ``s = a + b``; the 10,000 pairs are
  shuffled with a fixed seed (:data:`SPLIT_SEED`), the first 8,000 train, the last 2,000 are
  held out. The model reads the first six digits and predicts the next digit at each position;
  a sum is decoded from the prompt ``a1 a0 b1 b0`` by greedy decoding, three digits.
* The model (tinygrad's ``Transformer(10, 6, 2, 128, 4, 32)``): the embedding of token ``k``
  at position ``p`` is ``E[p] + E[6 + k]`` with ``E`` a fixed random matrix [16, 128] (tinygrad
  does not train it: ``is_param_(False)``); two post-norm blocks, ``x = LN1(x + Attn(x))``,
  ``x = LN2(x + W2 relu(W1 x + b1) + b2)`` (128 dims, 4 heads, FFN 128 -> 32 -> 128, layer
  norms with weight and bias, eps 1e-5); a final linear 128 -> 10 without bias. One change:
  the attention is **causal** (tinygrad's example is not, so each position there sees the digits
  it is asked for and its accuracy is not a decoding accuracy; a KV cache needs causality too).
* :func:`train`: tinygrad on the CPU, seeded, Adam, the loss on the three answer positions;
  dropout 0.1 as tinygrad's. The weights are committed (``adder.npz``, :data:`WEIGHTS`), so
  running the network needs neither tinygrad nor clang.
* :class:`QuantizedAdder`: post-training int8 quantization through :mod:`sw.nn`, scales from
  training sums. **On the accelerator**: every matrix product -- the fused Q/K/V projection,
  the attention scores and the weighted sums of values (:class:`sw.nn.Attention`), the output
  projection, both FFN layers (the ReLU in the accelerator's post-processing) and the output
  head. **On the host**: the embedding look-up, the softmax's row max, exponential table and
  row sums (as :mod:`models.attention` does it), the residual adds and the layer norms (float),
  and the argmax over the head's int8 logits (the first of equal maxima).
  :meth:`QuantizedAdder.decode` runs a prompt through the KV caches in one step (prefill),
  then one token per step; :meth:`QuantizedAdder.golden_decode` runs the same integers on the
  golden model and equals it bit for bit.

``python -m sw.nets.adder [--target regmodel] [--count N] [--json docs/adder.json]`` decodes the
held-out sums, prints the accuracies and a per-call report (:func:`sw.nets.zoo.report`);
``--train`` only retrains and rewrites the weights; ``--markdown docs/adder.json`` only rewrites
the README's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import time

import numpy as np

__all__ = ["DIM", "FF_DIM", "HEADS", "LAYERS", "MAXLEN", "SECTION", "SPLIT_SEED", "STEPS", "VOCAB",
           "WEIGHTS", "QuantizedAdder", "decode_float", "digits_of", "embed", "float_forward",
           "layers", "load_weights", "main", "make_dataset", "markdown", "run", "save_weights",
           "summary", "sums_of", "tinygrad_forward", "train"]

VOCAB, MAXLEN, LAYERS, DIM, HEADS, FF_DIM = 10, 6, 2, 128, 4, 32
PROMPT, ANSWER = 4, 3  # a1 a0 b1 b0 -> s2 s1 s0
SPLIT_SEED = 0
TRAIN_SEED = 0
HELD_OUT = 2000
CALIBRATION = 1000  #: training sums that fix the activation scales
#: the committed weights (``python -m sw.nets.adder --train``)
WEIGHTS = pathlib.Path(__file__).with_name("adder.npz")
EPS = 1e-5  # tinygrad's layernorm


def _check_pairs(a, b):
    """int64 arrays of ``a`` and ``b`` (scalars or 1-D, the same length), each 0..99."""
    out = []
    for name, v in (("a", a), ("b", b)):
        arr = np.asarray(v)
        if arr.dtype.kind not in "iu" and not (arr.dtype == object and all(
                isinstance(e, int | np.integer) and not isinstance(e, bool) for e in arr.flat)):
            raise TypeError(f"{name} must be an integer or integers, got {arr.dtype}")
        if arr.ndim > 1:
            raise ValueError(f"{name} must be a number or a 1-D array, got shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() > 99):
            bad = arr[(arr < 0) | (arr > 99)].flat[0]
            raise ValueError(f"{name} must be in 0..99 (two digits), got {bad}")
        out.append(np.atleast_1d(arr).astype(np.int64))
    if out[0].shape != out[1].shape:
        raise ValueError(f"a and b must have the same length, got {out[0].size} and "
                         f"{out[1].size}")
    return out


def digits_of(a, b):
    """The digit sequences [n, 7] ``a1 a0 b1 b0 s2 s1 s0`` of ``a + b`` (int64)."""
    a, b = _check_pairs(a, b)
    s = a + b
    return np.stack([a // 10, a % 10, b // 10, b % 10, s // 100, s // 10 % 10, s % 10], axis=1)


def make_dataset(seed=SPLIT_SEED):
    """(train, held_out): pairs [8000, 2] and [2000, 2] (int64) of all 10,000 ``(a, b)`` in
    0..99, shuffled with ``seed``."""
    pairs = np.stack(np.meshgrid(np.arange(100), np.arange(100), indexing="ij"), -1)
    pairs = pairs.reshape(-1, 2)[np.random.default_rng(seed).permutation(10_000)]
    return pairs[:-HELD_OUT], pairs[-HELD_OUT:]


# --- the float model -------------------------------------------------------------------------

def _block_names(i):
    return [f"b{i}_{n}" for n in ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "ln1_w",
                                  "ln1_b", "w1", "b1", "w2", "b2", "ln2_w", "ln2_b")]


#: every array of the weights file: ``embed`` [16, 128], per block the attention's weights
#: [128, 128] and biases (PyTorch ``Linear`` layout, ``y = x @ w.T + b``), the layer norms, the
#: FFN (``w1`` [32, 128], ``w2`` [128, 32]), and ``head`` [10, 128]
NAMES = ("embed", *[n for i in range(LAYERS) for n in _block_names(i)], "head")


def load_weights(path=WEIGHTS):
    """The committed float weights: {name: float32 array} (:data:`NAMES`)."""
    with np.load(path) as f:
        missing = set(NAMES) - set(f.files)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}")
        return {n: f[n] for n in NAMES}


def save_weights(params, path=WEIGHTS):
    np.savez(path, **{n: np.asarray(params[n], np.float32) for n in NAMES})


def _layernorm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    y = x - mu
    return y / np.sqrt((y * y).mean(-1, keepdims=True) + EPS) * w + b


def embed(params, tokens, start=0):
    """Embeddings of ``tokens`` [..., T] at positions ``start ..`` (float64 [..., T, D])."""
    e = np.asarray(params["embed"], np.float64)
    t = np.shape(tokens)[-1]
    return e[start + np.arange(t)] + e[MAXLEN + np.asarray(tokens)]


def _attention(params, i, x):
    """Causal multi-head attention of block ``i`` on ``x`` [B, T, D] in float64."""
    n, t, d = x.shape
    dh = d // HEADS
    q, k, v = ((x @ params[f"b{i}_w{c}"].T.astype(np.float64) + params[f"b{i}_b{c}"])
               .reshape(n, t, HEADS, dh).transpose(0, 2, 1, 3) for c in "qkv")
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)
    s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ctx = (p @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
    return ctx @ params[f"b{i}_wo"].T + params[f"b{i}_bo"]


def float_forward(params, tokens, activations=None):
    """The float model in NumPy (float64): logits [B, T, 10] for ``tokens`` [B, T] (T <= 6).

    ``activations``: a dict that receives each product's float input, for calibration:
    ``b{i}_attn`` [B, T, D], ``b{i}_ff1`` and ``b{i}_ff2`` and ``head`` [B*T, ...]."""
    tokens = np.asarray(tokens)
    x = embed(params, tokens)
    n, t, d = x.shape
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    for i in range(LAYERS):
        if activations is not None:
            activations[f"b{i}_attn"] = x
        x = _layernorm(x + _attention(p, i, x), p[f"b{i}_ln1_w"], p[f"b{i}_ln1_b"])
        h = np.maximum(x @ p[f"b{i}_w1"].T + p[f"b{i}_b1"], 0)
        if activations is not None:
            activations[f"b{i}_ff1"] = x.reshape(-1, d)
            activations[f"b{i}_ff2"] = h.reshape(-1, FF_DIM)
        x = _layernorm(x + h @ p[f"b{i}_w2"].T + p[f"b{i}_b2"], p[f"b{i}_ln2_w"],
                       p[f"b{i}_ln2_b"])
    if activations is not None:
        activations["head"] = x.reshape(-1, d)
    return x @ p["head"].T


def decode_float(params, a, b):
    """Greedy decoding with the float model (NumPy): the sums' three digits [n, 3]."""
    seq = digits_of(a, b)[:, :PROMPT]
    for _ in range(ANSWER):
        nxt = float_forward(params, seq)[:, -1].argmax(-1)
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
    return seq[:, PROMPT:]


def sums_of(answer):
    """The numbers that answer digits [n, 3] spell (int64 [n])."""
    answer = np.asarray(answer, np.int64)
    return answer[:, 0] * 100 + answer[:, 1] * 10 + answer[:, 2]


# --- training (tinygrad) ---------------------------------------------------------------------

def _tinygrad_model(params):
    """tinygrad Tensors of ``params`` and the forward function on them (training: dropout)."""
    from tinygrad import Tensor
    tensors = {n: Tensor(np.asarray(v, np.float32)) for n, v in params.items()}
    tensors["embed"].is_param_(False)  # tinygrad's example keeps its embedding fixed

    def forward(tokens):
        """logits [B, T, 10] for int tokens [B, T]."""
        bs, t = tokens.shape
        onehot = Tensor.eye(t).unsqueeze(0).expand(bs, t, t).cat(
            tokens.one_hot(VOCAB), dim=2)  # positions 0..t-1, then the token
        rows = Tensor.cat(tensors["embed"][:t], tensors["embed"][MAXLEN:])
        x = onehot.float().dot(rows)
        for i in range(LAYERS):
            w = {k[len(f"b{i}_"):]: v for k, v in tensors.items() if k.startswith(f"b{i}_")}
            q, k, v = (x.linear(w[f"w{c}"].T, w[f"b{c}"]).reshape(bs, t, HEADS, DIM // HEADS)
                       .transpose(1, 2) for c in "qkv")
            att = q.scaled_dot_product_attention(k, v, is_causal=True).transpose(1, 2)
            att = att.reshape(bs, t, DIM).linear(w["wo"].T, w["bo"])
            x = (x + att.dropout(0.1)).layernorm(eps=EPS).linear(w["ln1_w"], w["ln1_b"])
            ff = x.linear(w["w1"].T, w["b1"]).relu().linear(w["w2"].T, w["b2"])
            x = (x + ff.dropout(0.1)).layernorm(eps=EPS).linear(w["ln2_w"], w["ln2_b"])
        return x.dot(tensors["head"].T)

    return tensors, forward


def init_params(seed=TRAIN_SEED):
    """tinygrad's initialisation: ``scaled_uniform`` weights (uniform in +-1/sqrt(numel)), zero
    biases, layer norms 1 and 0; seeded NumPy, PyTorch layout."""
    rng = np.random.default_rng(seed)

    def scaled_uniform(*shape):
        return (rng.uniform(-1, 1, shape) * np.prod(shape) ** -0.5).astype(np.float32)

    p = {"embed": scaled_uniform(MAXLEN + VOCAB, DIM)}
    for i in range(LAYERS):
        for c in "qkvo":
            p[f"b{i}_w{c}"], p[f"b{i}_b{c}"] = scaled_uniform(DIM, DIM), np.zeros(DIM, np.float32)
        p[f"b{i}_w1"], p[f"b{i}_b1"] = scaled_uniform(FF_DIM, DIM), np.zeros(FF_DIM, np.float32)
        p[f"b{i}_w2"], p[f"b{i}_b2"] = scaled_uniform(DIM, FF_DIM), np.zeros(DIM, np.float32)
        for n in ("ln1", "ln2"):
            p[f"b{i}_{n}_w"], p[f"b{i}_{n}_b"] = (np.ones(DIM, np.float32),
                                                  np.zeros(DIM, np.float32))
    p["head"] = scaled_uniform(VOCAB, DIM)
    return p


def train(pairs, seed=TRAIN_SEED, steps=2500, batch=128, lr=3e-3, decay_every=250,
          weight_decay=0.0, progress=False):
    """Train on ``pairs`` [n, 2] with tinygrad (CPU): ``steps`` batches of ``batch`` sums drawn
    with ``seed``, Adam (tinygrad's AdamW; ``weight_decay`` 0 is Adam), ``lr`` divided by 1.2
    every ``decay_every`` steps (tinygrad's schedule, every 50 there), cross-entropy on the
    three answer positions; the embedding stays as initialised. Returns the float32 weights
    {name: array}. The defaults made the committed weights."""
    os.environ.setdefault("DEV", "CPU")  # tinygrad's CPU backend (compiles with clang)
    from tinygrad import Tensor, TinyJit
    from tinygrad.helpers import Context
    from tinygrad.nn.optim import AdamW

    Tensor.manual_seed(seed)
    tensors, forward = _tinygrad_model(init_params(seed))
    trained = [t for n, t in tensors.items() if n != "embed"]
    opt = AdamW(trained, lr=lr, weight_decay=weight_decay)
    seqs = digits_of(pairs[:, 0], pairs[:, 1])
    x_all, y_all = seqs[:, :MAXLEN].astype(np.int32), seqs[:, 1:].astype(np.int32)

    @TinyJit
    def step(xb, yb):
        opt.zero_grad()
        logits = forward(xb)[:, PROMPT - 1:]
        loss = logits.sparse_categorical_crossentropy(yb[:, PROMPT - 1:]).backward()
        opt.step()
        return loss

    rng = np.random.default_rng(seed)
    bar = range(steps)
    if progress:
        from tqdm import tqdm
        bar = tqdm(bar, unit="step", leave=False)
    with Context(TRAINING=1):
        for i in bar:
            if i and i % decay_every == 0:
                opt.lr.assign(opt.lr / 1.2).realize()
            idx = rng.integers(0, len(x_all), batch)
            loss = step(Tensor(x_all[idx]), Tensor(y_all[idx]))
            if progress and i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return {n: t.numpy() for n, t in tensors.items()}


def tinygrad_forward(params, tokens):
    """The float model in tinygrad (inference, float32): logits [B, T, 10] as NumPy."""
    os.environ.setdefault("DEV", "CPU")
    from tinygrad import Tensor
    _, forward = _tinygrad_model(params)
    return forward(Tensor(np.asarray(tokens, np.int32))).numpy()


# --- int8 on the accelerator -----------------------------------------------------------------

#: the step names of a decode: the prompt (four tokens at once), then one token per step
STEPS = ("prompt", "tok4", "tok5")


class QuantizedAdder:
    """The adder in int8 through :mod:`sw.nn` (see the module docstring for what runs where).

    Members
    -------
    params : dict
        The float weights (the embedding and layer norms are used as they are).
    blocks : list of (sw.nn.Attention, sw.nn.Linear, sw.nn.Linear)
        Per block the attention (Q/K/V/O with biases, causal), the FFN's first layer (ReLU in
        the post-processing) and its second.
    head : sw.nn.Linear
        128 -> 10, int8 logits.
    """

    def __init__(self, params, blocks, head):
        self.params = {k: np.asarray(v, np.float64) for k, v in params.items()}
        self.blocks, self.head = blocks, head

    @classmethod
    def from_float(cls, params, calibration):
        """Quantize ``params`` ({name: array}, :func:`load_weights`); every activation scale from
        the float model run on the pairs ``calibration`` [n, 2] (whole six-digit sequences)."""
        from sw.nn import Attention, Linear
        pairs = np.asarray(calibration)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or not len(pairs):
            raise ValueError(f"calibration must be pairs [n, 2], got shape {list(pairs.shape)}")
        acts = {}
        float_forward(params, digits_of(pairs[:, 0], pairs[:, 1])[:, :MAXLEN], acts)
        p = {k: np.asarray(v, np.float64) for k, v in params.items()}
        blocks = []
        for i in range(LAYERS):
            w = {c: (p[f"b{i}_w{c}"], p[f"b{i}_b{c}"]) for c in "qkvo"}
            attn = Attention.from_float(
                *(w[c][0] for c in "qkvo"), heads=HEADS, causal=True,
                calibration=acts[f"b{i}_attn"], **{f"b{c}": w[c][1] for c in "qkvo"})
            ff1 = Linear.from_float(p[f"b{i}_w1"], p[f"b{i}_b1"], calibration=acts[f"b{i}_ff1"],
                                    activation="relu")
            ff2 = Linear.from_float(p[f"b{i}_w2"], p[f"b{i}_b2"], calibration=acts[f"b{i}_ff2"])
            blocks.append((attn, ff1, ff2))
        head = Linear.from_float(p["head"], calibration=acts["head"])
        return cls(params, blocks, head)

    def _step(self, ops, x, caches, step, record):
        """The blocks on the new rows ``x`` [t, D] (float), then the head on the last row:
        int8-valued logits [10] (float32, the head's real values)."""
        attend, linear = ops
        p = self.params
        for i, ((attn, ff1, ff2), cache) in enumerate(zip(self.blocks, caches, strict=True)):
            x = _layernorm(x + attend(attn, x, cache, f"{step}.b{i}", record),
                           p[f"b{i}_ln1_w"], p[f"b{i}_ln1_b"])
            h = linear(ff1, x, f"{step}.b{i}.ff1", record)
            x = _layernorm(x + linear(ff2, h, f"{step}.b{i}.ff2", record),
                           p[f"b{i}_ln2_w"], p[f"b{i}_ln2_b"])
        return linear(self.head, x[-1:], f"{step}.head", record)[0]

    def _decode(self, ops, a, b, record=None, progress=False):
        seqs = digits_of(a, b)
        out = np.empty((len(seqs), ANSWER), np.int64)
        items = range(len(seqs))
        if progress:
            from tqdm import tqdm
            items = tqdm(items, unit="sum", leave=False)
        for n in items:
            caches = [attn.kv_cache(MAXLEN) for attn, _, _ in self.blocks]
            tokens, start = seqs[n, :PROMPT], 0
            for k, step in enumerate(STEPS):
                x = embed(self.params, tokens, start)
                out[n, k] = int(np.argmax(self._step(ops, x, caches, step, record)))
                start += len(tokens)
                tokens = out[n, k:k + 1]
        return out

    def decode(self, acc, a, b, record=None, progress=False):
        """Greedy decoding of ``a + b`` (numbers or 1-D arrays in 0..99) with every product on
        ``acc``: the answer digits [n, 3] (int64; :func:`sums_of` reads them as numbers).

        ``record``: a list that receives one dict per accelerator call (``name`` such as
        ``tok4.b1.scores#2``: step, block, product and head; ``op``, ``shape`` [M, K, N],
        ``stats``, ``wall_s``); ``progress``: a progress bar over
        the sums (tqdm, on stderr)."""
        from sw.accelerator import Accelerator
        if not isinstance(acc, Accelerator):
            raise TypeError(f"acc must be an Accelerator, got {type(acc).__name__}")

        def attend(attn, x, cache, name, rec):
            y = attn.step(acc, x, cache)
            if rec is not None:
                seen = {}
                for r in attn.records:  # per head: scores and pv (models.attention.attend)
                    h = seen[r["op"]] = seen.get(r["op"], -1) + 1
                    suffix = f"#{h}" if r["op"] in ("scores", "pv") else ""
                    rec.append(r | {"name": f"{name}.{r['op']}{suffix}"})
            return y

        def linear(layer, x, name, rec):
            start = time.perf_counter()
            y = layer(acc, x)
            if rec is not None:
                rec.append({"name": name, "op": name.rsplit(".", 1)[1],
                            "shape": [x.shape[0], x.shape[1], layer.w.shape[0]],
                            "stats": acc.stats, "wall_s": time.perf_counter() - start})
            return y

        return self._decode((attend, linear), a, b, record, progress)

    def golden_decode(self, a, b, progress=False):
        """:meth:`decode` on the golden model: equal to it bit for bit."""
        return self._decode((lambda attn, x, cache, name, rec: attn.golden_step(x, cache),
                             lambda layer, x, name, rec: layer.golden(x)), a, b, None, progress)


# --- figures ---------------------------------------------------------------------------------

_KINDS = {"qkv": "attn", "scores": "attn", "pv": "attn", "out": "attn", "ff1": "ffn",
          "ff2": "ffn", "head": "head"}


def layers(record, per_site=True):
    """:class:`sw.onnx.Layer` records for :func:`sw.nets.zoo.report` of a decode's ``record``:
    one per accelerator call, or with ``per_site`` one per call site (``prompt.b0.qkv``; the
    per-head calls ``prompt.b0.scores#0`` .. ``#3`` and every sum's together). ``op_type``
    is the layer (``attn``, ``ffn``, ``head``), ``call`` the product (``qkv``, ``scores``,
    ``pv``, ``out``, ``ff1``, ``ff2``, ``head``), ``in_shape`` (calls, M, K, N) of
    ``acc.linear``, ``macs`` the nominal ``M K N`` of each call summed, ``stats`` their
    :meth:`sw.Stats.total`."""
    from sw.driver.stats import Stats
    from sw.onnx import Layer
    sites = {}
    for i, r in enumerate(record):
        key = re.sub(r"#\d+$", "", r["name"]) if per_site else i  # (the head index)
        sites.setdefault(key, []).append(r)
    out = []
    for key, calls in sites.items():
        shapes = {tuple(c["shape"]) for c in calls}
        if len(shapes) != 1:
            raise ValueError(f"{calls[0]['name']}: calls of different shapes {sorted(shapes)}")
        (m, k, n), = shapes
        out.append(Layer(name=key if per_site else calls[0]["name"],
                         op_type=_KINDS[calls[0]["op"]], call=calls[0]["op"],
                         in_shape=(len(calls), m, k, n), out_shape=(m, n),
                         macs=len(calls) * m * k * n,
                         stats=Stats.total(c["stats"] for c in calls),
                         wall_s=sum(c["wall_s"] for c in calls)))
    return out


def _wrong(pairs, answers):
    """[[a, b, decoded], ...] where the decoded number is not ``a + b`` (Python's sum)."""
    return [[int(a), int(b), int(s)] for (a, b), s in zip(pairs.tolist(), sums_of(answers),
                                                         strict=True) if s != a + b]


def summary(record, *, target, pairs, answers, golden, float_answers, wall_s):
    """The figures of one run as a JSON-able dict (``docs/adder.json``): the accelerator decoded
    ``pairs`` [count, 2] (the first ``count`` held-out sums) into ``answers``; ``golden`` and
    ``float_answers`` are the int8 golden model's and the float model's answers on **all**
    held-out sums. Every ``*_wrong`` list holds ``[a, b, decoded]``, checked by the tests."""
    from sw.driver.stats import Stats
    _, held_out = make_dataset()
    count = len(pairs)
    ls = layers(record)
    macs = sum(la.macs for la in ls)
    total = Stats.total(la.stats for la in ls)
    cells = total.cells
    per_step = {s: sum(la.stats.cycles for la in ls if la.name.startswith(s + ".")) / count
                for s in STEPS}
    by_op = {}
    for la in ls:
        m, c = by_op.get(la.call, (0, 0))
        by_op[la.call] = (m + la.macs, c + la.stats.cycles)
    return {
        "target": target, "cells": cells, "split_seed": SPLIT_SEED,
        "train_sums": 10_000 - HELD_OUT, "held_out": HELD_OUT, "calibration_sums": CALIBRATION,
        "float_accuracy": 1 - len(_wrong(held_out, float_answers)) / HELD_OUT,
        "float_wrong": _wrong(held_out, float_answers),
        "golden_accuracy": 1 - len(_wrong(held_out, golden)) / HELD_OUT,
        "golden_wrong": _wrong(held_out, golden),
        "count": count,
        "accelerator_accuracy": 1 - len(_wrong(pairs, answers)) / count,
        "accelerator_wrong": _wrong(pairs, answers),
        "golden_equal": bool(np.array_equal(answers, golden[:count])),
        "calls_per_sum": len(record) / count, "macs_per_sum": macs / count,
        "cycles_per_sum": total.cycles / count,
        "cycles_per_step": per_step,
        "cycles_per_token": total.cycles / count / ANSWER,
        "utilization_total": round(total.utilization_total, 4),
        "utilization_compute": round(total.utilization_compute, 4),
        "bytes_per_sum": (total.bytes_read + total.bytes_written) / count,
        "by_op": {op: {"cycles_per_sum": c / count,
                       "utilization_total": round(m / (cells * c), 4)}
                  for op, (m, c) in by_op.items()},
        "wall_s": round(wall_s, 1),
    }


#: the README's generated section
SECTION = ("adder figures", "docs/adder.json (python -m sw.nets.adder --markdown)")


def markdown(run):
    """The README's figures of the adder (from ``docs/adder.json``)."""
    r, n = run, run["held_out"]
    ops = ", ".join(f"{op} {v['cycles_per_sum']:,.0f} ({v['utilization_total']:.3f})"
                    for op, v in r["by_op"].items())
    steps = ", ".join(f"{s} {c:,.0f}" for s, c in r["cycles_per_step"].items())
    return "\n".join([
        "| model | held-out sums | exactly right | accuracy |", "|---|---|---|---|",
        f"| float (NumPy, the trained weights) | {n:,} | {n - len(r['float_wrong']):,} | "
        f"{r['float_accuracy']:.4f} |",
        f"| int8, golden model | {n:,} | {n - len(r['golden_wrong']):,} | "
        f"{r['golden_accuracy']:.4f} |",
        f"| int8, accelerator (`{r['target']}`) | {r['count']:,} | "
        f"{r['count'] - len(r['accelerator_wrong']):,} | {r['accelerator_accuracy']:.4f} |",
        "",
        f"The accelerator's answers are {'equal' if r['golden_equal'] else 'NOT equal'} to the "
        f"golden model's on all {r['count']:,} sums. Per sum ({r['cells']} cells): "
        f"{r['calls_per_sum']:.0f} accelerator calls, {r['macs_per_sum']:,.0f} MACs, "
        f"{r['cycles_per_sum']:,.0f} cycles ({r['cycles_per_token']:,.0f} per generated "
        f"token; by step: {steps}), {r['bytes_per_sum']:,.0f} bytes moved; utilization "
        f"{r['utilization_total']:.3f} total, {r['utilization_compute']:.3f} compute. Cycles per "
        f"sum by product (total utilization): {ops}. Wall time {r['wall_s']:,} s.",
    ])


def run(target="regmodel", count=None, progress=True):
    """Decode the first ``count`` held-out sums (all by default) on ``target`` and all of them
    on the golden and float models; returns (the summary dict, the first sum's accelerator
    calls as :func:`layers`)."""
    from sw.accelerator import Accelerator
    count = HELD_OUT if count is None else count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= HELD_OUT:
        raise ValueError(f"count must be an int in 1..{HELD_OUT}, got {count!r}")
    train_pairs, held_out = make_dataset()
    params = load_weights()
    q = QuantizedAdder.from_float(params, train_pairs[:CALIBRATION])
    pairs = held_out[:count]
    record = []
    start = time.perf_counter()
    with Accelerator.open(target) as acc:
        answers = q.decode(acc, pairs[:, 0], pairs[:, 1], record=record, progress=progress)
    wall = time.perf_counter() - start
    golden = q.golden_decode(held_out[:, 0], held_out[:, 1], progress=progress)
    float_answers = decode_float(params, held_out[:, 0], held_out[:, 1])
    first = record[:len(record) // count]  # the first sum's calls
    return summary(record, target=target, pairs=pairs, answers=answers, golden=golden,
                   float_answers=float_answers, wall_s=wall), layers(first, per_site=False)


def main(argv=None):
    from sw.targets import TARGET_NAMES
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="regmodel", choices=TARGET_NAMES)
    p.add_argument("--count", type=int, help=f"decode only the first N held-out sums on the "
                                             f"target (default: all {HELD_OUT})")
    p.add_argument("--json", help="write the run's figures here (docs/adder.json)")
    p.add_argument("--train", action="store_true",
                   help=f"only retrain with tinygrad and rewrite {WEIGHTS.name}")
    p.add_argument("--markdown", help="only rewrite the README's figures from this JSON")
    p.add_argument("--readme", default="README.md", help="the README --markdown rewrites")
    args = p.parse_args(argv)
    if args.markdown:
        from hw.spec.markdown import rewrite_section
        rewrite_section(args.readme, *SECTION,
                        markdown(json.loads(pathlib.Path(args.markdown).read_text())))
        return 0
    if args.train:
        start = time.perf_counter()
        params = train(make_dataset()[0], progress=True)
        save_weights(params)
        _, held_out = make_dataset()
        right = sums_of(decode_float(params, *held_out.T)) == held_out.sum(1)
        print(f"wrote {WEIGHTS} ({time.perf_counter() - start:.0f} s of training); float "
              f"accuracy on the {HELD_OUT} held-out sums {right.mean():.4f}")
        return 0
    from sw.nets.zoo import report
    figures, calls = run(args.target, args.count)
    print(f"the first sum's accelerator calls ({figures['target']}):")
    print(report(calls))
    print(markdown(figures))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0 if figures["golden_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
