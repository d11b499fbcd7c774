// sim_main.cpp: the testbench of the RISC-V system (hw/soc/pimacc_soc.v), Verilated.
//
//   pimacc_soc +firmware=<hex> [--max-cycles N] [--profile FILE]
//
// Clocks the model from C++ (no event scheduler), writes what the firmware sends to the
// console to stdout, and stops when the firmware writes FINISH (its value is the exit code),
// the core traps, the bus faults or N cycles have passed (exit codes 101, 102, 103). The last
// line on stderr gives the simulated cycles and their rate. With --profile, every cycle while
// the firmware has PROFILE on is counted against the instruction the core fetched last, and
// FILE gets "address cycles" lines (hex, decimal), sorted by address.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "Vpimacc_soc.h"
#include "verilated.h"

int main(int argc, char **argv) {
    uint64_t max_cycles = 2000000000ull;
    std::string profile_path;
    for (int i = 1; i + 1 < argc; ++i) {
        if (!std::strcmp(argv[i], "--max-cycles")) max_cycles = std::strtoull(argv[i + 1], 0, 0);
        if (!std::strcmp(argv[i], "--profile")) profile_path = argv[i + 1];
    }
    std::map<uint32_t, uint64_t> profile;
    uint32_t pc = 0;
    auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);
    auto top = std::make_unique<Vpimacc_soc>(context.get(), "pimacc_soc");

    auto t0 = std::chrono::steady_clock::now();
    top->clk = 0;
    top->rst = 1;
    top->eval();
    for (int i = 0; i < 8; ++i) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }
    top->rst = 0;
    top->eval();

    uint64_t cycles = 0;
    int code = 103;
    const char *why = "cycle limit";
    while (cycles < max_cycles) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        ++cycles;
        if (top->fetch) pc = top->fetch_addr;
        if (!profile_path.empty() && top->profile) ++profile[pc];
        if (top->console_valid) std::putchar(top->console_data);
        if (top->finish_valid) {
            code = int(top->finish_code & 0xFF);
            why = "finish";
            break;
        }
        if (top->trap) {
            code = 101;
            why = "trap";
            break;
        }
        if (top->fault) {
            code = 102;
            why = "bus fault";
            break;
        }
    }
    std::fflush(stdout);
    top->final();
    if (!profile_path.empty()) {
        FILE *f = std::fopen(profile_path.c_str(), "w");
        if (f) {
            for (const auto &kv : profile)
                std::fprintf(f, "%08x %llu\n", kv.first, (unsigned long long)kv.second);
            std::fclose(f);
        }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "pimacc_soc: %s after %llu cycles, %.1f s, %.0f cycles/s\n", why,
                 (unsigned long long)cycles, seconds, cycles / (seconds > 0 ? seconds : 1));
    return code;
}
