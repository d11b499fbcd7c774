"""The driver on the register-level model, compared exactly with the golden model."""

import numpy as np
import pytest

import models
from hw.spec import WINDOWS, Feature, Geometry, register, window, words_for
from sw import Accelerator, AcceleratorError, Stats
from sw.driver.tiling import plan_linear
from sw.targets.regmodel import RegisterModel
from sw.targets.transport import Transport

pytestmark = pytest.mark.nosim

GEOMETRIES = {
    "4x4": Geometry.default(rows=4, cols=4),
    "8x8": Geometry.default(rows=8, cols=8),
    "16x16": Geometry.default(),
    "8x16": Geometry.default(rows=8, cols=16),
    "16x8": Geometry.default(rows=16, cols=8),
    "8x8_banks3": Geometry.default(rows=8, cols=8, banks=3),
    "8x8_banks1": Geometry.default(rows=8, cols=8, banks=1),
    "12x10": Geometry.default(rows=12, cols=10, in_depth=64, acc_depth=16, out_depth=8),
    "tiny": Geometry.default(rows=8, cols=8, in_depth=8, acc_depth=4, out_depth=4),
    "tiny_odd": Geometry.default(rows=5, cols=3, banks=3, in_depth=5, acc_depth=3, out_depth=2),
}
START = register("CTRL").pack(START=1)


def shapes(g, seed):
    """Edge shapes around the array size plus random ones."""
    r, c, a = g.rows, g.cols, g.acc_depth
    edge = [(1, 1, 1), (1, r, c), (3, r + 1, c + 1), (5, 2 * r, 2 * c), (2, 1, 3 * c + 1),
            (1, 9 * r + 3, 1), (a + 3, r, c), (2 * a + 1, 3 * r - 1, 2 * c - 1),
            (max(r - 1, 1) + 4, max(r - 1, 1), max(c - 1, 1))]
    rng = np.random.default_rng(seed)
    rand = [tuple(int(v) for v in rng.integers(1, [3 * a + 2, 4 * r + 2, 3 * c + 2]))
            for _ in range(12)]
    return edge + rand


def operands(rng, m, k, n):
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    b = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    return x, w, b


@pytest.mark.parametrize("name", GEOMETRIES)
def test_linear_matches_golden(name):
    g = GEOMETRIES[name]
    seed = sum(map(ord, name))
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    acc = Accelerator(RegisterModel(g))
    for m, k, n in shapes(g, seed):
        x, w, b = operands(rng, m, k, n)
        small_b = (b >> 12).astype(np.int32)
        scale = rng.uniform(2e-4, 5e-3, n)
        zp = int(rng.integers(-128, 128))
        cases = [
            {},
            {"b": b},
            {"scale": float(scale[0])},
            {"b": small_b, "scale": scale, "zero_point": zp, "relu": True},
            {"scale": scale, "zero_point": zp},
        ]
        for kw in cases:
            y = acc.linear(x, w, **kw)
            kw_model = dict(kw)
            ref = models.linear(x, w, kw_model.pop("b", None), **kw_model)
            assert y.dtype == ref.dtype and y.shape == (m, n)
            np.testing.assert_array_equal(y, ref, err_msg=f"{name} {(m, k, n)} {kw.keys()}")
            assert acc.stats.macs == m * k * n
            assert acc.stats.vectors == sum(s.count for s in plan_linear(
                m, k, n, g, int8="scale" in kw, bias="b" in kw, relu=kw.get("relu", False)).steps)


def test_extremes_saturate():
    """Extreme data, biases at both int32 limits that the sums (+327680) keep in range; the
    accumulators do not overflow (a call where they could is refused: test_overflow.py)."""
    acc = Accelerator.open("regmodel", rows=8, cols=8)
    x = np.full((3, 20), -128, np.int8)
    w = np.full((5, 20), -128, np.int8)
    b = np.array([2**31 - 1 - 327680, -2**31, 0, 2**31 - 327681, -1], np.int32)
    np.testing.assert_array_equal(acc.linear(x, w, b), models.linear(x, w, b))
    for scale in (2.0**-33, 1e-6, 1.0, 1000.0, 2**31 - 1):
        for zp in (-128, 0, 127):
            np.testing.assert_array_equal(
                acc.linear(x, w, b, scale=scale, zero_point=zp, relu=zp == 0),
                models.linear(x, w, b, scale=scale, zero_point=zp, relu=zp == 0))


def test_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    print("seed=3")
    x = rng.integers(-128, 128, (40, 30), dtype=np.int8)[::2, ::-1]
    w = np.asfortranarray(rng.integers(-128, 128, (17, 30), dtype=np.int8))
    acc = Accelerator.open("regmodel", rows=4, cols=4)
    np.testing.assert_array_equal(acc.linear(x, w), models.linear(x, w))


