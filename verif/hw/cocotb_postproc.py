"""cocotb tests of hw.postproc.PostProcess (Requantize -> Lut -> GroupMax -> Relu) with the LUT
off and pooling 1, and of hw.pp.requant.Requantize alone, against models.requantize (run by
test_postproc.py; ``params()["top"]`` says which block is simulated).

Every cycle the harness checks that ``o_valid`` is high exactly ``latency`` cycles after each
``i_valid`` and never otherwise, and that the row then equals ``models.requantize`` of the row's
accumulators with the parameters of its batch. The row address: Requantize carries it along
unchanged (random addresses here); PostProcess sends out the row's index within its command
(counted from the row that came with ``restart``) divided by the pooling group, here 1, while
the input carries the same index, as the accelerator drives it. ``mult``, ``shift``,
``zero_point`` and ``relu`` are held for a batch of rows and changed between batches, once the
pipeline is empty.
"""

import cocotb
import numpy as np

from models import MULT_MAX, SHIFT_MAX, requantize
from verif.cocotb_util import params
from verif.hw.block_util import TIMEOUT, Cycles, pack, pop_issued, rng_for, unpack

P = params()
TOP, COLS, ADDR_BITS, LATENCY = P["top"], P["cols"], P["addr_width"], P["latency"]
POSTPROC = TOP == "postproc"
INPUTS = ("i_valid", "i_payload", "mult", "shift", "zero_point")
if POSTPROC:
    INPUTS += ("lut", "relu", "pool", "restart", "lut_w_en", "lut_w_word", "lut_w_data",
               "lut_w_strb", "lut_r_word")
RELU = (False, True) if POSTPROC else (False,)
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
ZERO_POINTS = (-128, 0, 127)
CORNER_MULTS = (0, 1, MULT_MAX)
CORNER_SHIFTS = (0, 1, 31, SHIFT_MAX)


