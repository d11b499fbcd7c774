"""The CSR suite (verif/csr_suite.py, generated from the register map) on the register model.
The same suite runs on Icarus and Verilator in verif/hw/test_csr_suite.py."""

import pytest

from hw.spec import Geometry
from sw.knobs import seed
from sw.targets.regmodel import RegisterModel
from verif import csr_suite

pytestmark = pytest.mark.nosim

GEOMETRIES = {
    "4x4": Geometry.default(rows=4, cols=4, in_depth=32, acc_depth=16, out_depth=16),
    "12x6x3": Geometry.default(rows=12, cols=6, banks=3, in_depth=40, acc_depth=24, out_depth=20),
    "5x3x1": Geometry.default(rows=5, cols=3, banks=1, in_depth=7, acc_depth=5, out_depth=3),
    "16x16": Geometry.default(),
}


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_csr_suite_on_the_register_model(name):
    s = seed()
    print(f"seed={s}")
    accesses = csr_suite.run(RegisterModel(GEOMETRIES[name]), GEOMETRIES[name], s)
    print(f"{accesses} bus accesses")
