// harness.cpp: the Verilated pimacc clocked from C++, its AXI4 memory and AXI4-Lite access.
//
// The model's top is pimacc_harness_top (sw/c/build.py, harness_top_verilog): pimacc and
// registers for the memory's side of its AXI4 port, which one DPI call per rising edge,
// pimacc_mem_edge, fills from this file's AXI4 RAM (mem_edge). So only the register port, the
// reset and irq are the model's ports; the memory port is not among its inputs.
//
// A cycle: the register port's handshakes are sampled with the clock low (after the inputs
// settled), the clock rises; at that edge mem_edge samples the memory port's handshakes (the
// values from before the edge) and returns the memory's outputs for the next cycle, which the
// top's registers take; then the register-port manager updates its outputs and the clock
// falls. So both behave as registered logic, like the RTL they talk to. (The memory's timing is
// that of the C++ loop that drove the memory port's pins before: a test holds the cycle counts
// of a fixed workload, with and without random stalls, to that harness's.)
//
// Exact mode evaluates the model twice a cycle (clock high, clock low). Fast mode (the
// default) evaluates it once, at the rising edge, and the falling edge needs nothing else. The
// register port's handshakes are sampled from the outputs of the last evaluation; its readies
// depend on its valids, so one more evaluation settles them whenever the harness changed its
// inputs. A test holds the two modes to the same results and cycle counts.
//
// Fast mode also skips Verilator's input region ("ico": the logic fed by the inputs, a fifth of
// the model's time on a layer when it ran on every edge) when no input changed since the last
// evaluation. That is exact: Verilator recomputes the logic fed by both inputs and registers in
// its nba region as well, so the input region would only compute again what it computed last
// time. The harness drives every input through drive(), which notes a change; the phases are
// Verilator-generated names (weak symbols: without them every evaluation is a full one). With
// the memory behind the DPI call, the inputs change only during register accesses, so a
// layer's cycles all skip it (they skipped it on 15 % of its edges when the memory's outputs
// were inputs).
#include "harness.h"

#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "Vpimacc.h"
#include "Vpimacc__Dpi.h"
#include "Vpimacc___024root.h"
#include "svdpi.h"
#include "verilated.h"

namespace {

constexpr uint32_t OKAY = 0, SLVERR = 2;

// Make the next evaluation see a rising clock edge without evaluating the falling one: the
// clock's previous value as Verilator's trigger remembers it. Verilator-generated name; if a
// Verilator lacks it, the second overload makes fast mode unavailable.
template <typename Root>
auto arm_rising_edge(Root *root, int) -> decltype(root->__Vtrigprevexpr___TOP__clk__0 = 0, true) {
    root->__Vtrigprevexpr___TOP__clk__0 = 0;
    return true;
}
template <typename Root> bool arm_rising_edge(Root *, long) { return false; }

template <std::size_t N> bool same(const VlWide<N> &a, const VlWide<N> &b) {
    for (std::size_t i = 0; i < N; ++i)
        if (a[i] != b[i]) return false;
    return true;
}
template <typename T> bool same(const T &a, const T &b) { return a == b; }

}  // namespace

// Verilator's evaluation phases (Vpimacc___024root__3.cpp): weak, so a Verilator that names them
// otherwise links and evaluates fully.
bool Vpimacc___024root___eval_phase__act(Vpimacc___024root *) __attribute__((weak));
bool Vpimacc___024root___eval_phase__nba(Vpimacc___024root *) __attribute__((weak));

namespace {

// Vpimacc___024root___eval without its input region: the active and nba phases until they
// settle (what eval() does after the input region; its convergence limits are left out).
bool eval_without_inputs(Vpimacc___024root *root) {
    if (!Vpimacc___024root___eval_phase__act || !Vpimacc___024root___eval_phase__nba)
        return false;
    do {
        while (Vpimacc___024root___eval_phase__act(root)) {}
    } while (Vpimacc___024root___eval_phase__nba(root));
    return true;
}

struct Burst {
    uint32_t addr, beats, size;  // next beat's address, beats left, bytes per beat
    uint64_t ready_at;           // reads: the cycle its first beat may answer
    bool error;
};

}  // namespace

struct pimacc_harness {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vpimacc> top;
    std::vector<uint8_t> mem;
    uint32_t rd_latency;
    uint64_t cycles = 0;
    double sim_seconds = 0;
    uint32_t err_lo = 0, err_hi = 0;
    uint32_t last_resp = 0;
    bool fast = false, settle = false;  // settle: register-port inputs changed (fast mode)
    bool skip = true, dirty = true;     // skip the input region when no input changed (dirty)
    uint64_t skipped = 0;               // rising edges evaluated without the input region
    uint32_t stall_state = 1, pressure = 0;  // random stalls: xorshift32, chance pressure/256
    pimacc_dev_t dev{};
    pimacc_platform_t platform{};

