/* pimacc.c: the C driver of pimacc (see pimacc.h). C99, freestanding.
 *
 * A layer is tiled simply: N in tiles of C columns, M in chunks of at most the buffers'
 * depth, K in tiles of R rows. For each N tile: LOAD PARAM; for each M chunk: for each K
 * tile, LOAD WEIGHT (banks taken in turn), LOAD IN (halves of IN taken in turn when two
 * chunks fit), VMM (the first K tile overwrites the accumulators, with the bias; the last
 * requantizes); then STORE OUT (int8) or ACC (int32). The hardware orders instructions that
 * touch the same storage (hw/spec/isa.py), so the loads of the next step overlap the VMM of
 * this one. Memory images use the windows' own unit layout; every block a LOAD or STORE
 * moves starts on a multiple of dev->align bytes.
 */
#include "pimacc.h"

/* A compiler barrier: memory written for the accelerator is written before the doorbell, and
   memory it wrote is read after STATUS says done (the callbacks are opaque, but macros the
   platform may inline are not). */
#if defined(__GNUC__)
#define PIMACC_BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define PIMACC_BARRIER() ((void)0)
#endif

#define FLAG(name) ((uint32_t)PIMACC_CMD_FLAGS_##name##_MASK)
#define PUT(op, field, value) \
    (((uint32_t)(value) << PIMACC_INSTR_##op##_##field##_SHIFT) & PIMACC_INSTR_##op##_##field##_MASK)

/* LOAD and STORE share WINDOW, FIRST, COUNT and MEM_ADDR (emit_transfer writes LOAD's): a
   compile-time check that the generated header still says so. */
#define SAME_FIELD(f) (PIMACC_INSTR_LOAD_##f##_WORD == PIMACC_INSTR_STORE_##f##_WORD \
                       && PIMACC_INSTR_LOAD_##f##_MASK == PIMACC_INSTR_STORE_##f##_MASK)
typedef char transfer_fields_match[SAME_FIELD(WINDOW) && SAME_FIELD(FIRST) && SAME_FIELD(COUNT)
                                   && SAME_FIELD(MEM_ADDR) ? 1 : -1];

static pimacc_dev_t *default_dev;
static void vmm_drop(const pimacc_dev_t *dev, uint32_t mark);

void pimacc_set_default(pimacc_dev_t *dev)
{
    if (dev != default_dev)
        vmm_drop(default_dev, 0);  /* (AcceleratorVMM keeps weights of the default device) */
    default_dev = dev;
}
pimacc_dev_t *pimacc_default(void) { return default_dev; }

/* --- small helpers (no libc) ----------------------------------------------------------------- */

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

/* n rounded up to a multiple of dev->align (a power of two) */
static uint32_t align_up(const pimacc_dev_t *dev, uint32_t n)
{
    return (n + dev->align - 1) & ~(dev->align - 1);
}

static uint32_t pow2_up(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* 32-bit little-endian words in the accelerator's memory. pimacc_init checks that platform->mem
   is 4-byte aligned, and every word the driver writes or reads there is at a multiple of 4
   bytes from it: so on a little-endian GCC/Clang target (RISC-V, x86, Arm) a word is one
   store or load (through a may_alias type: the memory may be declared as bytes), elsewhere
   four byte accesses. Small cores gain most: PicoRV32 takes some five cycles an access. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
typedef uint32_t __attribute__((may_alias)) word_t;
#define PIMACC_WORDS 1
#else
#define PIMACC_WORDS 0
#endif

static void put32(uint8_t *p, uint32_t v)
{
#if PIMACC_WORDS
    *(word_t *)(void *)p = v;
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
#endif
}

static uint32_t get32(const uint8_t *p)
{
#if PIMACC_WORDS
    return *(const word_t *)(const void *)p;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

/* Zero n bytes at p (p and n multiples of 4: memory blocks are aligned to dev->align). */
static void zero(uint8_t *p, uint32_t n)
{
    for (; n >= 4; n -= 4, p += 4)
        put32(p, 0);
    while (n--)
        *p++ = 0;
}

/* a + b, at most 0xFFFFFFFF (32-bit arithmetic: rv32 has no 64-bit adds) */
static uint32_t sat_add(uint32_t a, uint32_t b)
{
    uint32_t s = a + b;
    return s < a ? 0xFFFFFFFFu : s;
}

/* 100 * n + 100, at most 0xFFFFFFFF: the polls the driver allows an instruction of n units */
static uint32_t polls_for(uint32_t n)
{
    return n >= 0xFFFFFFFFu / 100 - 1 ? 0xFFFFFFFFu : 100 * n + 100;
}

static uint32_t rd(pimacc_dev_t *dev, uint32_t offset)
{
    return dev->plat.read32(dev->plat.ctx, offset);
}

static void wr(pimacc_dev_t *dev, uint32_t offset, uint32_t value)
{
    dev->plat.write32(dev->plat.ctx, offset, value);
}

/* Reserve n bytes (aligned) of the memory; its offset in *offset. */
static int reserve(pimacc_dev_t *dev, uint64_t n, uint32_t *offset)
{
    uint64_t start = dev->top, end = start + n;
    end = (end + dev->align - 1) & ~(uint64_t)(dev->align - 1);  /* (align: a power of two) */
    if (end > dev->plat.mem_size)
        return PIMACC_E_NOMEM;
    *offset = (uint32_t)start;
    dev->top = (uint32_t)end;
    return PIMACC_OK;
}

/* --- the device ------------------------------------------------------------------------------- */

int pimacc_init(pimacc_dev_t *dev, const pimacc_platform_t *platform)
{
    pimacc_geometry_t *g;
    if (!dev || !platform || !platform->read32 || !platform->write32 || !platform->mem
        || ((uintptr_t)platform->mem & 3u))
        return PIMACC_E_ARG;
    dev->plat = *platform;
    vmm_drop(default_dev, 0);  /* a new default device, or this one's memory all free again */
    dev->top = 0;
    dev->max_polls = 0;
    dev->last_pc = dev->last_instructions = dev->last_cycles = dev->last_polls = 0;
    if (rd(dev, PIMACC_REG_ID) != PIMACC_ID_MAGIC)
        return PIMACC_E_NODEV;
    dev->version = rd(dev, PIMACC_REG_VERSION);
    if (dev->version >> 24 != PIMACC_VERSION >> 24)
        return PIMACC_E_VERSION;
    g = &dev->geometry;
    g->rows = rd(dev, PIMACC_REG_CFG_ROWS);
    g->cols = rd(dev, PIMACC_REG_CFG_COLS);
    g->banks = rd(dev, PIMACC_REG_CFG_BANKS);
    g->in_depth = rd(dev, PIMACC_REG_CFG_IN_DEPTH);
    g->acc_depth = rd(dev, PIMACC_REG_CFG_ACC_DEPTH);
    g->out_depth = rd(dev, PIMACC_REG_CFG_OUT_DEPTH);
    g->latency = rd(dev, PIMACC_REG_CFG_LATENCY);
    g->features = rd(dev, PIMACC_REG_CFG_FEATURES);
    g->mem_bits = rd(dev, PIMACC_REG_CFG_MEM_BITS);
    if (!g->rows || g->rows > PIMACC_MAX_ROWS || !g->cols || g->cols > PIMACC_MAX_COLS
        || !g->banks || g->banks > PIMACC_MAX_BANKS || !g->in_depth || !g->acc_depth
        || !g->out_depth || g->in_depth > PIMACC_MAX_IN_DEPTH
        || g->acc_depth > PIMACC_MAX_ACC_DEPTH || g->out_depth > PIMACC_MAX_OUT_DEPTH
        || (g->mem_bits != PIMACC_MEM_BITS_64 && g->mem_bits != PIMACC_MEM_BITS_128
            && g->mem_bits != PIMACC_MEM_BITS_256))
        return PIMACC_E_GEOMETRY;
    g->row_words_p2 = pow2_up(div_up(g->rows, 4));
    g->col_words_p2 = pow2_up(div_up(g->cols, 4));
    g->cols_p2 = pow2_up(g->cols);
    dev->align = g->mem_bits / 8 > 64 ? g->mem_bits / 8 : 64;
    if (platform->mem_addr % dev->align)
        return PIMACC_E_ARG;
    default_dev = dev;
    return PIMACC_OK;
}

void pimacc_soft_reset(pimacc_dev_t *dev)
{
    wr(dev, PIMACC_REG_CTRL, PIMACC_CTRL_SOFT_RESET_MASK);
}

uint32_t pimacc_mark(const pimacc_dev_t *dev) { return dev->top; }

void pimacc_release(pimacc_dev_t *dev, uint32_t mark)
{
    if (mark <= dev->top) {
        vmm_drop(dev, mark);
        dev->top = mark;
    }
}

int pimacc_run_program(pimacc_dev_t *dev, uint32_t prog_offset, uint32_t prog_len,
                       uint32_t max_polls)
{
    uint32_t polls, status = 0, error;
    if (!dev || prog_offset >= dev->plat.mem_size)
        return PIMACC_E_ARG;
    if (!max_polls)
        max_polls = dev->max_polls ? dev->max_polls : sat_add(900, polls_for(prog_len));
    PIMACC_BARRIER();
    wr(dev, PIMACC_REG_CTRL, PIMACC_CTRL_CLEAR_COUNTERS_MASK
                                 | (dev->plat.wait ? PIMACC_CTRL_IRQ_EN_MASK : 0));
    wr(dev, PIMACC_REG_PROG_ADDR, dev->plat.mem_addr + prog_offset);
    wr(dev, PIMACC_REG_PROG_LEN, prog_len);
    wr(dev, PIMACC_REG_DOORBELL, PIMACC_DOORBELL_RUN_MASK);
    for (polls = 1; polls <= max_polls; ++polls) {
        status = rd(dev, PIMACC_REG_STATUS);
        if (status & PIMACC_STATUS_DONE_MASK)
            break;
        if (dev->plat.wait)
            dev->plat.wait(dev->plat.ctx, PIMACC_WAIT_CYCLES);
    }
    dev->last_polls = polls;
    if (!(status & PIMACC_STATUS_DONE_MASK)) {
        dev->last_pc = rd(dev, PIMACC_REG_PROG_PC);
        pimacc_soft_reset(dev);
        return PIMACC_E_TIMEOUT;
    }
    PIMACC_BARRIER();
    dev->last_cycles = rd(dev, PIMACC_REG_PERF_CYCLES);
    dev->last_instructions = rd(dev, PIMACC_REG_PERF_INSTRS);
    dev->last_pc = rd(dev, PIMACC_REG_PROG_PC);
    error = PIMACC_FIELD_GET(STATUS, ERROR, status);
    wr(dev, PIMACC_REG_STATUS, PIMACC_STATUS_DONE_MASK);
    return (int)error;
}

int pimacc_quantize_multiplier(double scale, uint32_t *mult, uint32_t *shift)
{
    union { double d; uint64_t u; } bits;
    uint64_t mant, m;
    int32_t exp, e, sh;
    if (!mult || !shift)
        return PIMACC_E_ARG;
    bits.d = scale;
    exp = (int32_t)((bits.u >> 52) & 0x7FF);
    if (bits.u >> 63 || exp == 0 || exp == 0x7FF)  /* negative, zero, subnormal, inf, NaN */
        return PIMACC_E_ARG;
    mant = (bits.u & ((1ull << 52) - 1)) | 1ull << 52;  /* scale = mant * 2**(exp - 1075) */
    e = exp - 1022;                                     /* scale = f * 2**e, 0.5 <= f < 1 */
    m = (mant + (1ull << 21)) >> 22;                    /* floor(f * 2**31 + 0.5) */
    if (m == 1ull << 31) {
        m = 1ull << 30;
        e += 1;
    }
    sh = 31 - e;
    if (sh < 0 || sh > 63)
        return PIMACC_E_ARG;
    *mult = (uint32_t)m;
    *shift = (uint32_t)sh;
    return PIMACC_OK;
}

/* --- instructions ----------------------------------------------------------------------------- */

typedef struct program {
    uint8_t *at;        /* the next instruction */
    uint32_t count, capacity;
    uint32_t polls;     /* the bound on the wait */
    uint32_t mem_addr;  /* the memory's bus address */
    uint32_t beat_shift, latency;  /* log2 of a beat's bytes; the array's latency */
} program_t;

static void program_init(const pimacc_dev_t *dev, program_t *p, uint8_t *at, uint32_t capacity)
{
    uint32_t beat = dev->geometry.mem_bits / 8;
    p->at = at;
    p->count = 0;
    p->capacity = capacity;
    p->polls = 1000;
    p->mem_addr = dev->plat.mem_addr;
    for (p->beat_shift = 0; (1u << p->beat_shift) < beat; ++p->beat_shift)
        ;
    p->latency = dev->geometry.latency;
}

/* an instruction: four word stores (the program is aligned: dev->align) */
static void emit(program_t *p, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3)
{
    if (p->count++ >= p->capacity)
        return;  /* (the caller sized it; checked again before the run) */
    put32(p->at, w0);
    put32(p->at + 4, w1);
    put32(p->at + 8, w2);
    put32(p->at + 12, w3);
    p->at += PIMACC_INSTR_BYTES;
}

static void emit_transfer(program_t *p, uint32_t op, uint32_t window, uint32_t first,
                          uint32_t count, uint32_t offset, uint32_t unit_bytes)
{
    /* LOAD and STORE share their fields; the header has them under each op. count < 2**16
       and unit_bytes <= 2**10: no overflow */
    uint32_t beats = (count * unit_bytes + (1u << p->beat_shift) - 1) >> p->beat_shift;
    emit(p, op | PUT(LOAD, WINDOW, window), PUT(LOAD, FIRST, first) | PUT(LOAD, COUNT, count),
         PUT(LOAD, MEM_ADDR, p->mem_addr + offset), 0);
    p->polls = sat_add(p->polls, polls_for(count + beats));
}

typedef struct vmm {
    uint32_t flags, bank, in_addr, acc_addr, out_addr, count, rows, cols;
    int32_t out_zp;
} vmm_t;

static void emit_vmm(program_t *p, const vmm_t *v)
{
    emit(p, PIMACC_OP_VMM | PUT(VMM, FLAGS, v->flags) | PUT(VMM, BANK, v->bank)
                | PUT(VMM, OUT_ZP, (uint32_t)v->out_zp & 0xFFu),
         PUT(VMM, IN_ADDR, v->in_addr) | PUT(VMM, ACC_ADDR, v->acc_addr),
         PUT(VMM, OUT_ADDR, v->out_addr) | PUT(VMM, COUNT, v->count),
         PUT(VMM, ROWS, v->rows) | PUT(VMM, COLS, v->cols) | PUT(VMM, POOL, 1));
    p->polls = sat_add(p->polls, polls_for(v->count + p->latency + 8));
}

/* --- linear layers ------------------------------------------------------------------------------ */

static bool has(const pimacc_dev_t *dev, uint32_t feature)
{
    return (dev->geometry.features & feature) != 0;
}

int pimacc_linear_load(pimacc_dev_t *dev, const pimacc_linear_desc_t *d, pimacc_layer_t *layer)
{
    const pimacc_geometry_t *g;
    uint32_t ws, nt, kt, c, r, unit, i;
    bool bias;
    int err;
    if (!dev || !d || !layer || !d->w || !d->k || !d->n)
        return PIMACC_E_ARG;
    g = &dev->geometry;
    ws = d->w_stride ? d->w_stride : d->k;
    bias = d->bias || d->input_zero_point;
    if (ws < d->k || d->input_zero_point < -128 || d->input_zero_point > 127)
        return PIMACC_E_ARG;
    if (d->mult) {
        if (!d->shift || (d->n_scales != 1 && d->n_scales != d->n) || d->out_zero_point < -128
            || d->out_zero_point > 127)
            return PIMACC_E_ARG;
        for (i = 0; i < d->n_scales; ++i)
            if (d->mult[i] > 0x7FFFFFFFu || d->shift[i] > 63)
                return PIMACC_E_ARG;
        if (!has(dev, PIMACC_FEATURE_REQUANT) || (d->relu && !has(dev, PIMACC_FEATURE_RELU)))
            return PIMACC_E_FEATURE;
    } else if (d->relu || d->out_zero_point) {
        return PIMACC_E_ARG;  /* an int32 layer has no ReLU or output zero point */
    }
    if (bias && !has(dev, PIMACC_FEATURE_BIAS))
        return PIMACC_E_FEATURE;
    layer->k = d->k;
    layer->n = d->n;
    layer->k_tiles = div_up(d->k, g->rows);
    layer->n_tiles = div_up(d->n, g->cols);
    layer->int8 = d->mult != NULL;
    layer->relu = d->relu;
    layer->out_zero_point = d->out_zero_point;
    unit = 4 * g->row_words_p2;
    layer->w_block = align_up(dev, g->cols * unit);
    layer->p_block = bias || layer->int8
        ? align_up(dev, g->cols * PIMACC_PARAM_STRIDE) : 0;
    err = reserve(dev, (uint64_t)layer->w_block * layer->n_tiles * layer->k_tiles,
                  &layer->w_offset);
    if (!err && layer->p_block)
        err = reserve(dev, (uint64_t)layer->p_block * layer->n_tiles, &layer->p_offset);
    if (err)
        return err;
    /* weights: tile (nt, kt) holds columns n0.. as WEIGHT units, rows k0.. of each */
    for (nt = 0; nt < layer->n_tiles; ++nt)
        for (kt = 0; kt < layer->k_tiles; ++kt) {
            uint8_t *block = dev->plat.mem + layer->w_offset
                             + (nt * layer->k_tiles + kt) * layer->w_block;
            uint32_t cols = min_u32(g->cols, d->n - nt * g->cols);
            uint32_t rows = min_u32(g->rows, d->k - kt * g->rows);
            zero(block, layer->w_block);
            for (c = 0; c < cols; ++c) {
                const int8_t *src = d->w + (size_t)(nt * g->cols + c) * ws + kt * g->rows;
                for (r = 0; r < rows; ++r)
                    block[c * unit + r] = (uint8_t)src[r];
            }
        }
    /* PARAM per N tile: BIAS (with the input zero point folded in), MULT, SHIFT, 0 a column */
    for (nt = 0; nt < layer->n_tiles && layer->p_block; ++nt) {
        uint8_t *block = dev->plat.mem + layer->p_offset + nt * layer->p_block;
        uint32_t cols = min_u32(g->cols, d->n - nt * g->cols);
        zero(block, layer->p_block);
        for (c = 0; c < cols; ++c) {
            uint32_t n = nt * g->cols + c, b = d->bias ? (uint32_t)d->bias[n] : 0, sum = 0;
            uint32_t s = d->n_scales == 1 ? 0 : n;
            if (d->input_zero_point) {  /* sum_k (x - zp) w = sum_k x w - zp sum_k w (wraps) */
                for (r = 0; r < d->k; ++r)
                    sum += (uint32_t)(int32_t)d->w[(size_t)n * ws + r];
                b -= (uint32_t)d->input_zero_point * sum;
            }
            put32(block + c * PIMACC_PARAM_STRIDE + PIMACC_PARAM_BIAS_OFFSET, b);
            if (layer->int8) {
                put32(block + c * PIMACC_PARAM_STRIDE + PIMACC_PARAM_MULT_OFFSET, d->mult[s]);
                put32(block + c * PIMACC_PARAM_STRIDE + PIMACC_PARAM_SHIFT_OFFSET, d->shift[s]);
            }
        }
    }
    return PIMACC_OK;
}

/* Where a layer's input rows come from and its output rows go. */
typedef void (*fetch_fn)(const void *ctx, uint32_t m, uint32_t k0, uint32_t count, uint8_t *dst);
typedef void (*put_fn)(void *ctx, uint32_t m, uint32_t n0, uint32_t count, const uint8_t *src,
                       bool int8);

static int run_layer(pimacc_dev_t *dev, const pimacc_layer_t *layer, uint32_t m,
                     fetch_fn fetch, const void *fctx, put_fn put, void *pctx)
{
    const pimacc_geometry_t *g = &dev->geometry;
    uint32_t unit_in = 4 * g->row_words_p2;
    uint32_t unit_out = layer->int8 ? 4 * g->col_words_p2 : 4 * g->cols_p2;
    uint32_t chunk, chunks, in_half, acc_half, out_half, x_block, y_block, capacity;
    uint32_t x_off, y_off, prog_off, mark = dev->top, nt, c, kt, i, step = 0, bank = 0;
    uint64_t mem_limit;
    program_t p;
    int err;

    chunk = min_u32(min_u32(m, g->in_depth), min_u32(g->acc_depth, 0xFFFFu));
    if (layer->int8)
        chunk = min_u32(chunk, g->out_depth);
    chunks = div_up(m, chunk);
    in_half = 2 * chunk <= g->in_depth ? chunk : 0;
    acc_half = 2 * chunk <= g->acc_depth ? chunk : 0;
    out_half = layer->int8 && 2 * chunk <= g->out_depth ? chunk : 0;
    x_block = align_up(dev, chunk * unit_in);
    y_block = align_up(dev, chunk * unit_out);
    mem_limit = (uint64_t)layer->n_tiles * (1 + (uint64_t)chunks * (3 * layer->k_tiles + 1)) + 1;
    if (mem_limit > 0x0FFFFFFFu)
        return PIMACC_E_NOMEM;
    capacity = (uint32_t)mem_limit;
    err = reserve(dev, (uint64_t)x_block * chunks * layer->k_tiles, &x_off);
    if (!err)
        err = reserve(dev, (uint64_t)y_block * chunks * layer->n_tiles, &y_off);
    if (!err)
        err = reserve(dev, (uint64_t)capacity * PIMACC_INSTR_BYTES, &prog_off);
    if (err) {
        pimacc_release(dev, mark);
        return err;
    }
    /* inputs: block (kt, chunk) holds the chunk's rows as IN units, columns k0.. of each */
    for (kt = 0; kt < layer->k_tiles; ++kt)
        for (c = 0; c < chunks; ++c) {
            uint8_t *block = dev->plat.mem + x_off + (kt * chunks + c) * x_block;
            uint32_t count = min_u32(chunk, m - c * chunk);
            uint32_t rows = min_u32(g->rows, layer->k - kt * g->rows);
            zero(block, x_block);
            for (i = 0; i < count; ++i)
                fetch(fctx, c * chunk + i, kt * g->rows, rows, block + i * unit_in);
        }

    program_init(dev, &p, dev->plat.mem + prog_off, capacity);
    for (nt = 0; nt < layer->n_tiles; ++nt) {
        uint32_t cols = min_u32(g->cols, layer->n - nt * g->cols);
        if (layer->p_block)
            emit_transfer(&p, PIMACC_OP_LOAD, PIMACC_WINDOW_PARAM, 0,
                          cols * PIMACC_PARAM_STRIDE / 4, layer->p_offset + nt * layer->p_block,
                          4);
        for (c = 0; c < chunks; ++c) {
            uint32_t tile = nt * chunks + c;
            vmm_t v;
            v.count = min_u32(chunk, m - c * chunk);
            v.cols = cols;
            v.acc_addr = (tile & 1) * acc_half;
            v.out_addr = (tile & 1) * out_half;
            v.out_zp = layer->out_zero_point;
            for (kt = 0; kt < layer->k_tiles; ++kt, ++step) {
                bool first = kt == 0, last = kt + 1 == layer->k_tiles;
                v.rows = min_u32(g->rows, layer->k - kt * g->rows);
                v.bank = bank;  /* step % banks */
                bank = bank + 1 == g->banks ? 0 : bank + 1;
                v.in_addr = (step & 1) * in_half;
                v.flags = (first ? 0 : FLAG(ACCUMULATE))
                          | (first && layer->p_block ? FLAG(BIAS) : 0)
                          | (last && layer->int8 ? FLAG(REQUANT) : 0)
                          | (last && layer->relu ? FLAG(RELU) : 0);
                emit_transfer(&p, PIMACC_OP_LOAD, PIMACC_WINDOW_WEIGHT,
                              v.bank * g->cols_p2, cols,
                              layer->w_offset + (nt * layer->k_tiles + kt) * layer->w_block,
                              unit_in);
                emit_transfer(&p, PIMACC_OP_LOAD, PIMACC_WINDOW_IN, v.in_addr, v.count,
                              x_off + (kt * chunks + c) * x_block, unit_in);
                emit_vmm(&p, &v);
            }
            emit_transfer(&p, PIMACC_OP_STORE,
                          layer->int8 ? PIMACC_WINDOW_OUT : PIMACC_WINDOW_ACC,
                          layer->int8 ? v.out_addr : v.acc_addr, v.count,
                          y_off + tile * y_block, unit_out);
        }
    }
    emit(&p, PIMACC_OP_END, 0, 0, 0);
    if (p.count > p.capacity) {
        pimacc_release(dev, mark);
        return PIMACC_E_NOMEM;
    }

    err = pimacc_run_program(dev, prog_off, p.count, dev->max_polls ? dev->max_polls : p.polls);
    if (!err)
        for (nt = 0; nt < layer->n_tiles; ++nt)
            for (c = 0; c < chunks; ++c) {
                const uint8_t *block = dev->plat.mem + y_off + (nt * chunks + c) * y_block;
                uint32_t count = min_u32(chunk, m - c * chunk);
                uint32_t cols = min_u32(g->cols, layer->n - nt * g->cols);
                for (i = 0; i < count; ++i)
                    put(pctx, c * chunk + i, nt * g->cols, cols, block + i * unit_out,
                        layer->int8);
            }
    pimacc_release(dev, mark);
    return err;
}

typedef struct matrix_in {
    const int8_t *x;
    uint32_t stride;
} matrix_in_t;

typedef struct matrix_out {
    void *y;
    uint32_t stride;
} matrix_out_t;

static void fetch_rows(const void *ctx, uint32_t m, uint32_t k0, uint32_t count, uint8_t *dst)
{
    const matrix_in_t *in = (const matrix_in_t *)ctx;
    const int8_t *src = in->x + (size_t)m * in->stride + k0;
    uint32_t i;
    for (i = 0; i < count; ++i)
        dst[i] = (uint8_t)src[i];
}

static void put_rows(void *ctx, uint32_t m, uint32_t n0, uint32_t count, const uint8_t *src,
                     bool int8)
{
    const matrix_out_t *out = (const matrix_out_t *)ctx;
    uint32_t i;
    if (int8) {
        int8_t *dst = (int8_t *)out->y + (size_t)m * out->stride + n0;
        for (i = 0; i < count; ++i)
            dst[i] = (int8_t)src[i];
    } else {
        int32_t *dst = (int32_t *)out->y + (size_t)m * out->stride + n0;
        for (i = 0; i < count; ++i)
            dst[i] = (int32_t)get32(src + 4 * i);
    }
}

int pimacc_linear_run(pimacc_dev_t *dev, const pimacc_layer_t *layer, const int8_t *x,
                      uint32_t m, uint32_t x_stride, void *y, uint32_t y_stride)
{
    matrix_in_t in;
    matrix_out_t out;
    if (!dev || !layer || !x || !y || !m || !layer->k || !layer->n)
        return PIMACC_E_ARG;
    in.x = x;
    in.stride = x_stride ? x_stride : layer->k;
    out.y = y;
    out.stride = y_stride ? y_stride : layer->n;
    if (in.stride < layer->k || out.stride < layer->n)
        return PIMACC_E_ARG;
    return run_layer(dev, layer, m, fetch_rows, &in, put_rows, &out);
}

int pimacc_linear(pimacc_dev_t *dev, const pimacc_linear_desc_t *desc, const int8_t *x,
                  uint32_t m, void *y)
{
    pimacc_layer_t layer;
    uint32_t mark;
    int err;
    if (!dev)
        return PIMACC_E_ARG;
    mark = pimacc_mark(dev);
    err = pimacc_linear_load(dev, desc, &layer);
    if (!err)
        err = pimacc_linear_run(dev, &layer, x, m, 0, y, 0);
    pimacc_release(dev, mark);
    return err;
}

/* AcceleratorVMM's packed weights, by weight pointer (see pimacc.h): VMM_CACHE entries of one
   device, packed one after another at the top of its memory in use; entry i occupies
   [start, end), and the entries stay valid while that memory does (dev->top >= end). */
#define VMM_CACHE 4
typedef struct vmm_entry {
    const int8_t *w;
    uint32_t k, n, start, end;
    pimacc_layer_t layer;
} vmm_entry_t;
static pimacc_dev_t *vmm_dev;
static vmm_entry_t vmm_cache[VMM_CACHE];
static uint32_t vmm_entries;

/* dev's memory from mark up is given back (or all of it: pimacc_init): the entries there go */
static void vmm_drop(const pimacc_dev_t *dev, uint32_t mark)
{
    if (dev == vmm_dev)
        while (vmm_entries && vmm_cache[vmm_entries - 1].end > mark)
            --vmm_entries;
    if (!vmm_entries)
        vmm_dev = NULL;
}

void pimacc_vmm_forget(void)
{
    /* give the memory back if nothing was reserved above it since (vmm_dev is the default
       device: pimacc_init and pimacc_set_default drop the entries of another) */
    if (vmm_dev && vmm_entries && vmm_dev->top == vmm_cache[vmm_entries - 1].end)
        pimacc_release(vmm_dev, vmm_cache[0].start);  /* (drops them too) */
    vmm_entries = 0;
    vmm_dev = NULL;
}

int AcceleratorVMM(const int8_t *inputs, const int8_t *weights, int32_t *outputs,
                   uint32_t m, uint32_t k, uint32_t n)
{
    pimacc_linear_desc_t d = {0};
    pimacc_dev_t *dev = default_dev;
    vmm_entry_t *e;
    uint32_t i;
    int err;
    if (!dev)
        return PIMACC_E_NODEV;
    if (!inputs || !weights || !outputs || !m || !k || !n)
        return PIMACC_E_ARG;
    if (vmm_dev != dev)
        vmm_entries = 0;
    vmm_dev = dev;
    for (i = 0; i < vmm_entries; ++i) {
        e = &vmm_cache[i];
        if (e->w == weights && e->k == k && e->n == n)
            return pimacc_linear_run(dev, &e->layer, inputs, m, 0, outputs, 0);
    }
    d.k = k;
    d.n = n;
    d.w = weights;
    if (vmm_entries == VMM_CACHE
        || (vmm_entries && dev->top != vmm_cache[vmm_entries - 1].end))
        return pimacc_linear(dev, &d, inputs, m, outputs);  /* no room to keep it: uncached */
    e = &vmm_cache[vmm_entries];
    e->start = pimacc_mark(dev);
    err = pimacc_linear_load(dev, &d, &e->layer);
    if (err == PIMACC_E_NOMEM && vmm_entries) {  /* the kept weights take the room: drop them */
        pimacc_vmm_forget();
        vmm_dev = dev;
        return pimacc_linear(dev, &d, inputs, m, outputs);
    }
    if (err)
        return err;
    e->w = weights;
    e->k = k;
    e->n = n;
    e->end = dev->top;
    ++vmm_entries;
    return pimacc_linear_run(dev, &e->layer, inputs, m, 0, outputs, 0);
}

/* --- convolutions ----------------------------------------------------------------------------- */

typedef struct conv {
    const pimacc_conv_desc_t *d;
    const int8_t *x;
    void *y;
    uint32_t ho, wo, sh, sw, dh, dw;
} conv_t;

static uint32_t one_if_zero(uint32_t v) { return v ? v : 1; }

static uint32_t conv_out(uint32_t size, uint32_t kernel, uint32_t stride, uint32_t pad,
                         uint32_t dilation)
{
    uint64_t padded = (uint64_t)size + 2ull * pad;
    uint64_t extent = (uint64_t)one_if_zero(dilation) * (kernel - 1) + 1;
    if (!size || !kernel || extent > padded)
        return 0;
    return (uint32_t)((padded - extent) / one_if_zero(stride) + 1);
}

uint32_t pimacc_conv_out_h(const pimacc_conv_desc_t *c)
{
    return c ? conv_out(c->h, c->kh, c->stride_h, c->pad_h, c->dilation_h) : 0;
}

uint32_t pimacc_conv_out_w(const pimacc_conv_desc_t *c)
{
    return c ? conv_out(c->w, c->kw, c->stride_w, c->pad_w, c->dilation_w) : 0;
}

/* im2col: row m = (image, oy, ox), column k = (channel, ky, kx), as the weights' layout. */
static void fetch_patch(const void *ctx, uint32_t m, uint32_t k0, uint32_t count, uint8_t *dst)
{
    const conv_t *cv = (const conv_t *)ctx;
    const pimacc_conv_desc_t *d = cv->d;
    uint32_t img = m / (cv->ho * cv->wo), pos = m % (cv->ho * cv->wo);
    uint32_t oy = pos / cv->wo, ox = pos % cv->wo, i;
    uint32_t ch = k0 / (d->kh * d->kw), tap = k0 % (d->kh * d->kw);
    uint32_t ky = tap / d->kw, kx = tap % d->kw;
    for (i = 0; i < count; ++i) {
        int64_t iy = (int64_t)oy * cv->sh + (int64_t)ky * cv->dh - d->pad_h;
        int64_t ix = (int64_t)ox * cv->sw + (int64_t)kx * cv->dw - d->pad_w;
        int8_t v = (int8_t)d->input_zero_point;
        if (iy >= 0 && iy < d->h && ix >= 0 && ix < d->w)
            v = cv->x[(((size_t)img * d->cin + ch) * d->h + (size_t)iy) * d->w + (size_t)ix];
        dst[i] = (uint8_t)v;
        if (++kx == d->kw) {
            kx = 0;
            if (++ky == d->kh) {
                ky = 0;
                ++ch;
            }
        }
    }
}

static void put_map(void *ctx, uint32_t m, uint32_t n0, uint32_t count, const uint8_t *src,
                    bool int8)
{
    const conv_t *cv = (const conv_t *)ctx;
    uint32_t plane = cv->ho * cv->wo, img = m / plane, pos = m % plane, i;
    size_t at = ((size_t)img * cv->d->cout + n0) * plane + pos;
    for (i = 0; i < count; ++i, at += plane) {
        if (int8)
            ((int8_t *)cv->y)[at] = (int8_t)src[i];
        else
            ((int32_t *)cv->y)[at] = (int32_t)get32(src + 4 * i);
    }
}

int pimacc_conv2d(pimacc_dev_t *dev, const pimacc_conv_desc_t *d, const int8_t *x, void *y)
{
    pimacc_linear_desc_t lin = {0};
    pimacc_layer_t layer;
    conv_t cv;
    uint64_t k, m;
    uint32_t mark;
    int err;
    if (!dev || !d || !x || !y || !d->batch || !d->cin || !d->cout || !d->weights)
        return PIMACC_E_ARG;
    cv.ho = pimacc_conv_out_h(d);
    cv.wo = pimacc_conv_out_w(d);
    k = (uint64_t)d->cin * d->kh * d->kw;
    m = (uint64_t)d->batch * cv.ho * cv.wo;
    if (!cv.ho || !cv.wo || k > 0xFFFFFFFFu || m > 0xFFFFFFFFu)
        return PIMACC_E_ARG;
    cv.d = d;
    cv.x = x;
    cv.y = y;
    cv.sh = one_if_zero(d->stride_h);
    cv.sw = one_if_zero(d->stride_w);
    cv.dh = one_if_zero(d->dilation_h);
    cv.dw = one_if_zero(d->dilation_w);
    lin.k = (uint32_t)k;
    lin.n = d->cout;
    lin.w = d->weights;
    lin.bias = d->bias;
    lin.input_zero_point = d->input_zero_point;
    lin.mult = d->mult;
    lin.shift = d->shift;
    lin.n_scales = d->n_scales;
    lin.out_zero_point = d->out_zero_point;
    lin.relu = d->relu;
    mark = pimacc_mark(dev);
    err = pimacc_linear_load(dev, &lin, &layer);
    if (!err)
        err = run_layer(dev, &layer, (uint32_t)m, fetch_patch, &cv, put_map, &cv);
    pimacc_release(dev, mark);
    return err;
}
