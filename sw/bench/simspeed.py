"""Simulated cycles per wall second of ``pimacc_sys`` on Verilator and Icarus, without cocotb.

``python -m sw.bench.simspeed --sim verilator --size 16`` builds ``pimacc_sys`` (the accelerator
and its AXI4 RAM, :mod:`sw.targets.sim.system`) with a small C++ main (Verilator) or a plain
Verilog testbench (Icarus) and clocks it in two phases:

* idle: the model after reset, nothing driven (what every wait for an interrupt costs);
* compute: register-path VMMs back to back (CMD_COUNT vectors of random int8 through bank 0,
  REQUANT on), each started by one AXI4-Lite write and waited for on ``irq``.

It prints cycles per second of each phase and the build time, so the speed of the model itself
can be told apart from that of cocotb. ``--verilog`` takes a ``pimacc.v`` to use instead of the
generated one (to try a change by hand); ``--vflags`` adds Verilator options.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shlex
import subprocess
import sys
import time

import numpy as np

from hw.spec import Geometry, register
from sw.targets.sim.build import BUILD, VERILATOR_ARGS, _prepare_verilator_env, accelerator_verilog
from sw.targets.sim.system import RAM_SOURCE, system_verilog

#: geometries by ``--size``: the default 16x16 build and the 4x4 of the tests
SIZES = {16: Geometry.default(), 4: Geometry.default(rows=4, cols=4, in_depth=32, acc_depth=16,
                                                      out_depth=16)}
#: the cocotb runner's own Verilator options (see SimBuild.runner and cocotb_tools.runner)
COCOTB_VFLAGS = " ".join(["--vpi", "--public-flat-rw", *VERILATOR_ARGS])


def setup_writes(g: Geometry, count: int, seed: int = 1) -> tuple[list[tuple[int, int]], int]:
    """AXI4-Lite writes that load bank 0 and ``count`` input vectors with random int8 and set
    up a VMM command; and the CTRL value that starts it with the interrupt enabled."""
    rng = np.random.default_rng(seed)
    writes = []
    for c in range(g.cols):
        for w in range(g.row_words):
            writes.append((g.weight_addr(0, c, w), int(rng.integers(0, 1 << 32))))
    for v in range(count):
        for w in range(g.row_words):
            writes.append((g.in_addr(v, w), int(rng.integers(0, 1 << 32))))
    for c in range(g.cols):
        writes.append((g.param_addr(c, "MULT"), 1 << 30))
        writes.append((g.param_addr(c, "SHIFT"), 12))
    cmd = {"CMD_OP": 1, "CMD_FLAGS": 0b100, "CMD_BANK": 0, "CMD_IN_ADDR": 0, "CMD_ACC_ADDR": 0,
           "CMD_OUT_ADDR": 0, "CMD_COUNT": count, "CMD_ROWS": g.rows, "CMD_COLS": g.cols,
           "CMD_POOL": 1}
    writes += [(register(name).offset, value) for name, value in cmd.items()]
    ctrl = 1 << register("CTRL").field("START").lsb | 1 << register("CTRL").field("IRQ_EN").lsb
    return writes, ctrl


def write_sources(out: pathlib.Path, g: Geometry, verilog: str | None, mem_bytes: int,
                  weight_store: str = "ff"):
    out.mkdir(parents=True, exist_ok=True)
    text = pathlib.Path(verilog).read_text() if verilog else accelerator_verilog(g, weight_store)
    (out / "pimacc.v").write_text(text)
    (out / "axi4_ram.v").write_text(RAM_SOURCE.read_text())
    (out / "pimacc_sys.v").write_text(system_verilog(g, mem_bytes))
    return ["pimacc.v", "axi4_ram.v", "pimacc_sys.v"]


_MAIN_CPP = r"""
#include "Vpimacc_sys.h"
#include "verilated.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>

static const unsigned WRITES[][2] = {%(writes)s};
static Vpimacc_sys *top;
static unsigned long cycles = 0;

static void tick() {
    top->clk = 0; top->eval();
    top->clk = 1; top->eval();
    ++cycles;
}

static void axil_write(unsigned addr, unsigned data) {
    top->s_axil_awaddr = addr; top->s_axil_awvalid = 1;
    top->s_axil_wdata = data; top->s_axil_wstrb = 0xF; top->s_axil_wvalid = 1;
    top->s_axil_bready = 1;
    for (;;) {
        top->clk = 0; top->eval();
        bool done = top->s_axil_awready;
        top->clk = 1; top->eval(); ++cycles;
        if (done) break;
    }
    top->s_axil_awvalid = 0; top->s_axil_wvalid = 0;
}

