"""RegisterModel command execution: VMM semantics and rejected commands (ErrorCode)."""

import numpy as np
import pytest

import models
from hw.spec import ErrorCode, Opcode, timing, window
from sw.driver.packing import pack_int8
from sw.targets.regmodel import RegisterModel

from ..regs import G, command, rd, wr

pytestmark = pytest.mark.nosim


def load(dev, x, w, bank=0, vector=0, bias=None, mult=None, shift=None):
    g = dev.geometry
    for i, row in enumerate(pack_int8(x, g.row_words)):
        dev.write(g.in_addr(vector + i), row)
    for c, col in enumerate(pack_int8(w, g.row_words)):
        dev.write(g.weight_addr(bank, c), col)
    for c in range(w.shape[0]):
        for name, values in (("BIAS", bias), ("MULT", mult), ("SHIFT", shift)):
            if values is not None:
                dev.write(g.param_addr(c, name), [int(values[c]) & 0xFFFF_FFFF])


def acc_rows(dev, first, count):
    g = dev.geometry
    words = [dev.read(g.acc_addr(first + r), g.cols) for r in range(count)]
    return np.array(words, dtype=np.uint32).view(np.int32)


def out_rows(dev, first, count):
    g = dev.geometry
    words = np.array([dev.read(g.out_addr(first + r), g.col_words) for r in range(count)],
                     dtype="<u4")
    return words.view(np.int8)[:, :g.cols]


def test_vmm_command_semantics():
    seed = 11
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    dev = RegisterModel(G)
    x = rng.integers(-128, 128, (4, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 6), dtype=np.int8)
    bias = rng.integers(-1000, 1000, 5, dtype=np.int32)
    mult, shift = models.quantize_multipliers(rng.uniform(0.001, 0.01, 5))
    load(dev, x, w, bank=1, vector=3, bias=bias, mult=mult, shift=shift)
    # overwrite (no bias) at accumulator row 2, rows masked to 4
    assert command(dev, CMD_BANK=1, CMD_IN_ADDR=3, CMD_ACC_ADDR=2, CMD_COUNT=4, CMD_ROWS=4)[
        "ERROR"] == 0
    x4 = x.copy()
    x4[:, 4:] = 0
    np.testing.assert_array_equal(acc_rows(dev, 2, 4), models.vmm(x4, w))
    # accumulate the full rows on top
    command(dev, CMD_BANK=1, CMD_IN_ADDR=3, CMD_ACC_ADDR=2, CMD_COUNT=4, ACCUMULATE=1)
    np.testing.assert_array_equal(acc_rows(dev, 2, 4), models.vmm(x4, w) + models.vmm(x, w))
    # bias + requant + relu at output row 1 with zero point -5
    command(dev, CMD_BANK=1, CMD_IN_ADDR=3, CMD_ACC_ADDR=0, CMD_OUT_ADDR=1, CMD_COUNT=3,
            CMD_OUT_ZP=-5, BIAS=1, REQUANT=1, RELU=1)
    acc = models.vmm(x[:3], w) + bias
    np.testing.assert_array_equal(acc_rows(dev, 0, 3), acc)
    np.testing.assert_array_equal(out_rows(dev, 1, 3),
                                  models.requantize(acc, mult, shift, -5, relu=True))
    assert rd(dev, "PERF_MACS") == 4 * 4 * 5 + 4 * 6 * 5 + 3 * 6 * 5


BAD_COMMANDS = [
    (ErrorCode.BAD_OPCODE, {"CMD_OP": 7, "CMD_BANK": 9, "CMD_COUNT": 0}),
    (ErrorCode.BAD_BANK, {"CMD_BANK": 2, "CMD_COUNT": 0}),
    (ErrorCode.BAD_COUNT, {"CMD_COUNT": 0, "CMD_IN_ADDR": 100}),
    (ErrorCode.IN_RANGE, {"CMD_IN_ADDR": 5, "CMD_COUNT": 4, "CMD_ACC_ADDR": 6}),
    (ErrorCode.ACC_RANGE, {"CMD_ACC_ADDR": 3, "CMD_COUNT": 4, "CMD_ROWS": 0}),
    (ErrorCode.OUT_RANGE, {"CMD_OUT_ADDR": 1, "CMD_COUNT": 4, "REQUANT": 1, "CMD_ROWS": 0}),
    (ErrorCode.BAD_ROWS, {"CMD_ROWS": 0, "CMD_COLS": 0}),
    (ErrorCode.BAD_ROWS, {"CMD_ROWS": 7}),
    (ErrorCode.BAD_COLS, {"CMD_COLS": 0}),
    (ErrorCode.BAD_COLS, {"CMD_COLS": 6}),
]


@pytest.mark.parametrize("code, values", BAD_COMMANDS, ids=lambda v: getattr(v, "name", ""))
def test_bad_commands_are_rejected_and_change_nothing(code, values):
    dev = RegisterModel(G)
    load(dev, np.ones((8, 6), np.int8), np.ones((5, 6), np.int8), mult=[2**30] * 5,
         shift=[30] * 5)
    wr(dev, "CTRL", IRQ_EN=1)
    buffers = [dev.read(window(n).base, 4) for n in ("ACC", "OUT")]
    status = command(dev, **values)
    assert status == {"BUSY": 0, "DONE": 1, "ERROR": code.value}
    assert dev.irq
    assert [dev.read(window(n).base, 4) for n in ("ACC", "OUT")] == buffers
    assert rd(dev, "PERF_MACS") == 0 and rd(dev, "PERF_VECTORS") == 0
    # BUSY (and stalled) for the check cycle alone (docs/architecture.md, "A refused START")
    assert rd(dev, "PERF_BUSY") == rd(dev, "PERF_STALL") == 1
    # the next START clears ERROR and DONE before running
    wr(dev, "STATUS", DONE=1)
    assert command(dev, REQUANT=1) == {"BUSY": 0, "DONE": 1, "ERROR": 0}
    assert dev.read(window("OUT").base) == [0x0606_0606]


def test_out_range_only_checked_with_requant_and_nop_does_nothing():
    dev = RegisterModel(G)
    assert command(dev, CMD_OUT_ADDR=100)["ERROR"] == ErrorCode.NONE.value
    assert command(dev, CMD_OUT_ADDR=100, REQUANT=1)["ERROR"] == ErrorCode.OUT_RANGE.value
    assert command(dev, CMD_OP=Opcode.NOP.value, CMD_COUNT=0, CMD_BANK=50)["ERROR"] == 0
    drain = timing.drain(dev.latency, requant=False)  # the one VMM that ran had no REQUANT
    # (+ 1: the OUT_RANGE command's check cycle)
    assert rd(dev, "PERF_VECTORS") == 1 and rd(dev, "PERF_BUSY") == 1 + drain + 1


def test_pool_zero_is_bad_pool_like_the_hardware():
    """Issue 8, defect 4: with CMD_POOL = 0 and REQUANT the model said OUT_RANGE where the
    hardware says BAD_POOL (both now follow hw.spec.check; verif/hw checks the hardware)."""
    dev = RegisterModel(G)
    status = command(dev, CMD_POOL=0, REQUANT=1, CMD_COUNT=4, CMD_OUT_ADDR=G.out_depth)
    assert status["ERROR"] == ErrorCode.BAD_POOL.value
