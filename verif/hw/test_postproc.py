# amaranth: UnusedElaboratable=no
"""hw.postproc.PostProcess and hw.pp.requant.Requantize alone in a simulator (the cocotb tests
are in cocotb_postproc.py). The first line lets a component be made just to read its latency."""

import pytest

from hw.postproc import PostProcess
from hw.pp.requant import Requantize
from sw.knobs import seed
from sw.targets.sim.build import build_verilog
from verif.cocotb_util import run_cocotb

pytestmark = pytest.mark.block

#: (top, cols, addr_width)
CONFIGS = [("postproc", 4, 6), ("postproc", 16, 8), ("requant", 5, 7)]
BLOCKS = {"postproc": PostProcess, "requant": Requantize}


@pytest.mark.parametrize(("top", "cols", "addr_width"), CONFIGS,
                         ids=[f"{t}_{c}a{a}" for t, c, a in CONFIGS])
def test_postproc(top, cols, addr_width):
    block = BLOCKS[top]
    if top == "postproc":
        latency = PostProcess.LATENCY
        assert latency == sum(stage.LATENCY for stage in PostProcess.STAGES)
    else:
        latency = Requantize.LATENCY
    s = seed()
    print(f"seed={s}")
    build = build_verilog(lambda: block(cols, addr_width), top, f"{top}_{cols}a{addr_width}")
    run_cocotb(build, "verif.hw.cocotb_postproc",
               params=dict(top=top, cols=cols, addr_width=addr_width, latency=latency, seed=s))