static double now() {
    return std::chrono::duration<double>(
        std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    unsigned long idle = strtoul(argv[1], 0, 0), compute = strtoul(argv[2], 0, 0);
    top = new Vpimacc_sys;
    top->rst = 1;
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;
    for (auto &w : WRITES) axil_write(w[0], w[1]);
    tick();
    double t0 = now();
    unsigned long c0 = cycles;
    while (cycles - c0 < idle) tick();
    double t1 = now();
    printf("idle %%lu cycles %%.3f s %%.0f cycles/s\n", cycles - c0, t1 - t0,
           (cycles - c0) / (t1 - t0));
    c0 = cycles;
    unsigned long commands = 0;
    while (cycles - c0 < compute) {
        axil_write(%(ctrl_addr)d, %(ctrl)d);
        while (!top->irq) tick();
        ++commands;
    }
    double t2 = now();
    printf("compute %%lu cycles %%.3f s %%.0f cycles/s (%%lu commands)\n", cycles - c0,
           t2 - t1, (cycles - c0) / (t2 - t1), commands);
    top->final();
    delete top;
    return 0;
}
"""

_TB_V = r"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  reg [19:0] awaddr = 0; reg awvalid = 0; reg [31:0] wdata = 0; reg wvalid = 0;
  wire awready, wready, bvalid, arready, rvalid, irq;
  wire [1:0] bresp, rresp; wire [31:0] rdata;
  wire [31:0] cfg_bytes, cfg_bits; wire [3:0] violation;
  pimacc_sys dut (
    .clk(clk), .rst(rst),
    .s_axil_awaddr(awaddr), .s_axil_awprot(3'd0), .s_axil_awvalid(awvalid),
    .s_axil_awready(awready), .s_axil_wdata(wdata), .s_axil_wstrb(4'hF),
    .s_axil_wvalid(wvalid), .s_axil_wready(wready), .s_axil_bresp(bresp),
    .s_axil_bvalid(bvalid), .s_axil_bready(1'b1), .s_axil_araddr(20'd0), .s_axil_arprot(3'd0),
    .s_axil_arvalid(1'b0), .s_axil_arready(arready), .s_axil_rdata(rdata),
    .s_axil_rresp(rresp), .s_axil_rvalid(rvalid), .s_axil_rready(1'b1), .irq(irq),
    .mem_stall_seed(32'd0), .mem_stall_pressure(8'd0), .mem_rd_latency(8'd0),
    .mem_err_lo(32'd0), .mem_err_hi(32'd0), .mem_err_kind(2'd0), .mem_bulk_cmd(2'd0),
    .mem_bulk_go(1'b0), .mem_bulk_lo(32'd0), .mem_bulk_hi(32'd0),
    .mem_cfg_bytes(cfg_bytes), .mem_cfg_data_bits(cfg_bits), .mem_violation(violation));
  integer cycles = 0;
  always #5 clk = ~clk;
  always @(posedge clk) cycles <= cycles + 1;
  task axil_write(input [19:0] a, input [31:0] d);
    begin
      awaddr = a; wdata = d; awvalid = 1; wvalid = 1;
      @(posedge clk); while (!awready) @(posedge clk);
      #1 awvalid = 0; wvalid = 0;
    end
  endtask
  integer idle, compute, c0, commands;
  initial begin
    if (!$value$plusargs("idle=%%d", idle)) idle = 0;
    if (!$value$plusargs("compute=%%d", compute)) compute = 0;
    repeat (4) @(posedge clk);
    #1 rst = 0;
%(writes)s
    @(posedge clk);
    c0 = cycles;
    repeat (idle) @(posedge clk);
    $display("idle %%0d cycles", cycles - c0);
    c0 = cycles; commands = 0;
    while (cycles - c0 < compute) begin
      #1 axil_write(%(ctrl_addr)d, %(ctrl)d);
      while (!irq) @(posedge clk);
      commands = commands + 1;
    end
    $display("compute %%0d cycles (%%0d commands)", cycles - c0, commands);
    $finish;
  end
endmodule
"""


def _run(cmd, cwd, log):
    t = time.monotonic()
    with open(log, "w") as f:
        r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        sys.exit(f"{shlex.join(map(str, cmd))} failed (see {log})")
    return time.monotonic() - t


def verilator(out, sources, g, args):
    _prepare_verilator_env()
    writes, ctrl = setup_writes(g, args.count)
    (out / "main.cpp").write_text(_MAIN_CPP % {
        "writes": ", ".join(f"{{{a:#x}u, {d:#x}u}}" for a, d in writes),
        "ctrl_addr": register("CTRL").offset, "ctrl": ctrl})
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(args.jobs), "--top-module",
           "pimacc_sys", "-Mdir", "obj", "-o", "Vsim", *shlex.split(args.vflags), "main.cpp",
           *sources]
    print(f"build: {shlex.join(cmd)}")
    built = _run(cmd, out, out / "build.log")
    print(f"verilator build {built:.1f} s")
    for _ in range(args.repeat):
        r = subprocess.run([out / "obj" / "Vsim", str(args.cycles), str(args.cycles)],
                           capture_output=True, text=True, cwd=out)
        print(r.stdout.strip() or r.stderr)


