"""hw.load_store.LoadUnit alone in amaranth.sim: random LOADs into the LUT (four units a beat
of 16 bytes) and IN (two units a beat at 8x8) windows, their transfers served by a memory
model with random gaps between beats. Every cycle ``left_nz`` and ``left_le1`` equal
``left != 0`` and ``left <= 1`` (the unit keeps them in registers beside ``left``) and the
beat is taken exactly when the unit's last slot or last unit reads it
(``slot == slots - 1 or left <= 1``: the rule before the registers, from ``left``); at the
end every unit of every LOAD was written once, with its bytes from memory (through the
registered write ports, the last in the cycle after ``busy`` falls)."""

import pytest

from hw.load_store import LoadUnit
from hw.spec import Geometry
from hw.spec.isa import Window, unit_bytes
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit

G = Geometry.default(rows=8, cols=8)
B = G.mem_bytes


@pytest.mark.parametrize("gap", [0.0, 0.5])
def test_loads_write_every_unit_and_the_flags_follow_left(gap):
    r = rng(int(gap * 10))
    dut = LoadUnit(G)
    mem = bytes(r.randrange(256) for _ in range(1 << 14))
    loads = []
    for _ in range(40):
        window = r.choice([Window.LUT, Window.IN])
        count = r.choice([1, 1, 2, 3, 4, 5, 7, r.randrange(1, 40)])
        limit = 64 if window == Window.LUT else G.in_depth
        first = r.randrange(0, limit - count + 1)
        addr = r.randrange(0, (len(mem) - 64 * B) // B) * B
        loads.append((window, first, count, addr))

    async def bench(ctx):
        pending, requests, writes = list(loads), [], []
        beats = []          # (data, last) of the transfers asked for, in order
        checked = 0
        for cycle in range(20_000):
            start = bool(pending) and ctx.get(dut.ready) and r.random() < 0.5
            if start:
                window, first, count, addr = pending[0]
                ctx.set(dut.instr.start, 1)
                ctx.set(dut.instr.window, window)
                ctx.set(dut.instr.first, first)
                ctx.set(dut.instr.count, count)
                ctx.set(dut.instr.mem_addr, addr)
                ctx.set(dut.instr.tag, len(loads) - len(pending))
            else:
                ctx.set(dut.instr.start, 0)
            ctx.set(dut.rd_req.ready, 1)
            if ctx.get(dut.rd_req.valid):
                addr, n = ctx.get(dut.rd_req.payload.addr), ctx.get(dut.rd_req.payload.beats)
                requests.append((addr, n))
                beats += [(int.from_bytes(mem[addr + k * B:addr + (k + 1) * B], "little"),
                          k == n - 1) for k in range(n)]
            offer = bool(beats) and r.random() >= gap
            ctx.set(dut.rd_data.valid, int(offer))
            if offer:
                ctx.set(dut.rd_data.payload.data, beats[0][0])
                ctx.set(dut.rd_data.payload.last, int(beats[0][1]))
                ctx.set(dut.rd_data.payload.err, 0)
            left = ctx.get(dut.left)
            assert ctx.get(dut.left_nz) == (left != 0), (cycle, left)
            assert ctx.get(dut.left_le1) == (left <= 1), (cycle, left)
            if offer and ctx.get(dut.moving.on):
                w = ctx.get(dut.moving.window)
                slots = B // unit_bytes(w, G)
                # the slot the beat is at: units written so far of the moving LOAD
                done = ctx.get(dut.moving.count) - left
                rule = (done % slots == slots - 1) or left <= 1
                assert ctx.get(dut.rd_data.ready) == rule, (cycle, left, done)
                checked += 1
            if ctx.get(dut.lut_en):
                writes.append((Window.LUT, ctx.get(dut.lut_word), ctx.get(dut.lut_data)))
            if ctx.get(dut.in_en):
                writes.append((Window.IN, ctx.get(dut.in_addr), ctx.get(dut.in_data)))
            if offer and ctx.get(dut.rd_data.ready):
                beats.pop(0)
            await ctx.tick()
            if start:
                pending.pop(0)
            if not pending and not beats and not ctx.get(dut.busy):
                break
        else:
            raise AssertionError("the LOADs did not finish")
        # the write ports are registers: the last piece is written the cycle after busy falls
        if ctx.get(dut.lut_en):
            writes.append((Window.LUT, ctx.get(dut.lut_word), ctx.get(dut.lut_data)))
        if ctx.get(dut.in_en):
            writes.append((Window.IN, ctx.get(dut.in_addr), ctx.get(dut.in_data)))
        await ctx.tick()
        assert not ctx.get(dut.lut_en) and not ctx.get(dut.in_en), "a write after the last"
        assert len(requests) == len(loads)
        expected = []
        for window, first, count, addr in loads:
            s = unit_bytes(window, G)
            bits = 32 if window == Window.LUT else 32 * G.row_words
            for i in range(count):
                value = int.from_bytes(mem[addr + i * s:addr + (i + 1) * s], "little")
                expected.append((window, first + i, value & ((1 << bits) - 1)))
        assert writes == expected
        print(f"{cycle} cycles, {len(writes)} units, {checked} beats checked")
        assert checked > 100

    simulate(dut, bench)
