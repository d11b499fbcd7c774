/* mnist.c: the seed's MNIST MLP forward pass, int8, on PicoRV32 beside pimacc.
 *
 * The network is the digits MLP (digits_mlp.h). Each test image is classified on its own
 * (batch 1: the latency of one inference), in one of three ways chosen at compile time:
 *
 *   SOC_MODE_CPU     plain C loops on the core (int8 x int8 summed in int32, requantization in
 *                    int64): no accelerator;
 *   SOC_MODE_VMM     the seed's call: AcceleratorVMM(inputs, weights, outputs, m, k, n) gives
 *                    the int32 products, the core adds the bias and requantizes (the driver
 *                    packs the weights on every call);
 *   SOC_MODE_LINEAR  the driver's linear layers: weights, bias and scales packed into the
 *                    accelerator's memory once, then per image one program per layer with the
 *                    bias, requantization and ReLU in the accelerator.
 *
 * Printed per image: "image I label L predicted P cycles C accelerator A logits l0 .. l9"
 * (C: the system's clock cycles around the forward pass, A: of those, the cycles the
 * accelerator's programs ran, its PERF_CYCLES, doorbell to done), then "cycles per inference C" (the mean)
 * and "setup cycles S" (the driver's init and, in SOC_MODE_LINEAR, the weight packing);
 * SOC_MODE_LINEAR then classifies all images again in one call per layer (m = the image count)
 * and prints "batch N cycles C accelerator A per image C/N" once the logits equal the first
 * run's. The numbers equal sw.nets.digits.QuantizedMLP.golden (models.linear) exactly.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digits_mlp.h"
#include "soc.h"

#define SOC_MODE_CPU 0
#define SOC_MODE_VMM 1
#define SOC_MODE_LINEAR 2
#ifndef SOC_MODE
#define SOC_MODE SOC_MODE_LINEAR
#endif

/* images a run classifies at most (the batch's buffers) */
#define BATCH_MAX 64

static uint32_t acc_cycles;  /* the accelerator's PERF_CYCLES, summed over its programs */

#if SOC_MODE != SOC_MODE_CPU
#include "pimacc.h"

/* the memory the driver uses for the accelerator: in RAM, which the accelerator reaches at
   the same addresses as the core */
#define ARENA_BYTES 65536u
static uint8_t arena[ARENA_BYTES] __attribute__((aligned(64)));
static pimacc_dev_t dev;

static uint32_t acc_read32(void *ctx, uint32_t offset)
{
    (void)ctx;
    return soc_read(SOC_ACC_BASE + offset);
}

static void acc_write32(void *ctx, uint32_t offset, uint32_t value)
{
    (void)ctx;
    soc_write(SOC_ACC_BASE + offset, value);
}
#endif

#if SOC_MODE != SOC_MODE_LINEAR
/* y = clamp(((acc * mult + 2**(shift-1)) >> shift) + zp, -128, 127), ReLU at zp: the
   post-processing of models.golden.requantize */
static int8_t requantize(int32_t acc, uint32_t mult, uint32_t shift, int32_t zp, bool relu)
{
    int64_t p = (int64_t)acc * (int64_t)mult, y;
    if (shift)
        p = (p + ((int64_t)1 << (shift - 1))) >> shift;
    y = p + zp;
    y = y < -128 ? -128 : y > 127 ? 127 : y;
    if (relu && y < zp)
        y = zp;
    return (int8_t)y;
}
#endif

#if SOC_MODE == SOC_MODE_CPU
/* acc[j] = b[j] + sum_i (x[i] - zp) w[j][i], wrapping as int32 (as the accelerator) */
static void dot_layer(const int8_t *x, const int8_t *w, const int32_t *b, int32_t zp,
                      uint32_t k, uint32_t n, int32_t *acc)
{
    uint32_t i, j;
    for (j = 0; j < n; ++j) {
        const int8_t *row = w + (size_t)j * k;
        uint32_t s = (uint32_t)b[j];
        for (i = 0; i < k; ++i)
            s += (uint32_t)(((int32_t)x[i] - zp) * row[i]);
        acc[j] = (int32_t)s;
    }
}
#elif SOC_MODE == SOC_MODE_VMM
/* the bias with the input zero point folded in: b[j] - zp sum_i w[j][i] (as the driver) */
static int32_t bias0[MLP_HIDDEN], bias1[MLP_OUT];

