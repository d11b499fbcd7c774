"""cocotb tests of the whole accelerator through its AXI4-Lite port (see test_top.py)."""

import random

import cocotb
import numpy as np

import models
from hw.spec import REGISTERS, RW, BusError, ErrorCode, Geometry, Opcode, register
from models import requantize, vmm
from sw.knobs import seed as env_seed
from sw.targets.sim.testbench import TB, AxiResp
from verif.cocotb_util import params

OKAY, SLVERR, DECERR = AxiResp.OKAY, AxiResp.SLVERR, AxiResp.DECERR
TIMEOUT = dict(timeout_time=200, timeout_unit="ms")


def geometry():
    return Geometry(**params()["geometry"])


def reg(name):
    return register(name).offset


def words_of(a):
    """int8 rows -> little-endian words, each row padded to a whole number of words."""
    a = np.asarray(a, dtype=np.int8)
    pad = (-a.shape[-1]) % 4
    a = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, pad)])
    return np.ascontiguousarray(a).view(np.uint32).ravel().tolist()


class Device:
    """Small register-level helpers on top of the TB (the driver in sw/ is tested elsewhere)."""

    def __init__(self, dut):
        self.tb = TB(dut)
        self.g = geometry()

    async def start(self):
        await self.tb.reset()

    async def check_write(self, addr, value, resp=OKAY):
        got = await self.tb.write(addr, value)
        assert got == resp, f"write 0x{addr:05X}: {got}, expected {resp}"

    async def rd(self, addr, resp=OKAY):
        value, got = await self.tb.read(addr)
        assert got == resp, f"read 0x{addr:05X}: {got}, expected {resp}"
        return value

    async def load_weights(self, bank, w):
        """w int8 [cols, rows] into a bank, column by column."""
        g = self.g
        for c in range(w.shape[0]):
            resps = await self.tb.write_words(g.weight_addr(bank, c), words_of(w[c:c + 1]))
            assert all(r == OKAY for r in resps)

    async def load_inputs(self, first, x):
        g = self.g
        for i, row in enumerate(x):
            resps = await self.tb.write_words(g.in_addr(first + i), words_of(row[None]))
            assert all(r == OKAY for r in resps)

    async def load_params(self, bias, mult, shift):
        g = self.g
        for c in range(g.cols):
            for name, v in (("BIAS", bias[c]), ("MULT", mult[c]), ("SHIFT", shift[c])):
                await self.check_write(g.param_addr(c, name), int(v) & 0xFFFFFFFF)

    async def command(self, **fields):
        values = dict(op=Opcode.VMM.value, flags=0, bank=0, in_addr=0, acc_addr=0, out_addr=0,
                      count=1, rows=self.g.rows, cols=self.g.cols, out_zp=0)
        values.update(fields)
        for name, v in values.items():
            r = register(f"CMD_{name.upper()}")
            await self.check_write(r.offset, int(v) & 0xFF if name == "out_zp" else int(v))

    async def run(self, wait=True, **fields):
        await self.command(**fields)
        await self.check_write(reg("CTRL"), register("CTRL").pack(start=1, irq_en=1))
        if wait:
            assert await self.tb.wait_irq(100_000), "no interrupt"
            return register("STATUS").unpack(await self.rd(reg("STATUS")))

    async def read_acc(self, first, count):
        g = self.g
        out = []
        for a in range(first, first + count):
            words, resps = await self.tb.read_words(g.acc_addr(a), g.cols)
            assert all(r == OKAY for r in resps)
            out.append(words)
        return np.array(out, dtype=np.uint32).view(np.int32)

    async def read_out(self, first, count):
        g = self.g
        out = []
        for o in range(first, first + count):
            words, resps = await self.tb.read_words(g.out_addr(o), g.col_words)
            assert all(r == OKAY for r in resps)
            out.append(np.array(words, dtype=np.uint32).view(np.int8)[:g.cols])
        return np.array(out)


async def started(dut):
    """A reset Device and a random generator seeded from SEED (logged for replay)."""
    d = Device(dut)
    await d.start()
    s = env_seed()
    dut._log.info(f"seed={s}")
    return d, np.random.default_rng(s)


def config_value(r, g):
    return {"rows": g.rows, "cols": g.cols, "banks": g.banks, "in_depth": g.in_depth,
            "acc_depth": g.acc_depth, "out_depth": g.out_depth}.get(r.config)


