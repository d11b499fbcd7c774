# amaranth: UnusedElaboratable=no
"""hw.controller.Controller with ``vector_cycles`` > 1 (the CIM build's pacing), amaranth.sim.

Commands started from the registers and back to back as a program starts them
(``program_start`` with ``issue_at_start``, on ``ready``): every issue comes
``vector_cycles`` cycles after the last one, across commands too; indices run
0..count-1; BUSY lasts ``timing.busy_cycles(count, ..., vector_cycles)`` cycles; every
command gets its DONE, in order.
"""

import pytest

from hw.controller import Controller
from hw.spec import Geometry, Opcode, timing
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit

G = Geometry.default(rows=4, cols=4, in_depth=64, acc_depth=64, out_depth=64)
DRAIN = 5


def _fields(ctx, ctl, count):
    for name, value in dict(op=Opcode.VMM, bank=0, in_addr=0, acc_addr=0, out_addr=0,
                            count=count, rows=4, cols=4, requant=1, pool=1).items():
        ctx.set(getattr(ctl, name), value)


@pytest.mark.parametrize("vc", [2, 4, 8])
def test_register_command_busy_and_spacing(vc):
    ctl = Controller(G, drain=DRAIN, vector_cycles=vc)
    for count in (1, 2, 5):
        seen = {"issues": [], "busy": 0, "done": []}

        async def tb(ctx, count=count, seen=seen):
            _fields(ctx, ctl, count)
            ctx.set(ctl.start, 1)
            await ctx.tick()
            ctx.set(ctl.start, 0)
            for cycle in range(1, count * vc + DRAIN + 10):
                if ctx.get(ctl.issue):
                    seen["issues"].append((cycle, ctx.get(ctl.index)))
                seen["busy"] += ctx.get(ctl.busy)
                if ctx.get(ctl.done):
                    seen["done"].append(cycle)
                await ctx.tick()

        simulate(ctl, tb)
        cycles = [c for c, _ in seen["issues"]]
        assert [i for _, i in seen["issues"]] == list(range(count))
        assert cycles == [1 + vc * j for j in range(count)], (vc, count, cycles)
        assert seen["busy"] == timing.busy_cycles(count, 0, vector_cycles=vc) - \
            timing.drain(0) + DRAIN
        assert seen["done"] == [cycles[-1] + DRAIN + 1]


@pytest.mark.parametrize("vc", [2, 4])
def test_back_to_back_commands_keep_the_spacing(vc):
    r = rng(vc)
    counts = [r.randrange(1, 5) for _ in range(8)]
    ctl = Controller(G, drain=DRAIN, vector_cycles=vc)
    seen = {"issues": [], "done": 0, "starts": 0}

    async def tb(ctx):
        ctx.set(ctl.issue_at_start, 1)
        queue = list(counts)
        was_ready = False  # ``ready`` in the cycle before: a start may follow (as the
        # sequencer's compute unit does it)
        for cycle in range(sum(counts) * vc + 10 * DRAIN):
            start = bool(queue) and was_ready and r.random() < 0.8
            if start:
                _fields(ctx, ctl, queue.pop(0))
                seen["starts"] += 1
            ctx.set(ctl.program_start, start)
            if ctx.get(ctl.issue):
                seen["issues"].append((cycle, ctx.get(ctl.index)))
            seen["done"] += ctx.get(ctl.done)
            was_ready = ctx.get(ctl.ready) and not start
            await ctx.tick()

    simulate(ctl, tb)
    cycles = [c for c, _ in seen["issues"]]
    assert seen["starts"] == len(counts) and seen["done"] == len(counts)
    assert [i for _, i in seen["issues"]] == [i for c in counts for i in range(c)]
    assert all(b - a >= vc for a, b in zip(cycles, cycles[1:], strict=False)), cycles


def test_bad_vector_cycles():
    with pytest.raises(ValueError, match="vector_cycles must be an int >= 1, not 0"):
        Controller(G, drain=DRAIN, vector_cycles=0)
