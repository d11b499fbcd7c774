"""cocotb tests of hw.accumulator.Accumulator (run by test_accumulator.py).

The model is the docstring's rule, in NumPy with int32 wrap-around (models.wrap_int32)::

    base = acc[i_addr] if accumulate else (bias if use_bias else 0)
    acc[i_addr] = base + i_sums

applied row by row in arrival order, so back-to-back rows to one address see each other. Rows
come in on the stream ``i`` (payload ``addr``, ``sums``, ``tag``) and leave on ``o`` (payload
``data``, ``tag``), each payload one flat port packed by the layout offsets passed in the
parameters. Every cycle the harness checks ``o_valid`` and the row's ``data``/``tag`` one cycle
(``LATENCY``) after each row, and ``rd_data`` one cycle after each ``rd_en`` and until the next
one. Inputs of idle cycles (``i_valid`` or ``rd_en`` low) are random junk.
"""

import cocotb
import numpy as np

from models import wrap_int32
from verif.cocotb_util import params
from verif.hw.block_util import (
    TIMEOUT,
    Cycles,
    field_of,
    pack,
    pack_fields,
    pop_issued,
    rng_for,
    unpack,
)

P = params()
COLS, DEPTH, TAG_BITS, LATENCY = P["cols"], P["depth"], P["tag_width"], P["latency"]
I_FIELDS, O_FIELDS = P["payloads"]["i"], P["payloads"]["o"]
ADDR_BITS = (DEPTH - 1).bit_length()
INPUTS = ("i_valid", "i_payload", "accumulate", "use_bias", "bias", "rd_addr", "rd_en")
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1

OVERWRITE, BIAS, ACCUMULATE = "overwrite", "bias", "accumulate"
MODES = (OVERWRITE, BIAS, ACCUMULATE)


