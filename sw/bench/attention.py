"""Benchmark records of quantized attention: a full causal layer and a 16-step KV-cache decode.

:func:`records` runs, on an open accelerator, multi-head causal self-attention with T = 64,
D = 128, 4 heads (one record per matrix product and one for the layer), then the same sequence
as a 48-token prompt followed by 16 single-token decoding steps (one record per kind of product
summed over the 16 steps, and one for the decode with the per-token cost next to the cost of
recomputing the whole 64-token prefix), and the alternative softmax split that runs the
exponential in the LUT stage (:func:`_exp_on_lut_stage`). Every result is checked exactly
against the golden pipeline, and the decoded rows against the full layer. ``sw.bench`` calls
it; run alone with ``python -m sw.bench.attention --target verilator``.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import models
from models.attention import quantize

from ..accelerator import Accelerator
from ..driver.stats import Stats
from ..nn import Attention
from ..targets import TARGET_NAMES
from .record import Record, Stopwatch

__all__ = ["records"]

T, D, HEADS, PROMPT = 64, 128, 4, 48
MAPPING = {
    "qkv": "x streams through W_q|W_k|W_v (one [3D, D] weight-stationary product)",
    "scores": "q_h streams through the keys K_h as resident weights; int8 scores",
    "pv": "V_h^T columns stream through the exponentials e as weights; per-query "
          "requantization does the softmax normalisation",
    "out": "context streams through W_o; int32 out, dequantized on the host",
}


def _layer(rng):
    ws = [rng.standard_normal((D, D)) / math.sqrt(D) for _ in range(4)]
    bs = {n: 0.1 * rng.standard_normal(D) for n in ("bq", "bk", "bv", "bo")}
    return Attention.from_float(*ws, heads=HEADS, causal=True,
                                calibration=rng.standard_normal((8, T, D)), **bs)


def _exp_on_lut_stage(acc, attn, x, name, target):
    """Head 0's exponentials computed on the accelerator instead of the host, for comparison.

    The row max must be known before the LUT stage can apply ``exp(z - max)``, so it takes two
    passes over K.Q^T (keys as the input vectors, queries as the weight columns): the first
    with CMD_POOL = T, whose GroupMax stage returns each query's max over all keys (T bytes
    read back); the second with ``-max`` folded into each query column's bias and the exp table
    in the LUT stage. Twice the MACs of the host split; and in a causal layer the max would
    include masked future keys, which a decoding step cannot see, so decoding would no longer
    be bit-identical to the full layer.
    """
    p = attn.params
    qkv = models.linear(quantize(x, p.x_scale), p.w_qkv, p.b_qkv, scale=p.qkv_scale)
    q, k = qkv[:, :p.head_dim], qkv[:, p.dim:p.dim + p.head_dim]
    start = time.perf_counter()
    z_max = acc.linear(k, q, scale=p.score_scale, pool=k.shape[0])
    first = acc.stats
    bias = -np.rint(z_max[0] / p.score_scale).astype(np.int32)
    e_t = acc.linear(k, q, bias, scale=p.score_scale, lut=p.exp_lut)
    wall = time.perf_counter() - start
    expect = models.linear(k, q, bias, scale=p.score_scale, lut=p.exp_lut)
    if not np.array_equal(e_t, expect) or \
            not np.array_equal(z_max[0], models.linear(q, k, scale=p.score_scale).max(axis=1)):
        raise AssertionError(f"{name}: exponentials on the LUT stage differ from golden")
    return Record(name, target, "scores+exp", Stats.total([first, acc.stats]), wall,
                  mapping="K streams through Q: pass 1 GroupMax (row max), pass 2 bias -max "
                          "and the exp table in the LUT stage",
                  extra={"shape": [k.shape[0], p.head_dim, q.shape[0]]})


def records(acc, rng, target) -> list[Record]:
    """Run the attention layer and the decode on ``acc``; return the benchmark records.

    Raises
    ------
    AssertionError
        If a result differs from the golden pipeline or decoding from the full layer.
    """
    attn = _layer(rng)
    x = rng.standard_normal((T, D)).astype(np.float32)
    layer = f"attn_T{T}_D{D}_h{HEADS}"  # causal; names fit sw.bench's 28 columns
    out = []

    watch = Stopwatch(acc)
    full = attn(acc, x)
    wall, sim = watch.stop()
    if not np.array_equal(full, attn.golden(x)):
        raise AssertionError(f"{layer}: result differs from the golden pipeline")
    heads = {}
    for r in attn.records:
        i = heads[r["op"]] = heads.get(r["op"], -1) + 1
        suffix = f"_h{i}" if r["op"] in ("scores", "pv") else ""
        out.append(Record(f"{layer}/{r['op']}{suffix}", target, r["op"], r["stats"],
                          r["wall_s"], mapping=MAPPING[r["op"]], extra={"shape": r["shape"]}))
    layer_stats = Stats.total([r["stats"] for r in attn.records])
    out.append(Record(layer, target, "attention", layer_stats, wall, sim_s=sim,
                      extra={"shape": [T, D, HEADS], "causal": True}))
    out.append(_exp_on_lut_stage(acc, attn, x, f"{layer}/lut_exp_h0", target))

    cache = attn.kv_cache(T)
    start = time.perf_counter()
    rows = [attn.step(acc, x[:PROMPT], cache)]
    prompt_stats = Stats.total([r["stats"] for r in attn.records])
    out.append(Record(f"prefill{PROMPT}_D{D}_h{HEADS}", target, "prefill", prompt_stats,
                      time.perf_counter() - start, extra={"shape": [PROMPT, D, HEADS]}))
    by_op, step_stats, watch = {}, [], Stopwatch(acc)
    for t in range(PROMPT, T):
        rows.append(attn.step(acc, x[t:t + 1], cache))
        for r in attn.records:
            by_op.setdefault(r["op"], []).append(r["stats"])
        step_stats.append(Stats.total([r["stats"] for r in attn.records]))
    wall, sim = watch.stop()
    if not np.array_equal(np.concatenate(rows), full):
        raise AssertionError("decoding differs from the full causal layer")
    steps = T - PROMPT
    decode = f"decode{steps}_D{D}_h{HEADS}"
    for op, stats in by_op.items():
        out.append(Record(f"{decode}/{op}", target, op, Stats.total(stats), None,
                          mapping=MAPPING[op], extra={"steps": steps}))
    last = step_stats[-1]
    out.append(Record(decode, target, "decode", Stats.total(step_stats), wall, sim_s=sim, extra={
        "steps": steps, "context": [PROMPT + 1, T], "last_token_macs": last.macs,
        "last_token_cycles": last.cycles, "recompute_macs": layer_stats.macs,
        "recompute_cycles": layer_stats.cycles}))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="regmodel", choices=TARGET_NAMES)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-o", "--output", help="also write the records to this JSON file")
    args = p.parse_args(argv)
    print(f"seed={args.seed}")
    with Accelerator.open(args.target) as acc:
        recs = [r.as_dict() for r in records(acc, np.random.default_rng(args.seed), args.target)]
    print(f"{'record':50} {'MACs':>9} {'cycles':>8} {'compute':>8} {'util_c':>7} {'util_t':>7}")
    for r in recs:
        print(f"{r['name']:50} {r['macs']:>9} {r['cycles']:>8} {r['compute_cycles']:>8} "
              f"{r['utilization_compute']:>7.3f} {r['utilization_total']:>7.3f}")
    d = recs[-1]
    print(f"last decoding step: {d['last_token_macs']} MACs, {d['last_token_cycles']} cycles; "
          f"recomputing the {T}-token layer: {d['recompute_macs']} MACs, "
          f"{d['recompute_cycles']} cycles")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(recs, f, indent=1)


if __name__ == "__main__":
    main()
