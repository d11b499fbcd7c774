// harness.h: the Verilated RTL of pimacc (hw/top.py) with its memory and register port in C++.
//
// Harness clocks the model itself (no cocotb, no event scheduler), answers its AXI4 manager
// port (m_axi_*) from a byte array (AxiRam) and reaches its AXI4-Lite port (s_axil_*) through
// read32/write32, which toggle the pins and run the clock until the handshakes finish. The C
// driver (sw/c/pimacc.c) gets those two functions and the array as its pimacc_platform_t.
//
// The C API at the end (extern "C") is what sw/c/build.py's ctypes binding and main.cpp use.
#ifndef PIMACC_HARNESS_H
#define PIMACC_HARNESS_H

#include <stdint.h>

#include "../pimacc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pimacc_harness pimacc_harness_t;

// A model after reset with mem_bytes of memory (a multiple of 4096) whose reads answer
// rd_latency cycles after their address was taken.
pimacc_harness_t *pimacc_harness_open(uint32_t mem_bytes, uint32_t rd_latency);
void pimacc_harness_close(pimacc_harness_t *h);
// pimacc_init() of the harness's device on the harness's platform.
int pimacc_harness_init(pimacc_harness_t *h);
pimacc_dev_t *pimacc_harness_dev(pimacc_harness_t *h);
uint8_t *pimacc_harness_mem(pimacc_harness_t *h);
uint32_t pimacc_harness_mem_size(pimacc_harness_t *h);
uint64_t pimacc_harness_cycles(pimacc_harness_t *h);
// Wall seconds spent clocking the model (in tick), so the driver's own time can be told apart.
double pimacc_harness_sim_seconds(pimacc_harness_t *h);
uint32_t pimacc_harness_read32(pimacc_harness_t *h, uint32_t offset);
void pimacc_harness_write32(pimacc_harness_t *h, uint32_t offset, uint32_t value);
// The response of the last AXI4-Lite access (0 OKAY, 2 SLVERR, 3 DECERR).
uint32_t pimacc_harness_last_resp(pimacc_harness_t *h);
void pimacc_harness_idle(pimacc_harness_t *h, uint64_t cycles);
// Clock until irq is high (at once if it is), at most max_cycles; whether irq is high.
int pimacc_harness_wait_irq(pimacc_harness_t *h, uint64_t max_cycles);
// Bursts touching memory bytes [lo, hi) answer SLVERR (lo == hi: none).
void pimacc_harness_mem_error(pimacc_harness_t *h, uint32_t lo, uint32_t hi);
// Fast mode (one evaluation of the model per cycle, the default when this Verilator allows it)
// or exact mode (two, on = 0); returns whether fast mode is on.
int pimacc_harness_fast(pimacc_harness_t *h, int on);
// In fast mode, evaluate a rising edge without Verilator's input region when no input changed
// since the last evaluation (exact; the default); returns whether it is on and available.
int pimacc_harness_skip_inputs(pimacc_harness_t *h, int on);
// Rising edges evaluated without the input region so far.
uint64_t pimacc_harness_skipped(pimacc_harness_t *h);
// Random stalls of the memory port: each cycle each ready and each valid not yet raised is held
// low with the chance pressure/256 (0: never), from a xorshift32 seeded with seed.
void pimacc_harness_stalls(pimacc_harness_t *h, uint32_t seed, uint32_t pressure);
// sizeof the driver's structures as this build sees them: dev, linear desc, conv desc, layer.
void pimacc_harness_sizes(uint32_t out[4]);

#ifdef __cplusplus
}
#endif

#endif  // PIMACC_HARNESS_H
