# amaranth: UnusedElaboratable=no
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


def test_wires_driven_slice_by_slice_get_one_driver(tmp_path):
    """hw.gen joins the slices Yosys writes for a signal assigned element by element into one
    concatenation (Icarus resolves several drivers of one wire bit by bit), and leaves a wire
    the slices do not cover exactly alone."""
    from hw.gen import _join_slices
    module = ("module m;\n  wire [15:0] a;\n  wire [7:0] \\b$1 ;\n  wire [7:0] c;\n"
              "  assign a[7:0] = x;\n  assign a[15:8] = y[7:0];\n"
              "  assign \\b$1 [3:0] = 4'h1;\n  assign \\b$1 [7:4] = z;\n"
              "  assign c[3:0] = p;\n  assign c[6:4] = q;\nendmodule")
    text = _join_slices(module)
    assert "  assign a = { y[7:0], x };\n" in text and "a[" not in text
    assert "  assign \\b$1  = { z, 4'h1 };\n" in text
    assert "  assign c[3:0] = p;\n  assign c[6:4] = q;\n" in text
    generated = _generate(tmp_path, "d.v", "--rows", "4", "--cols", "4")
    widths = {name: int(msb) + 1
              for msb, name in re.findall(r"^  wire \[(\d+):0\] (\S+) ?;$", generated, re.M)}
    sliced = {}
    for name, msb, lsb in re.findall(r"^  assign (\S+) ?\[(\d+)(?::(\d+))?\] =", generated, re.M):
        sliced.setdefault(name, set()).update(range(int(lsb or msb), int(msb) + 1))
    assert not [n for n, bits in sliced.items() if n in widths and len(bits) == widths[n]]


def test_unread_field_aliases_are_dropped():
    """A wire that only names a field of another signal (Amaranth's views) and that nothing
    reads is left out; one that something reads stays."""
    from hw.gen import _drop_aliases
    module = ("module m(o);\n  output [7:0] o;\n  wire [15:0] p;\n  wire [7:0] \\p.a ;\n"
              "  wire [7:0] \\p.b ;\n  assign \\p.a  = p[7:0];\n  assign \\p.b  = p[15:8];\n"
              "  assign o = \\p.b ;\nendmodule")
    text = _drop_aliases(module)
    assert "\\p.a " not in text
    assert "  wire [7:0] \\p.b ;\n" in text and "  assign \\p.b  = p[15:8];\n" in text


def test_repeated_bits_become_one_replication():
    from hw.gen import _REPEATS, _replicate
    text = "  assign w = { \\$9 [17], \\$9 [17], \\$9 [17], \\$9  };\n  assign v = { a[3], a[3] };"
    assert _REPEATS.sub(_replicate, text) == ("  assign w = { {3{\\$9 [17]}}, \\$9  };\n"
                                              "  assign v = { {2{a[3]}} };")


def test_grouped_assignments_become_ordered_blocks():
    """In the named submodules, assignments that feed one another become one ``always @*``
    block in the order of their dependencies (an output port's too), reading the trigger;
    a lone assignment, an input and other modules stay as they were."""
    from hw.gen import _group_assigns
    module = ("module \\top.array (x, y, z);\n  input [7:0] x;\n  output [9:0] y;\n"
              "  output [7:0] z;\n  wire [9:0] y;\n  wire [8:0] \\$2 ;\n  wire [8:0] s;\n"
              "  wire [7:0] z;\n  assign y = \\$2  + s;\n  assign \\$2  = x + 1'h1;\n"
              "  assign s = x * 2'h2;\n  assign z = x;\nendmodule")
    text = _group_assigns(module, grouped=("array",))
    assert "  reg [9:0] y;\n" in text and "  reg [8:0] \\$2 ;\n" in text
    assert "  reg [8:0] s;\n" in text and "  wire [7:0] z;\n  assign z = x;\n" in text
    block = re.search(r"  always @\* begin\n    if \((\S+ )\) begin end\n((?:    .*\n)*)  end\n",
                      text)
    assert block and text.count(f"  reg {block.group(1)} = 0;\n") == 1
    lines = block.group(2).splitlines()
    assert sorted(lines) == sorted(["    y = \\$2  + s;", "    \\$2 = x + 1'h1;",
                                    "    s = x * 2'h2;"])
    assert lines[-1] == "    y = \\$2  + s;"
    other = module.replace("top.array", "top.ctl")
    assert _group_assigns(other, grouped=("array",)) == other


