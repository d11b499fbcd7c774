"""hw.buffers.InputBuffer alone, every cycle, against a Python list of its vectors.

Random writes (random byte enables), reads on both ports with random enables, often at the
vector being written: ``bus`` must give the old vector then, ``rp`` anything (its copy is
``no_rw_check``: not compared in those cycles); otherwise both give the vector as it was
before the cycle's write, one cycle after the read, and hold it without ``en``."""

import pytest

from hw.buffers import InputBuffer
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("width", "depth"), [(64, 16), (32, 1), (128, 5)])
def test_input_buffer_against_a_list(width, depth):
    r = rng(width + depth)
    dut = InputBuffer(width, depth)
    mem = [0] * depth
    lanes = width // 8
    counted = {"rp": 0, "bus": 0, "rp_skipped": 0}

    async def tb(ctx):
        held = {"rp": (True, 0), "bus": (True, 0)}   # (compare?, value) the port shows now
        for cycle in range(1500):
            for name in ("rp", "bus"):
                compare, want = held[name]
                if compare:
                    assert ctx.get(getattr(dut, name).data) == want, f"{name}, cycle {cycle}"
                    counted[name] += 1
                else:
                    counted["rp_skipped"] += 1
            w_addr = r.randrange(depth)
            w_en = r.randrange(1 << lanes) if r.random() < 0.5 else 0
            w_data = r.randrange(1 << width)
            ctx.set(dut.wp.addr, w_addr)
            ctx.set(dut.wp.en, w_en)
            ctx.set(dut.wp.data, w_data)
            for name in ("rp", "bus"):
                port = getattr(dut, name)
                addr = w_addr if r.random() < 0.4 else r.randrange(depth)
                en = r.random() < 0.8
                ctx.set(port.addr, addr)
                ctx.set(port.en, en)
                if en:   # the old vector; rp's unspecified if it is being written
                    held[name] = (not (name == "rp" and w_en and addr == w_addr), mem[addr])
            mask = sum(0xFF << (8 * k) for k in range(lanes) if w_en >> k & 1)
            mem[w_addr] = mem[w_addr] & ~mask | w_data & mask
            await ctx.tick()

    simulate(dut, tb)
    print(counted)
    assert counted["rp"] > 500 and counted["bus"] > 1400 and counted["rp_skipped"] > 50
