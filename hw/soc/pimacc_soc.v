// pimacc_soc: the RISC-V system of issue 12, for simulation.
//
// PicoRV32 (rv32im: fast multiplier, divider, barrel shifter) on its native memory interface,
// one access at a time, decoded by address:
//
//   0x0000_0000  RAM (soc_ram), RAM_WORDS words of MEM_BITS bits; the accelerator's AXI4
//                memory port (m_axi_*) reaches the same RAM at the same addresses
//   0x1000_0000  IO: +0 CONSOLE (write: a byte to the console), +4 FINISH (write: end the
//                simulation with this exit code), +8 CYCLES (read: clock cycles since reset, low
//                word), +12 CYCLES_HI (read: the high word as of the last read of +8), +16
//                PROFILE (write: bit 0 turns the testbench's profile on or off)
//   0x4000_0000  the accelerator's registers (pimacc's s_axil_*, through axil_bridge)
//
// Anything else answers 0 at once and raises fault (the testbench stops). The console, finish
// and fault are outputs: the testbench (sw/soc/sim_main.cpp) prints and stops; no $display.
// So are the core's instruction fetches (fetch, fetch_addr) and the PROFILE bit, from which
// the testbench attributes each cycle to the instruction last fetched (PicoRV32 is not
// pipelined: a fetch, then its execution).
module pimacc_soc #(
    parameter MEM_BITS = 128,
    parameter RAM_WORDS = 8192
) (
    input clk,
    input rst,

    output reg        console_valid,
    output reg [ 7:0] console_data,
    output reg        finish_valid,
    output reg [31:0] finish_code,
    output            trap,
    output reg        fault,
    output            fetch,
    output     [31:0] fetch_addr,
    output reg        profile
);
    localparam ACC_ADDR_BITS = 20;

    wire        mem_valid, mem_instr;
    wire [31:0] mem_addr, mem_wdata;
    wire [ 3:0] mem_wstrb;
    reg         mem_ready;
    reg  [31:0] mem_rdata;

    picorv32 #(
        .ENABLE_COUNTERS(1),
        .ENABLE_MUL(0),
        .ENABLE_FAST_MUL(1),
        .ENABLE_DIV(1),
        .BARREL_SHIFTER(1),
        .COMPRESSED_ISA(0),
        .ENABLE_IRQ(0),
        .PROGADDR_RESET(32'h0000_0000),
        .STACKADDR(RAM_WORDS * (MEM_BITS / 8))
    ) cpu (
        .clk(clk),
        .resetn(!rst),
        .trap(trap),
        .mem_valid(mem_valid),
        .mem_instr(mem_instr),
        .mem_ready(mem_ready),
        .mem_addr(mem_addr),
        .mem_wdata(mem_wdata),
        .mem_wstrb(mem_wstrb),
        .mem_rdata(mem_rdata),
        .mem_la_read(),
        .mem_la_write(),
        .mem_la_addr(),
        .mem_la_wdata(),
        .mem_la_wstrb(),
        .pcpi_valid(),
        .pcpi_insn(),
        .pcpi_rs1(),
        .pcpi_rs2(),
        .pcpi_wr(1'b0),
        .pcpi_rd(32'd0),
        .pcpi_wait(1'b0),
        .pcpi_ready(1'b0),
        .irq(32'd0),
        .eoi(),
        .trace_valid(),
        .trace_data()
    );

    // address decoding
    wire sel_ram = mem_addr[31:28] == 4'h0;
    wire sel_io = mem_addr[31:28] == 4'h1;
    wire sel_acc = mem_addr[31:28] == 4'h4;

    assign fetch = mem_valid && mem_instr && mem_ready;
    assign fetch_addr = mem_addr;

    wire        ram_ready, acc_ready;
    wire [31:0] ram_rdata, acc_rdata;
    reg         io_ready;
    reg  [31:0] io_rdata;

    always @(*) begin
        mem_ready = ram_ready | acc_ready | io_ready;
        mem_rdata = ram_ready ? ram_rdata : acc_ready ? acc_rdata : io_rdata;
    end

    // IO: the console, the finish register and the cycle counter; answers in one cycle
    reg [63:0] cycles;
    reg [31:0] cycles_hi;
    always @(posedge clk) begin
        cycles <= cycles + 64'd1;
        io_ready <= 1'b0;
        console_valid <= 1'b0;
        finish_valid <= 1'b0;
        if (mem_valid && !mem_ready && !sel_ram && !sel_acc) begin
            io_ready <= 1'b1;
            io_rdata <= 32'd0;
            if (!sel_io)
                fault <= 1'b1;
            else if (|mem_wstrb) begin
                case (mem_addr[4:2])
                    3'd0: begin console_valid <= 1'b1; console_data <= mem_wdata[7:0]; end
                    3'd1: begin finish_valid <= 1'b1; finish_code <= mem_wdata; end
                    3'd4: profile <= mem_wdata[0];
                    default: ;
                endcase
            end else begin
                case (mem_addr[4:2])
                    3'd2: begin io_rdata <= cycles[31:0]; cycles_hi <= cycles[63:32]; end
                    3'd3: io_rdata <= cycles_hi;
                    default: ;
                endcase
            end
        end
        if (rst) begin
            cycles <= 64'd0;
            io_ready <= 1'b0;
            fault <= 1'b0;
            profile <= 1'b0;
        end
    end

    // the accelerator's two ports
    wire [ACC_ADDR_BITS-1:0] axil_awaddr, axil_araddr;
    wire axil_awvalid, axil_awready, axil_wvalid, axil_wready, axil_bvalid, axil_bready;
    wire axil_arvalid, axil_arready, axil_rvalid, axil_rready;
    wire [31:0] axil_wdata, axil_rdata;
    wire [3:0] axil_wstrb;
    wire [1:0] axil_bresp, axil_rresp;

    wire [31:0] axi_awaddr, axi_araddr;
    wire [7:0] axi_awlen, axi_arlen;
    wire [2:0] axi_awsize, axi_arsize;
    wire [1:0] axi_awburst, axi_arburst, axi_bresp, axi_rresp;
    wire axi_awvalid, axi_awready, axi_wlast, axi_wvalid, axi_wready, axi_bvalid, axi_bready;
    wire axi_arvalid, axi_arready, axi_rlast, axi_rvalid, axi_rready;
    wire [MEM_BITS-1:0] axi_wdata, axi_rdata;
    wire [MEM_BITS/8-1:0] axi_wstrb;
    wire acc_irq;

    soc_ram #(.MEM_BITS(MEM_BITS), .WORDS(RAM_WORDS)) ram (
        .clk(clk), .rst(rst),
        .mem_valid(mem_valid && sel_ram), .mem_ready(ram_ready), .mem_addr(mem_addr),
        .mem_wdata(mem_wdata), .mem_wstrb(mem_wstrb), .mem_rdata(ram_rdata),
        .s_axi_awaddr(axi_awaddr), .s_axi_awlen(axi_awlen), .s_axi_awsize(axi_awsize),
        .s_axi_awvalid(axi_awvalid), .s_axi_awready(axi_awready),
        .s_axi_wdata(axi_wdata), .s_axi_wstrb(axi_wstrb), .s_axi_wlast(axi_wlast),
        .s_axi_wvalid(axi_wvalid), .s_axi_wready(axi_wready),
        .s_axi_bresp(axi_bresp), .s_axi_bvalid(axi_bvalid), .s_axi_bready(axi_bready),
        .s_axi_araddr(axi_araddr), .s_axi_arlen(axi_arlen), .s_axi_arsize(axi_arsize),
        .s_axi_arvalid(axi_arvalid), .s_axi_arready(axi_arready),
        .s_axi_rdata(axi_rdata), .s_axi_rresp(axi_rresp), .s_axi_rlast(axi_rlast),
        .s_axi_rvalid(axi_rvalid), .s_axi_rready(axi_rready)
    );

    axil_bridge #(.ADDR_BITS(ACC_ADDR_BITS)) bridge (
        .clk(clk), .rst(rst),
        .mem_valid(mem_valid && sel_acc), .mem_ready(acc_ready), .mem_addr(mem_addr),
        .mem_wdata(mem_wdata), .mem_wstrb(mem_wstrb), .mem_rdata(acc_rdata),
        .m_axil_awaddr(axil_awaddr), .m_axil_awvalid(axil_awvalid),
        .m_axil_awready(axil_awready), .m_axil_wdata(axil_wdata), .m_axil_wstrb(axil_wstrb),
        .m_axil_wvalid(axil_wvalid), .m_axil_wready(axil_wready), .m_axil_bresp(axil_bresp),
        .m_axil_bvalid(axil_bvalid), .m_axil_bready(axil_bready),
        .m_axil_araddr(axil_araddr), .m_axil_arvalid(axil_arvalid),
        .m_axil_arready(axil_arready), .m_axil_rdata(axil_rdata), .m_axil_rresp(axil_rresp),
        .m_axil_rvalid(axil_rvalid), .m_axil_rready(axil_rready)
    );

    pimacc acc (
        .clk(clk), .rst(rst),
        .s_axil_awaddr(axil_awaddr), .s_axil_awprot(3'd0), .s_axil_awvalid(axil_awvalid),
        .s_axil_awready(axil_awready), .s_axil_wdata(axil_wdata), .s_axil_wstrb(axil_wstrb),
        .s_axil_wvalid(axil_wvalid), .s_axil_wready(axil_wready), .s_axil_bresp(axil_bresp),
        .s_axil_bvalid(axil_bvalid), .s_axil_bready(axil_bready),
        .s_axil_araddr(axil_araddr), .s_axil_arprot(3'd0), .s_axil_arvalid(axil_arvalid),
        .s_axil_arready(axil_arready), .s_axil_rdata(axil_rdata), .s_axil_rresp(axil_rresp),
        .s_axil_rvalid(axil_rvalid), .s_axil_rready(axil_rready),
        .m_axi_awaddr(axi_awaddr), .m_axi_awlen(axi_awlen), .m_axi_awsize(axi_awsize),
        .m_axi_awburst(axi_awburst), .m_axi_awvalid(axi_awvalid),
        .m_axi_awready(axi_awready), .m_axi_wdata(axi_wdata), .m_axi_wstrb(axi_wstrb),
        .m_axi_wlast(axi_wlast), .m_axi_wvalid(axi_wvalid), .m_axi_wready(axi_wready),
        .m_axi_bresp(axi_bresp), .m_axi_bvalid(axi_bvalid), .m_axi_bready(axi_bready),
        .m_axi_araddr(axi_araddr), .m_axi_arlen(axi_arlen), .m_axi_arsize(axi_arsize),
        .m_axi_arburst(axi_arburst), .m_axi_arvalid(axi_arvalid),
        .m_axi_arready(axi_arready), .m_axi_rdata(axi_rdata), .m_axi_rresp(axi_rresp),
        .m_axi_rlast(axi_rlast), .m_axi_rvalid(axi_rvalid), .m_axi_rready(axi_rready),
        .irq(acc_irq)
    );
endmodule