@cocotb.test(**TIMEOUT)
async def reset_values(dut):
    """Every register reads its documented reset value (CFG_* the geometry)."""
    d = Device(dut)
    await d.start()
    for r in REGISTERS:
        value = await d.rd(r.offset)
        if r.name in ("PERF_CYCLES",):
            continue  # counts from reset
        expected = config_value(r, d.g)
        if expected is None and r.config is None:
            expected = r.reset
        if expected is not None:
            assert value == expected, f"{r.name} = 0x{value:X}, expected 0x{expected:X}"


@cocotb.test(**TIMEOUT)
async def rw_registers_and_strobes(dut):
    """RW fields keep what was written, masked to their width; strobes select bytes."""
    d = Device(dut)
    await d.start()
    rng = random.Random(env_seed())
    dut._log.info(f"seed={env_seed()}")
    for r in REGISTERS:
        if not all(f.access == RW for f in r.fields):
            continue
        mask = sum(f.mask for f in r.fields)
        value = rng.getrandbits(32)
        await d.check_write(r.offset, value)
        assert await d.rd(r.offset) == value & mask, r.name
        # A write with only byte 0 enabled changes only byte 0.
        await d.check_write(r.offset, 0)
        await d.tb.write(r.offset, 0xFFFFFFFF, strb=0b0001)
        assert await d.rd(r.offset) == 0xFF & mask, r.name
    # Sub-word writes into a buffer window honour the strobes too.
    g = d.g
    await d.check_write(g.in_addr(1), 0x44332211)
    assert await d.tb.write(g.in_addr(1), 0xAA000000, strb=0b1000) == OKAY
    assert await d.tb.write(g.in_addr(1), 0x0000BB00, strb=0b0010) == OKAY
    assert await d.rd(g.in_addr(1)) == 0xAA33BB11
    await d.check_write(g.param_addr(0, "BIAS"), 0x12345678)
    assert await d.tb.write(g.param_addr(0, "BIAS"), 0x00CC0000, strb=0b0100) == OKAY
    assert await d.rd(g.param_addr(0, "BIAS")) == 0x12CC5678
    await d.check_write(g.weight_addr(1, 0), 0x04030201)
    assert await d.tb.write(g.weight_addr(1, 0), 0xEE00, strb=0b0010) == OKAY
    assert await d.rd(g.weight_addr(1, 0)) & 0xFFFF == 0xEE01


@cocotb.test(**TIMEOUT)
async def unmapped_and_read_only(dut):
    """Unmapped addresses answer DECERR, read-only ones SLVERR; BUS_ERROR says why."""
    d = Device(dut)
    await d.start()
    g = d.g
    unmapped = [0x0FC, 0x1000, 0xFFFC, g.param_addr(g.cols, "BIAS"), g.param_addr(0, "SHIFT") + 4,
                g.weight_addr(g.banks, 0), g.in_addr(g.in_depth), g.acc_addr(g.acc_depth),
                g.out_addr(g.out_depth)]
    if g.cols < g.cols_p2:
        unmapped.append(g.acc_addr(0, g.cols))
    if g.row_words < g.row_words_p2:
        unmapped.append(g.in_addr(0, g.row_words))
    for addr in unmapped:
        await d.rd(addr, DECERR)
        assert await d.rd(reg("BUS_ERROR")) == BusError.UNMAPPED.value
        assert await d.rd(reg("BUS_ERROR_ADDR")) == addr
        await d.check_write(addr, 0x1234, DECERR)
        await d.check_write(reg("BUS_ERROR"), 0)
        assert await d.rd(reg("BUS_ERROR")) == BusError.NONE.value
    for addr in (reg("ID"), reg("CFG_ROWS"), reg("PERF_MACS"), g.acc_addr(0), g.out_addr(0)):
        before = await d.rd(addr)
        await d.check_write(addr, ~before & 0xFFFFFFFF, SLVERR)
        assert await d.rd(reg("BUS_ERROR")) == BusError.READ_ONLY.value
        if addr != reg("PERF_MACS"):
            assert await d.rd(addr) == before


async def _layer(d, rng, *, count, flags, zp=0, bank=0, in_addr=0, acc_addr=0, out_addr=0):
    """Run one command with random data; return (expected acc, expected out or None)."""
    g = d.g
    w = rng.integers(-128, 128, (g.cols, g.rows), dtype=np.int8)
    w[0] = -128
    x = rng.integers(-128, 128, (count, g.rows), dtype=np.int8)
    x[0] = -128
    bias = rng.integers(-2**20, 2**20, g.cols)
    mult = rng.integers(2**30, 2**31, g.cols)
    shift = rng.integers(8, 24, g.cols)
    await d.load_weights(bank, w)
    await d.load_inputs(in_addr, x)
    await d.load_params(bias, mult, shift)
    status = await d.run(flags=flags, count=count, bank=bank, in_addr=in_addr,
                         acc_addr=acc_addr, out_addr=out_addr, out_zp=zp)
    assert status == {"BUSY": 0, "DONE": 1, "ERROR": 0}, status
    acc = vmm(x, w) + (bias.astype(np.int32) if flags & 2 else 0)
    out = requantize(acc, mult, shift, zp, relu=bool(flags & 8)) if flags & 4 else None
    return acc, out


