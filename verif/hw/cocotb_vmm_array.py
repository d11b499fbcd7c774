"""cocotb tests of hw.vmm_array.VmmArray against models.vmm (run by test_vmm_array.py).

The vectors come in on the stream ``i`` (payload ``x``, ``bank``, ``tag``) and the sums leave on
``o`` (payload ``y``, ``tag``); each payload is one flat port, packed by the layout offsets passed
in the parameters. Every cycle the harness checks, from the inputs it drove alone:

* ``o_valid`` is high exactly ``latency`` cycles after each ``i_valid`` and never otherwise;
* ``y`` then equals ``models.vmm`` of that vector with its bank's weights and ``tag`` the tag it
  came in with; otherwise both hold their last value (idle inputs - ``x``, ``bank``, ``tag``,
  the weight port with ``w_en`` low - change nothing);
* ``active`` is high exactly in the ``latency`` cycles from a vector's ``i_valid`` to the cycle
  before its ``o_valid`` (PERF_COMPUTE counts ``count + latency - 1`` cycles per command);
* the weight read port ``r_data`` (random ``r_en``/``r_bank``/``r_col``/``r_word`` every
  cycle) shows the model's word of every written weight, and 0 outside the array:
  combinationally with the ``"ff"`` weight store (``read_latency`` 0), in the cycle after
  ``r_en`` with ``"ram"`` (1), the weights as they were before that cycle's write;
* the stage-0 registers ``x_q`` and each column's ``bank_q_c<c>`` (when the simulator shows
  them) keep still after an idle cycle, as the docstring promises for simulation speed.
"""

import cocotb
import numpy as np

from models import vmm
from verif.cocotb_util import params
from verif.hw.block_util import TIMEOUT, Cycles, field_of, pack, pack_fields, rng_for, unpack

P = params()
R, C, BANKS, LATENCY = P["rows"], P["cols"], P["banks"], P["latency"]
TAG_BITS = P["tag_width"]
READ_LATENCY = P["read_latency"]
I_FIELDS, O_FIELDS = P["payloads"]["i"], P["payloads"]["o"]
WORDS = (R + 3) // 4
BANK_BITS = (BANKS - 1).bit_length()
COL_BITS = (C - 1).bit_length()
WORD_BITS = (WORDS - 1).bit_length()
#: (the column write port wl_* is held at 0 from the start: test_vmm_array_sim.py writes it)
INPUTS = ("i_valid", "i_payload", "w_en", "w_bank", "w_col", "w_word", "w_data", "w_strb",
          "r_en", "r_bank", "r_col", "r_word", "wl_en", "wl_bank", "wl_col", "wl_data",
          "wl_mask")


