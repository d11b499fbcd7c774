"""The simulated memory (sw/targets/sim/axi4_ram.v) alone under cocotbext-axi's AxiMaster
(the cocotb tests: cocotb_axi4_ram.py), and the ``pimacc_sys`` top level of system.py: its
text, then in a simulator behind SimTransport(memory=True), with a stub ``pimacc`` (an
AXI4-Lite to AXI4 bridge: the wiring) and with the real one (a program fetched)."""

import hashlib
import re

import pytest

from hw.spec import Geometry
from sw.knobs import seed
from sw.targets.sim.build import build_sources
from sw.targets.sim.system import (
    AXI4_PORTS,
    RAM_CONTROLS,
    RAM_SOURCE,
    accelerator_ports,
    axi4_ports,
    build_system,
    system_verilog,
)
from verif.cocotb_util import run_cocotb

#: small memories keep Icarus's start-up short; the bulk timing run uses the default 16 MiB
MEM_BYTES = 2 << 20
ID_BITS = 4


def ram_testbench(data_bits, mem_bytes):
    """Verilog of ``axi4_ram_tb``: the RAM with the ID signals cocotbext-axi needs. The RAM
    has no IDs and answers in order, so each ID comes back in the order it came (a FIFO per
    direction, deeper than the bursts the RAM accepts)."""
    decls = ["input wire clk", "input wire rst",
             f"input wire [{ID_BITS - 1}:0] s_axi_awid", f"input wire [{ID_BITS - 1}:0] s_axi_arid",
             f"output wire [{ID_BITS - 1}:0] s_axi_bid",
             f"output wire [{ID_BITS - 1}:0] s_axi_rid"]
    for prefix, ports in (("s_axi_", axi4_ports(data_bits)),
                          ("", RAM_CONTROLS)):
        decls += [f"{'input' if into else 'output'} wire [{width - 1}:0] {prefix}{name}"
                  for name, width, into in ports]
    conns = [".clk(clk)", ".rst(rst)"]
    conns += [f".s_axi_{name}(s_axi_{name})" for name, _, _ in AXI4_PORTS]
    conns += [f".{name}({name})" for name, _, _ in RAM_CONTROLS]
    return f"""module axi4_ram_tb (
  {(',' + chr(10) + '  ').join(decls)}
);
  axi4_ram #(.DATA_BITS({data_bits}), .MEM_BYTES({mem_bytes})) u_ram (
    {(',' + chr(10) + '    ').join(conns)}
  );
  reg [{ID_BITS - 1}:0] rid_q [0:15];
  reg [{ID_BITS - 1}:0] bid_q [0:15];
  reg [3:0] rid_wp, rid_rp, bid_wp, bid_rp;
  assign s_axi_rid = rid_q[rid_rp];
  assign s_axi_bid = bid_q[bid_rp];
  always @(posedge clk) begin
    if (rst) begin
      rid_wp <= 0; rid_rp <= 0; bid_wp <= 0; bid_rp <= 0;
    end else begin
      if (s_axi_arvalid && s_axi_arready) begin
        rid_q[rid_wp] <= s_axi_arid; rid_wp <= rid_wp + 1'b1;
      end
      if (s_axi_rvalid && s_axi_rready && s_axi_rlast) rid_rp <= rid_rp + 1'b1;
      if (s_axi_awvalid && s_axi_awready) begin
        bid_q[bid_wp] <= s_axi_awid; bid_wp <= bid_wp + 1'b1;
      end
      if (s_axi_bvalid && s_axi_bready) bid_rp <= bid_rp + 1'b1;
    end
  end
endmodule
"""


def build_ram(data_bits, mem_bytes=MEM_BYTES, sim=None):
    ram, tb = RAM_SOURCE.read_text(), ram_testbench(data_bits, mem_bytes)

    def write(build_dir):
        (build_dir / "axi4_ram.v").write_text(ram)
        (build_dir / "axi4_ram_tb.v").write_text(tb)

    digest = hashlib.sha256((ram + tb).encode()).hexdigest()[:10]
    return build_sources(write, "axi4_ram_tb", f"axi4_ram_{data_bits}_{mem_bytes}-{digest}",
                         ("axi4_ram.v", "axi4_ram_tb.v"), sim)


def _run(testcase, data_bits=128, mem_bytes=MEM_BYTES, sim="icarus", **params):
    s = seed()
    print(f"seed={s}")
    run_cocotb(build_ram(data_bits, mem_bytes, sim), "verif.hw.cocotb_axi4_ram", testcase=testcase,
               params=dict(seed=s, **params))


