// soc_ram: the RAM of the RISC-V system, with two ports on one array.
//
// * the core's port: PicoRV32's native memory interface (32-bit words, byte strobes); an access
//   is answered one cycle after mem_valid (mem_ready registered), as picorv32's own testbench;
// * an AXI4 subordinate port (INCR bursts, data MEM_BITS wide, no IDs) for the accelerator's
//   memory manager (pimacc's m_axi_*): one beat a cycle; the address of a beat is the burst's
//   address plus the beat's index times 2**size, and its word is that address over MEM_BITS/8.
//
// Both ports see the same bytes at the same addresses (the RAM starts at 0), so the C driver
// writes programs and data with plain stores and the accelerator reads them. There are no
// caches: nothing to flush. A core write and an accelerator write to the same byte in the same
// cycle leave the accelerator's (the driver never does both).
//
// The array is initialised from the hex file named by the +firmware=<file> plusarg
// ($readmemh, one MEM_BITS-wide word a line, bytes little-endian within a word).
module soc_ram #(
    parameter MEM_BITS = 128,
    parameter WORDS = 8192  // MEM_BITS-wide words: RAM bytes = WORDS * MEM_BITS / 8
) (
    input clk,
    input rst,

    // the core's port
    input             mem_valid,
    output reg        mem_ready,
    input      [31:0] mem_addr,
    input      [31:0] mem_wdata,
    input      [ 3:0] mem_wstrb,
    output reg [31:0] mem_rdata,

    // the accelerator's port (AXI4 subordinate)
    input      [31:0]           s_axi_awaddr,
    input      [ 7:0]           s_axi_awlen,
    input      [ 2:0]           s_axi_awsize,
    input                       s_axi_awvalid,
    output reg                  s_axi_awready,
    input      [MEM_BITS-1:0]   s_axi_wdata,
    input      [MEM_BITS/8-1:0] s_axi_wstrb,
    input                       s_axi_wlast,
    input                       s_axi_wvalid,
    output reg                  s_axi_wready,
    output     [ 1:0]           s_axi_bresp,
    output reg                  s_axi_bvalid,
    input                       s_axi_bready,
    input      [31:0]           s_axi_araddr,
    input      [ 7:0]           s_axi_arlen,
    input      [ 2:0]           s_axi_arsize,
    input                       s_axi_arvalid,
    output reg                  s_axi_arready,
    output reg [MEM_BITS-1:0]   s_axi_rdata,
    output     [ 1:0]           s_axi_rresp,
    output reg                  s_axi_rlast,
    output reg                  s_axi_rvalid,
    input                       s_axi_rready
);
    localparam BYTES = MEM_BITS / 8;
    localparam ADDR_LSB = $clog2(BYTES);
    localparam INDEX_BITS = $clog2(WORDS);

    reg [MEM_BITS-1:0] mem [0:WORDS-1];

    reg [1023:0] firmware;
    initial begin
        if ($value$plusargs("firmware=%s", firmware))
            $readmemh(firmware, mem);
    end

    // Out-of-range accesses wrap (the address decoder of the system sends only RAM addresses).
    wire [INDEX_BITS-1:0] core_index = mem_addr[ADDR_LSB +: INDEX_BITS];
    wire [ADDR_LSB-3:0] core_lane = mem_addr[ADDR_LSB-1:2];  // the 32-bit lane in a word

    // the AXI4 port's bursts: one read and one write at a time
    reg [31:0] rd_addr, wr_addr;
    reg [7:0] rd_left;
    reg [2:0] rd_size, wr_size;
    wire [31:0] rd_next = rd_addr + (32'd1 << rd_size);

    assign s_axi_bresp = 2'b00;
    assign s_axi_rresp = 2'b00;

    integer i;
    always @(posedge clk) begin
        // the core's port
        mem_ready <= 1'b0;
        if (mem_valid && !mem_ready) begin
            mem_ready <= 1'b1;
            mem_rdata <= mem[core_index][32*core_lane +: 32];
            for (i = 0; i < 4; i = i + 1)
                if (mem_wstrb[i])
                    mem[core_index][32*core_lane + 8*i +: 8] <= mem_wdata[8*i +: 8];
        end

        // reads: address, then one beat a cycle while rready
        if (s_axi_arvalid && s_axi_arready) begin
            s_axi_arready <= 1'b0;
            s_axi_rvalid <= 1'b1;
            s_axi_rdata <= mem[s_axi_araddr[ADDR_LSB +: INDEX_BITS]];
            s_axi_rlast <= s_axi_arlen == 8'd0;
            rd_addr <= s_axi_araddr;
            rd_left <= s_axi_arlen;
            rd_size <= s_axi_arsize;
        end else if (s_axi_rvalid && s_axi_rready) begin
            if (s_axi_rlast) begin
                s_axi_rvalid <= 1'b0;
                s_axi_rlast <= 1'b0;
                s_axi_arready <= 1'b1;
            end else begin
                s_axi_rdata <= mem[rd_next[ADDR_LSB +: INDEX_BITS]];
                s_axi_rlast <= rd_left == 8'd1;
                rd_addr <= rd_next;
                rd_left <= rd_left - 8'd1;
            end
        end

        // writes: address, beats until wlast, then the response
        if (s_axi_awvalid && s_axi_awready) begin
            s_axi_awready <= 1'b0;
            s_axi_wready <= 1'b1;
            wr_addr <= s_axi_awaddr;
            wr_size <= s_axi_awsize;
        end
        if (s_axi_wvalid && s_axi_wready) begin
            for (i = 0; i < BYTES; i = i + 1)
                if (s_axi_wstrb[i])
                    mem[wr_addr[ADDR_LSB +: INDEX_BITS]][8*i +: 8] <= s_axi_wdata[8*i +: 8];
            wr_addr <= wr_addr + (32'd1 << wr_size);
            if (s_axi_wlast) begin
                s_axi_wready <= 1'b0;
                s_axi_bvalid <= 1'b1;
            end
        end
        if (s_axi_bvalid && s_axi_bready) begin
            s_axi_bvalid <= 1'b0;
            s_axi_awready <= 1'b1;
        end

        if (rst) begin
            mem_ready <= 1'b0;
            s_axi_arready <= 1'b1;
            s_axi_rvalid <= 1'b0;
            s_axi_rlast <= 1'b0;
            s_axi_awready <= 1'b1;
            s_axi_wready <= 1'b0;
            s_axi_bvalid <= 1'b0;
        end
    end
endmodule
