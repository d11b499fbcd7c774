"""The register model's cycle model against the RTL on every bench layer (issue 9: within 5 %).

``docs/bench.json`` is a ``make bench`` run on Verilator (the RTL with its memory); this test
runs the same suites, seed and data on the register model now and compares the cycles record
by record. It also fails when the driver or the model changed the figures without the bench
being rerun (``make bench``, copy build/bench.json to docs/, ``make docs``).
"""

import json
import pathlib

import pytest

from sw.bench.__main__ import MODEL_TOLERANCE, model_report, run

pytestmark = pytest.mark.nosim

BENCH = pathlib.Path(__file__).resolve().parents[3] / "docs" / "bench.json"


def test_register_model_predicts_every_bench_layer():
    rtl = json.loads(BENCH.read_text())
    # (the speed_* records run on the harness: the same Verilated RTL, its memory in C++)
    assert {r["target"] for r in rtl if not r["name"].startswith("speed_")} == {"verilator"}
    assert {r["target"] for r in rtl if r["name"].startswith("speed_")} == {"harness"}
    model = {r.name: r.stats.cycles for r in run("regmodel", "regmodel", 7, echo=False)}
    assert set(model) == {r["name"] for r in rtl}
    # the committed run recorded the model's figures of its time: still today's
    stale = [(r["name"], r.get("model_cycles"), model[r["name"]]) for r in rtl
             if r.get("model_cycles") != model[r["name"]]]
    assert not stale, f"docs/bench.json is stale (name, recorded, now): {stale}"
    print(model_report(rtl))
    bad = [(r["name"], r["model_cycles"], r["cycles"]) for r in rtl
           if abs(r["model_cycles"] / r["cycles"] - 1) > MODEL_TOLERANCE]
    assert not bad, f"model vs RTL cycles beyond {MODEL_TOLERANCE:.0%}: {bad}"