@cocotb.test(**TIMEOUT)
async def command_flow(dut):
    """VMM commands: overwrite+bias, accumulate, requantize with ReLU, offsets; irq and DONE."""
    d, rng = await started(dut)
    if params().get("backpressure"):
        d.tb.set_backpressure(env_seed())
    g = d.g
    count = min(g.in_depth, g.acc_depth, g.out_depth, 12)
    acc, out = await _layer(d, rng, count=count, flags=0b0110, zp=-3, bank=g.banks - 1)
    np.testing.assert_array_equal(await d.read_acc(0, count), acc)
    np.testing.assert_array_equal(await d.read_out(0, count), out)
    assert dut.irq.value == 1
    await d.check_write(reg("STATUS"), register("STATUS").pack(done=1))
    assert dut.irq.value == 0
    # Accumulate a second K tile onto the same rows, requantize with ReLU at a nonzero zp.
    acc2, _ = await _layer(d, rng, count=count, flags=0b0000, bank=0, in_addr=g.in_depth - count,
                           acc_addr=g.acc_depth - count, out_addr=g.out_depth - count)
    mult = rng.integers(2**30, 2**31, g.cols)
    shift = rng.integers(8, 24, g.cols)
    w = rng.integers(-128, 128, (g.cols, g.rows), dtype=np.int8)
    x = rng.integers(-128, 128, (count, g.rows), dtype=np.int8)
    await d.load_weights(0, w)
    await d.load_inputs(0, x)
    await d.load_params(np.zeros(g.cols), mult, shift)
    rows = max(1, g.rows - 1)
    status = await d.run(flags=0b1101, count=count, in_addr=0, acc_addr=g.acc_depth - count,
                         out_addr=g.out_depth - count, out_zp=5, rows=rows)
    assert status["ERROR"] == 0
    x_masked = x.copy()
    x_masked[:, rows:] = 0
    total = acc2 + vmm(x_masked, w)
    np.testing.assert_array_equal(await d.read_acc(g.acc_depth - count, count), total)
    np.testing.assert_array_equal(await d.read_out(g.out_depth - count, count),
                                  requantize(total, mult, shift, 5, relu=True))
    macs = await d.rd(reg("PERF_MACS"))
    vectors = await d.rd(reg("PERF_VECTORS"))
    assert vectors == 3 * count
    assert macs == 2 * count * g.rows * g.cols + count * rows * g.cols


@cocotb.test(**TIMEOUT)
async def busy_refusals_and_double_buffering(dut):
    """While BUSY: CMD_*, IN, PARAM, LUT, the active bank and START are refused; other banks
    load."""
    d, rng = await started(dut)
    g = d.g
    count = min(g.in_depth, g.acc_depth)
    w0 = rng.integers(-128, 128, (g.cols, g.rows), dtype=np.int8)
    x = rng.integers(-128, 128, (count, g.rows), dtype=np.int8)
    await d.load_weights(0, w0)
    await d.load_inputs(0, x)
    refused = [reg("CMD_COUNT"), reg("CMD_FLAGS"), g.in_addr(0), g.param_addr(0, "BIAS"),
               g.lut_addr(5), g.weight_addr(0, 0), reg("CTRL")]
    for addr in refused:
        await d.run(wait=False, count=count, bank=0)
        before = await d.rd(addr)
        value = register("CTRL").pack(start=1) if addr == reg("CTRL") else ~before & 0xFF
        await d.check_write(addr, value, SLVERR)
        assert await d.rd(reg("STATUS")) & 1, "the command ended before the refusal was tested"
        assert await d.rd(reg("BUS_ERROR")) == BusError.BUSY.value
        assert await d.rd(addr) == before
        assert await d.tb.wait_irq(100_000)
    await d.run(wait=False, count=count, bank=0)
    w1 = rng.integers(-128, 128, (g.cols, g.rows), dtype=np.int8)
    if g.banks > 1:
        await d.load_weights(1, w1)  # double buffering: accepted while bank 0 computes
    assert await d.tb.wait_irq(100_000)
    np.testing.assert_array_equal(await d.read_acc(0, count), vmm(x, w0))
    if g.banks > 1:
        assert (await d.run(count=count, bank=1))["ERROR"] == 0
        np.testing.assert_array_equal(await d.read_acc(0, count), vmm(x, w1))


