"""``make bench``: reference layers on the simulated accelerator, figures from its counters.

Prints cycles, MACs and utilization per layer and simulated cycles per second, and writes the
records to a JSON file (default build/bench.json). Utilization is measured by the hardware's
PERF_* counters: ``utilization_compute = MACs / (R*C*cycles with a vector in the array)``,
``utilization_total = MACs / (R*C*all cycles, data movement included)``.
"""

import argparse
import importlib
import json
import os

import numpy as np

from sw import Accelerator
from sw.targets import TARGET_NAMES, canonical

from .record import print_header, print_record

#: suites in running order (modules of sw.bench with ``records(acc, rng, target)``)
SUITES = ("fc", "conv", "conv_taps", "suite", "paths", "attention")


def _open(target):
    acc = Accelerator.open(target)
    g = acc.geometry
    print(f"{target}: {g.rows}x{g.cols} array, {g.banks} banks, latency {acc.latency} cycles")
    print_header()
    return acc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="icarus", choices=TARGET_NAMES)
    p.add_argument("--attention-target", choices=TARGET_NAMES,
                   help="target of the attention suite (default: verilator when --target is "
                        "icarus: its 16-step decode moves ~1M bus words, ~40 min on Icarus; "
                        "the cycle counts are the same on every simulator)")
    p.add_argument("-o", "--output", default="build/bench.json")
    p.add_argument("--only", help="run only FC layers or suites whose name contains this")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    target = canonical(args.target)
    attention_target = canonical(args.attention_target or (
        "verilator" if target == "icarus" else target))
    rng = np.random.default_rng(args.seed)
    print(f"seed={args.seed}")
    records = []
    with _open(target) as acc:
        for suite in SUITES:
            module = importlib.import_module(f"sw.bench.{suite}")
            if suite == "fc":
                batch = module.records(acc, rng, target, only=args.only)
            elif args.only and args.only not in suite:
                continue
            elif suite == "attention" and attention_target != target:
                with _open(attention_target) as other:
                    batch = module.records(other, rng, attention_target)
            elif suite == "paths":
                with Accelerator.open(target, dma=False) as registers:
                    batch = module.records(acc, rng, target, registers)
            else:
                batch = module.records(acc, rng, target)
            for r in batch:
                records.append(r)
                print_record(r)
            if suite == "suite":
                t = module.totals(batch)
                print(f"suite total: {t['cycles']} cycles (goal <= {t['goal_cycles']}), "
                      f"{t['busy_cycles']} busy (goal <= {t['goal_busy_cycles']})")
            if suite == "paths":
                for layer, ratio in module.speedups(batch).items():
                    print(f"{layer}: programs take {ratio}x fewer cycles than the registers")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump([r.as_dict() for r in records], f, indent=1)
    print(f"wrote {args.output} ({len(records)} records)")


if __name__ == "__main__":
    main()
