"""cocotb test of hw.sequencer.InstructionCheck in Verilog (run by test_ecp5_sim.py): the
stimulus and the expectations of test_sequencer_check_sim.py (Amaranth's simulator), in a
simulator that also runs the check built on MULT18X18D blocks (``mult_cells="ecp5"``, with
hw.ecp5's model).

A new instruction every cycle (LOADs and STOREs at the edges of their window, of memory and of
alignment, 2-D LOADs whose last row just fits or not, VMMs, END, FENCE, reserved bits, unknown
opcodes, read errors); :data:`~hw.sequencer.InstructionCheck.LATENCY` cycles later ``failed``
must be whether :func:`hw.spec.isa.check`'s verdict (MEM_READ with a read error) is not NONE
and ``ends`` the range ends computed from the fields in Python;
:data:`~hw.sequencer.InstructionCheck.CODE_LATENCY` cycles later ``code`` must be that
verdict.
"""

import collections
import random

import cocotb

from hw.spec import ErrorCode, Geometry, isa
from verif.cocotb_util import params
from verif.hw.block_util import TIMEOUT, Cycles, logged_seed
from verif.hw.test_sequencer_check_sim import ends, instruction_words


@cocotb.test(**TIMEOUT)
async def check_equals_the_spec(dut):
    p = params()
    g = Geometry.default(**p["geometry"])
    r = random.Random(logged_seed(dut))
    cycles = Cycles(dut, ["code", "failed", "ends"])
    await cycles.start(["instr", "err"])
    given = collections.deque()     # (words, err) of the cycles before, newest last
    seen = collections.Counter()
    for k in range(p["cycles"]):
        words = instruction_words(r, g)
        err = r.random() < 0.03
        got = await cycles.step(instr=sum(w << (32 * i) for i, w in enumerate(words)), err=err)
        given.append((words, err))
        if len(given) > p["latency"]:
            old_words, old_err = given[-1 - p["latency"]]
            want = ErrorCode.MEM_READ if old_err else isa.check(isa.decode(old_words), g)
            assert got["failed"] == int(want != ErrorCode.NONE), (
                f"cycle {k}: {isa.decode(old_words)} (read error {old_err}): failed "
                f"{got['failed']}; want {want.name}")
            assert got["ends"] == ends(old_words), f"cycle {k}: {isa.decode(old_words)}"
        if len(given) <= p["code_latency"]:
            continue
        old_words, old_err = given.popleft()
        want = ErrorCode.MEM_READ if old_err else isa.check(isa.decode(old_words), g)
        seen[want.name] += 1
        assert got["code"] == want, (
            f"cycle {k}: {isa.decode(old_words)} (read error {old_err}): code {got['code']}; "
            f"want {want.name}")
    dut._log.info(f"verdicts: {dict(seen)}")
    # the rows' multiplies decide these two: each must have been seen failing and passing
    assert seen["WINDOW_RANGE"] >= 10 and seen["MEM_RANGE"] >= 10 and seen["NONE"] >= 10, seen
