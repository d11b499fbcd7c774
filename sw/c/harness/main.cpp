// main.cpp: the host harness as a program: the C driver on the Verilated RTL, checked and timed.
//
//   pimacc_harness [--m M] [--k K] [--n N] [--seconds S] [--latency L] [--seed X] [--exact 1]
//                  [--idle CYCLES] [--skip 0] [--runs N]
//
// 1. checks a random int8 linear layer (bias, requantization, ReLU) and its int32 twin against
//    a plain C++ reference of models/golden.py;
// 2. runs the int8 layer again and again for S seconds (or N times) and prints the simulated cycles per
//    wall second of the whole harness (driver, packing, register and memory traffic, RTL), and
//    of the model's clock loop alone; then the idle model's speed. --exact 1 evaluates the
//    model twice a cycle instead of once, --skip 0 evaluates its input region on every rising
//    edge (harness.cpp).
// Exit status 0 when every check passed.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "harness.h"

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Layer {
    uint32_t m, k, n;
    std::vector<int8_t> x, w;
    std::vector<int32_t> bias;
    std::vector<uint32_t> mult, shift;
    int32_t zp = -3;
};

// models.golden.linear: int32 accumulation (wrapping), bias, Q31 requantization rounding half
// up, saturation, ReLU at the zero point.
void reference(const Layer &L, bool int8, void *out) {
    for (uint32_t i = 0; i < L.m; ++i)
        for (uint32_t j = 0; j < L.n; ++j) {
            uint32_t acc = uint32_t(L.bias[j]);
            for (uint32_t l = 0; l < L.k; ++l)
                acc += uint32_t(int32_t(L.x[i * L.k + l]) * int32_t(L.w[j * L.k + l]));
            if (!int8) {
                static_cast<int32_t *>(out)[i * L.n + j] = int32_t(acc);
                continue;
            }
            int64_t p = int64_t(int32_t(acc)) * int64_t(L.mult[j]);
            uint32_t s = L.shift[j];
            int64_t q = s ? (p + (int64_t(1) << (s - 1))) >> s : p;
            q += L.zp;
            q = q < -128 ? -128 : q > 127 ? 127 : q;
            if (q < L.zp) q = L.zp;  // ReLU
            static_cast<int8_t *>(out)[i * L.n + j] = int8_t(q);
        }
}

pimacc_linear_desc_t desc(const Layer &L, bool int8) {
    pimacc_linear_desc_t d{};
    d.k = L.k;
    d.n = L.n;
    d.w = L.w.data();
    d.bias = L.bias.data();
    if (int8) {
        d.mult = L.mult.data();
        d.shift = L.shift.data();
        d.n_scales = L.n;
        d.out_zero_point = L.zp;
        d.relu = true;
    }
    return d;
}

}  // namespace

