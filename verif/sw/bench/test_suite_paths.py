"""The bench's SCALE-Sim suite and its register-vs-program comparison, on the register model."""

import numpy as np
import pytest

from sw import Accelerator
from sw.bench import paths, suite

pytestmark = pytest.mark.nosim


def test_suite_records_are_exact_and_total():
    with Accelerator.open("regmodel") as acc:
        recs = suite.records(acc, np.random.default_rng(3), "regmodel")
    assert [r.name for r in recs] == [f"suite_{name}" for name, _, _ in suite.LAYERS]
    assert all(r.stats.instructions > 0 and r.stats.bytes_read > 0 for r in recs)  # programs
    t = suite.totals(recs)
    assert t["cycles"] == sum(r.stats.cycles for r in recs) > t["busy_cycles"] > 0
    fc = recs[0].as_dict()
    assert fc["macs"] == 64 * 256 * 256 and fc["bytes_written"] == 64 * 256 * 4


def test_programs_beat_the_registers_on_the_same_layers():
    with Accelerator.open("regmodel") as acc, Accelerator.open("regmodel", dma=False) as reg:
        recs = paths.records(acc, np.random.default_rng(4), "regmodel", reg)
    assert [r.name for r in recs] == [f"{n}_{p}" for n in paths.LAYERS
                                      for p in ("registers", "program")]
    assert recs[0].stats.instructions == 0 and recs[1].stats.instructions > 0
    ratios = paths.speedups(recs)
    assert set(ratios) == set(paths.LAYERS) and min(ratios.values()) > 1.5, ratios
