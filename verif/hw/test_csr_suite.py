"""The CSR suite (verif/csr_suite.py, generated from the register map) on the gateware, in
Icarus and in Verilator, with the same expectations as on the register model
(verif/sw/targets/test_csr_regmodel.py)."""

import pytest

from hw.spec import Geometry
from sw.knobs import seed
from sw.targets.sim.client import SimTransport
from verif import csr_suite

pytestmark = pytest.mark.block

GEOMETRIES = {
    "4x4": Geometry.default(rows=4, cols=4, in_depth=32, acc_depth=16, out_depth=16),
    "12x6x3": Geometry.default(rows=12, cols=6, banks=3, in_depth=40, acc_depth=24, out_depth=20),
}


@pytest.mark.parametrize("simulator, name, stalls", [
    ("icarus", "4x4", False), ("icarus", "12x6x3", False), ("icarus", "12x6x3", True),
    ("verilator", "4x4", False)])
def test_csr_suite_on_the_gateware(simulator, name, stalls):
    s = seed()
    print(f"seed={s}")
    with SimTransport(simulator, GEOMETRIES[name], stall_seed=s if stalls else None) as dev:
        accesses = csr_suite.run(dev, GEOMETRIES[name], s)
    print(f"{accesses} bus accesses")
