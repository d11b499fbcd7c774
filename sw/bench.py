"""``make bench``: reference layers on the simulated accelerator, figures from its counters.

FC layers (this file), the convolution family (:mod:`sw.bench_conv`) and attention
(:mod:`sw.bench_attention`).

Prints cycles, MACs and utilization per layer and simulated cycles per second, and writes the
records to a JSON file (default build/bench.json). Utilization is measured by the hardware's
PERF_* counters: ``utilization_compute = MACs / (R*C*cycles with a vector in the array)``,
``utilization_total = MACs / (R*C*all cycles, data movement included)``.
"""

import argparse
import importlib
import json
import os
import time

import numpy as np

import models
from sw import Accelerator
from sw.accelerator import TARGETS

#: name, M, K, N, int8 output
FC_LAYERS = [
    ("fc_64x256x256_int32", 64, 256, 256, False),
    ("fc_64x256x256_int8", 64, 256, 256, True),
    ("fc_128x128x128_int8", 128, 128, 128, True),
    ("mlp_784x64_int8", 16, 784, 64, True),
    ("gemv_1x256x256_int32", 1, 256, 256, False),
    ("fc_ragged_50x100x30_int8", 50, 100, 30, True),
]


def run_fc(acc, name, M, K, N, int8, rng, target):
    x = rng.integers(-128, 128, (M, K), dtype=np.int8)
    w = rng.integers(-128, 128, (N, K), dtype=np.int8)
    b = rng.integers(-2**15, 2**15, N, dtype=np.int32)
    kw = dict(scale=1 / 2048, zero_point=0, relu=True) if int8 else {}
    t = time.perf_counter()
    y = acc.linear(x, w, b, **kw)
    wall = time.perf_counter() - t
    if not np.array_equal(y, models.linear(x, w, b, **kw)):
        raise AssertionError(f"{name}: result differs from the golden model")
    s = acc.stats
    return {"name": name, "target": target, "op": "linear", "shape": [M, K, N],
            "mapping": "weight-stationary K x N tiles, x resident, K tiles accumulated in hw",
            "macs": s.macs, "cycles": s.cycles, "compute_cycles": s.compute_cycles,
            "busy_cycles": s.busy_cycles, "stall_cycles": s.stall_cycles,
            "bus_words": s.bus_words_written + s.bus_words_read,
            "utilization_compute": round(s.utilization_compute, 4),
            "utilization_total": round(s.utilization_total, 4),
            "wall_s": round(wall, 2), "sim_cycles_per_s": round(s.cycles / wall) if wall else None}


#: modules with a ``records(acc, rng, target)`` function; ``--only conv`` selects one
SUITES = ("bench_conv", "bench_conv_taps", "bench_attention")


def _print(r):
    wall = r.get("wall_s") or 0
    rate = round(r["cycles"] / wall) if wall else "-"
    print(f"{r['name'][:28]:28} {r['macs']:>10} {r['cycles']:>9} {r['compute_cycles']:>8} "
          f"{r['utilization_compute']:>7.3f} {r['utilization_total']:>7.3f} "
          f"{wall:>7.1f} {rate:>7}")


def _open(target):
    acc = Accelerator.open(target)
    g = acc.geometry
    print(f"{target}: {g.rows}x{g.cols} array, {g.banks} banks, latency {acc.latency} cycles")
    print(f"{'layer':28} {'MACs':>10} {'cycles':>9} {'compute':>8} {'util_c':>7} "
          f"{'util_t':>7} {'wall s':>7} {'cyc/s':>7}")
    return acc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="icarus", choices=TARGETS)
    p.add_argument("--attention-target", choices=TARGETS,
                   help="target of the attention suite (default: verilator when --target is "
                        "icarus: its 16-step decode moves ~1M bus words, ~40 min on Icarus; "
                        "the cycle counts are the same on every simulator)")
    p.add_argument("-o", "--output", default="build/bench.json")
    p.add_argument("--only", help="run only layers or suites whose name contains this")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    attention_target = args.attention_target or (
        "verilator" if args.target == "icarus" else args.target)
    rng = np.random.default_rng(args.seed)
    print(f"seed={args.seed}")
    records = []
    with _open(args.target) as acc:
        for name, M, K, N, int8 in FC_LAYERS:
            if args.only and args.only not in name:
                continue
            r = run_fc(acc, name, M, K, N, int8, rng, args.target)
            records.append(r)
            _print(r)
        for suite in SUITES:
            if args.only and args.only not in suite:
                continue
            module = importlib.import_module(f"sw.{suite}")
            if suite == "bench_attention" and attention_target != args.target:
                with _open(attention_target) as other:
                    batch = module.records(other, rng, attention_target)
            else:
                batch = module.records(acc, rng, args.target)
            for r in batch:
                records.append(r)
                _print(r)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(records, f, indent=1)
    print(f"wrote {args.output} ({len(records)} records)")


if __name__ == "__main__":
    main()