    // the memory: bursts in flight, and its outputs (what the top's registers hold)
    std::deque<Burst> reads, writes;
    struct {
        bool arready = false, awready = false, wready = false, bvalid = false, rvalid = false,
             rlast = false;
        uint32_t bresp = 0, rresp = 0;
        uint32_t rdata[16] = {};  // (little-endian words: up to 512 bits)
    } out;
    std::deque<uint32_t> responses;  // B channel
    static constexpr std::size_t QUEUE = 4;  // addresses accepted ahead of their data

    // AXI4-Lite manager state: what the current access still waits for
    bool aw_wait = false, w_wait = false, b_wait = false, ar_wait = false, r_wait = false;
    uint32_t rdata = 0;

    pimacc_harness(uint32_t mem_bytes, uint32_t latency)
        : context(new VerilatedContext), mem(mem_bytes, 0), rd_latency(latency) {
        top.reset(new Vpimacc{context.get(), "pimacc"});
        top->s_axil_wstrb = 0xF;
        top->s_axil_bready = 0;
        top->s_axil_rready = 0;
        top->rst = 1;
        top->clk = 0;
        current = this;
        top->eval();
        for (int i = 0; i < 4; ++i) tick();
        top->rst = 0;
        eval();
        fast = arm_rising_edge(top->rootp, 0);
        platform.read32 = [](void *ctx, uint32_t offset) {
            return pimacc_harness_read32(static_cast<pimacc_harness *>(ctx), offset);
        };
        platform.write32 = [](void *ctx, uint32_t offset, uint32_t value) {
            pimacc_harness_write32(static_cast<pimacc_harness *>(ctx), offset, value);
        };
        platform.wait = [](void *ctx, uint32_t cycles) {
            static_cast<pimacc_harness *>(ctx)->wait_irq(cycles);
        };
        platform.ctx = this;
        platform.mem = mem.data();
        platform.mem_addr = 0;
        platform.mem_size = mem_bytes;
    }

    ~pimacc_harness() { top->final(); }

    // Set an input of the model, noting whether it changed.
    template <typename T, typename V> void drive(T &pin, const V &value) {
        if (!same(pin, T(value))) {
            pin = T(value);
            dirty = true;
        }
    }

    // A full evaluation (the input region included).
    void eval() {
        current = this;
        top->eval();
        dirty = false;
    }

    // Whether to stall a ready or a valid this cycle.
    bool stall() {
        if (!pressure) return false;
        stall_state ^= stall_state << 13;
        stall_state ^= stall_state >> 17;
        stall_state ^= stall_state << 5;
        return (stall_state & 0xFF) < pressure;
    }

    bool bad(uint32_t addr, uint32_t bytes) const {
        uint64_t end = uint64_t(addr) + bytes;
        return end > mem.size() || (addr < err_hi && err_lo < end);
    }

    Burst burst(uint32_t addr, uint32_t len, uint32_t size, uint64_t ready_at) const {
        uint32_t beat = 1u << size, beats = len + 1;
        return Burst{addr, beats, beat, ready_at, bad(addr & ~(beat - 1), beat * beats)};
    }

    void tick() {
        Vpimacc &t = *top;
        current = this;
        if (settle) {
            eval();
            settle = false;
        }
        // Sample the register port's handshakes (inputs have settled: the last eval saw them);
        // the memory's are sampled by mem_edge, called at the rising edge.
        bool l_aw = t.s_axil_awvalid && t.s_axil_awready, l_w = t.s_axil_wvalid && t.s_axil_wready;
        bool l_b = t.s_axil_bvalid && t.s_axil_bready, l_ar = t.s_axil_arvalid && t.s_axil_arready;
        bool l_r = t.s_axil_rvalid && t.s_axil_rready;
        if (l_b) last_resp = t.s_axil_bresp;
        if (l_r) {
            rdata = t.s_axil_rdata;
            last_resp = t.s_axil_rresp;
        }

        t.clk = 1;
        if (!fast) {
            t.eval();
        } else {
            arm_rising_edge(t.rootp, 0);
            if (!dirty && skip && eval_without_inputs(t.rootp)) ++skipped;
            else eval();
        }
        ++cycles;

        // The register port's manager.
        if (l_aw) drive(t.s_axil_awvalid, 0), aw_wait = false;
        if (l_w) drive(t.s_axil_wvalid, 0), w_wait = false;
        if (l_b) drive(t.s_axil_bready, 0), b_wait = false;
        if (l_ar) drive(t.s_axil_arvalid, 0), ar_wait = false;
        if (l_r) drive(t.s_axil_rready, 0), r_wait = false;
        settle = fast && (l_aw || l_w || l_b || l_ar || l_r);

        t.clk = 0;
        if (!fast) t.eval();
    }

