"""``python -m sw.soc`` (``make soc``): build the RISC-V system and its firmware, classify the
first test images of the digits MLP on it in every mode (:data:`.build.MODES`), check every
printed logit against the golden model, and print the core cycles per inference with and
without the accelerator and the speed-up.

``--json`` writes the figures (docs/soc.json for the committed ones), ``--readme`` rewrites the
README's table from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from hw.spec import Geometry

from . import build, mlp

__all__ = ["SECTION", "Record", "check", "markdown", "measure"]

#: the README's generated section (hw.spec.markdown)
SECTION = ("soc figures", "`python -m sw.soc --json docs/soc.json --readme README.md` (`make soc`)")
TOP_FUNCTIONS = 4
CORE = "PicoRV32 (rv32im, fast multiplier, barrel shifter)"


@dataclasses.dataclass(frozen=True)
class Record:
    """One firmware's figures: clock cycles per inference (the core waits for the accelerator,
    so they are the core's cycles), of those the accelerator's programs, the setup."""
    mode: str
    on_accelerator: str
    images: int
    batch: int
    cycles_per_inference: int
    accelerator_cycles: int
    setup_cycles: int
    golden: bool
    #: where the cycles of an inference go: the firmware's functions with the most, per
    #: inference (the testbench's profile; batch-1 records only)
    top_functions: tuple = ()

    def as_dict(self):
        return dataclasses.asdict(self)


def check(run: build.Run, expected: mlp.Golden) -> list[str]:
    """What differs between a run's output and the golden model (empty when nothing)."""
    problems = []
    if run.exit_code != 0:
        problems.append(f"exit code {run.exit_code}")
    n = len(expected.labels)
    if len(run.logits) != n:
        problems.append(f"{len(run.logits)} images printed, expected {n}")
    elif not np.array_equal(np.array(run.logits, dtype=np.int64), expected.logits):
        problems.append("logits differ from the golden model")
    if len(run.logits) == n:
        if list(run.predicted) != expected.predicted.tolist():
            problems.append(f"predicted {list(run.predicted)}, golden "
                            f"{expected.predicted.tolist()}")
        if list(run.labels) != expected.labels.tolist():
            problems.append(f"labels {list(run.labels)}, expected {expected.labels.tolist()}")
    return problems


def measure(geometry: Geometry, images: int, modes=tuple(build.MODES), jobs: int = 2,
            log=print) -> tuple[list[Record], list[str]]:
    """Build and run every mode; (records, problems)."""
    t = time.monotonic()
    system = build.build(geometry, jobs)
    log(f"system {system.directory.name} ({time.monotonic() - t:.1f} s)")
    expected = mlp.golden(images)
    records, problems = [], []
    for mode in modes:
        fw = build.firmware(mode, images)
        run = system.run(fw, profile=True)
        log(f"-- {mode}: {run.cycles:,} cycles simulated in {run.sim_seconds:.1f} s")
        log(run.output.rstrip())
        bad = check(run, expected)
        problems += [f"{mode}: {p}" for p in bad]
        top = tuple((name, cycles // images) for name, cycles in
                    list(build.functions(fw.elf, run.profile or {}).items())[:TOP_FUNCTIONS])
        records.append(Record(mode, build.MODES[mode][1], images, 1, run.cycles_per_inference,
                              sum(run.accelerator_cycles) // max(len(run.accelerator_cycles), 1),
                              run.setup_cycles or 0, not bad, top))
        if run.batch_cycles:
            records.append(Record(mode, build.MODES[mode][1], images, images,
                                  run.batch_cycles // images,
                                  run.batch_accelerator_cycles // images, run.setup_cycles or 0,
                                  not bad))
    return records, problems


def markdown(data: dict) -> str:
    """The README's table of a docs/soc.json."""
    g = data["geometry"]
    records = data["records"]
    base = next((r["cycles_per_inference"] for r in records if r["mode"] == "cpu"), None)
    lines = [f"{data['core']} and pimacc {g['rows']}x{g['cols']} ({g['banks']} banks, "
             f"{g['mem_bits']}-bit memory port) on one RAM; the digits MLP 64-64-10 in int8 on "
             f"the first {data['images']} test images, every logit equal to the golden model:",
             "",
             "| firmware | on the accelerator | images per call | core cycles per inference "
             "| of which the accelerator ran | speed-up | setup cycles |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        speedup = f"{base / r['cycles_per_inference']:.2f}x" if base else "-"
        lines.append(f"| `{r['mode']}` | {r['on_accelerator']} | {r['batch']} | "
                     f"{r['cycles_per_inference']:,} | {r['accelerator_cycles']:,} | {speedup} | "
                     f"{r['setup_cycles']:,} |")
    lines += ["", "Where a batch-1 inference's cycles go (the testbench's profile: each cycle "
              "counted against the instruction the core fetched last; static functions the "
              "compiler inlined count as their caller):", "",
              "| firmware | cycles per inference, by function |", "|---|---|"]
    for r in records:
        if r["batch"] == 1 and r["top_functions"]:
            parts = [f"`{name}` {cycles:,} ({100 * cycles / r['cycles_per_inference']:.0f} %)"
                     for name, cycles in r["top_functions"]]
            lines.append(f"| `{r['mode']}` | {', '.join(parts)} |")
    return "\n".join(lines)


def main(argv=None):
    from hw.spec.markdown import replace_section
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in Geometry.default().as_dict().items():
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    p.add_argument("--images", type=int, default=8, help="test images to classify (1..64)")
    p.add_argument("--modes", default=",".join(build.MODES),
                   help=f"firmware builds to run, of {','.join(build.MODES)}")
    p.add_argument("--jobs", type=int, default=2, help="parallel compilations (make -j)")
    p.add_argument("--json", help="write the figures here (docs/soc.json)")
    p.add_argument("--readme", help="rewrite the RISC-V system's table in this README")
    args = p.parse_args(argv)
    geometry = Geometry(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Geometry)})
    records, problems = measure(geometry, args.images, args.modes.split(","), args.jobs)
    data = {"core": CORE, "geometry": geometry.as_dict(), "images": args.images,
            "records": [r.as_dict() for r in records]}
    table = markdown(data)
    print()
    print(table)
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    if problems:
        return 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        with open(args.readme, "w") as f:
            f.write(replace_section(text, *SECTION, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
