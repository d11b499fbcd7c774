"""`make verilog`: deterministic Verilog whose ports bind by prefix with cocotbext-axi."""

import re
import subprocess
import sys

import pytest

from sw.targets.sim.build import ROOT

pytestmark = pytest.mark.gen


def _generate(tmp_path, name, *args):
    out = tmp_path / name
    subprocess.run([sys.executable, "-m", "hw.gen", *args, "-o", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return out.read_text()


def test_verilog_is_deterministic_and_has_the_documented_ports(tmp_path):
    a = _generate(tmp_path, "a.v", "--rows", "4", "--cols", "8")
    b = _generate(tmp_path, "b.v", "--rows", "4", "--cols", "8")
    assert a == b
    header = re.search(r"module pimacc\((.*?)\);", a, re.S).group(1)
    ports = {p.strip() for p in header.split(",")}
    for channel in ("aw", "w", "b", "ar", "r"):
        assert f"s_axil_{channel}valid" in ports and f"s_axil_{channel}ready" in ports
    assert {"s_axil_awaddr", "s_axil_wdata", "s_axil_wstrb", "s_axil_rdata", "clk", "rst",
            "irq"} <= ports
    assert "/work/" not in a  # no absolute source paths
    assert "// pimacc Geometry(rows=4, cols=8" in a
    for channel in ("aw", "w", "b", "ar", "r"):  # the memory port
        assert f"m_axi_{channel}valid" in ports and f"m_axi_{channel}ready" in ports


def test_every_combinational_block_runs_at_time_zero(tmp_path):
    """Icarus runs an ``always @*`` block only when something it reads changes: every block
    reads a trigger register that an ``initial #1`` toggles (hw.gen.to_verilog), so outputs
    set to constants or to never-changing registers are not X (a STORE's write strobes were,
    before the one-statement blocks got a trigger too)."""
    text = _generate(tmp_path, "c.v", "--rows", "8", "--cols", "8", "--mem-bits", "128")
    blocks = re.findall(r"always @\*( begin)?\n\s*([^\n]*)", text)
    assert blocks and all(begin and "dump_module$" in first for begin, first in blocks), \
        [b for b in blocks if not (b[0] and "dump_module$" in b[1])][:3]
    triggers = set(re.findall(r"if \((\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) \)",
                              text))
    toggled = set(re.findall(r"initial #1 (\\\$auto\$\S+)\s+= 1;", text))
    assert triggers and triggers <= toggled
