# amaranth: UnusedElaboratable=no
"""hw.pp.maxpool.GroupMax every cycle against its docstring as Python (amaranth.sim).

Commands of random length and group (0 to 5, and 255), each beginning with ``restart``, rows
with gaps between them and commands that follow each other row after row; int8 extremes. The
output (``o.valid``, the group's index and its elementwise max) is compared in every cycle.
"""

import pytest

from hw.pp.maxpool import GroupMax
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit


class Model:
    """The running max, the rows seen of the group, the group's index."""

    def __init__(self, cols):
        self.cols, self.count, self.index, self.running = cols, 0, 0, [0] * cols

    def row(self, x, group, restart):
        """A row in; the output of the next cycle: ``(index, max)`` or None."""
        seen, at = (0, 0) if restart else (self.count, self.index)
        best = list(x) if seen == 0 else [max(a, b) for a, b in zip(self.running, x, strict=True)]
        self.running = best
        if seen + 1 >= group:
            self.count, self.index = 0, at + 1
            return at, best
        self.count, self.index = seen + 1, at
        return None


@pytest.mark.parametrize("cols", [1, 4])
def test_group_max_equals_its_model_every_cycle(cols):
    r = rng(40 + cols)
    dut, model = GroupMax(cols, addr_width=8), Model(cols)
    stats = {"rows": 0, "outputs": 0, "restarts": 0, "mid_group_restarts": 0}

    async def tb(ctx):
        expected, left, group = None, 0, 1
        for cycle in range(4000):
            assert ctx.get(dut.o.valid) == (expected is not None), f"cycle {cycle}"
            if expected is not None:
                index, best = expected
                assert ctx.get(dut.o.payload.addr) == index % 256, f"cycle {cycle}"
                assert [ctx.get(dut.o.payload.data[c]) for c in range(cols)] == best, \
                    f"cycle {cycle}"
                stats["outputs"] += 1
            valid = r.random() < 0.75
            restart = False
            if valid and (left == 0 or r.random() < 0.02):   # a new command
                stats["mid_group_restarts"] += left > 0 and model.count > 0
                group = r.choice([0, 1, 2, 3, 4, 5, 255])
                left, restart = r.randrange(1, 4 * max(group, 1) + 1), True
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.restart, restart if valid else r.random() < 0.5)
            ctx.set(dut.group, group if valid else r.randrange(256))
            x = [r.choice([-128, 127, 0, r.randrange(-128, 128)]) for _ in range(cols)]
            for c in range(cols):
                ctx.set(dut.i.payload.data[c], x[c])
            expected = model.row(x, group, restart) if valid else None
            if valid:
                left -= 1
                stats["rows"] += 1
                stats["restarts"] += restart
            await ctx.tick()

    simulate(dut, tb)
    print(stats)
    assert min(stats.values()) > 10, stats
