# amaranth: UnusedElaboratable=no
"""``Accumulator(read_ahead=True)`` against the default Accumulator and a Python model, every
cycle (amaranth.sim; the default block against the NumPy model on Icarus:
cocotb_accumulator.py).

The two blocks get the same rows in the same cycles; the read-ahead one also gets each row's
``valid``, ``addr`` and update rule a cycle early. Rows come mostly to a few addresses, back
to back, one or two cycles apart and with gaps (the read-modify-write hazards: the row
written in the arrival cycle is forwarded from the adder, the one written a cycle earlier
reaches the read through the port's transparency), in all three update modes, with bus
reads between them.
"""

import pytest
from amaranth import Elaboratable, Module

from hw.accumulator import Accumulator
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit

MASK32 = (1 << 32) - 1


def _signed(v):
    return v - (1 << 32) if v >> 31 else v


class Pair(Elaboratable):
    def __init__(self, cols, depth):
        self.plain = Accumulator(cols, depth, tag_width=4)
        self.ahead = Accumulator(cols, depth, tag_width=4, read_ahead=True)

    def elaborate(self, platform):
        m = Module()
        m.submodules.plain, m.submodules.ahead = self.plain, self.ahead
        return m


@pytest.mark.parametrize("cols, depth", [(3, 8), (8, 256)])
def test_read_ahead_equals_the_plain_accumulator_every_cycle(cols, depth):
    r = rng(cols + depth)
    pair = Pair(cols, depth)
    hot = r.sample(range(depth), 3)
    cycles = 3000

    def random_row():
        if r.random() < 0.35:
            return None
        return {"addr": r.choice(hot) if r.random() < 0.8 else r.randrange(depth),
                "sums": [r.choice([r.getrandbits(32), 0, MASK32, 1 << 31, (1 << 31) - 1])
                         for _ in range(cols)],
                "tag": r.randrange(16), "accumulate": r.random() < 0.6,
                "use_bias": r.random() < 0.5,
                "bias": [r.getrandbits(32) for _ in range(cols)]}

    # (none in the first cycle: nothing announces it)
    rows = [None] + [random_row() for _ in range(cycles)]
    # the model: every row of the stream, in order (reads below are of settled rows only)
    acc = [[0] * cols for _ in range(depth)]
    expected = []
    for row in rows[:cycles]:
        if row is None:
            expected.append(None)
            continue
        a = row["addr"]
        base = acc[a] if row["accumulate"] else row["bias"] if row["use_bias"] else [0] * cols
        acc[a] = [(b + s) & MASK32 for b, s in zip(base, row["sums"], strict=True)]
        expected.append((list(acc[a]), row["tag"]))
    seen = {"rows": 0, "distance_1": 0, "distance_2": 0, "reads": 0}

    async def tb(ctx):
        last_read = None
        for cycle in range(cycles):
            row, following = rows[cycle], rows[cycle + 1]
            for dut in (pair.plain, pair.ahead):
                ctx.set(dut.i.valid, row is not None)
                if row is not None:
                    ctx.set(dut.i.payload.addr, row["addr"])
                    ctx.set(dut.i.payload.tag, row["tag"])
                    for c in range(cols):
                        ctx.set(dut.i.payload.sums[c], _signed(row["sums"][c]))
                        ctx.set(dut.bias[c], _signed(row["bias"][c]))
            if row is not None:
                ctx.set(pair.plain.accumulate, row["accumulate"])
                ctx.set(pair.plain.use_bias, row["use_bias"])
            # the next row announced: valid, address and rule (anything when none comes)
            ctx.set(pair.ahead.ahead_valid, following is not None)
            ctx.set(pair.ahead.ahead_addr, following["addr"] if following else r.randrange(depth))
            ctx.set(pair.ahead.ahead_accumulate,
                    following["accumulate"] if following else r.random() < 0.5)
            ctx.set(pair.ahead.ahead_use_bias,
                    following["use_bias"] if following else r.random() < 0.5)
            # a bus read of an address no row of the last three cycles wrote
            recent = {x["addr"] for x in rows[max(cycle - 3, 0):cycle + 1] if x}
            read = r.randrange(depth) if r.random() < 0.3 else None
            read = None if read in recent else read
            for dut in (pair.plain, pair.ahead):
                ctx.set(dut.rd_en, read is not None)
                ctx.set(dut.rd_addr, read if read is not None else 0)
            if cycle >= 1:
                want = expected[cycle - 1]
                for dut in (pair.plain, pair.ahead):
                    assert ctx.get(dut.o.valid) == (want is not None), f"cycle {cycle}"
                    if want is not None:
                        data = [ctx.get(dut.o.payload.data[c]) & MASK32 for c in range(cols)]
                        assert (data, ctx.get(dut.o.payload.tag)) == want, f"cycle {cycle}"
                if last_read is not None:
                    assert ctx.get(pair.ahead.rd_data) == ctx.get(pair.plain.rd_data), \
                        f"cycle {cycle}: read of row {last_read}"
                    seen["reads"] += 1
            if row is not None:
                seen["rows"] += 1
                prev = [rows[cycle - d] for d in (1, 2)] if cycle >= 2 else [None, None]
                seen["distance_1"] += bool(prev[0] and prev[0]["addr"] == row["addr"])
                seen["distance_2"] += bool(prev[1] and prev[1]["addr"] == row["addr"])
            last_read = read
            await ctx.tick()

    simulate(pair, tb)
    print(seen)
    assert min(seen.values()) > 100, seen
