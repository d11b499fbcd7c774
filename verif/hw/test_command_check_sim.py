# amaranth: UnusedElaboratable=no
"""The Controller's command check equals the spec's :func:`hw.spec.check`, command by command.

Random CMD fields, biased to the boundaries of every check (0, 1, depth-1, depth, depth+1, the
field maxima, sums that land just below/on/above a depth, pool 0/1/2/count, requant on and
off, unknown opcodes), are driven into the Controller in amaranth.sim with START; its
``error`` output in the next cycle must equal ``check(Command(...), geometry)``. A command it
accepts is cut short by a reset (the check is all that is tested here). The seed is printed
(``SEED=<n>`` replays it).
"""

import collections

import pytest
from amaranth import Signal
from amaranth.hdl import ResetInserter

from hw.controller import Controller
from hw.spec import Command, ErrorCode, Geometry, Opcode, check, register, timing
from verif.hw.sim_util import raw, rng, simulate

pytestmark = pytest.mark.unit

COMMANDS_PER_GEOMETRY = 6000
GEOMETRIES = {
    "16x16": Geometry.default(),
    "5x3x3": Geometry(rows=5, cols=3, banks=3, in_depth=40, acc_depth=24, out_depth=20),
    # the largest banks, a one-row accumulator and deep buffers
    "64x8x255": Geometry(rows=64, cols=8, banks=255, in_depth=4096, acc_depth=1,
                         out_depth=32768),
}
FIELDS = ("op", "bank", "in_addr", "acc_addr", "out_addr", "count", "rows", "cols", "pool")


def field_max(name):
    return (1 << register(f"CMD_{name.upper()}").field("VALUE").width) - 1


def near(r, limit, most):
    """A value at or around ``limit`` (0, 1, limit-1, limit, limit+1, most) or random."""
    choices = [0, 1, limit - 1, limit, limit + 1, most, r.randrange(most + 1),
               r.randrange(min(limit, most) + 1)]
    return min(max(r.choice(choices), 0), most)


def random_command(r, g):
    count = near(r, r.choice([1, 2, g.in_depth, g.acc_depth, g.out_depth]), field_max("count"))
    if r.random() < 0.7:    # sums at the edge of a buffer
        count = r.choice([count, r.randrange(1, 9)])
    pool = r.choice([0, 1, 1, 2, 3, count, r.randrange(256), 255])
    pool = min(pool, field_max("pool"))

    def start(depth, used):
        """A start address whose end (start + used) is just below, on or past ``depth``."""
        if r.random() < 0.6:
            return min(max(depth - used + r.choice([-1, 0, 0, 1]), 0), field_max("in_addr"))
        return near(r, depth, field_max("in_addr"))

    requant = r.random() < 0.5
    out_used = count // pool if pool else 0
    op = r.choices([Opcode.VMM.value, Opcode.NOP.value, r.randrange(2, 256), 255],
                   weights=[14, 2, 3, 1])[0]
    return Command(
        op=op, bank=near(r, g.banks, field_max("bank")),
        in_addr=start(g.in_depth, count), acc_addr=start(g.acc_depth, count),
        out_addr=start(g.out_depth, out_used), count=count,
        rows=near(r, g.rows, field_max("rows")), cols=near(r, g.cols, field_max("cols")),
        requant=requant, pool=pool)


def valid_command(r, g):
    """A command that passes every check, often right at its limits."""
    edge = r.random() < 0.5
    count = r.randrange(1, min(g.in_depth, g.acc_depth, 300) + 1)
    requant = r.random() < 0.5
    pool = r.choice([d for d in range(1, min(count, 255) + 1) if count % d == 0]) \
        if requant else 1
    out_used = count // pool
    if requant and out_used > g.out_depth:
        requant, pool, out_used = False, 1, 0
    def addr(depth, used):
        return depth - used if edge else r.randrange(depth - used + 1)
    return Command(op=Opcode.VMM.value, bank=g.banks - 1 if edge else r.randrange(g.banks),
                   in_addr=addr(g.in_depth, count), acc_addr=addr(g.acc_depth, count),
                   out_addr=addr(g.out_depth, out_used) if requant else r.randrange(1 << 16),
                   count=count, rows=g.rows if edge else r.randrange(1, g.rows + 1),
                   cols=g.cols if edge else r.randrange(1, g.cols + 1), requant=requant,
                   pool=pool)


