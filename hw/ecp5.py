"""Lattice ECP5 primitives that the gateware instantiates by name, and a simulation model.

Yosys 0.68 maps multiplies onto the ECP5's MULT18X18D blocks with none of the block's own
registers in use (``synth_ecp5`` has no register packing for this family): a multiply whose
operands and product sit in fabric registers routes from a slice into the block and out again
in one cycle. :func:`mult18x18d` instead builds the block with its input registers (A and B)
and its output register (P) in use, so the operands' registers are the block's own: the
cycle of the multiply starts and ends inside it. :class:`hw.vmm_array.VmmArray` uses it for
``mult_cells="ecp5"`` (the products of its pipeline-2 build).

Neither Icarus nor Verilator knows the primitive, and Yosys ships only its port list
(``cells_bb.v``). :func:`mult18x18d_model` is a behavioural Verilog model of the part of the
block used here, written from Lattice's ECP5 sysDSP usage guide (FPGA-TN-02205, "MULT18X18D")
and the parameter names nextpnr reads (``ecp5/pack.cc``, ``ecp5/bitstream.cc``): input
registers A and B and the output register, each on a chosen CLK/CE/RST of the four, with a
synchronous reset; SIGNEDA/SIGNEDB as they are. Any other mode (the pipeline register, the
shift inputs, an asynchronous reset, ...) stops the simulation with a message at time 0
instead of simulating something the model does not know. It is our model, not Lattice's:
``verif/hw/test_ecp5_sim.py`` checks it against Python integers and runs the array on it,
before and after Yosys maps the rest of the design onto ECP5 cells.
"""

import argparse
from pathlib import Path

from amaranth.hdl import ClockSignal, Const, Instance, Signal, signed

__all__ = ["MULT18X18D_PARAMETERS", "MULT_CELLS", "check_cells", "main", "mult18x18d",
           "mult18x18d_model"]

#: how a block's multiplies are built (``mult_cells=`` of the array, the requantizer and the
#: command checks): ``*`` for the synthesis flow to map, or MULT18X18D blocks with their
#: registers in use (:func:`mult18x18d`)
MULT_CELLS = ("inferred", "ecp5")


def check_cells(mult_cells):
    """Raise ValueError unless ``mult_cells`` is one of :data:`MULT_CELLS`."""
    if mult_cells not in MULT_CELLS:
        raise ValueError(f"mult_cells must be one of {MULT_CELLS}, not {mult_cells!r}")

#: the block's parameters the model knows, with the defaults of Yosys's ``cells_bb.v``
MULT18X18D_PARAMETERS = {
    **{f"REG_{reg}_{sig}": ("NONE" if sig == "CLK" else f"{sig}0")
       for reg in ("INPUTA", "INPUTB", "INPUTC", "PIPELINE", "OUTPUT")
       for sig in ("CLK", "CE", "RST")},
    **{f"CLK{n}_DIV": "ENABLED" for n in range(4)},
    "HIGHSPEED_CLK": "NONE", "GSR": "ENABLED", "CAS_MATCH_REG": "FALSE",
    "SOURCEB_MODE": "B_SHIFT", "MULT_BYPASS": "DISABLED", "RESETMODE": "SYNC",
}

#: operand and product widths of the block
A_BITS = B_BITS = 18
P_BITS = 36


def mult18x18d(m, a, b, p, input_enable, output_enable, *, name, signed_operands=True):
    """Add to module ``m`` one MULT18X18D computing ``p = a * b`` (operands of up to 18 bits,
    ``p`` up to 36 bits, its low bits taken) through the block's registers: A and B load with
    ``input_enable``, P with ``output_enable`` (CE0 and CE1), all on the ``sync`` clock, never
    reset (as ``reset_less`` Amaranth registers; GSR off). So ``p`` is the product of the
    operands two loads back: the same two cycles as an operand register and a product
    register in fabric. ``input_enable`` None leaves A and B unregistered (the block's
    REGS_OUTPUT mode): ``p`` is then the product of the operands one load back, a product
    register in fabric. ``signed_operands`` False reads both operands as unsigned
    (SIGNEDA/SIGNEDB low; up to 18 bits of magnitude each).

    Raises
    ------
    ValueError
        An operand wider than 18 bits or a product wider than 36.
    """
    for what, value, bits in (("a", a, A_BITS), ("b", b, B_BITS), ("p", p, P_BITS)):
        if len(value) > bits:
            raise ValueError(f"MULT18X18D: {what} has {len(value)} bits, at most {bits}")
    a_ext = Signal(signed(A_BITS) if signed_operands else A_BITS, name=f"{name}_a")
    b_ext = Signal(signed(B_BITS) if signed_operands else B_BITS, name=f"{name}_b")
    product = Signal(P_BITS, name=f"{name}_p")
    m.d.comb += [a_ext.eq(a), b_ext.eq(b), p.eq(product[:len(p)])]
    ports = {f"i_A{k}": a_ext[k] for k in range(A_BITS)}
    ports.update({f"i_B{k}": b_ext[k] for k in range(B_BITS)})
    ports.update({f"o_P{k}": product[k] for k in range(P_BITS)})
    inputs = "NONE" if input_enable is None else "CLK0"
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK=inputs, p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK=inputs, p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE1", p_REG_OUTPUT_RST="RST0",
        p_GSR="DISABLED",
        i_CLK0=ClockSignal("sync"), i_CE0=Const(0) if input_enable is None else input_enable,
        i_CE1=output_enable, i_RST0=Const(0), i_SIGNEDA=Const(int(signed_operands)),
        i_SIGNEDB=Const(int(signed_operands)), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
        **ports)


