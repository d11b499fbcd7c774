/* pimacc.h: the C driver of pimacc (C99, freestanding).
 *
 * The driver runs layers on the accelerator through its instruction stream (hw/spec/isa.py):
 * it writes a program and the layer's data into the memory the accelerator's AXI4 port reads,
 * sets PROG_ADDR and PROG_LEN, rings DOORBELL and polls STATUS, a bounded number of times.
 *
 * It needs no libc: only <stdint.h>, <stddef.h> and <stdbool.h> (GCC may still emit calls to
 * memcpy/memset, which every bare-metal C library provides). The platform supplies two
 * callbacks for the AXI4-Lite register port and the memory shared with the accelerator
 * (pimacc_platform_t); the host harness (sw/c/harness/) and a RISC-V system give the same.
 *
 * Every function returns PIMACC_OK (0), a hardware ErrorCode (> 0: enum pimacc_error_code of
 * pimacc_regs.h, the STATUS.ERROR that stopped the program; pimacc_dev_t.last_pc names the
 * instruction) or a driver error (< 0: enum pimacc_result). Nothing waits forever.
 *
 * Numbers are those of the golden model (models/golden.py): int8 x int8 summed in int32 (two's
 * complement wrap), plus the int32 bias; with requantization, per column
 * y = clamp(((acc * MULT + 2**(SHIFT-1)) >> SHIFT) + out_zero_point, -128, 127) (round half
 * up), then ReLU clamps at out_zero_point. The hardware does all of it; the driver only packs.
 */
#ifndef PIMACC_H
#define PIMACC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pimacc_regs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Driver errors (negative); positive results are hardware ErrorCodes. */
enum pimacc_result {
    PIMACC_OK = 0,
    PIMACC_E_ARG = -1,      /* a bad argument: NULL pointer, zero or too large a size, a value
                               out of its range */
    PIMACC_E_NODEV = -2,    /* ID does not read PIMACC_ID_MAGIC */
    PIMACC_E_VERSION = -3,  /* the accelerator's major version is not the driver's */
    PIMACC_E_NOMEM = -4,    /* the memory given to the driver cannot hold the layer */
    PIMACC_E_TIMEOUT = -5,  /* the program did not finish within the poll bound; the driver
                               soft-reset the accelerator */
    PIMACC_E_FEATURE = -6,  /* the accelerator lacks a feature the call needs */
    PIMACC_E_GEOMETRY = -7  /* the CFG_* registers report a geometry the driver cannot use */
};

/* What the platform provides. */
typedef struct pimacc_platform {
    /* 32-bit access to the AXI4-Lite port; offset is a byte address of the register map. */
    uint32_t (*read32)(void *ctx, uint32_t offset);
    void (*write32)(void *ctx, uint32_t offset, uint32_t value);
    /* Optional (NULL: STATUS is polled back to back): wait up to `cycles` clock cycles of the
       accelerator, returning as soon as its irq is high (the driver sets CTRL.IRQ_EN); called
       between two polls. A core can sleep until the interrupt here (wfi). */
    void (*wait)(void *ctx, uint32_t cycles);
    void *ctx;
    /* The memory the accelerator's AXI4 port reaches: the CPU's pointer to it, the
       accelerator's address of mem[0] (a multiple of 64), and the bytes the driver may use. */
    uint8_t *mem;
    uint32_t mem_addr;
    uint32_t mem_size;
} pimacc_platform_t;

/* The accelerator's geometry, read from the CFG_* registers. */
typedef struct pimacc_geometry {
    uint32_t rows, cols, banks;           /* R x C array, weight banks */
    uint32_t in_depth, acc_depth, out_depth;
    uint32_t latency, features, mem_bits;
    /* derived: 32-bit words of an R-long vector and of a C-wide int8 row, rounded up to powers
       of two, and C rounded up to a power of two (the strides of the windows) */
    uint32_t row_words_p2, col_words_p2, cols_p2;
} pimacc_geometry_t;

typedef struct pimacc_dev {
    pimacc_platform_t plat;
    pimacc_geometry_t geometry;
    uint32_t version;
    uint32_t top;            /* the memory in use: mem[0 .. top) (a stack: pimacc_release) */
    uint32_t align;          /* alignment of every region in memory: max(64, mem_bits / 8) */
    uint32_t max_polls;      /* 0: the driver's bound from the program; else this many */
    /* what the last program did */
    uint32_t last_pc;        /* PROG_PC after an error */
    uint32_t last_instructions;
    uint32_t last_cycles;    /* PERF_CYCLES: doorbell to done */
    uint32_t last_polls;     /* STATUS reads spent waiting */
} pimacc_dev_t;

/* A linear (fully connected) layer: y[m][n] = sum_k (x[m][k] - input_zero_point) w[n][k]
   + bias[n], then with mult != NULL requantized to int8 (else int32 out). */
typedef struct pimacc_linear_desc {
    uint32_t k, n;
    const int8_t *w;           /* [n][w_stride] row-major, the first k of each row used */
    uint32_t w_stride;         /* 0: k */
    const int32_t *bias;       /* [n] or NULL */
    int32_t input_zero_point;  /* -128..127, folded into the bias */
    const uint32_t *mult;      /* Q31 multipliers (0..2**31-1), n_scales of them, or NULL */
    const uint32_t *shift;     /* right shifts 0..63 */
    uint32_t n_scales;         /* 1 (every column) or n */
    int32_t out_zero_point;    /* -128..127, int8 output only */
    bool relu;                 /* int8 output only: clamp at out_zero_point */
} pimacc_linear_desc_t;

