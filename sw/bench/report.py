"""The README's performance section, generated from a committed ``make bench`` result.

``python -m sw.bench.report docs/bench.json --readme README.md`` (part of ``make docs``)
rewrites the section; a test fails when the README's figures differ from ``docs/bench.json``.
To publish new figures: ``make bench`` (writes ``build/bench.json``), copy it to
``docs/bench.json``, ``make docs``.
"""

from __future__ import annotations

import argparse
import json

from hw.spec.markdown import replace_section

__all__ = ["ROWS", "SECTION", "markdown", "main"]

SECTION = ("performance table", "docs/bench.json (python -m sw.bench.report)")

#: (record name, label) of the table's rows, in order
ROWS = (
    ("fc_64x256x256_int32", "FC 64x256x256, int32 out"),
    ("fc_64x256x256_int8", "FC 64x256x256, int8 out"),
    ("fc_128x128x128_int8", "FC 128x128x128, int8"),
    ("gemv_1x256x256_int32", "GEMV 1x256x256"),
    ("conv3x3_16to16_16x16_int8", "conv 3x3 16->16 on 16x16, int8+ReLU"),
    ("conv3x3_16to16_16x16_pool2", "same + 2x2 max-pool in hardware"),
    ("conv1x1_16to16_16x16_int8", "conv 1x1 16->16"),
    ("conv3x3_16to16_16x16_int32", "conv 3x3 int32, im2col (driver)"),
    ("conv3x3_per_tap_int32", "conv 3x3 int32, per-tap offsets (measured alternative)"),
    ("dwconv3x3_s1_8ch_24x24", "depthwise 3x3 s1"),
    ("dwconv3x3_s2_8ch_48x48", "depthwise 3x3 s2"),
    ("attn_T64_D128_h4", "attention T=64 D=128 4 heads"),
    ("decode16_D128_h4", "16-step decode, context 49-64"),
)


def _n(value):
    return f"{value:,}"