def mult18x18d_model():
    """Verilog text of the behavioural MULT18X18D model (module docstring): ports A0..A17,
    B0..B17, SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0..3, CE0..3, RST0..3 and P0..P35; the
    parameters of :data:`MULT18X18D_PARAMETERS`."""
    a = [f"A{k}" for k in range(A_BITS)]
    b = [f"B{k}" for k in range(B_BITS)]
    p = [f"P{k}" for k in range(P_BITS)]
    controls = [f"{s}{n}" for s in ("CLK", "CE", "RST") for n in range(4)]
    inputs = a + b + ["SIGNEDA", "SIGNEDB", "SOURCEA", "SOURCEB"] + controls
    params = "\n".join(f'  parameter {k} = "{v}";' for k, v in MULT18X18D_PARAMETERS.items())

    def pick(param, kind, default):
        """The control signal a parameter names (CLKn/CEn/RSTn)."""
        out = default
        for n in range(3, -1, -1):
            out = f'{param} == "{kind}{n}" ? {kind}{n} : {out}'
        return out

    regs = []
    for reg, src, bits in (("INPUTA", "a_in", A_BITS), ("INPUTB", "b_in", B_BITS),
                           ("OUTPUT", "p_in", P_BITS)):
        low = reg.lower()
        regs.append(f"""
  // {reg}: bypassed when REG_{reg}_CLK is NONE, else loads with its CE, reset (sync) by its RST
  wire {low}_clk = {pick(f"REG_{reg}_CLK", "CLK", "1'b0")};
  wire {low}_ce = {pick(f"REG_{reg}_CE", "CE", "1'b0")};
  wire {low}_rst = {pick(f"REG_{reg}_RST", "RST", "1'b0")};
  reg [{bits - 1}:0] {low}_q = {bits}'d0;
  always @(posedge {low}_clk)
    if ({low}_rst) {low}_q <= {bits}'d0;
    else if ({low}_ce) {low}_q <= {src};
  wire [{bits - 1}:0] {low}_v = REG_{reg}_CLK == "NONE" ? {src} : {low}_q;""")
    checks = " ||\n        ".join([
        'REG_PIPELINE_CLK != "NONE"', 'REG_INPUTC_CLK != "NONE"', 'HIGHSPEED_CLK != "NONE"',
        'MULT_BYPASS != "DISABLED"', 'RESETMODE != "SYNC"', 'CAS_MATCH_REG != "FALSE"'])
    return f"""// Behavioural model of the Lattice ECP5 MULT18X18D: the modes hw/ecp5.py uses.
// Written from Lattice's ECP5 sysDSP usage guide (FPGA-TN-02205); not Lattice's model.
module MULT18X18D({", ".join(inputs + p)});
{params}
  input {", ".join(inputs)};
  output {", ".join(p)};
  initial
    if ({checks}) begin
      $display("MULT18X18D %m: a mode this model does not simulate (only input registers A/B, \
the output register, sync reset)");
      $finish;
    end
  always @(SOURCEA or SOURCEB)
    if (SOURCEA === 1'b1 || SOURCEB === 1'b1) begin
      $display("MULT18X18D %m: SOURCEA/SOURCEB (the shift inputs) are not simulated");
      $finish;
    end
  wire [17:0] a_in = {{{", ".join(reversed(a))}}};
  wire [17:0] b_in = {{{", ".join(reversed(b))}}};
{"".join(regs[:2])}
  wire signed [36:0] a_ext = SIGNEDA ? {{{{19{{inputa_v[17]}}}}, inputa_v}} : {{19'd0, inputa_v}};
  wire signed [36:0] b_ext = SIGNEDB ? {{{{19{{inputb_v[17]}}}}, inputb_v}} : {{19'd0, inputb_v}};
  wire signed [73:0] full = a_ext * b_ext;
  wire [35:0] p_in = full[35:0];
{regs[2]}
  assign {{{", ".join(reversed(p))}}} = output_v;
endmodule
"""


def main(argv=None):
    p = argparse.ArgumentParser(description="Write the MULT18X18D simulation model (for a "
                                "simulator, never a synthesis flow: there the primitive is "
                                "the FPGA's own).")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    Path(args.output).write_text(mult18x18d_model())
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