int main(int argc, char **argv) {
    uint32_t m = 64, k = 256, n = 256, latency = 4, seed = 1, exact = 0, idle = 1000000, skip = 1,
             runs_wanted = 0;
    double seconds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *opt = argv[i];
        unsigned long v = std::strtoul(argv[i + 1], nullptr, 0);
        if (!std::strcmp(opt, "--m")) m = v;
        else if (!std::strcmp(opt, "--k")) k = v;
        else if (!std::strcmp(opt, "--n")) n = v;
        else if (!std::strcmp(opt, "--latency")) latency = v;
        else if (!std::strcmp(opt, "--seed")) seed = v;
        else if (!std::strcmp(opt, "--exact")) exact = v;
        else if (!std::strcmp(opt, "--idle")) idle = v;
        else if (!std::strcmp(opt, "--skip")) skip = v;
        else if (!std::strcmp(opt, "--runs")) runs_wanted = v;
        else if (!std::strcmp(opt, "--seconds")) seconds = std::strtod(argv[i + 1], nullptr);
        else {
            std::fprintf(stderr, "unknown option %s\n", opt);
            return 2;
        }
    }
    pimacc_harness_t *h = pimacc_harness_open(64u << 20, latency);
    bool fast = pimacc_harness_fast(h, !exact);
    bool skipping = fast && pimacc_harness_skip_inputs(h, skip);
    int err = pimacc_harness_init(h);
    if (err) {
        std::printf("pimacc_init failed: %d\n", err);
        return 1;
    }
    pimacc_dev_t *dev = pimacc_harness_dev(h);
    const pimacc_geometry_t &g = dev->geometry;
    std::printf("harness: %ux%u array, %u banks, in %u, acc %u, out %u, %u-bit memory, "
                "read latency %u, %s mode%s\n", g.rows, g.cols, g.banks, g.in_depth, g.acc_depth,
                g.out_depth, g.mem_bits, latency, fast ? "fast" : "exact",
                skipping ? " (input region skipped when no input changed)" : "");

    std::mt19937 rng(seed);
    Layer L{m, k, n};
    auto int8 = [&] { return int8_t(int(rng() % 256) - 128); };
    for (uint32_t i = 0; i < m * k; ++i) L.x.push_back(int8());
    for (uint32_t i = 0; i < n * k; ++i) L.w.push_back(int8());
    for (uint32_t j = 0; j < n; ++j) {
        L.bias.push_back(int32_t(rng() % 20001) - 10000);
        L.mult.push_back((1u << 30) + rng() % (1u << 30));
        L.shift.push_back(12 + rng() % 6);
    }
    bool ok = true;
    for (bool q : {true, false}) {
        std::vector<int32_t> want(m * n), got(m * n);
        pimacc_linear_desc_t d = desc(L, q);
        reference(L, q, want.data());
        err = pimacc_linear(dev, &d, L.x.data(), m, got.data());
        size_t bytes = m * n * (q ? 1 : 4);
        bool same = !err && !std::memcmp(want.data(), got.data(), bytes);
        ok &= same;
        std::printf("check: linear %ux%ux%u %s: %s (error %d, %u cycles)\n", m, k, n,
                    q ? "int8 bias requant relu" : "int32 bias", same ? "ok" : "FAILED", err,
                    dev->last_cycles);
    }

    pimacc_linear_desc_t d = desc(L, true);
    pimacc_layer_t layer;
    std::vector<int8_t> y(m * n);
    uint32_t mark = pimacc_mark(dev);
    err = pimacc_linear_load(dev, &d, &layer);
    uint64_t c0 = pimacc_harness_cycles(h), runs = 0, skipped0 = pimacc_harness_skipped(h);
    double s0 = pimacc_harness_sim_seconds(h), t0 = now(), t1 = t0;
    std::clock_t cpu0 = std::clock();
    while (!err && (runs_wanted ? runs < runs_wanted : t1 - t0 < seconds)) {
        err = pimacc_linear_run(dev, &layer, L.x.data(), m, 0, y.data(), 0);
        ++runs;
        t1 = now();
    }
    double cpu = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
    pimacc_release(dev, mark);
    uint64_t cycles = pimacc_harness_cycles(h) - c0;
    double sim = pimacc_harness_sim_seconds(h) - s0;
    // per CPU second too: on a shared machine the wall-clock figure measures the sharing
    std::printf("speed: linear %ux%ux%u int8 x%llu: %llu cycles in %.3f s: %.0f cycles/s "
                "(%.0f per CPU second; model clock loop alone %.0f cycles/s; %u cycles per "
                "layer; %.0f %% of rising edges without the input region)\n", m, k, n, (unsigned long long)runs, (unsigned long long)cycles,
                t1 - t0, cycles / (t1 - t0), cycles / cpu, cycles / sim, dev->last_cycles,
                100.0 * (pimacc_harness_skipped(h) - skipped0) / cycles);
    double t2 = now();
    cpu0 = std::clock();
    pimacc_harness_idle(h, idle);
    if (idle)
        std::printf("speed: idle: %.0f cycles/s (%.0f per CPU second)\n", idle / (now() - t2),
                    idle / (double(std::clock() - cpu0) / CLOCKS_PER_SEC));
    pimacc_harness_close(h);
    if (err) std::printf("error %d\n", err);
    return ok && !err ? 0 : 1;
}