def markdown(records):
    """The generated section's text from a list of bench records (dicts)."""
    by_name = {r["name"]: r for r in records}
    missing = [name for name, _ in ROWS if name not in by_name]
    if missing:
        raise ValueError(f"the bench records lack {', '.join(missing)}")
    targets = sorted({by_name[name]["target"] for name, _ in ROWS})
    out = [f"Measured on {' and '.join(targets)} (the cycle counts are the same on every "
           "simulator):", "",
           "| layer | MACs | cycles | util. compute | util. total | limit |",
           "|---|---|---|---|---|---|"]
    for name, label in ROWS:
        r = by_name[name]
        limit = f"{r['limit']:.3f}" if "limit" in r else ""
        out.append(f"| {label} | {_n(r['macs'])} | {_n(r['cycles'])} | "
                   f"{r['utilization_compute']:.3f} | {r['utilization_total']:.3f} | {limit} |")
    decode = by_name["decode16_D128_h4"]
    im2col, taps = by_name["conv3x3_16to16_16x16_int32"], by_name["conv3x3_per_tap_int32"]
    out += ["",
            f"A decoding step at context 64 costs {_n(decode['last_token_macs'])} MACs and "
            f"{_n(decode['last_token_cycles'])} cycles; recomputing the 64-token prefix costs "
            f"{_n(decode['recompute_macs'])} MACs and {_n(decode['recompute_cycles'])} cycles. "
            f"The per-tap-offset experiment (through the registers, command by command) takes "
            f"{_n(taps['cycles'])} cycles at {taps['utilization_compute']:.3f} compute "
            f"utilization against im2col's {_n(im2col['cycles'])} as a program from memory."]
    suite = [r for r in records if r["name"].startswith("suite_")]
    if suite:
        total = sum(r["cycles"] for r in suite)
        busy = sum(r["busy_cycles"] for r in suite)
        worst = max(suite, key=lambda r: r["cycles"])
        out += ["", f"SCALE-Sim's 8-layer suite at 16x16 (int32 outputs, 128-bit memory port, "
                f"`suite_*` records): {_n(total)} cycles from doorbell to the last result in "
                f"memory (the issue's goal: <= 152,000) and {_n(busy)} busy cycles of the "
                f"compute unit (goal: <= 110,000); the largest share is {worst['name']} "
                f"({_n(worst['cycles'])} cycles)."]
    by_path = {r["name"]: r for r in records if r["name"].endswith(("_registers", "_program"))}
    pairs = sorted({n.rsplit("_", 1)[0] for n in by_path})
    lines = []
    for layer in pairs:
        reg, prog = by_path.get(layer + "_registers"), by_path.get(layer + "_program")
        if reg and prog:
            lines.append(f"{layer} {_n(reg['cycles'])} -> {_n(prog['cycles'])} cycles "
                         f"({reg['cycles'] / prog['cycles']:.1f}x)")
    if lines:
        out += ["", "Through the registers -> as a program from memory, same run: "
                + "; ".join(lines) + "."]
    speeds = []
    for target in targets:
        for key, what in (("sim_cycles_per_s", "per call, end to end"),
                          ("simulator_cycles_per_s", "in the simulator alone")):
            layers = [r[key] for r in records if r["target"] == target and r.get(key)
                      and r["name"].startswith(("fc_", "conv", "suite_"))
                      and r["cycles"] >= 10_000 and r.get("instructions")]
            if layers:
                speeds.append(f"{target} {what} {_n(min(layers))}-{_n(max(layers))}")
    if speeds:
        out += ["", f"Simulated cycles per wall-clock second of the FC and conv layers of at "
                f"least 10,000 cycles run as programs in that run: {'; '.join(speeds)} (end to "
                "end includes the driver's compiling and its choice of plan on the cycle model; "
                "the simulator's share includes the bulk memory transfers)."]
    fast = {r["name"]: r for r in records if r["name"].startswith("speed_")
            and r.get("sim_cycles_per_s")}
    parts = []
    for name in sorted({n.rsplit("_", 1)[0] for n in fast}):
        first, repeat = fast.get(name + "_first"), fast.get(name + "_repeat")
        if first and repeat:
            parts.append(f"{name[len('speed_'):]} ({_n(repeat['cycles'])} cycles): "
                         f"{_n(first['sim_cycles_per_s'])} first, "
                         f"{_n(repeat['sim_cycles_per_s'])} repeated, "
                         f"{_n(repeat.get('simulator_cycles_per_s') or 0)} in the simulator")
    if parts:
        target = next(iter(fast.values()))["target"]
        out += ["", f"On the `{target}` target (Verilator with its clock and memory in C++, no "
                "cocotb; `speed_*` records), simulated cycles per wall-clock second end to end "
                "of a layer's first call (the driver chooses its plan on the cycle model) and "
                "of a repeated call of the same shape, and in the simulator alone: "
                + "; ".join(parts) + "."]
    model = [(r["model_cycles"] / r["cycles"], r["name"]) for r in records
             if r.get("model_cycles") and r["cycles"]]
    if model:
        worst = max(model, key=lambda m: abs(m[0] - 1))
        out += ["", f"The register model predicts {len(model)} of these records within "
                f"{min(m[0] for m in model):.3f}-{max(m[0] for m in model):.3f}x the RTL's "
                f"cycles (worst: {worst[1]}, {worst[0]:.3f}; the issue's bound: 5 %)."]
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("records", help="bench JSON (e.g. docs/bench.json)")
    p.add_argument("--readme", help="rewrite the performance section of this README")
    args = p.parse_args(argv)
    with open(args.records) as f:
        text = markdown(json.load(f))
    if args.readme:
        with open(args.readme) as f:
            readme = f.read()
        with open(args.readme, "w") as f:
            f.write(replace_section(readme, *SECTION, text))
    else:
        print(text)


if __name__ == "__main__":
    main()
