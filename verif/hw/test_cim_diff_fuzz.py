"""Differential fuzzing of a compute-in-memory build (verif/diff_fuzz.py): the gateware
(Verilator) against the register model in lockstep, CIM_SHIFT and the CIM counters included in
the random accesses and comparisons, every response, register and window word compared."""

import pytest

from hw.spec import Geometry
from models.cim import CimConfig
from sw.knobs import seed
from sw.targets.regmodel import RegisterModel
from sw.targets.sim.client import SimTransport
from verif.diff_fuzz import run_sequences

pytestmark = pytest.mark.block

#: int8 cells, and weights sliced into 2-bit cells
CONFIGS = [CimConfig(2, 2, 5), CimConfig(2, 2, 4, 2)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["int8-cells", "2-bit-cells"])
def test_cim_rtl_and_register_model_agree(cfg):
    G = Geometry.default(rows=4, cols=4, in_depth=32, acc_depth=16, out_depth=16, cim=cfg)
    first, sequences = seed() * 100_000 + 13_000 + 1000 * CONFIGS.index(cfg), 80
    print(f"seeds {first}..{first + sequences - 1}")
    with SimTransport("verilator", G) as rtl:
        _, events = run_sequences(rtl, RegisterModel(G), G, range(first, first + sequences))
    for what in ("command ran", "command refused or NOP", "access while busy"):
        assert events.get(what, 0) >= sequences // 20, (what, events)
