// axil_bridge: PicoRV32's native memory interface to an AXI4-Lite manager (the accelerator's
// register port, pimacc's s_axil_*), one access at a time.
//
// A store raises awvalid and wvalid together (each dropped on its own handshake), a load
// arvalid; bready and rready stay high. mem_ready is raised for one cycle with the response,
// so a register access costs the core the accelerator's AXI4-Lite latency plus one cycle.
// Responses other than OKAY are not reported to the core (the C driver reads STATUS).
module axil_bridge #(
    parameter ADDR_BITS = 20
) (
    input clk,
    input rst,

    input             mem_valid,  // the core's access, already decoded to this port
    output reg        mem_ready,
    input      [31:0] mem_addr,
    input      [31:0] mem_wdata,
    input      [ 3:0] mem_wstrb,
    output reg [31:0] mem_rdata,

    output reg [ADDR_BITS-1:0] m_axil_awaddr,
    output reg                 m_axil_awvalid,
    input                      m_axil_awready,
    output reg [31:0]          m_axil_wdata,
    output reg [ 3:0]          m_axil_wstrb,
    output reg                 m_axil_wvalid,
    input                      m_axil_wready,
    input      [ 1:0]          m_axil_bresp,
    input                      m_axil_bvalid,
    output                     m_axil_bready,
    output reg [ADDR_BITS-1:0] m_axil_araddr,
    output reg                 m_axil_arvalid,
    input                      m_axil_arready,
    input      [31:0]          m_axil_rdata,
    input      [ 1:0]          m_axil_rresp,
    input                      m_axil_rvalid,
    output                     m_axil_rready
);
    reg busy;

    assign m_axil_bready = 1'b1;
    assign m_axil_rready = 1'b1;

    always @(posedge clk) begin
        mem_ready <= 1'b0;
        if (mem_valid && !busy && !mem_ready) begin
            busy <= 1'b1;
            if (|mem_wstrb) begin
                m_axil_awaddr <= mem_addr[ADDR_BITS-1:0];
                m_axil_wdata <= mem_wdata;
                m_axil_wstrb <= mem_wstrb;
                m_axil_awvalid <= 1'b1;
                m_axil_wvalid <= 1'b1;
            end else begin
                m_axil_araddr <= mem_addr[ADDR_BITS-1:0];
                m_axil_arvalid <= 1'b1;
            end
        end
        if (m_axil_awvalid && m_axil_awready)
            m_axil_awvalid <= 1'b0;
        if (m_axil_wvalid && m_axil_wready)
            m_axil_wvalid <= 1'b0;
        if (m_axil_arvalid && m_axil_arready)
            m_axil_arvalid <= 1'b0;
        if (busy && m_axil_bvalid) begin
            busy <= 1'b0;
            mem_ready <= 1'b1;
        end
        if (busy && m_axil_rvalid) begin
            busy <= 1'b0;
            mem_ready <= 1'b1;
            mem_rdata <= m_axil_rdata;
        end
        if (rst) begin
            busy <= 1'b0;
            mem_ready <= 1'b0;
            m_axil_awvalid <= 1'b0;
            m_axil_wvalid <= 1'b0;
            m_axil_arvalid <= 1'b0;
        end
    end
endmodule
