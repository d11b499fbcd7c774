"""hw/soc/soc_ram.v alone on Icarus (the cocotb tests: cocotb_soc_ram.py): both ports, every
memory port width the accelerator has, with and without random stalls."""

import hashlib

import pytest

from sw.knobs import seed
from sw.soc.build import HW
from sw.targets.sim.build import build_sources
from verif.cocotb_util import run_cocotb

RAM_BYTES = 4096


def ram_testbench(mem_bits):
    """``soc_ram_tb``: the RAM with the IDs cocotbext-axi needs (the RAM runs one burst a
    direction at a time, so each ID is held from its address to its response)."""
    words = RAM_BYTES // (mem_bits // 8)
    return f"""module soc_ram_tb (
  input clk, input rst,
  input mem_valid, output mem_ready, input [31:0] mem_addr, input [31:0] mem_wdata,
  input [3:0] mem_wstrb, output [31:0] mem_rdata,
  input [3:0] s_axi_awid, input [31:0] s_axi_awaddr, input [7:0] s_axi_awlen,
  input [2:0] s_axi_awsize, input [1:0] s_axi_awburst, input s_axi_awvalid,
  output s_axi_awready, input [{mem_bits - 1}:0] s_axi_wdata,
  input [{mem_bits // 8 - 1}:0] s_axi_wstrb, input s_axi_wlast, input s_axi_wvalid,
  output s_axi_wready, output reg [3:0] s_axi_bid, output [1:0] s_axi_bresp,
  output s_axi_bvalid, input s_axi_bready,
  input [3:0] s_axi_arid, input [31:0] s_axi_araddr, input [7:0] s_axi_arlen,
  input [2:0] s_axi_arsize, input [1:0] s_axi_arburst, input s_axi_arvalid,
  output s_axi_arready, output reg [3:0] s_axi_rid, output [{mem_bits - 1}:0] s_axi_rdata,
  output [1:0] s_axi_rresp, output s_axi_rlast, output s_axi_rvalid, input s_axi_rready
);
  always @(posedge clk) begin
    if (s_axi_awvalid && s_axi_awready) s_axi_bid <= s_axi_awid;
    if (s_axi_arvalid && s_axi_arready) s_axi_rid <= s_axi_arid;
  end
  soc_ram #(.MEM_BITS({mem_bits}), .WORDS({words})) ram (
    .clk(clk), .rst(rst), .mem_valid(mem_valid), .mem_ready(mem_ready), .mem_addr(mem_addr),
    .mem_wdata(mem_wdata), .mem_wstrb(mem_wstrb), .mem_rdata(mem_rdata),
    .s_axi_awaddr(s_axi_awaddr), .s_axi_awlen(s_axi_awlen), .s_axi_awsize(s_axi_awsize),
    .s_axi_awvalid(s_axi_awvalid), .s_axi_awready(s_axi_awready), .s_axi_wdata(s_axi_wdata),
    .s_axi_wstrb(s_axi_wstrb), .s_axi_wlast(s_axi_wlast), .s_axi_wvalid(s_axi_wvalid),
    .s_axi_wready(s_axi_wready), .s_axi_bresp(s_axi_bresp), .s_axi_bvalid(s_axi_bvalid),
    .s_axi_bready(s_axi_bready), .s_axi_araddr(s_axi_araddr), .s_axi_arlen(s_axi_arlen),
    .s_axi_arsize(s_axi_arsize), .s_axi_arvalid(s_axi_arvalid),
    .s_axi_arready(s_axi_arready), .s_axi_rdata(s_axi_rdata), .s_axi_rresp(s_axi_rresp),
    .s_axi_rlast(s_axi_rlast), .s_axi_rvalid(s_axi_rvalid), .s_axi_rready(s_axi_rready)
  );
endmodule
"""


def build_ram(mem_bits):
    ram, tb = (HW / "soc_ram.v").read_text(), ram_testbench(mem_bits)

    def write(build_dir):
        (build_dir / "soc_ram.v").write_text(ram)
        (build_dir / "soc_ram_tb.v").write_text(tb)

    digest = hashlib.sha256((ram + tb).encode()).hexdigest()[:10]
    return build_sources(write, "soc_ram_tb", f"soc_ram_{mem_bits}-{digest}",
                         ("soc_ram.v", "soc_ram_tb.v"), "icarus")


@pytest.mark.block
@pytest.mark.parametrize("pressure", [0, 128])
@pytest.mark.parametrize("mem_bits", [64, 128, 256])
def test_soc_ram(mem_bits, pressure):
    s = seed()
    print(f"seed={s}")
    run_cocotb(build_ram(mem_bits), "verif.sw.soc.cocotb_soc_ram",
               params=dict(seed=s, pressure=pressure, ram_bytes=RAM_BYTES))
