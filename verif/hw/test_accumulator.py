# amaranth: UnusedElaboratable=no
"""hw.accumulator.Accumulator alone in a simulator (the cocotb tests: cocotb_accumulator.py)."""

import pytest

from hw.accumulator import Accumulator
from sw.knobs import seed
from sw.targets.sim.build import build_verilog
from verif.cocotb_util import run_cocotb
from verif.hw.block_util import stream_payloads

pytestmark = pytest.mark.block

#: (cols, depth, tag_width)
CONFIGS = [(4, 8, 3), (3, 24, 5), (16, 32, 8)]


@pytest.mark.parametrize(("cols", "depth", "tag_width"), CONFIGS,
                         ids=[f"{c}x{d}t{t}" for c, d, t in CONFIGS])
def test_accumulator(cols, depth, tag_width):
    s = seed()
    print(f"seed={s}")
    build = build_verilog(lambda: Accumulator(cols, depth, tag_width), "accumulator",
                          f"accumulator_{cols}x{depth}t{tag_width}")
    payloads = stream_payloads(Accumulator(cols, depth, tag_width), "i", "o")
    run_cocotb(build, "verif.hw.cocotb_accumulator",
               params=dict(cols=cols, depth=depth, tag_width=tag_width,
                           latency=Accumulator.LATENCY, seed=s, payloads=payloads))