    // The memory at a rising edge (pimacc_mem_edge): the cycle's handshakes, from pimacc's
    // outputs before the edge and the memory's own, then the memory's outputs for the next
    // cycle (``cycles + 1``), which the top's registers take at this edge. So the memory
    // behaves as registered logic, as the RTL it talks to does.
    struct Port {  // pimacc's side, as it was before the edge
        bool arvalid, rready, awvalid, wvalid, wlast, bready;
        uint32_t araddr, arlen, arsize, awaddr, awlen, awsize;
        const uint32_t *wdata;
        uint64_t wstrb;
    };
    void mem_edge(uint32_t bytes, const Port &p) {
        bool ar = p.arvalid && out.arready, r = out.rvalid && p.rready;
        bool aw = p.awvalid && out.awready, w = p.wvalid && out.wready;
        bool b = out.bvalid && p.bready;
        if (ar) reads.push_back(burst(p.araddr, p.arlen, p.arsize, cycles + rd_latency));
        if (aw) writes.push_back(burst(p.awaddr, p.awlen, p.awsize, 0));
        if (w) write_beat(bytes, p);
        uint64_t now = cycles + 1;

        if (r) {
            Burst &front = reads.front();
            front.addr += front.size;
            if (--front.beats == 0) reads.pop_front();
        }
        if (b) responses.pop_front();
        // (a valid, once raised, stays until its handshake; a ready may drop any time)
        out.arready = reads.size() < QUEUE && !stall();
        out.awready = writes.size() < QUEUE && !stall();
        out.wready = !writes.empty() && !stall();
        out.bvalid = (out.bvalid && !b) || (!responses.empty() && !stall());
        out.bresp = responses.empty() ? 0 : responses.front();
        bool rv = (out.rvalid && !r) || (!reads.empty() && reads.front().ready_at <= now && !stall());
        out.rvalid = rv;
        if (rv) read_beat(bytes, reads.front());
    }

    void read_beat(uint32_t bytes, const Burst &burst) {
        uint32_t base = burst.addr & ~(bytes - 1);
        uint8_t data[64] = {};
        if (!burst.error) std::memcpy(data, &mem[base], bytes);
        for (uint32_t i = 0; i < bytes / 4; ++i)
            out.rdata[i] = uint32_t(data[4 * i]) | uint32_t(data[4 * i + 1]) << 8
                           | uint32_t(data[4 * i + 2]) << 16 | uint32_t(data[4 * i + 3]) << 24;
        out.rresp = burst.error ? SLVERR : OKAY;
        out.rlast = burst.beats == 1;
    }

    void write_beat(uint32_t bytes, const Port &p) {
        Burst &front = writes.front();
        uint32_t base = front.addr & ~(bytes - 1);
        if (!front.error)
            for (uint32_t i = 0; i < bytes; ++i)
                if (p.wstrb >> i & 1) mem[base + i] = uint8_t(p.wdata[i / 4] >> (8 * (i % 4)));
        front.addr += front.size;
        if (--front.beats == 0 || p.wlast) {
            responses.push_back(front.error ? SLVERR : OKAY);
            writes.pop_front();
        }
    }

    static pimacc_harness *current;  // the harness whose model is being evaluated