static void fold_bias(const int8_t *w, const int32_t *b, int32_t zp, uint32_t k, uint32_t n,
                      int32_t *out)
{
    uint32_t i, j;
    for (j = 0; j < n; ++j) {
        uint32_t s = 0;
        for (i = 0; i < k; ++i)
            s += (uint32_t)(int32_t)w[(size_t)j * k + i];
        out[j] = (int32_t)((uint32_t)b[j] - (uint32_t)zp * s);
    }
}

/* acc = x . w^T on the accelerator (the seed's AcceleratorVMM), then the bias */
static int dot_layer(const int8_t *x, const int8_t *w, const int32_t *bias, uint32_t k,
                     uint32_t n, int32_t *acc)
{
    uint32_t j;
    int err = AcceleratorVMM(x, &w[0], acc, 1, k, n);
    acc_cycles += dev.last_cycles;
    for (j = 0; j < n; ++j)
        acc[j] = (int32_t)((uint32_t)acc[j] + (uint32_t)bias[j]);
    return err;
}
#else
static pimacc_layer_t layer0, layer1;
#endif

/* The forward pass of one image: logits, the predicted digit (or a negative error). */
static int forward(const int8_t *image, int32_t *logits)
{
    int8_t hidden[MLP_HIDDEN];
    int32_t acc[MLP_HIDDEN];
    uint32_t j;
    int best = 0, err = 0;
#if SOC_MODE == SOC_MODE_LINEAR
    err = pimacc_linear_run(&dev, &layer0, image, 1, 0, hidden, 0);
    acc_cycles += dev.last_cycles;
    if (!err) {
        err = pimacc_linear_run(&dev, &layer1, hidden, 1, 0, logits, 0);
        acc_cycles += dev.last_cycles;
    }
    (void)acc;
#else
#if SOC_MODE == SOC_MODE_CPU
    dot_layer(image, &mlp_w0[0][0], mlp_b0, mlp_in_zp0, MLP_IN, MLP_HIDDEN, acc);
#else
    err = dot_layer(image, &mlp_w0[0][0], bias0, MLP_IN, MLP_HIDDEN, acc);
#endif
    for (j = 0; j < MLP_HIDDEN; ++j)
        hidden[j] = requantize(acc[j], mlp_mult0[j], mlp_shift0[j], mlp_out_zp0, true);
#if SOC_MODE == SOC_MODE_CPU
    dot_layer(hidden, &mlp_w1[0][0], mlp_b1, mlp_in_zp1, MLP_HIDDEN, MLP_OUT, logits);
#else
    if (!err)
        err = dot_layer(hidden, &mlp_w1[0][0], bias1, MLP_HIDDEN, MLP_OUT, logits);
#endif
#endif
    if (err)
        return err < 0 ? err : -100 - err;
    for (j = 1; j < MLP_OUT; ++j)
        if (logits[j] > logits[best])
            best = (int)j;
    return best;
}

#if SOC_MODE == SOC_MODE_LINEAR
/* All images in one call per layer (m = the image count): the driver's cost per program is
   shared by the batch. Returns the cycles, or 0 after printing an error or a mismatch with
   the per-image logits. */
static int8_t batch_hidden[BATCH_MAX][MLP_HIDDEN];
static int32_t batch_logits[BATCH_MAX][MLP_OUT];

static uint32_t run_batch(uint32_t count, const int32_t (*expected)[MLP_OUT])
{
    uint32_t i, j, cycles;
    int err;
    acc_cycles = 0;
    cycles = soc_cycles();
    err = pimacc_linear_run(&dev, &layer0, &digits_images[0][0], count, 0, batch_hidden, 0);
    acc_cycles += dev.last_cycles;
    if (!err) {
        err = pimacc_linear_run(&dev, &layer1, &batch_hidden[0][0], count, 0, batch_logits, 0);
        acc_cycles += dev.last_cycles;
    }
    cycles = soc_cycles() - cycles;
    if (err) {
        console_puts("batch error ");
        console_int(err);
        console_putc('\n');
        return 0;
    }
    for (i = 0; i < count; ++i)
        for (j = 0; j < MLP_OUT; ++j)
            if (batch_logits[i][j] != expected[i][j]) {
                console_puts("batch mismatch\n");
                return 0;
            }
    return cycles;
}
#endif

static const char *const MODE_NAMES[] = {"cpu", "vmm", "linear"};

