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


def test_stopwatch_splits_the_simulators_share():
    from types import SimpleNamespace

    from sw.bench.record import Record, Stopwatch
    from sw.driver.stats import Stats

    transport = SimpleNamespace(sim_seconds=1.0)
    watch = Stopwatch(SimpleNamespace(transport=transport))
    transport.sim_seconds = 1.25  # the host waited a quarter second for the simulator
    wall, sim = watch.stop()
    assert sim == 0.25 and wall >= 0
    d = Record("x", "verilator", "linear", Stats(cycles=1000), 0.5, sim_s=0.25).as_dict()
    assert d["sim_cycles_per_s"] == 2000 and d["simulator_cycles_per_s"] == 4000
    # the register model has no simulator: no simulator speed
    assert Record("x", "regmodel", "linear", Stats(cycles=10), 0.1).as_dict()[
        "simulator_cycles_per_s"] is None