    // Clock until the register-port access set up by the caller has finished.
    void finish_access() {
        auto t0 = std::chrono::steady_clock::now();
        eval();
        settle = false;
        while (aw_wait || w_wait || b_wait || ar_wait || r_wait) tick();
        sim_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    // Clock until irq is high, at most `most` cycles (the driver's wait between two polls).
    void wait_irq(uint32_t most) {
        auto t0 = std::chrono::steady_clock::now();
        for (uint32_t i = 0; i < most && !top->irq; ++i) tick();
        sim_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    uint32_t read32(uint32_t offset) {
        top->s_axil_araddr = offset;
        top->s_axil_arvalid = 1;
        top->s_axil_rready = 1;
        ar_wait = r_wait = true;
        finish_access();
        return rdata;
    }

    void write32(uint32_t offset, uint32_t value) {
        top->s_axil_awaddr = offset;
        top->s_axil_awvalid = 1;
        top->s_axil_wdata = value;
        top->s_axil_wstrb = 0xF;
        top->s_axil_wvalid = 1;
        top->s_axil_bready = 1;
        aw_wait = w_wait = b_wait = true;
        finish_access();
    }
};

pimacc_harness *pimacc_harness::current = nullptr;

// The DPI import of the harness's top (sw/c/build.py, harness_top_verilog), called at every
// rising edge: the memory of the harness being evaluated.
void pimacc_mem_edge(int bytes, svBit arvalid, int araddr, int arlen, int arsize, svBit rready,
                     svBit awvalid, int awaddr, int awlen, int awsize, svBit wvalid,
                     const svBitVecVal *wdata, long long wstrb, svBit wlast, svBit bready,
                     svBit *arready, svBit *awready, svBit *wready, svBit *bvalid, int *bresp,
                     svBit *rvalid, svBitVecVal *rdata, int *rresp, svBit *rlast) {
    pimacc_harness &h = *pimacc_harness::current;
    h.mem_edge(uint32_t(bytes),
               {arvalid != 0, rready != 0, awvalid != 0, wvalid != 0, wlast != 0, bready != 0,
                uint32_t(araddr), uint32_t(arlen), uint32_t(arsize), uint32_t(awaddr),
                uint32_t(awlen), uint32_t(awsize), wdata, uint64_t(wstrb)});
    *arready = h.out.arready;
    *awready = h.out.awready;
    *wready = h.out.wready;
    *bvalid = h.out.bvalid;
    *bresp = int(h.out.bresp);
    *rvalid = h.out.rvalid;
    for (int i = 0; i < bytes / 4; ++i) rdata[i] = h.out.rdata[i];
    *rresp = int(h.out.rresp);
    *rlast = h.out.rlast;
}

extern "C" {

pimacc_harness_t *pimacc_harness_open(uint32_t mem_bytes, uint32_t rd_latency) {
    if (mem_bytes == 0 || mem_bytes % 4096) return nullptr;
    return new pimacc_harness(mem_bytes, rd_latency);
}

void pimacc_harness_close(pimacc_harness_t *h) { delete h; }

int pimacc_harness_init(pimacc_harness_t *h) { return pimacc_init(&h->dev, &h->platform); }

pimacc_dev_t *pimacc_harness_dev(pimacc_harness_t *h) { return &h->dev; }
uint8_t *pimacc_harness_mem(pimacc_harness_t *h) { return h->mem.data(); }
uint32_t pimacc_harness_mem_size(pimacc_harness_t *h) { return uint32_t(h->mem.size()); }
uint64_t pimacc_harness_cycles(pimacc_harness_t *h) { return h->cycles; }
double pimacc_harness_sim_seconds(pimacc_harness_t *h) { return h->sim_seconds; }
uint32_t pimacc_harness_read32(pimacc_harness_t *h, uint32_t offset) { return h->read32(offset); }
void pimacc_harness_write32(pimacc_harness_t *h, uint32_t offset, uint32_t value) {
    h->write32(offset, value);
}
uint32_t pimacc_harness_last_resp(pimacc_harness_t *h) { return h->last_resp; }

void pimacc_harness_idle(pimacc_harness_t *h, uint64_t cycles) {
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < cycles; ++i) h->tick();
    h->sim_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int pimacc_harness_wait_irq(pimacc_harness_t *h, uint64_t max_cycles) {
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < max_cycles && !h->top->irq; ++i) h->tick();
    h->sim_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return h->top->irq != 0;
}

void pimacc_harness_mem_error(pimacc_harness_t *h, uint32_t lo, uint32_t hi) {
    h->err_lo = lo;
    h->err_hi = hi;
}

int pimacc_harness_fast(pimacc_harness_t *h, int on) {
    h->fast = on && arm_rising_edge(h->top->rootp, 0);
    if (!h->fast) h->eval();  // (exact mode evaluates with the clock low)
    h->settle = false;
    h->dirty = true;
    return h->fast;
}

int pimacc_harness_skip_inputs(pimacc_harness_t *h, int on) {
    h->skip = on != 0;
    h->dirty = true;
    return h->skip && Vpimacc___024root___eval_phase__act && Vpimacc___024root___eval_phase__nba;
}

uint64_t pimacc_harness_skipped(pimacc_harness_t *h) { return h->skipped; }

void pimacc_harness_stalls(pimacc_harness_t *h, uint32_t seed, uint32_t pressure) {
    h->stall_state = seed ? seed : 1;
    h->pressure = pressure > 255 ? 255 : pressure;
}

void pimacc_harness_sizes(uint32_t out[4]) {
    out[0] = sizeof(pimacc_dev_t);
    out[1] = sizeof(pimacc_linear_desc_t);
    out[2] = sizeof(pimacc_conv_desc_t);
    out[3] = sizeof(pimacc_layer_t);
}

}  // extern "C"