static int setup(void)
{
#if SOC_MODE == SOC_MODE_CPU
    return 0;
#else
    pimacc_platform_t plat = {0};
    int err;
    plat.read32 = acc_read32;
    plat.write32 = acc_write32;
    plat.mem = arena;
    plat.mem_addr = (uint32_t)(uintptr_t)arena;
    plat.mem_size = ARENA_BYTES;
    err = pimacc_init(&dev, &plat);
    if (err)
        return err;
    console_puts("accelerator ");
    console_int((int32_t)dev.geometry.rows);
    console_putc('x');
    console_int((int32_t)dev.geometry.cols);
    console_putc('\n');
#if SOC_MODE == SOC_MODE_VMM
    fold_bias(&mlp_w0[0][0], mlp_b0, mlp_in_zp0, MLP_IN, MLP_HIDDEN, bias0);
    fold_bias(&mlp_w1[0][0], mlp_b1, mlp_in_zp1, MLP_HIDDEN, MLP_OUT, bias1);
    return 0;
#else
    {
        pimacc_linear_desc_t d0 = {0}, d1 = {0};
        d0.k = MLP_IN;
        d0.n = MLP_HIDDEN;
        d0.w = &mlp_w0[0][0];
        d0.bias = mlp_b0;
        d0.input_zero_point = mlp_in_zp0;
        d0.mult = mlp_mult0;
        d0.shift = mlp_shift0;
        d0.n_scales = MLP_HIDDEN;
        d0.out_zero_point = mlp_out_zp0;
        d0.relu = true;
        d1.k = MLP_HIDDEN;
        d1.n = MLP_OUT;
        d1.w = &mlp_w1[0][0];
        d1.bias = mlp_b1;
        d1.input_zero_point = mlp_in_zp1;
        err = pimacc_linear_load(&dev, &d0, &layer0);
        if (!err)
            err = pimacc_linear_load(&dev, &d1, &layer1);
        return err;
    }
#endif
#endif
}

int main(void)
{
    static int32_t logits[BATCH_MAX][MLP_OUT];
    uint32_t i, j, t0, total = 0;
    int err;
    console_puts("pimacc soc: digits MLP, mode ");
    console_puts(MODE_NAMES[SOC_MODE]);
    console_putc('\n');
    t0 = soc_cycles();
    err = setup();
    t0 = soc_cycles() - t0;
    if (err) {
        console_puts("setup error ");
        console_int(err);
        console_putc('\n');
        return 1;
    }
    console_puts("setup cycles ");
    console_int((int32_t)t0);
    console_putc('\n');
    if (digits_count > BATCH_MAX) {
        console_puts("too many images\n");
        return 4;
    }
    for (i = 0; i < digits_count; ++i) {
        int predicted;
        uint32_t cycles;
        acc_cycles = 0;
        soc_write(SOC_PROFILE, 1);
        cycles = soc_cycles();
        predicted = forward(digits_images[i], logits[i]);
        cycles = soc_cycles() - cycles;
        soc_write(SOC_PROFILE, 0);
        total += cycles;
        if (predicted < 0) {
            console_puts("error ");
            console_int(predicted);
            console_putc('\n');
            return 2;
        }
        console_puts("image ");
        console_int((int32_t)i);
        console_puts(" label ");
        console_int(digits_labels[i]);
        console_puts(" predicted ");
        console_int(predicted);
        console_puts(" cycles ");
        console_int((int32_t)cycles);
        console_puts(" accelerator ");
        console_int((int32_t)acc_cycles);
        console_puts(" logits");
        for (j = 0; j < MLP_OUT; ++j) {
            console_putc(' ');
            console_int(logits[i][j]);
        }
        console_putc('\n');
    }
    console_puts("cycles per inference ");
    console_int((int32_t)(total / (digits_count ? digits_count : 1)));
    console_putc('\n');
#if SOC_MODE == SOC_MODE_LINEAR
    t0 = run_batch(digits_count, logits);
    if (!t0)
        return 3;
    console_puts("batch ");
    console_int((int32_t)digits_count);
    console_puts(" cycles ");
    console_int((int32_t)t0);
    console_puts(" accelerator ");
    console_int((int32_t)acc_cycles);
    console_puts(" per image ");
    console_int((int32_t)(t0 / digits_count));
    console_putc('\n');
#endif
    console_puts("done\n");
    return 0;
}