class Harness:
    def __init__(self, dut, rng):
        self.dut, self.rng = dut, rng
        self.cycles = Cycles(dut, ("o_valid", "o_payload"))
        self.rows = {}     # issue cycle -> (expected int8 [COLS], expected addr)
        self.config = None
        self.index = 0     # rows since restart (PostProcess numbers its output rows so)
        self.count = 0
        self.seen = set()  # expected output values so far (the stimulus's coverage)

    async def start(self):
        await self.cycles.start(INPUTS)
        if POSTPROC:
            await self.cycles.step(pool=1, lut=0, relu=0)

    def _junk(self, bits):
        return int.from_bytes(self.rng.bytes((bits + 7) // 8), "little") & ((1 << bits) - 1)

    async def batch(self, mult, shift, zero_point, relu, rows, gaps=0.0):
        """Drive ``rows`` (int32 [n, COLS]) with one parameter set, then drain.

        ``gaps``: probability of an idle cycle (random payload) before each row."""
        mult = np.asarray(mult, np.int64)
        shift = np.asarray(shift, np.int64)
        assert mult.shape == shift.shape == (COLS,)
        assert len(rows) < 2**ADDR_BITS, "the row index must not wrap within a batch"
        self.config = dict(mult=mult, shift=shift, zero_point=zero_point, relu=relu)
        config = dict(mult=pack(mult, 31), shift=pack(shift, 6), zero_point=zero_point & 0xFF)
        if POSTPROC:
            config.update(relu=int(relu), restart=0)
            self.index = 0
        await self.step(**config)
        for j, acc in enumerate(rows):
            while self.rng.random() < gaps:
                await self.step()
            # restart comes with a command's first row: its row index is 0 again
            extra = {"restart": int(j == 0)} if POSTPROC else {}
            await self.step(acc=np.asarray(acc, np.int32), **extra)

        for _ in range(LATENCY + 1):
            await self.step()
        assert not self.rows

    async def step(self, acc=None, **drive):
        if acc is None:
            drive.update(i_valid=0, i_payload=self._junk(ADDR_BITS + 32 * COLS))
        else:
            addr = self.index if POSTPROC else self._junk(ADDR_BITS)
            drive.update(i_valid=1, i_payload=addr | pack(acc, 32) << ADDR_BITS)
            c = self.config
            expected = requantize(acc[None, :], c["mult"], c["shift"], c["zero_point"],
                                  relu=c["relu"])[0]
            self.index += 1
            self.seen.update(int(v) for v in expected)
        out = await self.cycles.step(**drive)
        k = self.cycles.cycle
        if acc is not None:
            self.rows[k] = (expected, addr)
            self.count += 1
        self._check(k, out)

    def _check(self, k, out):
        where = f"cycle {k}"
        issued = k - LATENCY
        row = pop_issued(self.rows, k, LATENCY, out["o_valid"])
        if row is not None:
            expected, addr = row
            payload = out["o_payload"]
            assert payload is not None, f"{where}: o_payload has X/Z bits"
            got_addr = payload & ((1 << ADDR_BITS) - 1)
            got = np.array(unpack(payload >> ADDR_BITS, 8, COLS), dtype=np.int8)
            np.testing.assert_array_equal(
                got, expected, err_msg=f"{where}: row issued in cycle {issued}, {self.config}")
            assert got_addr == addr, f"{where}: addr {got_addr}, expected {addr}"

    # --- stimulus ---------------------------------------------------------------------------

    def targeted(self, mult, shift, n, spread=400):
        """int32 [n, COLS] whose requantized values mostly land within +-spread of zero (so the
        rounding and both saturations are all exercised), with int32 corners mixed in."""
        acc = np.empty((n, COLS), np.int64)
        for c in range(COLS):
            m, s = int(mult[c]), int(shift[c])
            t = self.rng.uniform(-spread, spread, n)
            col = (np.rint(t * 2.0**s / m) if m else self.rng.uniform(INT32_MIN, INT32_MAX, n))
            col = col + self.rng.integers(-2, 3, n)
            acc[:, c] = np.clip(col, INT32_MIN, INT32_MAX)
        corners = np.array([INT32_MIN, INT32_MAX, 0, 1, -1, INT32_MIN + 1], np.int64)
        pick = self.rng.random((n, COLS)) < 0.1
        acc[pick] = self.rng.choice(corners, pick.sum())
        return acc.astype(np.int32)

    def random_params(self):
        mult = np.where(self.rng.random(COLS) < 0.7,
                        self.rng.integers(2**30, MULT_MAX + 1, COLS),
                        self.rng.integers(0, MULT_MAX + 1, COLS))
        shift = np.where(self.rng.random(COLS) < 0.7, self.rng.integers(28, 48, COLS),
                         self.rng.integers(0, SHIFT_MAX + 1, COLS))
        return mult.astype(np.int64), shift.astype(np.int64)


async def started(dut):
    h = Harness(dut, rng_for(dut))
    dut._log.info(f"{TOP}: cols={COLS} addr_width={ADDR_BITS} latency={LATENCY}")
    await h.start()
    return h


def tie(rng, shift, n):
    """(mult, acc [n]) with acc * mult exactly halfway between two multiples of 2**shift:
    mult = m * 2**j, acc = a * 2**i, m and a odd, i + j = shift - 1."""
    m = int(rng.choice([1, 3, 5, 7, 9, 15]))
    j = min(shift - 1, 31 - m.bit_length())
    i = shift - 1 - j
    assert i <= 20, f"no small tie for shift {shift}"
    a_max = max(1, 601 // m)
    a = rng.integers(-a_max, a_max + 1, n) | 1     # odd, both signs
    mult, acc = m << j, a.astype(np.int64) << i
    assert mult <= MULT_MAX and (np.abs(acc) <= INT32_MAX).all()
    assert ((acc * mult) % 2**shift == 2**(shift - 1)).all(), "not a tie"
    return mult, acc


@cocotb.test(**TIMEOUT)
async def rounding_ties(dut):
    """Products exactly on .5 in both signs: half up, so 2.5 -> 3 and -2.5 -> -2."""
    h = await started(dut)
    # The smallest case by hand: mult 1, shift 1, acc -9..9 (every odd acc is a tie).
    acc = np.arange(-9, 10, dtype=np.int32)
    rows = np.repeat(acc[:, None], COLS, axis=1)
    await h.batch(np.ones(COLS), np.ones(COLS), 0, False, rows)
    assert list(requantize(np.array([5, -5], np.int32), 1, 1)) == [3, -2]   # the golden's rule
    # mult 3, shift 2: acc = +-2 gives +-1.5.
    await h.batch(np.full(COLS, 3), np.full(COLS, 2), 0, False,
                  np.array([[2] * COLS, [-2] * COLS, [6] * COLS, [-6] * COLS], np.int32))
    # Ties at many shifts: every column its own shift, every row a tie in every column.
    for zp in ZERO_POINTS:
        shifts = h.rng.integers(1, 50, COLS)
        shifts[0] = 31
        if COLS > 1:
            shifts[1] = 1
        mult, rows = np.zeros(COLS, np.int64), np.zeros((24, COLS), np.int64)
        for c, s in enumerate(shifts):
            mult[c], rows[:, c] = tie(h.rng, int(s), len(rows))
        await h.batch(mult, shifts, zp, False, rows.astype(np.int32))
    assert {-128, 127} <= h.seen and len(h.seen) > 50


@cocotb.test(**TIMEOUT)
async def corner_parameters(dut):
    """mult 0/1/2**31-1, shift 0/1/31/63, zero point -128/0/127, ReLU on and off, saturation
    at both ends (int32 extremes with mult 2**31-1 and shift 0 included)."""
    h = await started(dut)
    combos = [(m, s) for m in CORNER_MULTS for s in CORNER_SHIFTS]
    for zp in ZERO_POINTS:
        for relu in RELU:
            for first in range(0, len(combos), COLS):
                pick = [combos[(first + c) % len(combos)] for c in range(COLS)]
                mult = np.array([m for m, _ in pick], np.int64)
                shift = np.array([s for _, s in pick], np.int64)
                rows = h.targeted(mult, shift, 10)
                rows[0], rows[1] = INT32_MAX, INT32_MIN
                await h.batch(mult, shift, zp, relu, rows)
    assert {-128, 127} <= h.seen, "both saturation ends reached"


@cocotb.test(**TIMEOUT)
async def random_parameters_back_to_back(dut):
    """Random per-column parameters, rows every cycle and with random gaps."""
    h = await started(dut)
    for b in range(8):
        mult, shift = h.random_params()
        zp = int(h.rng.integers(-128, 128))
        relu = bool(h.rng.integers(2)) and POSTPROC
        await h.batch(mult, shift, zp, relu, h.targeted(mult, shift, 24),
                      gaps=0.0 if b % 2 == 0 else 0.3)
    dut._log.info(f"{h.count} rows")