def icarus(out, sources, g, args):
    writes, ctrl = setup_writes(g, args.count)
    (out / "tb.v").write_text(_TB_V % {
        "writes": "\n".join(f"    axil_write({a}, {d});" for a, d in writes),
        "ctrl_addr": register("CTRL").offset, "ctrl": ctrl})
    built = _run(["iverilog", "-g2005", "-o", "sim.vvp", "-s", "tb", "tb.v", *sources], out,
                 out / "build.log")
    print(f"icarus build {built:.1f} s")

    def run(idle, compute):
        """Wall and CPU seconds (the simulator's user + system time: on a shared machine the
        wall time measures the sharing) of one run, and its output lines."""
        t, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run(["vvp", "-n", "sim.vvp", f"+idle={idle}", f"+compute={compute}"],
                           capture_output=True, text=True, cwd=out)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("idle", "compute"))]
        return time.monotonic() - t, cpu, lines

    for _ in range(args.repeat):
        base, base_cpu, _ = run(0, 0)
        t_idle, cpu_idle, _ = run(args.cycles, 0)
        t_comp, cpu_comp, lines = run(0, args.cycles)
        comp_cycles = int(lines[-1].split()[1])
        print(f"idle {args.cycles} cycles {t_idle - base:.3f} s "
              f"{args.cycles / (t_idle - base):.0f} cycles/s "
              f"({args.cycles / (cpu_idle - base_cpu):.0f} per CPU second)")
        print(f"compute {comp_cycles} cycles {t_comp - base:.3f} s "
              f"{comp_cycles / (t_comp - base):.0f} cycles/s "
              f"({comp_cycles / (cpu_comp - base_cpu):.0f} per CPU second; "
              f"start-up {base:.2f} s)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--size", type=int, choices=sorted(SIZES), default=16)
    p.add_argument("--cycles", type=int, default=200_000, help="cycles of each phase")
    p.add_argument("--count", type=int, default=64, help="vectors per VMM command")
    p.add_argument("--verilog", help="a pimacc.v to use instead of the generated one")
    p.add_argument("--banks", type=int, help="weight banks (default: the size's geometry's)")
    p.add_argument("--weight-store", choices=("ff", "ram"), default="ff",
                   help="the array's weights in registers or a RAM per column")
    p.add_argument("--vflags", default=COCOTB_VFLAGS, help="Verilator options")
    p.add_argument("--mem-bytes", type=int, default=1 << 20)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("-o", "--output", help="build folder (default build/simspeed/<sim>-<size>)")
    args = p.parse_args(argv)
    g = SIZES[args.size]
    if args.banks:
        g = g.replace(banks=args.banks)
    tail = f"-b{g.banks}" + ("" if args.weight_store == "ff" else f"-{args.weight_store}")
    out = pathlib.Path(args.output or BUILD / "simspeed" / f"{args.sim}-{args.size}{tail}")
    sources = write_sources(out, g, args.verilog, args.mem_bytes, args.weight_store)
    args.count = min(args.count, g.acc_depth, g.in_depth, g.out_depth)
    print(f"{args.sim} {g.rows}x{g.cols}, {g.banks} banks, weight store {args.weight_store} "
          f"in {out}")
    (verilator if args.sim == "verilator" else icarus)(out, sources, g, args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
