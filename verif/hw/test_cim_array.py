# amaranth: UnusedElaboratable=no
"""hw.cim_array.CimArray in a simulator (cocotb: cocotb_cim_array.py) at several settings."""

import pytest

from hw.cim_array import CimArray
from models.cim import CimConfig
from sw.knobs import seed
from sw.targets.sim.build import build_verilog
from verif.cocotb_util import run_cocotb
from verif.hw.block_util import stream_payloads

pytestmark = pytest.mark.block

#: (rows, cols, banks, config, windows)
SETTINGS = [
    (8, 4, 2, CimConfig(1, 4, 5), (0, 2, 5)),
    (16, 4, 2, CimConfig(2, 8, 7), (0, 3, 8)),
    (12, 3, 3, CimConfig(4, 5, 6), (0, 5, 9)),
    (16, 16, 2, CimConfig(8, 16, 10), (0, 9, 12)),
    (16, 8, 2, CimConfig(1, 16, 13), (0,)),   # wide enough to be exact
    (8, 4, 2, CimConfig(2, 4, 6, 2), (0, 2, 6)),   # weights sliced into 2-bit cells
    (16, 4, 2, CimConfig(1, 8, 5, 4), (0, 3, 7)),  # ... into 4-bit cells
]


#: the weight stores each setting is built with (the RAM store on the smaller ones)
STORES = [("ff", "ram"), ("ff", "ram"), ("ff", "ram"), ("ff",), ("ff",), ("ff",), ("ff",)]
CASES = [(*setting, store) for setting, stores in zip(SETTINGS, STORES, strict=True)
         for store in stores]


@pytest.mark.parametrize(("rows", "cols", "banks", "config", "shifts", "weight_store"), CASES,
                         ids=[f"{r}x{c}x{b}-B{k.bits_per_cycle}G{k.group_rows}A{k.adc_bits}"
                              + (f"C{k.cell_bits}" if k.sliced else "")
                              + ("" if store == "ff" else f"-{store}")
                              for r, c, b, k, _, store in CASES])
def test_cim_array(rows, cols, banks, config, shifts, weight_store):
    tag_width = 3
    array = CimArray(rows, cols, banks, tag_width, config=config, weight_store=weight_store)
    s = seed()
    print(f"seed={s}")
    key = (f"cim_array_{rows}x{cols}x{banks}t{tag_width}_b{config.bits_per_cycle}"
           f"g{config.group_rows}a{config.adc_bits}"
           + (f"c{config.cell_bits}" if config.sliced else "")
           + ("" if weight_store == "ff" else f"_{weight_store}"))
    build = build_verilog(lambda: CimArray(rows, cols, banks, tag_width, config=config,
                                           weight_store=weight_store), "cim_array", key)
    run_cocotb(build, "verif.hw.cocotb_cim_array",
               params=dict(rows=rows, cols=cols, banks=banks, latency=array.latency, seed=s,
                           tag_width=tag_width, config=config.as_dict(), shifts=list(shifts),
                           payloads=stream_payloads(array, "i", "o")))