@cocotb.test(**TIMEOUT)
async def bad_commands(dut):
    """Each bad command sets its ErrorCode and DONE (irq), and changes nothing."""
    d, rng = await started(dut)
    g = d.g
    x = rng.integers(-128, 128, (1, g.rows), dtype=np.int8)
    await d.load_inputs(0, x)
    await d.run(flags=0b0010, count=1)  # acc[0] = bias (zeros at reset) + x.w
    before = await d.read_acc(0, 1)
    cases = [
        (ErrorCode.BAD_OPCODE, dict(op=7)),
        (ErrorCode.BAD_BANK, dict(bank=g.banks)),
        (ErrorCode.BAD_COUNT, dict(count=0)),
        (ErrorCode.IN_RANGE, dict(in_addr=g.in_depth, count=1)),
        (ErrorCode.ACC_RANGE, dict(acc_addr=g.acc_depth - 1, count=2)),
        (ErrorCode.OUT_RANGE, dict(flags=0b0100, out_addr=g.out_depth, count=1)),
        (ErrorCode.BAD_ROWS, dict(rows=0)),
        (ErrorCode.BAD_ROWS, dict(rows=g.rows + 1)),
        (ErrorCode.BAD_COLS, dict(cols=g.cols + 1)),
    ]
    vectors = await d.rd(reg("PERF_VECTORS"))
    for code, fields in cases:
        status = await d.run(**fields)
        assert status == {"BUSY": 0, "DONE": 1, "ERROR": code.value}, (code, status)
        assert dut.irq.value == 1
    assert await d.rd(reg("PERF_VECTORS")) == vectors
    np.testing.assert_array_equal(await d.read_acc(0, 1), before)
    # A good command clears the error.
    assert (await d.run(count=1))["ERROR"] == ErrorCode.NONE.value


@cocotb.test(**TIMEOUT)
async def soft_reset_and_counters(dut):
    """SOFT_RESET aborts a command and resets registers, keeping weights; counters clear."""
    d = Device(dut)
    await d.start()
    g = d.g
    await d.check_write(g.weight_addr(0, 0), 0x01020304)
    await d.check_write(reg("CMD_OUT_ZP"), 0x7F)
    await d.run(wait=False, count=min(g.in_depth, g.acc_depth))
    assert await d.rd(reg("STATUS")) & 1
    await d.check_write(reg("CTRL"), register("CTRL").pack(soft_reset=1))
    assert await d.rd(reg("STATUS")) == 0
    assert await d.rd(reg("CMD_OUT_ZP")) == 0
    assert await d.rd(reg("CTRL")) == 0
    assert await d.rd(g.weight_addr(0, 0)) & 0xFFFF == 0x0304
    assert await d.rd(reg("PERF_CYCLES")) > 0
    await d.check_write(reg("CTRL"), register("CTRL").pack(clear_counters=1))
    assert await d.rd(reg("PERF_CYCLES")) < 10
    assert await d.rd(reg("PERF_VECTORS")) == 0
    # The accelerator still works after the abort.
    assert (await d.run(count=1))["ERROR"] == 0
    # One write of START | SOFT_RESET while BUSY is accepted and SOFT_RESET wins: the command
    # stops, nothing new starts (issue 8, defect 4: this write was refused whole before).
    await d.check_write(reg("CMD_OUT_ZP"), 0x7F)
    await d.run(wait=False, count=min(g.in_depth, g.acc_depth))
    assert await d.rd(reg("STATUS")) & 1
    await d.check_write(reg("CTRL"), register("CTRL").pack(start=1, soft_reset=1))
    assert await d.rd(reg("STATUS")) == 0 and await d.rd(reg("CMD_OUT_ZP")) == 0
    assert await d.rd(reg("PERF_VECTORS")) == 0



