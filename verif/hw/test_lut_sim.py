"""hw.pp.lut.Lut alone, cycle by cycle, against a Python list of its 256 entries.

The columns read a block RAM copy of the table through synchronous read ports, the bus a
LUT-RAM copy; both are written together. Checked here: every row's output (the entry of each
column's input with ``enable``, the input without, ``LATENCY`` = 2 cycles after the row), the
bus's read-back of each word, and what a write in a row's own cycle does: the next row gets
the new entry; the row itself, for the columns that look up the written word with ``enable``,
an unspecified entry (the block RAMs are ``no_rw_check``: not compared), the other columns
their entries."""

import pytest

from hw.pp.lut import Lut
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit

COLS, ADDR = 3, 4


def _word(table, w):
    return sum((table[4 * w + k] & 0xFF) << (8 * k) for k in range(4))


def test_lut_rows_and_writes_against_a_list_of_entries():
    r = rng()
    dut = Lut(COLS, ADDR)
    table = [r.randrange(-128, 128) for _ in range(256)]
    rows = dut.i.payload.data.shape()

    async def write(ctx, w, value, strb=0xF):
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_word, w)
        ctx.set(dut.w_data, value)
        ctx.set(dut.w_strb, strb)

    async def tb(ctx):
        for w in range(Lut.WORDS):  # the whole table, a word a cycle
            await write(ctx, w, _word(table, w))
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        for w in range(Lut.WORDS):  # the bus's copy reads back, combinationally
            ctx.set(dut.r_word, w)
            await ctx.delay(1e-9)
            assert ctx.get(dut.r_data) == _word(table, w), f"word {w}"

        assert Lut.LATENCY == 2
        due = [None, None]     # what leaves in this cycle and the next
        for cycle in range(300):
            valid = r.random() < 0.7
            enable = r.random() < 0.8
            xs = [r.randrange(-128, 128) for _ in range(COLS)]
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload.data, rows.const(xs))
            ctx.set(dut.enable, enable)
            # now and then a write in the row's cycle to the word of column 0's entry
            writes = r.random() < 0.2
            written = None
            if writes:
                index = xs[0] + 128
                lane = index % 4
                new = r.randrange(-128, 128)
                await write(ctx, index // 4, (new & 0xFF) << (8 * lane), 1 << lane)
                written = index // 4
            else:
                ctx.set(dut.w_en, 0)
            expected = due.pop(0)
            assert ctx.get(dut.o.valid) == (expected is not None), f"cycle {cycle}"
            if expected is not None:
                got = list(ctx.get(dut.o.payload.data))
                for c, want in enumerate(expected):
                    if want is not None:
                        assert got[c] == want, f"cycle {cycle}, column {c}"
            # the row this cycle's edge takes: with enable, its entries (None, unspecified,
            # where it looks up the word being written)
            due.append(([None if (x + 128) // 4 == written else table[x + 128] for x in xs]
                         if enable else xs) if valid else None)
            if writes:
                table[index] = new
            await ctx.tick()

        # the written entries stuck: a last pass over a few of them, one row per cycle
        ctx.set(dut.w_en, 0)
        ctx.set(dut.enable, 1)
        ctx.set(dut.i.valid, 1)
        sent = []
        for x0 in [*range(-128, 128, 37), None]:
            if x0 is not None:
                xs = [x0, (x0 + 1 + 128) % 256 - 128, (x0 + 2 + 128) % 256 - 128]
                ctx.set(dut.i.payload.data, rows.const(xs))
                sent.append([table[x + 128] for x in xs])
            else:
                ctx.set(dut.i.valid, 0)
            await ctx.tick()
            if len(sent) > 1 or x0 is None:
                assert ctx.get(dut.o.valid)
                assert list(ctx.get(dut.o.payload.data)) == sent.pop(0)
        assert not sent

    simulate(dut, tb)