def perturbed_command(r, g):
    """A valid command with one to three fields moved to a boundary (each check in turn is
    the first to fail, so every one of them is exercised, not only the first)."""
    cmd = valid_command(r, g)
    wild = random_command(r, g)
    names = [*FIELDS, "requant"]
    changes = {f: getattr(wild, f) for f in r.sample(names, r.randint(1, 3))}
    if "count" in changes and r.random() < 0.5 and cmd.pool:   # count that pool divides or not
        changes["count"] = max(cmd.pool * r.randint(0, 3) + r.choice([0, 0, 1]), 0)
    return Command(**{**cmd.__dict__, **changes})


def directed_commands(g):
    """Corners written out: division by a zero pool (Amaranth's ``//`` and ``%`` by zero give
    0, and so does the spec's), sums that overflow 16 bits, every field at its maximum."""
    base = dict(op=Opcode.VMM.value, count=1, rows=1, cols=1)
    top = {f: field_max(f) for f in FIELDS}
    return [
        Command(**base, requant=True, pool=0, out_addr=g.out_depth + 1),
        Command(**base, requant=True, pool=0, out_addr=g.out_depth),
        Command(**base, requant=False, pool=0),
        Command(**{**base, "count": field_max("count")}, in_addr=field_max("in_addr")),
        Command(**{**top, "op": Opcode.VMM.value}, requant=True),
        Command(**{**top, "op": Opcode.NOP.value}, requant=True),
        Command(**top, requant=False),
    ]


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_controller_check_equals_the_spec(name):
    g = GEOMETRIES[name]
    r = rng(sum(map(ord, name)))
    ctl = Controller(g, drain=timing.drain(timing.array_latency(g.rows)))
    abort = Signal()
    dut = ResetInserter(abort)(ctl)
    seen = collections.Counter()
    disagreements = []

    async def tb(ctx):
        directed = directed_commands(g)
        for i in range(len(directed) + COMMANDS_PER_GEOMETRY):
            kind = i % 10
            cmd = directed[i] if i < len(directed) else \
                (valid_command if kind == 0 else random_command if kind < 4
                 else perturbed_command)(r, g)
            for f in FIELDS:
                ctx.set(raw(getattr(ctl, f)), getattr(cmd, f))
            ctx.set(ctl.requant, cmd.requant)
            ctx.set(ctl.start, 1)
            await ctx.tick()
            got = ErrorCode(ctx.get(raw(ctl.error)))
            expected = check(cmd, g)
            seen[expected.name] += 1
            if got != expected:
                disagreements.append((cmd, got.name, expected.name))
            if ctx.get(ctl.busy):   # accepted: back to IDLE
                ctx.set(ctl.start, 0)
                ctx.set(abort, 1)
                await ctx.tick()
                ctx.set(abort, 0)

    simulate(dut, tb)
    print(f"{name}: {sum(seen.values())} commands, expected codes {dict(seen)}")
    assert not disagreements, \
        f"{len(disagreements)} disagreements, first: {disagreements[:3]}"
    command_codes = {c.name for c in ErrorCode if c <= ErrorCode.BAD_POOL}  # the rest: programs
    assert set(seen) == command_codes, f"codes not reached: {seen}"


@pytest.mark.nosim
def test_divisibility_without_a_divider_is_exact():
    """command_error's test for ``count % pool == 0`` (pool_constants: a table and a 16-bit
    multiply instead of a divider) equals ``%`` for every 16-bit count and every pool 1..255."""
    import numpy as np

    from hw.controller import pool_constants
    count = np.arange(1 << 16, dtype=np.uint64)
    for pool in range(1, 256):
        inverse, bound = pool_constants(pool)
        low_bits = (pool - 1) & ~pool
        got = ((count & low_bits) == 0) & (((count * inverse) & 0xFFFF) <= bound)
        np.testing.assert_array_equal(got, count % pool == 0, err_msg=f"pool {pool}")
    assert pool_constants(0) == (0, 0)
    with pytest.raises(ValueError, match="pool must be"):
        pool_constants(256)