# --- the RAM alone -------------------------------------------------------------------------

@pytest.mark.block
@pytest.mark.parametrize("data_bits", [64, 128, 256])
def test_round_trips(data_bits):
    """Random bursts (any alignment and length) through AXI and in bulk, both ways; strobes."""
    _run(["bulk_to_axi_to_bulk", "strobes_and_narrow_bursts", "w_before_aw"], data_bits)


@pytest.mark.block
def test_stalls_change_cycles_not_results():
    _run("stalls", 128, pressures=[[11, 0], [12, 64], [13, 160], [14, 240]])


@pytest.mark.block
@pytest.mark.parametrize("data_bits", [64, 256])
def test_errors_and_end_of_memory(data_bits):
    _run(["injected_errors", "decerr_past_the_end", "protocol_violations"], data_bits)


@pytest.mark.block
def test_latency_and_outstanding_reads():
    _run(["read_latency", "outstanding_reads", "outstanding_reads_axi_master"], 128)


@pytest.mark.block
def test_bulk_speed_icarus():
    """1 MiB filled and read back in bulk, timed (printed); the default 16 MiB memory."""
    _run(["bulk_speed", "bulk_unaligned"], 128, 16 << 20)


@pytest.mark.block
def test_on_verilator():
    _run(["bulk_to_axi_to_bulk", "bulk_speed", "stalls", "outstanding_reads"], 128, 16 << 20,
         sim="verilator", pressures=[[21, 0], [22, 200]])


# --- pimacc_sys ----------------------------------------------------------------------------

G = Geometry.default(rows=4, cols=4, in_depth=32, acc_depth=16, out_depth=16)


@pytest.mark.nosim
@pytest.mark.parametrize("mem_bits", [64, 128, 256])
def test_system_wrapper_text(mem_bits):
    """pimacc_sys instantiates both modules, joins every m_axi_* of pimacc to the same s_axi_*
    of the RAM (and nothing else to them), and brings out every other port."""
    g = G.replace(mem_bits=mem_bits)
    ports = accelerator_ports(g)
    text = system_verilog(g, 1 << 20)
    assert re.search(r"^\s*pimacc u_acc \(", text, re.M)
    assert re.search(rf"^\s*axi4_ram #\(\.DATA_BITS\({mem_bits}\), \.MEM_BYTES\({1 << 20}\)\) "
                     r"u_ram \(", text, re.M)
    acc = text[text.index("pimacc u_acc"):text.index("axi4_ram #")]
    ram = text[text.index("axi4_ram #"):]
    head = text[:text.index(");")]
    for name, width, _ in axi4_ports(mem_bits):
        assert re.search(rf"^\s*wire {re.escape(f'[{width - 1}:0] ') if width > 1 else ''}"
                         rf"m_axi_{name};", text, re.M), name
        assert f".m_axi_{name}(m_axi_{name})" in acc, name
        assert f".s_axi_{name}(m_axi_{name})" in ram, name
        assert text.count(f"(m_axi_{name})") == 2, name
        assert f"m_axi_{name}" not in head, name
    for name in ports:
        if not name.startswith("m_axi_"):
            assert f".{name}({name})" in acc and re.search(rf"\b{name}\b", head), name
    for name, _, _ in RAM_CONTROLS:
        assert f".{name}(mem_{name})" in ram and f"mem_{name}" in head, name
    assert ".clk(clk)" in ram and ".rst(rst)" in ram


@pytest.mark.nosim
def test_system_wrapper_refuses_a_mismatched_accelerator():
    ports = accelerator_ports(G)
    missing = {k: v for k, v in ports.items() if k != "m_axi_rlast"}
    with pytest.raises(ValueError, match="no m_axi_rlast"):
        system_verilog(G, ports=missing)
    with pytest.raises(ValueError, match="m_axi_wdata is 64 bits out, expected 128"):
        system_verilog(G, ports={**ports, "m_axi_wdata": (64, True)})
    with pytest.raises(ValueError, match="m_axi_arprot"):
        system_verilog(G, ports={**ports, "m_axi_arprot": (3, True)})
    with pytest.raises(ValueError, match="mem_bytes"):
        system_verilog(G, mem_bytes=1000)


