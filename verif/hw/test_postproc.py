# amaranth: UnusedElaboratable=no
"""hw.postproc.PostProcess and hw.pp.requant.Requantize alone in a simulator (the cocotb tests
are in cocotb_postproc.py). The first line lets a component be made just to read its latency."""

import pytest

from hw.ecp5 import mult18x18d_model
from hw.gen import to_verilog
from hw.postproc import PostProcess
from hw.pp.requant import Requantize
from sw.knobs import seed
from sw.targets.sim.build import build_sources, build_verilog
from verif.cocotb_util import run_cocotb

pytestmark = pytest.mark.block

#: (top, cols, addr_width, mult_cells): "ecp5" with hw.ecp5's MULT18X18D model
CONFIGS = [("postproc", 4, 6, "inferred"), ("postproc", 16, 8, "inferred"),
           ("requant", 5, 7, "inferred"), ("requant", 5, 7, "ecp5"),
           ("postproc", 4, 6, "ecp5")]
BLOCKS = {"postproc": PostProcess, "requant": Requantize}


@pytest.mark.parametrize(("top", "cols", "addr_width", "mult_cells"), CONFIGS,
                         ids=[f"{t}_{c}a{a}" + ("_ecp5" if m == "ecp5" else "")
                              for t, c, a, m in CONFIGS])
def test_postproc(top, cols, addr_width, mult_cells):
    """The block against models.requantize every cycle (cocotb_postproc.py); with
    ``mult_cells="ecp5"`` the requantizer's partial products are MULT18X18D blocks (their
    registers the pipeline's), the same results in the same cycles."""
    block = BLOCKS[top]
    if top == "postproc":
        latency = PostProcess.LATENCY
        assert latency == sum(stage.LATENCY for stage in PostProcess.STAGES)
    else:
        latency = Requantize.LATENCY
    s = seed()
    print(f"seed={s}")
    key = f"{top}_{cols}a{addr_width}"
    if mult_cells == "inferred":
        build = build_verilog(lambda: block(cols, addr_width), top, key)
    else:
        def write(build_dir):
            text = to_verilog(block(cols, addr_width, mult_cells=mult_cells), top)
            assert text.count("MULT18X18D #(") == 4 * cols, "every partial product a block"
            (build_dir / "mult18x18d.v").write_text(mult18x18d_model())
            (build_dir / f"{top}.v").write_text(text)
        build = build_sources(write, top, f"{key}_{mult_cells}", ("mult18x18d.v", f"{top}.v"))
    run_cocotb(build, "verif.hw.cocotb_postproc",
               params=dict(top=top, cols=cols, addr_width=addr_width, latency=latency, seed=s))
