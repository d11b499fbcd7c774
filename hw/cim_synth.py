"""Synthesis of the VMM array alone, digital (also pipelined) and in compute-in-memory mode, for
an ECP5 (``hw.synth``'s flow: Yosys ``synth_ecp5`` and nextpnr-ecp5 out of context, the same
part, speed grade and seed).

``python -m hw.cim_synth`` synthesizes :data:`DESIGNS` (8x8, 2 banks) and records their figures
in ``docs/cim.json`` (``head["synthesis"]``), from which ``python -m sw.cim --from-json
--readme README.md`` writes the README's table. Each design takes 5 to 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess

from models.cim import CimConfig

from . import synth
from .cim_array import CimArray
from .vmm_array import VmmArray

__all__ = ["DESIGNS", "run"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
JSON = ROOT / "docs" / "cim.json"
SHAPE = (8, 8, 2)
#: name -> (what, the CimConfig or None for the digital array[, VmmArray's pipeline[, its
#: mult_cells]])
DESIGNS = {
    "digital": ("VmmArray (exact digital)", None),
    "digital_p1": ("VmmArray, the input broadcast registered (pipeline=1, +1 cycle)", None, 1),
    "digital_p2": ("VmmArray, broadcast and products registered (pipeline=2, +2 cycles)",
                   None, 2),
    "digital_p2_dsp": ("VmmArray, pipeline=2 with those registers inside the MULT18X18D "
                       "blocks (mult_cells=\"ecp5\")", None, 2, "ecp5"),
    "cim_b1_g8_a6": ("CimArray, 1 bit per cycle, groups of 8, 6-bit ADC", CimConfig(1, 8, 6)),
    "cim_b2_g8_a8": ("CimArray, 2 bits per cycle, groups of 8, 8-bit ADC", CimConfig(2, 8, 8)),
    "cim_b8_g8_a10": ("CimArray, 8 bits per cycle, groups of 8, 10-bit ADC",
                      CimConfig(8, 8, 10)),
}


def run(name, build_root=ROOT / "build" / "cim_synth", reuse=True):
    """Synthesize one of :data:`DESIGNS`; returns its record (a dict). With ``reuse`` a run
    whose Verilog is the same as the last one's in ``build_root`` is not repeated."""
    what, cfg, *options = DESIGNS[name]
    pipeline, mult_cells = (*options, *(0, "inferred")[len(options):])
    r, c, b = SHAPE
    design = (VmmArray(r, c, b, pipeline=pipeline, mult_cells=mult_cells) if cfg is None
              else CimArray(r, c, b, config=cfg))
    build = pathlib.Path(build_root) / name
    build.mkdir(parents=True, exist_ok=True)
    verilog, source = build / f"{synth.TOP}.v", build / "source.v"
    text = synth.verilog_text(design)
    seconds = build / "seconds.json"
    if (reuse and source.exists() and source.read_text() == text
            and (build / "report.json").exists() and seconds.exists()):
        report = synth.parse_report(json.loads((build / "report.json").read_text()))
    else:  # the netlist's input changed (or no run yet): run both tools
        verilog.write_text(text)
        _, yosys_s = synth.run_yosys(build)
        report, nextpnr_s = synth.run_nextpnr(build)
        source.write_text(text)
        seconds.write_text(json.dumps({"yosys": yosys_s, "nextpnr": nextpnr_s}))
    took = json.loads(seconds.read_text())
    return {"name": name, "what": what, "shape": list(SHAPE),
            "config": None if cfg is None else cfg.as_dict(), "lut4": report["lut4"],
            "ff": report["ff"], "dsp": report["dsp"], "fmax_mhz": report["fmax_mhz"],
            "minutes": round((took["yosys"] + took["nextpnr"]) / 60, 1),
            "tools": synth._tool_versions(), "commit": _commit()}


def _commit():
    """HEAD, and whether the arrays' sources differ from it (their figures are the tree's)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    files = ["hw/cim_array.py", "hw/vmm_array.py", "models/cim.py"]
    return {"head": git("rev-parse", "--short=12", "HEAD").stdout.strip(),
            "arrays_modified": git("diff", "--quiet", "HEAD", "--", *files).returncode != 0}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=list(DESIGNS), choices=list(DESIGNS))
    p.add_argument("--json", default=str(JSON), help="the record to add the figures to")
    p.add_argument("--again", action="store_true", help="run the tools even if the Verilog "
                   "is the same as the last run's")
    args = p.parse_args(argv)
    path = pathlib.Path(args.json)
    for name in args.names:
        rec = run(name, reuse=not args.again)
        print(json.dumps(rec))
        record = json.loads(path.read_text())  # re-read: other runs may have added theirs
        done = [s for s in record["head"].get("synthesis", []) if s["name"] != name]
        order = list(DESIGNS)
        record["head"]["synthesis"] = sorted(done + [rec], key=lambda s: order.index(s["name"]))
        path.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