class Harness:
    def __init__(self, dut, rng):
        self.dut, self.rng = dut, rng
        self.cycles = Cycles(dut, ("o_valid", "o_payload", "rd_data"))
        self.acc = np.zeros((DEPTH, COLS), dtype=np.int32)  # the model
        self.known = np.zeros(DEPTH, dtype=bool)             # written since reset
        self.rows = {}          # issue cycle -> (expected row, tag)
        self.last_addr = None   # address of the row issued in the previous cycle
        self.read_expect = {}   # rd_en cycle -> expected row
        self.rd_data = None     # what rd_data must hold now (None: nothing read yet)

    async def start(self):
        await self.cycles.start(INPUTS)

    def _junk(self, bits):
        return int.from_bytes(self.rng.bytes((bits + 7) // 8), "little") & ((1 << bits) - 1)

    def random_sums(self, extreme=0.2):
        """int32 [COLS]: full range, with INT32_MIN/MAX, 0 and +-1 mixed in."""
        s = self.rng.integers(INT32_MIN, INT32_MAX + 1, COLS, dtype=np.int64)
        corners = np.array([INT32_MIN, INT32_MAX, 0, 1, -1], dtype=np.int64)
        pick = self.rng.random(COLS) < extreme
        s[pick] = self.rng.choice(corners, pick.sum())
        return s.astype(np.int32)

    async def step(self, row=None, read=None):
        """One cycle. ``row`` = (addr, sums int32 [COLS], mode, bias int32 [COLS], tag) or None;
        ``read`` = address for ``rd_en`` or None."""
        drive = {}
        if row is None:
            payload = pack_fields(I_FIELDS, addr=self._junk(ADDR_BITS),
                                  sums=self._junk(32 * COLS), tag=self._junk(TAG_BITS))
            drive.update(i_valid=0, i_payload=payload, accumulate=self._junk(1),
                         use_bias=self._junk(1), bias=self._junk(32 * COLS))
        else:
            addr, sums, mode, bias, tag = row
            use_bias = 1 if mode == BIAS else 0 if mode == OVERWRITE else self._junk(1)
            payload = pack_fields(I_FIELDS, addr=addr, sums=pack(sums, 32), tag=tag)
            drive.update(i_valid=1, i_payload=payload,
                         accumulate=int(mode == ACCUMULATE), use_bias=use_bias,
                         bias=pack(bias, 32))
        if read is None:
            drive.update(rd_en=0, rd_addr=self._junk(ADDR_BITS))
        else:
            assert read != self.last_addr, "a read of the row written in the same cycle"
            drive.update(rd_en=1, rd_addr=read)
        out = await self.cycles.step(**drive)
        k = self.cycles.cycle

        # The model, in the order the hardware sees things: the bus read port sees every row
        # written before this cycle (rows issued up to k - 2, and k - 1 is another address).
        if read is not None:
            assert self.known[read], "reads only of rows written since reset"
            self.read_expect[k] = self.acc[read].copy()
        self.last_addr = None
        if row is not None:
            if mode == ACCUMULATE:
                assert self.known[addr], "accumulates only onto rows written since reset"
                base = self.acc[addr].astype(np.int64)
            elif mode == BIAS:
                base = np.asarray(bias, dtype=np.int64)
            else:
                base = np.zeros(COLS, dtype=np.int64)
            self.acc[addr] = wrap_int32(base + np.asarray(sums, dtype=np.int64))
            self.known[addr] = True
            self.rows[k] = (self.acc[addr].copy(), tag)
            self.last_addr = addr
        self._check(k, out)

    def _check(self, k, out):
        where = f"cycle {k}"
        row = pop_issued(self.rows, k, LATENCY, out["o_valid"])
        if row is not None:
            expected, tag = row
            assert out["o_payload"] is not None, f"{where}: o_payload has X/Z bits"
            data = field_of(O_FIELDS, out["o_payload"], "data")
            np.testing.assert_array_equal(np.array(unpack(data, 32, COLS), np.int32),
                                          expected, err_msg=f"{where}: o data")
            got = field_of(O_FIELDS, out["o_payload"], "tag")
            assert got == tag, f"{where}: o tag={got}, expected {tag}"
        if k - 1 in self.read_expect:
            self.rd_data = self.read_expect.pop(k - 1)
        if self.rd_data is not None:
            assert out["rd_data"] is not None, f"{where}: rd_data has X/Z bits"
            np.testing.assert_array_equal(np.array(unpack(out["rd_data"], 32, COLS), np.int32),
                                          self.rd_data, err_msg=f"{where}: rd_data")

    async def idle(self, cycles=LATENCY + 1):
        for _ in range(cycles):
            await self.step()
        assert not self.rows

    def row(self, addr, mode, sums=None, bias=None):
        sums = self.random_sums() if sums is None else np.asarray(sums, np.int32)
        bias = self.random_sums() if bias is None else np.asarray(bias, np.int32)
        return addr, sums, mode, bias, self._junk(TAG_BITS)

    async def read_all(self, back_to_back=True):
        if self.last_addr is not None:
            await self.step()   # not the row being written in this cycle
        for a in range(DEPTH):
            if self.known[a]:
                await self.step(read=a)
                if not back_to_back:
                    await self.step()
        await self.step()


async def started(dut):
    h = Harness(dut, rng_for(dut))
    dut._log.info(f"Accumulator cols={COLS} depth={DEPTH} tag_width={TAG_BITS}")
    await h.start()
    return h


async def fill(h, mode=OVERWRITE):
    for a in h.rng.permutation(DEPTH):
        await h.step(row=h.row(int(a), mode))


@cocotb.test(**TIMEOUT)
async def overwrite_bias_accumulate(dut):
    """Each mode alone, then a random mode, bias and address per row, back to back."""
    h = await started(dut)
    await fill(h, OVERWRITE)
    await h.read_all()
    await fill(h, BIAS)
    await h.read_all(back_to_back=False)
    for a in range(DEPTH):
        await h.step(row=h.row(a, ACCUMULATE))
    await h.read_all()
    # Every row picks its own mode, bias and address: modes sampled with the row they go with.
    for _ in range(8 * DEPTH):
        await h.step(row=h.row(int(h.rng.integers(DEPTH)), h.rng.choice(MODES)))
    await h.idle()
    await h.read_all()


@cocotb.test(**TIMEOUT)
async def same_and_different_addresses(dut):
    """Back-to-back rows to one address (read-modify-write hazards), A B A, A _ A, gaps."""
    h = await started(dut)
    await fill(h)
    a, b = 1 % DEPTH, (DEPTH - 2) % DEPTH
    # One address, every cycle, accumulating: each row sees the one just before it.
    for i in range(6):
        await h.step(row=h.row(a, ACCUMULATE if i else BIAS))
    # Overwrite then accumulate, bias then accumulate on one address, back to back.
    for first in (OVERWRITE, BIAS):
        await h.step(row=h.row(b, first))
        await h.step(row=h.row(b, ACCUMULATE))
    # A B A and A _ A.
    for pattern in ((a, b, a), (b, None, b), (a, b, a, b, a)):
        for addr in pattern:
            await h.step(row=None if addr is None else h.row(addr, ACCUMULATE))
    # Random bursts over a few addresses with random gaps.
    hot = h.rng.choice(DEPTH, size=min(3, DEPTH), replace=False)
    for _ in range(6 * DEPTH):
        if h.rng.random() < 0.2:
            await h.step()
        else:
            await h.step(row=h.row(int(h.rng.choice(hot)), h.rng.choice(MODES)))
    await h.idle()
    await h.read_all()


@cocotb.test(**TIMEOUT)
async def int32_wraparound(dut):
    """int32 two's complement wrap in every mode, in both directions."""
    h = await started(dut)
    await fill(h)
    ones = np.ones(COLS, np.int32)
    top, bottom = np.full(COLS, INT32_MAX, np.int32), np.full(COLS, INT32_MIN, np.int32)
    a = 0
    await h.step(row=h.row(a, OVERWRITE, sums=top))
    await h.step(row=h.row(a, ACCUMULATE, sums=ones))                # MAX + 1 -> MIN
    await h.step(row=h.row(a, ACCUMULATE, sums=-ones))               # MIN - 1 -> MAX
    await h.step(row=h.row(a, ACCUMULATE, sums=top))                 # MAX + MAX -> -2
    await h.step(row=h.row(a, ACCUMULATE, sums=bottom))              # -2 + MIN -> MAX - 1
    await h.step(row=h.row(a, BIAS, sums=bottom, bias=bottom))       # MIN + MIN -> 0
    await h.step(row=h.row(a, BIAS, sums=top, bias=ones))            # bias wraps too
    await h.step(row=h.row(a, BIAS, sums=-ones, bias=bottom))
    for _ in range(10):   # back-to-back accumulation of extremes
        await h.step(row=h.row(a, ACCUMULATE, sums=h.random_sums(extreme=0.8)))
    await h.idle()
    assert h.acc[a].dtype == np.int32
    await h.read_all()


@cocotb.test(**TIMEOUT)
async def bus_read_port(dut):
    """rd_data one cycle after rd_en, holding until the next rd_en; reads while rows stream."""
    h = await started(dut)
    await fill(h)
    await h.read_all()
    await h.read_all(back_to_back=False)
    for a in h.rng.permutation(DEPTH):   # rd_en once, then held with rd_addr changing
        await h.step(read=int(a))
        for _ in range(3):
            await h.step()
    # Reads of other rows while rows stream in every cycle.
    for _ in range(6 * DEPTH):
        addr = int(h.rng.integers(DEPTH))
        read = None
        if DEPTH > 1 and h.rng.random() < 0.7:
            read = int(h.rng.choice([r for r in range(DEPTH) if r != h.last_addr]))
        await h.step(row=h.row(addr, h.rng.choice(MODES)), read=read)
    await h.idle()
    await h.read_all()
