"""Differential fuzzing, the gateware against the register model (verif/diff_fuzz.py): seeded
random sequences of accesses and commands in lockstep, every response, register and window word
compared. A failure prints the seed and the steps that led to it."""

import pytest

from hw.spec import Geometry
from sw.knobs import seed
from sw.targets.regmodel import RegisterModel
from sw.targets.sim.client import SimTransport
from verif.diff_fuzz import run_sequences

pytestmark = pytest.mark.block

G = Geometry.default(rows=4, cols=4, in_depth=32, acc_depth=16, out_depth=16)


def _run(simulator, sequences, first):
    print(f"seeds {first}..{first + sequences - 1}")
    with SimTransport(simulator, G) as rtl:
        _, events = run_sequences(rtl, RegisterModel(G), G, range(first, first + sequences))
    # the sequences reach what they are for
    for what in ("command ran", "command refused or NOP", "access while busy", "abort"):
        assert events.get(what, 0) >= sequences // 20, (what, events)


def test_rtl_and_register_model_agree():
    _run("verilator", 200, seed() * 100_000)


@pytest.mark.slow
def test_rtl_and_register_model_agree_long():
    _run("verilator", 2000, seed() * 100_000 + 50_000)
