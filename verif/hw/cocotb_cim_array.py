"""cocotb tests of hw.cim_array.CimArray against models.cim (run by test_cim_array.py).

Every cycle, from the inputs it drove alone, the harness checks: a vector offered on ``i`` is
taken exactly in a cycle with ``i_ready``, and (offered back to back) every ``8 / B`` cycles;
``o_valid`` is high exactly ``latency`` cycles after each taking cycle and never otherwise;
``y`` then equals :func:`models.cim.cim_vmm` of that vector with its bank's weights and the
window ``shift`` driven in its taking cycle, and ``tag`` its tag; otherwise both hold; ``active``
covers those ``latency`` cycles; finally ``perf_adc`` and ``perf_rows`` equal
:func:`models.cim.counts` of the vectors taken.
"""

import cocotb
import numpy as np

from models import cim
from models.cim import CimConfig
from verif.cocotb_util import params
from verif.hw.block_util import TIMEOUT, Cycles, field_of, pack, pack_fields, rng_for, unpack

P = params()
R, C, BANKS, LATENCY = P["rows"], P["cols"], P["banks"], P["latency"]
CFG = CimConfig(**P["config"])
SHIFTS, TAG_BITS = P["shifts"], P["tag_width"]
I_FIELDS, O_FIELDS = P["payloads"]["i"], P["payloads"]["o"]
INPUTS = ("i_valid", "i_payload", "shift", "clear_counters", "w_en", "wl_en", "wl_bank",
          "wl_col", "wl_data", "wl_mask")
OUTPUTS = ("i_ready", "o_valid", "o_payload", "active", "perf_adc", "perf_rows")


class Harness:
    def __init__(self, dut, rng):
        self.dut, self.rng = dut, rng
        self.cycles = Cycles(dut, OUTPUTS)
        self.w = rng.integers(-128, 128, (BANKS, C, R), dtype=np.int8)
        self.taken = {}     # taking cycle -> (expected y, tag)
        self.last_take = None
        self.vectors = 0
        self.y = self.tag = None

    async def start(self):
        await self.cycles.start(INPUTS)
        for b in range(BANKS):
            for c in range(C):
                await self.cycles.step(wl_en=1, wl_bank=b, wl_col=c, wl_data=pack(self.w[b, c], 8),
                                       wl_mask=(1 << R) - 1)
        await self.cycles.step(wl_en=0, clear_counters=1)
        await self.cycles.step(clear_counters=0)

    async def offer(self, x, bank, shift):
        """Hold ``x`` on ``i`` until it is taken; returns the taking cycle."""
        tag = int(self.rng.integers(1 << TAG_BITS)) if TAG_BITS else 0
        payload = pack_fields(I_FIELDS, x=pack(x, 8), bank=bank, tag=tag)
        while True:
            out = await self.cycles.step(i_valid=1, i_payload=payload, shift=shift)
            k = self.cycles.cycle
            if out["i_ready"]:
                if self.last_take is not None:
                    assert k - self.last_take >= CFG.input_slices, f"cycle {k}: taken too soon"
                self.taken[k] = (cim.cim_vmm(x[None], self.w[bank], CFG, shift)[0], tag)
                self.last_take, self.vectors = k, self.vectors + 1
            self._check(k, out)
            if out["i_ready"]:
                return k

    async def idle(self, cycles=1):
        for _ in range(cycles):
            out = await self.cycles.step(
                i_valid=0, shift=int(self.rng.choice(SHIFTS)),
                i_payload=pack_fields(I_FIELDS, x=int.from_bytes(self.rng.bytes(R), "little"),
                                      bank=int(self.rng.integers(BANKS)), tag=7))
            self._check(self.cycles.cycle, out)

    def _check(self, k, out):
        active = any(k - d in self.taken for d in range(LATENCY))
        assert out["active"] == active, f"cycle {k}: active {out['active']}, expected {active}"
        due = k - LATENCY
        assert out["o_valid"] == (due in self.taken), f"cycle {k}: o_valid {out['o_valid']}"
        if out["o_payload"] is None:
            assert due not in self.taken and self.y is None, f"cycle {k}: X in o_payload"
            return
        y = unpack(field_of(O_FIELDS, out["o_payload"], "y"), 32, C)
        tag = field_of(O_FIELDS, out["o_payload"], "tag")
        if due in self.taken:
            expected, want_tag = self.taken.pop(due)
            np.testing.assert_array_equal(np.array(y, np.int64), expected,
                                          err_msg=f"cycle {k}: y of the vector taken in {due}")
            assert tag == want_tag, f"cycle {k}: tag {tag}, expected {want_tag}"
        elif self.y is not None:
            assert (y, tag) == (self.y, self.tag), f"cycle {k}: y or tag changed without o_valid"
        self.y, self.tag = y, tag

    async def finish(self):
        await self.idle(LATENCY + 2)
        assert not self.taken
        out = await self.cycles.step()
        want = cim.counts(self.vectors, R, C, CFG)
        assert out["perf_adc"] == want["adc_conversions"], (out["perf_adc"], want)
        assert out["perf_rows"] == want["row_activations"], (out["perf_rows"], want)


def _vector(rng):
    return rng.integers(-128, 128, R, dtype=np.int8)


@cocotb.test(**TIMEOUT)
async def random_vectors_gaps_and_back_to_back(dut):
    """Random vectors, banks and windows, with random gaps and runs offered back to back."""
    h = Harness(dut, rng_for(dut))
    dut._log.info(f"CimArray {R}x{C}, {BANKS} banks, {CFG}, latency {LATENCY}")
    await h.start()
    for _ in range(60):
        shift = int(h.rng.choice(SHIFTS))
        await h.offer(_vector(h.rng), int(h.rng.integers(BANKS)), shift)
        if h.rng.random() < 0.3:
            await h.idle(int(h.rng.integers(1, LATENCY + 2)))
    await h.finish()
    assert h.vectors == 60


@cocotb.test(**TIMEOUT)
async def extremes_clip(dut):
    """All -128 or all 127 inputs against all -128 or all 127 weights: the ADC's both ends."""
    h = Harness(dut, rng_for(dut))
    h.w[:] = np.where(h.rng.random((BANKS, C, R)) < 0.5, -128, 127).astype(np.int8)
    h.w[0, 0], h.w[0, -1] = -128, 127
    await h.start()
    for v in (-128, 127, -1, 64):
        for shift in SHIFTS:
            await h.offer(np.full(R, v, np.int8), 0, shift)
    await h.finish()
