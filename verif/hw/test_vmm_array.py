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


@pytest.mark.parametrize("weight_store", WEIGHT_STORES)
@pytest.mark.parametrize(("rows", "cols", "banks"), SHAPES,
                         ids=[f"{r}x{c}x{b}" for r, c, b in SHAPES])
def test_vmm_array(rows, cols, banks, weight_store):
    tag_width = 5
    array = VmmArray(rows, cols, banks, tag_width, weight_store=weight_store)
    latency = array.latency
    assert latency == documented_latency(rows)
    s = seed()
    print(f"seed={s}")
    suffix = "" if weight_store == "ff" else f"_{weight_store}"
    build = build_verilog(lambda: VmmArray(rows, cols, banks, tag_width,
                                           weight_store=weight_store), "vmm_array",
                          f"vmm_array_{rows}x{cols}x{banks}t{tag_width}{suffix}")
    run_cocotb(build, "verif.hw.cocotb_vmm_array",
               params=dict(rows=rows, cols=cols, banks=banks, latency=latency, seed=s,
                           tag_width=tag_width, payloads=stream_payloads(array, "i", "o"),
                           weight_store=weight_store, read_latency=array.read_latency))