#: ``pimacc`` as a stub with the real ports: an AXI4-Lite to AXI4 bridge (one single-beat burst
#: per access; address = the AXI4-Lite address, data in the low 32 bits of a word's lane), so
#: the wrapper's wiring and the memory plumbing are exercised before the real memory port.
STUB = """module pimacc #(parameter DATA_BITS = {data_bits}) (
  input wire clk, input wire rst,
  input wire [{a}:0] s_axil_awaddr, input wire [2:0] s_axil_awprot, input wire s_axil_awvalid,
  output wire s_axil_awready, input wire [31:0] s_axil_wdata, input wire [3:0] s_axil_wstrb,
  input wire s_axil_wvalid, output wire s_axil_wready, output reg [1:0] s_axil_bresp,
  output reg s_axil_bvalid, input wire s_axil_bready, input wire [{a}:0] s_axil_araddr,
  input wire [2:0] s_axil_arprot, input wire s_axil_arvalid, output wire s_axil_arready,
  output reg [31:0] s_axil_rdata, output reg [1:0] s_axil_rresp, output reg s_axil_rvalid,
  input wire s_axil_rready, output wire irq,
  output reg [31:0] m_axi_awaddr, output wire [7:0] m_axi_awlen, output wire [2:0] m_axi_awsize,
  output wire [1:0] m_axi_awburst, output reg m_axi_awvalid, input wire m_axi_awready,
  output reg [DATA_BITS-1:0] m_axi_wdata, output reg [DATA_BITS/8-1:0] m_axi_wstrb,
  output wire m_axi_wlast, output reg m_axi_wvalid, input wire m_axi_wready,
  input wire [1:0] m_axi_bresp, input wire m_axi_bvalid, output wire m_axi_bready,
  output reg [31:0] m_axi_araddr, output wire [7:0] m_axi_arlen, output wire [2:0] m_axi_arsize,
  output wire [1:0] m_axi_arburst, output reg m_axi_arvalid, input wire m_axi_arready,
  input wire [DATA_BITS-1:0] m_axi_rdata, input wire [1:0] m_axi_rresp, input wire m_axi_rlast,
  input wire m_axi_rvalid, output wire m_axi_rready
);
  localparam LANES = DATA_BITS / 32;
  reg wbusy, rbusy;
  reg [{a}:0] raddr;
  assign irq = 1'b0;
  assign m_axi_awlen = 0, m_axi_arlen = 0, m_axi_awsize = 2, m_axi_arsize = 2;
  assign m_axi_awburst = 1, m_axi_arburst = 1, m_axi_wlast = 1;
  assign m_axi_bready = 1'b1, m_axi_rready = 1'b1;
  assign s_axil_awready = !wbusy && s_axil_awvalid && s_axil_wvalid;
  assign s_axil_wready = s_axil_awready;
  assign s_axil_arready = !rbusy;
  always @(posedge clk) begin
    if (rst) begin
      wbusy <= 0; rbusy <= 0; m_axi_awvalid <= 0; m_axi_wvalid <= 0; m_axi_arvalid <= 0;
      s_axil_bvalid <= 0; s_axil_rvalid <= 0;
    end else begin
      if (s_axil_awready) begin
        wbusy <= 1; m_axi_awvalid <= 1; m_axi_wvalid <= 1;
        m_axi_awaddr <= s_axil_awaddr & ~32'd3;
        m_axi_wdata <= {{LANES{{s_axil_wdata}}}};
        m_axi_wstrb <= s_axil_wstrb << (s_axil_awaddr[$clog2(DATA_BITS/8)-1:0] & ~3);
      end
      if (m_axi_awvalid && m_axi_awready) m_axi_awvalid <= 0;
      if (m_axi_wvalid && m_axi_wready) m_axi_wvalid <= 0;
      if (m_axi_bvalid) begin s_axil_bvalid <= 1; s_axil_bresp <= m_axi_bresp; end
      if (s_axil_bvalid && s_axil_bready) begin s_axil_bvalid <= 0; wbusy <= 0; end
      if (s_axil_arvalid && s_axil_arready) begin
        rbusy <= 1; m_axi_arvalid <= 1; m_axi_araddr <= s_axil_araddr & ~32'd3;
        raddr <= s_axil_araddr;
      end
      if (m_axi_arvalid && m_axi_arready) m_axi_arvalid <= 0;
      if (m_axi_rvalid) begin
        s_axil_rvalid <= 1; s_axil_rresp <= m_axi_rresp;
        s_axil_rdata <= m_axi_rdata >> (8 * (raddr[$clog2(DATA_BITS/8)-1:0] & ~3));
      end
      if (s_axil_rvalid && s_axil_rready) begin s_axil_rvalid <= 0; rbusy <= 0; end
    end
  end
endmodule
"""