def test_the_array_and_the_accumulator_compute_in_blocks(tmp_path):
    generated = _generate(tmp_path, "e.v", "--rows", "4", "--cols", "4")
    for name in ("array", "accum"):
        module = re.search(rf"^module \\pimacc\.{name} .*?^endmodule", generated,
                           re.M | re.S).group(0)
        assert not re.search(r"^  assign \S+ ?= [^;]*[*+]", module, re.M), name
        assert "always @* begin" in module


def test_weight_store_auto_is_a_ram_from_16_banks(tmp_path):
    """``weight_store="auto"`` (the default of PimAccelerator, hw.gen, the simulator and
    harness builds): registers below :data:`hw.top.RAM_BANKS` banks, a RAM per column from
    there (the measured choice, README "Weight store")."""
    from hw.spec import Geometry
    from hw.top import RAM_BANKS, PimAccelerator, weight_store_for
    assert RAM_BANKS == 16
    small, large = Geometry.default(banks=15), Geometry.default(banks=16)
    assert PimAccelerator(Geometry.default()).weight_store == "ff"
    assert PimAccelerator(small).weight_store == "ff"
    assert PimAccelerator(large).weight_store == "ram"
    assert weight_store_for("ff", large) == "ff" and weight_store_for("ram", small) == "ram"
    with pytest.raises(ValueError, match="weight_store must be one of .* or 'auto', not 'x'"):
        PimAccelerator(small, weight_store="x")
    text = _generate(tmp_path, "r.v", "--rows", "4", "--cols", "4", "--banks", "16")
    assert "weight_store=ram" in text.splitlines()[0]


def test_dsp_registers_instantiate_the_blocks_and_the_model_is_apart(tmp_path):
    """``--array-pipeline 2 --dsp-registers``: the array's 16 products of a 4x4, the
    instruction check's two row multiplies, the two command checks' two pool multiplies each
    and the requantizer's 4 x 4 partial products are
    MULT18X18D instances with their registers, and the file holds no module of that name (a
    synthesis flow must see the FPGA's primitive); ``python -m hw.ecp5`` writes the model
    alone."""
    text = _generate(tmp_path, "d.v", "--rows", "4", "--cols", "4", "--array-pipeline", "2",
                     "--dsp-registers")
    assert len(re.findall(r"^\s*MULT18X18D #\(", text, re.M)) == 38
    assert len(re.findall(r"\) mult_r\d_c\d \(", text)) == 16, "the array's"
    assert len(re.findall(r"\) check_\w+_rows_mult \(", text)) == 2, "the check's"
    assert len(re.findall(r"\) check_pool_\w+_mult \(", text)) == 4, "the two pool checks'"
    assert len(re.findall(r"\) requant_(ll|hl|lh|hh)_\d \(", text)) == 16, "the requantizer's"
    assert "array_mult_cells=ecp5" in text and "module MULT18X18D" not in text
    subprocess.run([sys.executable, "-m", "hw.ecp5", "-o", str(tmp_path / "m.v")], cwd=ROOT,
                   check=True, capture_output=True)
    model = (tmp_path / "m.v").read_text()
    assert model.count("module MULT18X18D(") == 1 and "REG_OUTPUT_CLK" in model
    failed = subprocess.run([sys.executable, "-m", "hw.gen", "--dsp-registers", "-o",
                             str(tmp_path / "e.v")], cwd=ROOT, capture_output=True, text=True)
    assert failed.returncode != 0 and "it needs pipeline 2 or 3, not 0" in failed.stderr