/* A linear layer whose weights and parameters are in the accelerator's memory. */
typedef struct pimacc_layer {
    uint32_t k, n, k_tiles, n_tiles;
    uint32_t w_offset, w_block;  /* packed weight tiles: mem offset, bytes per (n, k) tile */
    uint32_t p_offset, p_block;  /* PARAM images per n tile (p_block 0: none) */
    bool int8, relu;
    int32_t out_zero_point;
} pimacc_layer_t;

/* A 2-D convolution, NCHW, groups = 1; the accelerator runs it as a linear layer over
   im2col patches made by the driver (k = cin * kh * kw, n = cout). Padding holds
   input_zero_point (it adds 0). */
typedef struct pimacc_conv_desc {
    uint32_t batch, cin, h, w;
    uint32_t cout, kh, kw;
    uint32_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;  /* stride, dilation 0: 1 */
    const int8_t *weights;     /* [cout][cin][kh][kw] */
    const int32_t *bias;       /* [cout] or NULL */
    int32_t input_zero_point;
    const uint32_t *mult, *shift;  /* as pimacc_linear_desc_t (n = cout) */
    uint32_t n_scales;
    int32_t out_zero_point;
    bool relu;
} pimacc_conv_desc_t;

/* Check ID and VERSION, read the geometry, and make dev the default device of
   AcceleratorVMM. The driver uses platform->mem[0 .. mem_size). */
int pimacc_init(pimacc_dev_t *dev, const pimacc_platform_t *platform);

/* CTRL.SOFT_RESET: abort a program; registers (not the buffers) to their reset values. */
void pimacc_soft_reset(pimacc_dev_t *dev);

/* The memory in use, to give back later with pimacc_release (a stack). */
uint32_t pimacc_mark(const pimacc_dev_t *dev);
void pimacc_release(pimacc_dev_t *dev, uint32_t mark);

/* Pack a layer's weights and parameters into memory (they stay until released). */
int pimacc_linear_load(pimacc_dev_t *dev, const pimacc_linear_desc_t *desc, pimacc_layer_t *layer);

/* Run a loaded layer on x [m][x_stride] (first k of each row); y is int8_t [m][y_stride]
   (requantized layers) or int32_t [m][y_stride] (strides 0: k and n). One program, one
   doorbell; memory for the inputs, outputs and program is released when it returns. */
int pimacc_linear_run(pimacc_dev_t *dev, const pimacc_layer_t *layer, const int8_t *x,
                      uint32_t m, uint32_t x_stride, void *y, uint32_t y_stride);

/* pimacc_linear_load, pimacc_linear_run, then release: a layer in one call. */
int pimacc_linear(pimacc_dev_t *dev, const pimacc_linear_desc_t *desc, const int8_t *x,
                  uint32_t m, void *y);

/* Output height and width of a convolution (0 when the kernel does not fit). */
uint32_t pimacc_conv_out_h(const pimacc_conv_desc_t *c);
uint32_t pimacc_conv_out_w(const pimacc_conv_desc_t *c);

/* A convolution: x int8 [batch][cin][h][w]; y int8 or int32 [batch][cout][ho][wo]. */
int pimacc_conv2d(pimacc_dev_t *dev, const pimacc_conv_desc_t *desc, const int8_t *x, void *y);

/* Run n_instr instructions already in memory at mem offset prog_offset (16-byte
   instructions, hw/spec/isa.py), with PROG_LEN = prog_len: PIMACC_OK, the ErrorCode that
   stopped it, or PIMACC_E_TIMEOUT after max_polls STATUS reads (0: dev->max_polls or, if that
   is 0, 1000 + 100 per instruction). */
int pimacc_run_program(pimacc_dev_t *dev, uint32_t prog_offset, uint32_t prog_len,
                       uint32_t max_polls);

/* Cycles the driver lets platform->wait run between two polls of STATUS. */
#define PIMACC_WAIT_CYCLES 256u

/* The Q31 multiplier and right shift of a real scale, as models.quantize_multiplier:
   PIMACC_E_ARG unless 2**-33 <= scale < 2**31. Needs no libm (soft float on cores without an
   FPU). */
int pimacc_quantize_multiplier(double scale, uint32_t *mult, uint32_t *shift);

/* The device AcceleratorVMM uses (pimacc_init sets it). */
void pimacc_set_default(pimacc_dev_t *dev);
pimacc_dev_t *pimacc_default(void);

/* The seed's call (its MNIST MLP's inner loop): outputs[i][j] = sum_l inputs[i][l] *
   weights[j][l] in int32, for inputs int8 [m][k], weights int8 [n][k] (each output's weights
   contiguous, as the seed's weights[k][i*(K+1)+j] without the bias column), outputs int32
   [m][n], on the default device. Returns PIMACC_OK or an error as every call here.

   The weights are packed into the accelerator's memory once per (weights, k, n): the packed
   copies of up to 4 weight pointers stay reserved on top of the memory in use (as
   pimacc_linear_load's) and a later call with the same pointer and shape runs on them. So the
   weights behind a pointer must not change between calls: after changing them in place, or to
   reuse the memory, call pimacc_vmm_forget(). Memory released below the copies (pimacc_release
   to an earlier mark) drops them; with 4 kept, or memory reserved above them since, a call
   packs its weights for that call only, as pimacc_linear does. */
int AcceleratorVMM(const int8_t *inputs, const int8_t *weights, int32_t *outputs,
                   uint32_t m, uint32_t k, uint32_t n);

/* Forget AcceleratorVMM's packed weights (and release their memory when nothing was reserved
   above it since). */
void pimacc_vmm_forget(void);

#ifdef __cplusplus
}
#endif

#endif /* PIMACC_H */
