# amaranth: UnusedElaboratable=no
"""hw.sequencer.LoadRows against the row count it replaces, cycle by cycle.

The reference counts the rows handed out in ``row`` and compares it every cycle:
``first``/``mem_addr`` are the head's fields in row 0, else the registers set as the row
before was handed out (``+ skip``, ``+ pitch``), ``end`` is ``first + count`` and ``last`` is
``~is_load | (row + 1 >= rows)``. Both get the same random heads (LOADs of 0 to 5 rows and
other instructions, new only while the row count is 0, as the sequencer's queue head), steps
and restarts (the head's ``head_end``, first + count, and ``one_row``, rows <= 1, given with
it as the sequencer's queue gives them); every cycle their outputs must agree.
"""

import pytest

from hw.sequencer import LoadRows
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit


class Reference:
    """The row count of the sequencer before LoadRows: ``row == 0`` and ``row + 1 >= rows``
    computed from the count."""

    def __init__(self):
        self.row, self.row_first, self.row_addr = 0, 0, 0

    def outputs(self, head):
        first = head["head_first"] if self.row == 0 else self.row_first
        mem_addr = head["head_addr"] if self.row == 0 else self.row_addr
        last = (not head["is_load"]) or self.row + 1 >= head["rows"]
        return {"first": first, "end": first + head["count"], "mem_addr": mem_addr,
                "last": int(last)}

    def clock(self, head, step, restart):
        out = self.outputs(head)
        if restart:
            self.row = 0
        elif step:
            self.row = 0 if out["last"] else self.row + 1
            self.row_first = (out["first"] + head["skip"]) & 0xFFFF
            self.row_addr = (out["mem_addr"] + head["pitch"]) & 0xFFFF_FFFF


def _head(r):
    near_top = r.random() < 0.2     # fields near their widths' limits: the sums wrap or carry
    head = {"is_load": int(r.random() < 0.7), "rows": r.choice([0, 1, 2, 3, 5, 0xFFFF]),
            "head_first": r.randrange(0xFFF0, 0x10000) if near_top else r.randrange(64),
            "count": r.randrange(0xFFF0, 0x10000) if near_top else r.randrange(1, 16),
            "skip": r.randrange(0xFFF0, 0x10000) if near_top else r.randrange(32),
            "head_addr": r.randrange(1 << 32), "pitch": r.randrange(1 << 20)}
    # the first row's end and whether it is one row come with the head (the sequencer's
    # queue entry carries them)
    head["head_end"] = head["head_first"] + head["count"]
    head["one_row"] = int(head["rows"] <= 1)
    return head


@pytest.mark.parametrize("step_rate", [0.3, 0.9])
def test_the_rows_equal_a_row_count(step_rate):
    r = rng(int(step_rate * 10))
    dut, ref = LoadRows(), Reference()
    stats = {"steps": 0, "rows_after_the_first": 0, "last_of_many": 0}

    async def tb(ctx):
        head = _head(r)
        for cycle in range(4000):
            if ref.row == 0 and r.random() < 0.5:
                head = _head(r)
            step, restart = r.random() < step_rate, r.random() < 0.01
            for name, value in head.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.step, step)
            ctx.set(dut.restart, restart)
            want = ref.outputs(head)
            for name, value in want.items():
                assert ctx.get(getattr(dut, name)) == value, f"{name}, cycle {cycle}"
            stats["steps"] += step and not restart
            stats["rows_after_the_first"] += ref.row != 0
            stats["last_of_many"] += ref.row != 0 and want["last"] and step
            ref.clock(head, step, restart)
            await ctx.tick()

    simulate(dut, tb)
    print(stats)
    assert stats["steps"] > 1000
    assert stats["rows_after_the_first"] > 300 and stats["last_of_many"] > 50