class Harness:
    """Drives the array cycle by cycle, keeps the weight model and checks every output."""

    def __init__(self, dut, rng):
        self.dut, self.rng = dut, rng
        # Internal stage-0 registers, if the generated Verilog kept their names.
        self.internal = [n for n in ("x_q", *(f"bank_q_c{c}" for c in range(C)))
                         if hasattr(dut, n)]
        self.cycles = Cycles(dut, ("o_payload", "o_valid", "active", "r_data", *self.internal))
        self.last_idle = False
        self.last_internal = None
        self.w = np.zeros((BANKS, C, R), dtype=np.int8)   # the model: [bank, col, row]
        self.written = np.zeros((BANKS, C, R), dtype=bool)
        self.in_flight = {}   # issue cycle -> (expected y, tag)
        self.y = None         # y as last seen (no value is promised before the first vector)
        self.tag = None       # the same for the tag
        self.vectors = 0
        self.reads = 0        # weight words checked on the read port
        self.read_pending = None  # read_latency 1: what r_data shows next cycle (None: unknown)

    async def start(self):
        await self.cycles.start(INPUTS)

    def _junk(self, bits):
        return int.from_bytes(self.rng.bytes((bits + 7) // 8), "little") & ((1 << bits) - 1)

    async def step(self, x=None, bank=0, write=None):
        """One cycle: a vector ``x`` (int8 [R]) for ``bank``, or idle (random x and bank) if
        None; ``write`` = (bank, col, word, data, strb) or None (w_en low, random w_*)."""
        drive = {}
        tag = self._junk(TAG_BITS)
        if x is None:
            drive.update(i_valid=0, i_payload=pack_fields(
                I_FIELDS, x=self._junk(8 * R), bank=self._junk(BANK_BITS), tag=tag))
        else:
            assert x.dtype == np.int8 and x.shape == (R,)
            assert self.written[bank].all(), "every weight of the bank is written first"
            drive.update(i_valid=1, i_payload=pack_fields(I_FIELDS, x=pack(x, 8), bank=bank,
                                                          tag=tag))
            expected = vmm(x[None, :], self.w[bank])[0]
        # The read port, anywhere in its address space (out of range included).
        read = (self._junk(BANK_BITS), self._junk(COL_BITS), self._junk(WORD_BITS))
        r_en = self.rng.random() < 0.7
        drive.update(r_en=r_en, r_bank=read[0], r_col=read[1], r_word=read[2])
        if READ_LATENCY == 0:
            read_expect = self._read_model(*read)
        else:
            read_expect = self.read_pending
            if r_en:
                self.read_pending = self._read_model(*read)
        if write is None:
            drive.update(w_en=0, w_bank=self._junk(BANK_BITS), w_col=self._junk(COL_BITS),
                         w_word=self._junk(WORD_BITS), w_data=self._junk(32),
                         w_strb=self._junk(4))
        else:
            wb, wc, wd, data, strb = write
            # A write and a vector that use the same bank in one cycle: undocumented ordering.
            assert x is None or wb != bank, "the harness never writes the bank a vector uses"
            drive.update(w_en=1, w_bank=wb, w_col=wc, w_word=wd, w_data=data, w_strb=strb)
        out = await self.cycles.step(**drive)
        k = self.cycles.cycle
        if x is not None:
            self.in_flight[k] = (expected, tag)
            self.vectors += 1
        if read_expect is not None:   # the weights as before the read's cycle's write
            assert out["r_data"] == read_expect, \
                f"cycle {k}: r_data = {out['r_data']}, expected {read_expect}"
            self.reads += 1
        if write is not None:
            self._model_write(*write)
        self._check(k, out)
        internal = [out[n] for n in self.internal]
        if self.last_idle:
            assert internal == self.last_internal, \
                f"cycle {k}: {self.internal} changed after an idle cycle"
        self.last_idle, self.last_internal = x is None, internal

    def _model_write(self, bank, col, word, data, strb):
        for lane in range(4):
            r = 4 * word + lane
            if strb >> lane & 1 and r < R:
                self.w[bank, col, r] = np.int8(unpack(data >> 8 * lane, 8, 1)[0])
                self.written[bank, col, r] = True

    def _read_model(self, bank, col, word):
        """The expected r_data, or None when some weight of that word was never written."""
        if bank >= BANKS or col >= C or word >= WORDS:
            return 0
        rows = range(4 * word, min(4 * word + 4, R))
        if not all(self.written[bank, col, r] for r in rows):
            return None
        return pack([self.w[bank, col, r] for r in rows], 8)

    def _check(self, k, out):
        where = f"cycle {k}"
        payload = out["o_payload"]
        out = dict(out, y_valid=out["o_valid"],
                   y=None if payload is None else field_of(O_FIELDS, payload, "y"),
                   tag=None if payload is None else field_of(O_FIELDS, payload, "tag"))
        active = any(k - d in self.in_flight for d in range(LATENCY))
        assert out["active"] == active, f"{where}: active={out['active']}, expected {active}"
        issued = k - LATENCY
        assert out["y_valid"] == (issued in self.in_flight), \
            f"{where}: y_valid={out['y_valid']}, vector issued at {issued}: " \
            f"{issued in self.in_flight}"
        if out["y"] is None and self.y is None and issued not in self.in_flight:
            return
        assert out["y"] is not None, f"{where}: y has X/Z bits"
        y = unpack(out["y"], 32, C)
        if issued in self.in_flight:
            expected, tag = self.in_flight.pop(issued)
            np.testing.assert_array_equal(
                np.array(y, dtype=np.int64), expected,
                err_msg=f"{where}: y of the vector issued in cycle {issued}")
            assert out["tag"] == tag, f"{where}: tag {out['tag']}, expected {tag}"
        elif self.y is not None:
            assert y == self.y, f"{where}: y changed without o_valid: {y} (was {self.y})"
            assert out["tag"] == self.tag, f"{where}: tag changed without o_valid"
        self.y, self.tag = y, out["tag"]

    async def drain(self, extra=2):
        for _ in range(LATENCY + extra):
            await self.step()
        assert not self.in_flight

    # --- stimulus ---------------------------------------------------------------------------

    def random_weights(self):
        return self.rng.integers(-128, 128, (C, R), dtype=np.int8)

    def random_vector(self):
        return self.rng.integers(-128, 128, R, dtype=np.int8)

    @staticmethod
    def words_of(col_weights):
        """One column's weights (int8 [R]) -> its words, row 4w in bits 7:0 of word w."""
        padded = np.zeros(4 * WORDS, dtype=np.int8)
        padded[:R] = col_weights
        return [pack(padded[4 * w:4 * w + 4], 8) for w in range(WORDS)]

    def load_writes(self, bank, w, order=None):
        """Full-strobe writes of w (int8 [C, R]) into ``bank``, in ``order`` (default random)."""
        writes = [(bank, c, wd, word, 0xF) for c in range(C)
                  for wd, word in enumerate(self.words_of(w[c]))]
        if order is None:
            order = self.rng.permutation(len(writes))
        return [writes[i] for i in order]


async def started(dut):
    h = Harness(dut, rng_for(dut))
    dut._log.info(f"VmmArray {R}x{C}, {BANKS} banks, latency {LATENCY}, weight store "
                  f"{P['weight_store']}; "
                  f"internal registers checked: {h.internal}")
    await h.start()
    return h


async def load_all_banks(h):
    for b in range(BANKS):
        for write in h.load_writes(b, h.random_weights()):
            await h.step(write=write)
    assert h.written.all()


@cocotb.test(**TIMEOUT)
async def weights_then_random_vectors(dut):
    """Every bank loaded through w_*, partial strobes, then vectors back-to-back and with gaps."""
    h = await started(dut)
    await load_all_banks(h)
    # Partial strobes (strobe 0 included): only the selected bytes of existing rows change.
    for _ in range(3 * C * WORDS):
        write = (int(h.rng.integers(BANKS)), int(h.rng.integers(C)), int(h.rng.integers(WORDS)),
                 int(h.rng.integers(1 << 32)), int(h.rng.integers(16)))
        await h.step(write=write)
    # A write to word/column/bank with w_en low changes nothing: the junk of every step above.
    # Back-to-back vectors, one per cycle (each step is one clock cycle, and every y is checked
    # exactly LATENCY cycles after its x: throughput 1/cycle), banks alternating per vector.
    for i in range(4 * BANKS + 2 * LATENCY + 8):
        await h.step(x=h.random_vector(), bank=i % BANKS)
    # Random gaps and random banks; the gaps carry random x/bank/w_* junk.
    for _ in range(60):
        if h.rng.random() < 0.6:
            await h.step(x=h.random_vector(), bank=int(h.rng.integers(BANKS)))
        else:
            await h.step()
    await h.drain()
    # Idle for a while: y holds its last value (checked every step).
    for _ in range(20):
        await h.step()
    dut._log.info(f"{h.vectors} vectors in {h.cycles.cycle + 1} cycles, {h.reads} weight "
                  "words read back")
    assert h.reads > 0


@cocotb.test(**TIMEOUT)
async def double_buffering(dut):
    """A bank is rewritten while vectors stream through another one, every cycle."""
    h = await started(dut)
    await load_all_banks(h)
    for phase in range(BANKS + 1):
        use, load = phase % BANKS, (phase + 1) % BANKS
        writes = h.load_writes(load, h.random_weights())
        # Partial strobes on top of the load, in the same stream.
        writes += [(load, int(h.rng.integers(C)), int(h.rng.integers(WORDS)),
                    int(h.rng.integers(1 << 32)), int(h.rng.integers(16))) for _ in range(C)]
        for write in writes:
            await h.step(x=h.random_vector(), bank=use, write=write)
        # The freshly loaded bank at once, then the old one, alternating.
        for i in range(2 * LATENCY + 2):
            await h.step(x=h.random_vector(), bank=load if i % 2 == 0 else use)
    await h.drain()


@cocotb.test(**TIMEOUT)
async def extremes(dut):
    """-128/127 in x and in every weight: |y| up to R * 2**14, exact, in every bank."""
    h = await started(dut)
    patterns = [np.full((C, R), -128, np.int8), np.full((C, R), 127, np.int8)]
    checker = np.where((np.arange(C)[:, None] + np.arange(R)[None, :]) % 2, 127, -128)
    patterns.append(checker.astype(np.int8))
    for b in range(BANKS):
        for write in h.load_writes(b, patterns[b % len(patterns)], order=range(C * WORDS)):
            await h.step(write=write)
    vectors = [np.full(R, -128, np.int8), np.full(R, 127, np.int8),
               np.where(np.arange(R) % 2, -128, 127).astype(np.int8), np.zeros(R, np.int8)]
    for b in range(BANKS):
        for x in vectors:
            await h.step(x=x, bank=b)
    # Back-to-back, bank and vector both changing every cycle.
    for i in range(2 * len(vectors) * BANKS):
        await h.step(x=vectors[i % len(vectors)], bank=(i // len(vectors) + i) % BANKS)
    await h.drain()
    # The documented bound is reached: -128 * -128 * R in bank 0 (all -128) with x all -128.
    assert int(vmm(vectors[0][None], patterns[0])[0, 0]) == R * 2**14
    # Now a bank gets -128 everywhere through partial strobes only, one byte lane at a time.
    target = BANKS - 1
    for c in range(C):
        for wd in range(WORDS):
            for lane in range(4):
                await h.step(write=(target, c, wd, 0x80 << 8 * lane, 1 << lane))
    assert (h.w[target] == -128).all()
    for x in vectors:
        await h.step(x=x, bank=target)
    await h.drain()
