# amaranth: UnusedElaboratable=no
"""Every pipelined block's real latency is the one :mod:`hw.spec.timing` states.

A row (or vector) is driven on ``i`` in one cycle and ``o.valid`` is watched: it must rise
exactly ``LATENCY`` cycles later and only then; rows sent back to back leave back to back. The
stated ``LATENCY`` attributes are compared with the spec as well, so a block whose pipeline
gained or lost a stage fails here even if it updated its own attribute.
"""

import pytest
from amaranth import ClockDomain, Module

from hw.accumulator import Accumulator
from hw.postproc import PostProcess
from hw.pp.lut import Lut
from hw.pp.maxpool import GroupMax
from hw.pp.relu import Relu
from hw.pp.requant import Requantize
from hw.spec import timing
from hw.vmm_array import VmmArray
from verif.hw.sim_util import simulate

pytestmark = pytest.mark.unit

COLS, ADDR = 3, 5


def measure(dut, setup=(), burst=3):
    """Cycles from each row's ``i.valid`` to its ``o.valid`` (rows sent back to back after a
    gap), as a list; fails if ``o.valid`` rises with no row to account for it."""
    seen = []

    async def tb(ctx):
        for port, value in setup:
            ctx.set(port, value)
        await ctx.tick()
        sent = []
        for cycle in range(40):
            valid = 3 <= cycle < 3 + burst
            ctx.set(dut.i.valid, valid)
            if valid:
                sent.append(cycle)
            if ctx.get(dut.o.valid):
                assert sent, f"o.valid in cycle {cycle} with no row in"
                seen.append(cycle - sent.pop(0))
            await ctx.tick()
        assert not sent, "rows that never left"

    # the clock domain defined around the block: a combinational stage (latency 0) has none
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut
    simulate(top, tb)
    return seen


STAGES = {
    "Requantize": lambda: (Requantize(COLS, ADDR), ()),
    "Lut": lambda: (Lut(COLS, ADDR), ()),
    "Relu": lambda: (Relu(COLS, ADDR), ()),
    "GroupMax": lambda: (lambda d: (d, ((d.group, 1),)))(GroupMax(COLS, ADDR)),
}


@pytest.mark.parametrize("name", [name for name, _ in timing.POSTPROC_STAGES])
def test_postproc_stage_latency(name):
    dut, setup = STAGES[name]()
    assert type(dut).LATENCY == timing.stage_latency(name)
    assert measure(dut, setup) == [timing.stage_latency(name)] * 3


def test_postproc_chain_latency():
    dut = PostProcess(COLS, ADDR)
    assert dut.LATENCY == timing.POSTPROC_LATENCY
    assert [s.__name__ for s in PostProcess.STAGES] == [n for n, _ in timing.POSTPROC_STAGES]
    assert measure(dut, ((dut.pool, 1),)) == [timing.POSTPROC_LATENCY] * 3


def test_accumulator_latency():
    dut = Accumulator(COLS, depth=4, tag_width=3)
    assert dut.LATENCY == timing.ACCUMULATOR_LATENCY
    assert measure(dut) == [timing.ACCUMULATOR_LATENCY] * 3


@pytest.mark.parametrize("rows", [1, 2, 4, 5, 16, 17, 64])
def test_vmm_array_latency(rows):
    dut = VmmArray(rows, 2, banks=1, tag_width=2)
    assert dut.latency == timing.array_latency(rows)
    assert measure(dut) == [timing.array_latency(rows)] * 3


@pytest.mark.parametrize("pipeline", timing.ARRAY_PIPELINES[1:])
@pytest.mark.parametrize("rows", [1, 5, 16])
def test_pipelined_vmm_array_latency(rows, pipeline):
    """Each extra stage of ``VmmArray(pipeline=)`` is one cycle more (CFG_LATENCY)."""
    dut = VmmArray(rows, 2, banks=1, tag_width=2, pipeline=pipeline)
    assert dut.latency == timing.array_latency(rows, pipeline) == \
        timing.array_latency(rows) + pipeline
    assert measure(dut) == [timing.array_latency(rows) + pipeline] * 3
