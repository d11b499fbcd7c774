# amaranth: UnusedElaboratable=no
"""hw.pipeline.delay in amaranth.sim against a naive model: a list of past values."""

import pytest
from amaranth import Module, Mux, Signal

from hw.pipeline import counters, delay
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("cycles", [0, 1, 2, 5])
@pytest.mark.parametrize("mode", ["always", "one_enable", "per_stage"])
def test_delay_equals_a_shift_register_model(cycles, mode):
    r = rng(cycles * 10 + len(mode))
    m = Module()
    value = Signal(8)
    en = [Signal(name=f"en_{i}") for i in range(max(cycles, 1))]
    enable = {"always": None, "one_enable": en[0], "per_stage": en[:cycles]}[mode]
    line = delay(m, value, cycles, enable=enable, name="line")
    m.d.sync += Signal().eq(value)   # a clock domain even for an empty line
    assert len(line) == cycles
    assert all(s.shape() == value.shape() for s in line)
    assert [s.name for s in line] == [f"line_{i}" for i in range(cycles)]

    async def tb(ctx):
        model = [0] * cycles   # stage i after each edge
        for _ in range(300):
            v = r.randrange(256)
            enables = [r.random() < 0.7 for _ in en]
            ctx.set(value, v)
            for s, e in zip(en, enables, strict=True):
                ctx.set(s, e)
            assert [ctx.get(s) for s in line] == model
            await ctx.tick()
            stage_en = {"always": [True] * cycles, "one_enable": [enables[0]] * cycles,
                        "per_stage": enables[:cycles]}[mode]
            previous = [v, *model][:cycles]
            model = [p if e else old for p, e, old in zip(previous, stage_en, model, strict=True)]

    simulate(m, tb)


def test_delay_of_a_layout_keeps_its_shape():
    from amaranth.lib import data
    m = Module()
    row = Signal(data.StructLayout({"a": 3, "b": 5}))
    line = delay(m, row, 2)
    assert line[-1].shape() == row.shape()
    assert line[-1].as_value().name == "row_1"

    async def tb(ctx):
        ctx.set(row.a, 5)
        ctx.set(row.b, 17)
        await ctx.tick()
        await ctx.tick()
        assert ctx.get(line[-1].a) == 5 and ctx.get(line[-1].b) == 17

    simulate(m, tb)


def test_delay_checks_its_arguments():
    m, s = Module(), Signal()
    with pytest.raises(ValueError, match="cycles must be >= 0"):
        delay(m, s, -1)
    with pytest.raises(TypeError, match="cycles must be an int"):
        delay(m, s, 1.5)
    with pytest.raises(ValueError, match="enable has 1 entries for a line of 2 stages"):
        delay(m, s, 2, enable=[s])


def test_counters_count_an_event_with_its_amount_as_a_python_model():
    """``counters`` with an ``(event, amount)`` increment, every cycle against a Python model
    of the documented rule (an event counts two clock edges after its cycle, dropped in a
    cycle with ``clear`` and in the one before; 8-bit counters wrap), beside the plain
    ``Mux(event, amount, 0)`` increment, which must read the same."""
    r = rng(7)
    print("seed=7")
    m = Module()
    event, clear, amount = Signal(), Signal(), Signal(6)
    split, plain = Signal(8, name="split"), Signal(8, name="plain")
    counters(m, [(split, (event, amount)), (plain, Mux(event, amount, 0))], clear)

    async def tb(ctx):
        model, late = 0, 0    # the counter, and the increment registered at the last edge
        for cycle in range(2000):
            e, c, a = r.random() < 0.5, r.random() < 0.05, r.randrange(64)
            ctx.set(event, e)
            ctx.set(clear, c)
            ctx.set(amount, a)
            assert (ctx.get(split), ctx.get(plain)) == (model, model), cycle
            await ctx.tick()
            # this edge: zero on clear, else add the increment registered an edge ago
            model = 0 if c else (model + late) & 0xFF
            late = 0 if c else (a if e else 0)

    simulate(m, tb)