async def _identity_pass(d, x, *, lut=False, pool=1, zp=0, relu=False, out_addr=0):
    """Run x (int8 [n, min(R, C)]) through identity weights with scale 1: OUT = stages(x)."""
    g = d.g
    k = min(g.rows, g.cols)
    w = np.zeros((g.cols, g.rows), dtype=np.int8)
    w[np.arange(k), np.arange(k)] = 1
    await d.load_weights(0, w)
    rows = np.zeros((len(x), g.rows), dtype=np.int8)
    rows[:, :k] = x
    await d.load_inputs(0, rows)
    ones = np.ones(g.cols, dtype=np.int64)
    await d.load_params(0 * ones, 2**30 * ones, 30 * ones)  # scale 1.0
    flags = register("CMD_FLAGS").pack(requant=1, lut=int(lut), relu=int(relu))
    await d.check_write(reg("CMD_POOL"), pool)
    status = await d.run(flags=flags, count=len(x), out_zp=zp, out_addr=out_addr)
    assert status == {"BUSY": 0, "DONE": 1, "ERROR": 0}, status
    return (await d.read_out(out_addr, len(x) // pool))[:, :k]


async def _load_lut(d, table):
    words = np.asarray(table, np.int8).view("<u4").tolist()
    resps = await d.tb.write_words(d.g.lut_addr(0), words)
    assert all(r == OKAY for r in resps)


@cocotb.test(**TIMEOUT)
async def lut_every_entry_and_reload(dut):
    """Every one of the 256 entries is reached; a reloaded table takes effect; LUT reads back."""
    d, rng = await started(dut)
    g = d.g
    k = min(g.rows, g.cols)
    count = min(g.in_depth, g.acc_depth, g.out_depth)
    values = np.arange(-128, 128, dtype=np.int16).astype(np.int8)
    for round_ in range(2):
        table = rng.integers(-128, 128, 256, dtype=np.int8)
        await _load_lut(d, table)
        words, _ = await d.tb.read_words(g.lut_addr(0), 64)
        np.testing.assert_array_equal(np.array(words, "<u4").view(np.int8), table)
        seen = set()
        for first in range(0, 256, count * k):
            x = values[first:first + count * k]
            x = np.pad(x, (0, (-len(x)) % k)).reshape(-1, k)
            got = await _identity_pass(d, x, lut=True)
            np.testing.assert_array_equal(got, models.apply_lut(x, table))
            seen.update(x.ravel().tolist())
        assert len(seen) == 256, round_
    # LUT off: the table is bypassed; ReLU comes after the LUT.
    x = rng.integers(-128, 128, (4, k), dtype=np.int8)
    np.testing.assert_array_equal(await _identity_pass(d, x), x)
    np.testing.assert_array_equal(await _identity_pass(d, x, lut=True, relu=True, zp=0),
                                  np.maximum(models.apply_lut(x, table), 0))


@cocotb.test(**TIMEOUT)
async def maxpool_groups(dut):
    """Max over groups of 1..9 consecutive rows, extremes included, back to back; BAD_POOL."""
    d, rng = await started(dut)
    g = d.g
    k = min(g.rows, g.cols)
    limit = min(g.in_depth, g.acc_depth)
    for pool in (1, 2, 3, 4, 9):
        groups = max(1, min(limit // pool, g.out_depth, 3))
        x = rng.integers(-128, 128, (groups * pool, k), dtype=np.int8)
        x[0, 0], x[-1, -1] = -128, 127
        if pool > 1:
            x[:pool, 1 % k] = -128  # a whole group at the minimum
        got = await _identity_pass(d, x, pool=pool, out_addr=g.out_depth - groups)
        np.testing.assert_array_equal(got, models.group_max(x, pool), err_msg=f"pool={pool}")
    # pool 0 with REQUANT is BAD_POOL even where COUNT rows would not fit the output buffer
    # (the register model said OUT_RANGE there: issue 8, defect 4)
    for pool, flags, count, out_addr in ((0, 0b0100, 2, 0), (2, 0, 2, 0), (3, 0b0100, 4, 0),
                                         (0, 0b0100, min(limit, 255), g.out_depth)):
        await d.check_write(reg("CMD_POOL"), pool)
        status = await d.run(flags=flags, count=count, out_addr=out_addr)
        assert status["ERROR"] == ErrorCode.BAD_POOL.value, (pool, status)
    # a pooled command whose COUNT / POOL output rows just do / do not fit: OUT_RANGE alone
    # decides (the input and accumulator ranges hold; before, IN_RANGE always fired first)
    await d.check_write(reg("CMD_POOL"), 2)
    status = await d.run(flags=0b0100, count=2, out_addr=g.out_depth - 1)
    assert status["ERROR"] == ErrorCode.NONE.value, status
    status = await d.run(flags=0b0100, count=2, out_addr=g.out_depth)
    assert status["ERROR"] == ErrorCode.OUT_RANGE.value, status
