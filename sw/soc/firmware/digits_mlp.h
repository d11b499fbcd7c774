/* digits_mlp.h: the trained digits MLP of sw/nets/digits.py (64 -> 64 ReLU -> 10) in int8,
 * as sw.nets.digits.QuantizedMLP quantizes it, and the test images. The values are in
 * digits_mlp.c, which sw/soc/build.py generates from the committed weights. */
#ifndef DIGITS_MLP_H
#define DIGITS_MLP_H

#include <stdint.h>

#define MLP_IN 64
#define MLP_HIDDEN 64
#define MLP_OUT 10

/* hidden layer: h = relu(requant((x - in_zp) . w0^T + b0)), int8 with zero point out_zp */
extern const int8_t mlp_w0[MLP_HIDDEN][MLP_IN];
extern const int32_t mlp_b0[MLP_HIDDEN];
extern const uint32_t mlp_mult0[MLP_HIDDEN];  /* Q31 multiplier per column */
extern const uint32_t mlp_shift0[MLP_HIDDEN]; /* right shift per column */
extern const int32_t mlp_in_zp0, mlp_out_zp0;
/* output layer: logits = (h - in_zp1) . w1^T + b1, int32 */
extern const int8_t mlp_w1[MLP_OUT][MLP_HIDDEN];
extern const int32_t mlp_b1[MLP_OUT];
extern const int32_t mlp_in_zp1;

/* test images: pixels 0..16 as int8 p - 128 (exact), and their labels */
extern const uint32_t digits_count;
extern const int8_t digits_images[][MLP_IN];
extern const uint8_t digits_labels[];

#endif /* DIGITS_MLP_H */
