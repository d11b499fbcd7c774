# amaranth: UnusedElaboratable=no
"""hw.sequencer.InstructionQueue against Amaranth's SyncFIFOBuffered, cycle by cycle.

Both get the same random writes and reads (random fill levels, reads of an empty queue and
writes to a full one included); every cycle their ``w_rdy``, ``r_rdy``, ``level`` and
``r_data`` must agree, and the late part at ``r_data`` must be the value given on ``late`` in
the cycle after that entry's write (the reference queue carries it in the entry itself),
with none, some or all of the late part registered before its memory (``registered_late``).
"""

import pytest
from amaranth import Module
from amaranth.lib.fifo import SyncFIFOBuffered

from hw.sequencer import InstructionQueue
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit

WIDTH, LATE = 8, 4


@pytest.mark.parametrize("registered_late", [0, 1, LATE])
@pytest.mark.parametrize("depth", [2, 3, 8])
@pytest.mark.parametrize("write_rate, read_rate", [(0.5, 0.5), (0.8, 0.3), (0.3, 0.9)])
def test_the_queue_equals_sync_fifo_buffered(depth, write_rate, read_rate, registered_late):
    r = rng(depth)
    m = Module()
    m.submodules.dut = dut = InstructionQueue(width=WIDTH, late_width=LATE, depth=depth,
                                              registered_late=registered_late)
    m.submodules.ref = ref = SyncFIFOBuffered(width=WIDTH + LATE, depth=depth)
    stats = {"writes": 0, "reads": 0, "full": 0, "read_after_two": 0}

    async def tb(ctx):
        pending = None    # (entry, late part) written last cycle
        written_at = {}
        for cycle in range(3000):
            w_en, r_en = r.random() < write_rate, r.random() < read_rate
            entry = (cycle * 37) % (1 << WIDTH)
            late = r.randrange(1 << LATE)
            ctx.set(dut.w_en, w_en)
            ctx.set(dut.w_data, entry)
            ctx.set(dut.late, pending[1] if pending else r.randrange(1 << LATE))
            ctx.set(ref.w_en, w_en)
            ctx.set(ref.w_data, entry | (late << WIDTH))
            ctx.set(dut.r_en, r_en)
            ctx.set(ref.r_en, r_en)
            for name in ("w_rdy", "r_rdy", "level"):
                assert ctx.get(getattr(dut, name)) == ctx.get(getattr(ref, name)), \
                    f"{name}, cycle {cycle}"
            if ctx.get(ref.r_rdy):
                assert ctx.get(dut.r_data) == ctx.get(ref.r_data), f"r_data, cycle {cycle}"
                if r_en:
                    stats["reads"] += 1
                    head = ctx.get(ref.r_data) & ((1 << WIDTH) - 1)
                    stats["read_after_two"] += written_at.pop(head, None) == cycle - 2
            accepted = w_en and ctx.get(ref.w_rdy)
            stats["writes"] += accepted
            stats["full"] += w_en and not ctx.get(ref.w_rdy)
            if accepted:
                written_at[entry] = cycle
            pending = (entry, late) if accepted else None
            await ctx.tick()

    simulate(m, tb)
    print(stats)
    assert min(stats["writes"], stats["reads"]) > 300
    assert stats["read_after_two"] > 10 or read_rate < 0.5


def test_the_queue_checks_its_depth():
    with pytest.raises(ValueError, match="depth must be >= 2"):
        InstructionQueue(width=8, late_width=1, depth=1)
    with pytest.raises(ValueError, match=r"registered_late must be 0\.\.1"):
        InstructionQueue(width=8, late_width=1, depth=2, registered_late=2)