class Checker(Transport):
    """Wraps a RegisterModel and asserts the BUSY rules of the hardware on the driver's traffic:
    while a command runs only the WEIGHT banks other than its own may be written, and nothing is
    read."""

    def __init__(self, dev):
        self.dev, self.running, self.overlapped, self.starts, self.closed = dev, None, 0, 0, False
        g = dev.geometry
        self.bank_words = g.cols_p2 * g.row_words_p2

    def read(self, addr, count=1):
        assert self.running is None, f"read 0x{addr:05X} while busy"
        return self.dev.read(addr, count)

    def write(self, addr, words):
        if self.running is not None:
            base = window("WEIGHT").base
            assert base <= addr < base + window("WEIGHT").size, f"write 0x{addr:05X} while busy"
            banks = {(addr - base) // 4 // self.bank_words,
                     (addr - base) // 4 // self.bank_words + (len(words) - 1) // self.bank_words}
            assert self.running not in banks, f"write to the running bank {self.running}"
            self.overlapped += len(words)
        if addr == register("CTRL").offset and words[0] & START:
            self.running = self.dev.read(register("CMD_BANK").offset)[0]
            self.starts += 1
        self.dev.write(addr, words)

    def wait_irq(self, max_cycles):
        done = self.dev.wait_irq(max_cycles)
        if done:
            self.running = None
        return done

    def close(self):
        self.closed = True


@pytest.mark.parametrize("name", ["8x8", "8x8_banks1", "8x8_banks3", "tiny", "tiny_odd",
                                  "12x10"])
def test_double_buffering_respects_busy_rules(name):
    g = GEOMETRIES[name]
    checker = Checker(RegisterModel(g))
    seed = 21
    print(f"seed={seed}")
    m, k, n = 20, 3 * g.rows + 2, 2 * g.cols + 1
    x, w, b = operands(np.random.default_rng(seed), m, k, n)
    b >>= 8
    with Accelerator(checker) as acc:
        y = acc.linear(x, w, b, scale=0.001, relu=True)
    assert checker.closed
    np.testing.assert_array_equal(y, models.linear(x, w, b, scale=0.001, relu=True))
    plan = plan_linear(m, k, n, g, int8=True, bias=True, relu=True)
    assert checker.starts == acc.stats.commands == len(plan.steps)
    if g.banks == 1:
        assert checker.overlapped == 0
    else:  # every weight tile but the first is written while the previous command runs
        assert checker.overlapped == sum(s.cols * words_for(s.rows) for s in plan.steps[1:]
                                         if s.load_weights)


def test_medium_layer():
    seed = 8
    print(f"seed={seed}")
    x, w, b = operands(np.random.default_rng(seed), 300, 500, 70)
    b >>= 10
    acc = Accelerator.open()
    np.testing.assert_array_equal(acc.linear(x, w, b, scale=1e-4, zero_point=-3, relu=True),
                                  models.linear(x, w, b, scale=1e-4, zero_point=-3, relu=True))
    assert acc.stats.macs == 300 * 500 * 70 and acc.stats.utilization_compute > 0.5


class Counter(Checker):
    def __init__(self, dev):
        super().__init__(dev)
        self.words = {w.name: 0 for w in WINDOWS} | {"REG": 0}

    def write(self, addr, words):
        name = next((w.name for w in WINDOWS if w.base <= addr < w.base + w.size), "REG")
        self.words[name] += len(words)
        super().write(addr, words)


def test_resident_weights_written_once():
    counter = Counter(RegisterModel(rows=8, cols=8, banks=2, acc_depth=4))
    acc = Accelerator(counter)
    x, w, _ = operands(np.random.default_rng(2), 12, 16, 8)  # 2 tiles in 2 banks, 3 chunks
    np.testing.assert_array_equal(acc.linear(x, w), models.linear(x, w))
    s = acc.stats
    assert s.commands == 6 and s.macs == 12 * 16 * 8
    assert counter.words["WEIGHT"] == 2 * 8 * 2 and counter.words["IN"] == 12 * 2 * 2
    assert counter.words["PARAM"] == 0
    # the bus words after CTRL.CLEAR_COUNTERS: the 1 + 1 at construction are not counted
    assert s.bus_words_written == sum(counter.words.values()) - 2
    assert s.bus_words_read == 6 + 12 * 8  # STATUS per command, ACC


def test_without_row_mask_pads_whole_rows():
    dev = RegisterModel(rows=8, cols=4, features=Feature.BIAS.value | Feature.REQUANT.value)
    acc = Accelerator(dev)
    assert Feature.ROW_MASK not in acc.features
    x, w, b = operands(np.random.default_rng(4), 6, 13, 6)
    np.testing.assert_array_equal(acc.linear(x, w, b), models.linear(x, w, b))
    with pytest.raises(AcceleratorError, match="Feature.RELU"):
        acc.linear(x, w, scale=0.1, relu=True)


def test_stats_after_a_call():
    acc = Accelerator.open(rows=4, cols=4, dma=False)  # the register path: one command per step
    x, w, _ = operands(np.random.default_rng(1), 10, 8, 8)
    acc.linear(x, w)
    s = acc.stats
    assert isinstance(s, Stats) and s.macs == 640 and s.vectors == 40 and s.commands == 4
    assert s.cells == 16 and 0 < s.utilization_total < s.utilization_compute <= 1
    assert 0 < s.compute_cycles <= s.busy_cycles < s.cycles
    assert s.stall_cycles == s.busy_cycles - s.vectors
    assert s.bus_words_read == 10 * 8 + 4 * 1  # ACC, STATUS per command
    assert "640 MACs" in str(s) and s.as_dict()["commands"] == 4