def stub_accelerator(g):
    """The stub's Verilog and its ports (``{name: (width, is an output)}``, as hw/top.py's
    would be with the memory port), independent of hw/top.py."""
    from hw.spec import regmap
    a = regmap.ADDR_WIDTH
    ports = {"clk": (1, False), "rst": (1, False)}
    for name, width, out in [("awaddr", a, False), ("awprot", 3, False), ("awvalid", 1, False),
                             ("awready", 1, True), ("wdata", 32, False), ("wstrb", 4, False),
                             ("wvalid", 1, False), ("wready", 1, True), ("bresp", 2, True),
                             ("bvalid", 1, True), ("bready", 1, False), ("araddr", a, False),
                             ("arprot", 3, False), ("arvalid", 1, False), ("arready", 1, True),
                             ("rdata", 32, True), ("rresp", 2, True), ("rvalid", 1, True),
                             ("rready", 1, False)]:
        ports[f"s_axil_{name}"] = (width, out)
    ports["irq"] = (1, True)
    ports.update({f"m_axi_{name}": (width, out) for name, width, out in axi4_ports(g.mem_bits)})
    return STUB.format(data_bits=g.mem_bits, a=a - 1), ports


@pytest.mark.block
@pytest.mark.parametrize("mem_bits", [64, 256])
def test_system_with_a_stub_accelerator(mem_bits):
    """pimacc_sys through SimTransport(build=...): the memory filled and read in bulk
    (mem_write/mem_read, any alignment), and reached through the stub's AXI4 port (the wrapper's
    wiring): bulk-written data read over AXI4-Lite -> AXI4, AXI-written data read in bulk;
    an injected error comes back as a bus error."""
    import numpy as np

    from sw.targets.sim.client import SimTransport
    from sw.targets.transport import BusErrorResponse
    g = G.replace(mem_bits=mem_bits)
    s = seed()
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    stub, ports = stub_accelerator(g)
    build = build_system(g, "icarus", 1 << 20, accelerator=stub, ports=ports)
    with SimTransport("icarus", g, build=build) as dev:
        assert dev.mem_size == 1 << 20
        blob = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
        dev.mem_write(0x3003, blob)
        assert dev.mem_read(0x3003, len(blob)) == blob
        assert dev.mem_read(0x3000, 3) == b"\0\0\0"
        # through the stub's m_axi port: words of the bulk-written data
        words = np.frombuffer(blob[1:1 + 64], dtype="<u4").tolist()
        assert dev.read(0x3004, 16) == words
        new = rng.integers(0, 2**32, 8, dtype=np.uint64).tolist()
        dev.write(0x1000, new)
        got = np.frombuffer(dev.mem_read(0x1000, 32), dtype="<u4").tolist()
        assert got == new
        with pytest.raises(ValueError, match="outside the memory"):
            dev.mem_read((1 << 20) - 4, 8)
        dev.mem_error(0x1008, 0x100C, "SLVERR")
        with pytest.raises(BusErrorResponse) as e:
            dev.read(0x1000, 4)
        assert (e.value.addr, e.value.resp) == (0x1008, "SLVERR")
        dev.mem_error()
        assert dev.read(0x1008, 1) == new[2:3]


@pytest.mark.block
def test_system_with_the_accelerator():
    """pimacc_sys with the real pimacc (hw/top.py): it builds, the memory answers in bulk, and
    a program in it (END) is fetched through the AXI4 port and runs, legally."""
    from hw.spec import isa, register
    from sw.targets.sim.client import SimTransport

    def reg(name):
        return register(name).offset

    with SimTransport("icarus", G, memory=True, mem_bytes=1 << 20) as dev:
        assert dev.mem_size == 1 << 20
        assert dev.read(reg("CFG_MEM_BITS")) == [G.mem_bits]
        program = isa.to_bytes([isa.End()])
        dev.mem_write(0x400, program)
        assert dev.mem_read(0x400, len(program)) == program
        dev.write(reg("PROG_ADDR"), [0x400])
        dev.write(reg("PROG_LEN"), [4])
        dev.write(reg("CTRL"), [register("CTRL").pack(irq_en=1)])
        dev.write(reg("DOORBELL"), [1])
        assert dev.wait_irq(10_000)
        status = register("STATUS").unpack(dev.read(reg("STATUS"))[0])
        assert (status["DONE"], status["ERROR"]) == (1, 0), status
        assert dev.read(reg("PERF_INSTRS")) == [1]
        assert dev.mem_violation() == 0
