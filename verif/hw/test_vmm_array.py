# amaranth: UnusedElaboratable=no
"""hw.vmm_array.VmmArray alone in a simulator (the cocotb tests are in cocotb_vmm_array.py).

The first line lets a VmmArray be made just to read its latency."""

import math

import pytest

from hw.vmm_array import WEIGHT_STORES, VmmArray
from sw.knobs import seed
from sw.targets.sim.build import build_verilog
from verif.cocotb_util import run_cocotb
from verif.hw.block_util import stream_payloads

pytestmark = pytest.mark.block

#: (rows, cols, banks)
SHAPES = [(4, 4, 2), (8, 8, 2), (16, 16, 2), (8, 16, 2), (5, 3, 2), (5, 3, 3), (9, 2, 2),
          (4, 4, 16)]


def documented_latency(rows):
    """The docstring's ``1 + max(1, ceil(log2(R) / 2))``: 2 for R <= 4, 3 for R <= 16."""
    return 1 + max(1, math.ceil(math.log2(rows) / 2))


#: (rows, cols, banks, logic_columns): columns summed in logic (``VmmArray(logic_columns=)``)
LOGIC_SHAPES = [(8, 4, 2, 2), (5, 3, 3, 3)]


@pytest.mark.parametrize("weight_store", WEIGHT_STORES)
@pytest.mark.parametrize(("rows", "cols", "banks", "logic_columns"),
                         [(*s, 0) for s in SHAPES] + LOGIC_SHAPES,
                         ids=[f"{r}x{c}x{b}" + (f"-l{n}" if n else "")
                              for r, c, b, n in [(*s, 0) for s in SHAPES] + LOGIC_SHAPES])
def test_vmm_array(rows, cols, banks, logic_columns, weight_store):
    tag_width = 5
    array = VmmArray(rows, cols, banks, tag_width, weight_store=weight_store,
                     logic_columns=logic_columns)
    latency = array.latency
    assert latency == documented_latency(rows)
    s = seed()
    print(f"seed={s}")
    suffix = ("" if weight_store == "ff" else f"_{weight_store}") + \
        (f"_l{logic_columns}" if logic_columns else "")
    build = build_verilog(lambda: VmmArray(rows, cols, banks, tag_width,
                                           weight_store=weight_store,
                                           logic_columns=logic_columns), "vmm_array",
                          f"vmm_array_{rows}x{cols}x{banks}t{tag_width}{suffix}")
    run_array_harness(build, array, s)


def run_array_harness(build, array, s):
    """cocotb_vmm_array.py on ``build`` (a compiled ``array``) with seed ``s``."""
    run_cocotb(build, "verif.hw.cocotb_vmm_array",
               params=dict(rows=array.rows, cols=array.cols, banks=array.banks,
                           latency=array.latency, seed=s, tag_width=array.tag_width,
                           payloads=stream_payloads(array, "i", "o"),
                           weight_store=array.weight_store, read_latency=array.read_latency))

