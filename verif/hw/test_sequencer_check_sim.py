# amaranth: UnusedElaboratable=no
"""hw.sequencer.InstructionCheck against the spec's :func:`hw.spec.isa.check`, every cycle.

A new instruction every cycle: LOADs and STOREs with their fields at the edges of their
window, of memory and of alignment (2-D LOADs whose last row just fits or not), VMMs with the
boundary-biased commands of test_command_check_sim (each check in turn the first to fail),
END and FENCE, reserved bits set, unknown opcodes and read errors. LATENCY cycles later
``failed`` must be whether the spec's verdict (MEM_READ with a read error) is not NONE and
``ends`` the instruction's range ends computed from its fields in Python; CODE_LATENCY cycles
later ``code`` must be that verdict.
"""

import collections

import pytest

from hw.sequencer import InstructionCheck
from hw.spec import ErrorCode, Geometry, isa, regmap
from hw.spec.isa import End, Fence, Load, Store, Vmm, Window
from verif.hw.sim_util import raw, rng, simulate
from verif.hw.test_command_check_sim import perturbed_command, random_command, valid_command

pytestmark = pytest.mark.unit

GEOMETRIES = {
    "8x8": Geometry.default(rows=8, cols=8),
    "4x4x2/64": Geometry.default(rows=4, cols=4, banks=2, in_depth=16, acc_depth=16,
                                 out_depth=16, mem_bits=64),
    # the widest port: more unit sizes below a beat (a row's part beat)
    "8x8/256": Geometry.default(rows=8, cols=8, mem_bits=256),
}
REQUANT = regmap.register("CMD_FLAGS").pack(REQUANT=1)


def _edge(r, limit, most):
    return min(max(r.choice([0, 1, limit - 1, limit, limit + 1, r.randrange(most + 1)]), 0),
               most)


def transfer(r, g):
    """A LOAD or STORE near the limits of the check."""
    op = r.choice([Load, Store])
    window = r.choice([*Window, r.randrange(16)])
    size = isa.units(window, g) if window in set(Window) else 16
    count = _edge(r, r.choice([1, size]), 0xFFFF)
    first = _edge(r, max(size - count, 0), 0xFFFF)
    beat = g.mem_bytes
    aligned = r.random() < 0.8
    mem_addr = r.choice([0, (1 << 32) - r.randrange(1, 5) * beat, r.randrange(1 << 32)])
    mem_addr = mem_addr // beat * beat if aligned else mem_addr
    if op is Store:
        return Store(window, first, count, mem_addr)
    rows = r.choice([0, 1, 2, 3, r.randrange(1 << 16)])
    skip = r.choice([0, count, count + 1, r.randrange(1 << 16)])
    pitch = r.choice([0, beat, r.randrange(1 << 20)])
    pitch = pitch // beat * beat if aligned else pitch
    if r.random() < 0.3 and rows > 1:   # the last row right at the end of the window
        first = max(size - (rows - 1) * skip - count + r.choice([-1, 0, 1]), 0) % (1 << 16)
    if r.random() < 0.1:
        # one row (ROWS 0) past the end of the window or of memory, with a skip and a pitch
        # so large that the room after a step would hold it: the verdict is the row's alone
        rows, skip, pitch = 0, 0xFFFF, (1 << 20) - beat
        count = max(count, 1)
        first = _edge(r, size - count + 1, 0xFFFF)
        mem_addr = (1 << 32) - beat * r.choice([1, 2])
    return Load(window, first, count, mem_addr, rows=rows, skip=skip, pitch=pitch)


def vmm(r, g):
    cmd = (valid_command if r.random() < 0.3 else
           random_command if r.random() < 0.3 else perturbed_command)(r, g)
    flags = (REQUANT if cmd.requant else 0) | (r.randrange(256) & ~REQUANT
                                                if r.random() < 0.3 else 0)
    return Vmm(bank=cmd.bank, in_addr=cmd.in_addr, acc_addr=cmd.acc_addr,
               out_addr=cmd.out_addr, count=cmd.count, rows=cmd.rows, cols=cmd.cols,
               pool=cmd.pool, flags=flags, out_zp=r.randrange(-128, 128))


def instruction_words(r, g):
    """An instruction's four words: mostly a real one, some with a reserved bit set or an
    unknown opcode."""
    roll = r.random()
    instr = (transfer(r, g) if roll < 0.45 else vmm(r, g) if roll < 0.9
             else r.choice([End(), Fence()]))
    words = list(isa.encode(instr))
    if r.random() < 0.05:
        words[r.randrange(4)] |= 1 << r.randrange(8, 32)
    if r.random() < 0.03:
        words[0] = words[0] & ~0xFF | r.randrange(256)
    return words


def ends(words):
    """The range ends InstructionCheck gives with its verdict, from the instruction's fields
    as the spec lays them out (Python integers; any opcode, the fields at those bits), packed
    as hw.sequencer.ENDS: a VMM's in_addr + count, else a LOAD's or STORE's first + count;
    then a VMM's acc_addr + count and out_addr + count."""
    ld, vm = ({f.name: f.get(words) for f in isa.FIELDS[op]} for op in (isa.Op.LOAD, isa.Op.VMM))
    first = vm["IN_ADDR"] + vm["COUNT"] if words[0] & 0xFF == isa.Op.VMM else \
        ld["FIRST"] + ld["COUNT"]
    return first | (vm["ACC_ADDR"] + vm["COUNT"]) << 17 | (vm["OUT_ADDR"] + vm["COUNT"]) << 34


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_the_check_equals_the_spec_latency_cycles_later(name):
    g = GEOMETRIES[name]
    r = rng(sum(map(ord, name)) + 2)
    dut = InstructionCheck(g)
    seen = collections.Counter()

    latency, code_latency = InstructionCheck.LATENCY, InstructionCheck.CODE_LATENCY
    assert latency == 2  # the sequencer's queue takes the verdict a cycle after its entry

    async def tb(ctx):
        given = collections.deque()   # (words, err) of the cycles before, newest last
        for cycle in range(4000):
            words = instruction_words(r, g)
            err = r.random() < 0.03
            ctx.set(dut.instr, sum(w << (32 * i) for i, w in enumerate(words)))
            ctx.set(dut.err, err)
            if len(given) == code_latency:
                old_words, old_err = given[-latency]
                expected = ErrorCode.MEM_READ if old_err else \
                    isa.check(isa.decode(old_words), g)
                assert ctx.get(dut.failed) == int(expected != ErrorCode.NONE), \
                    f"cycle {cycle - latency}: {isa.decode(old_words)}, err {old_err}"
                assert ctx.get(dut.ends.as_value()) == ends(old_words), \
                    f"cycle {cycle - latency}"
                old_words, old_err = given.popleft()   # code_latency cycles ago
                expected = ErrorCode.MEM_READ if old_err else \
                    isa.check(isa.decode(old_words), g)
                seen[expected.name] += 1
                assert ctx.get(raw(dut.code)) == expected, \
                    f"cycle {cycle - code_latency}: {isa.decode(old_words)}, err {old_err}"
            given.append((words, err))
            await ctx.tick()

    simulate(dut, tb)
    print(f"{name}: {dict(seen)}")
    program_codes = {"BAD_INSTR", "BAD_WINDOW", "WINDOW_RANGE", "MEM_ALIGN", "MEM_READ",
                     "MEM_RANGE", "NONE"}
    command_codes = {c.name for c in ErrorCode if ErrorCode.NONE < c <= ErrorCode.BAD_POOL
                     and c != ErrorCode.BAD_OPCODE}   # (a VMM has its opcode)
    assert program_codes | command_codes <= set(seen), seen
    assert min(seen.values()) >= 10, seen


def test_the_check_needs_a_geometry():
    with pytest.raises(TypeError, match="geometry must be a Geometry"):
        InstructionCheck((8, 8))


def test_the_rooms_one_chain_sum_equals_python_integers():
    """``_minus_two`` (the check's byte rooms: ``plus - a - f - nz`` as a carry-save layer and
    one carry chain) against Python's integers, wrapped to its signed width: operands at 0,
    at their widths' tops and random, as the rooms get them (``plus`` 2**n + a pitch, ``a`` an
    address in beats, ``f`` a row's whole beats)."""
    from amaranth import Module, Signal

    from hw.sequencer import ROOM_WIDTH, _minus_two

    m = Module()
    plus, a, f, nz = Signal(31), Signal(29), Signal(26), Signal()
    total = _minus_two(m, "total", plus, a, f, nz, ROOM_WIDTH)
    r = rng(7)

    def operand(bits):
        return r.choice([0, 1, (1 << bits) - 1, 1 << (bits - 1), r.randrange(1 << bits)])

    async def tb(ctx):
        for _ in range(3000):
            v = [(1 << 29) | operand(17), operand(29), operand(26), r.randrange(2)]
            for sig, x in zip((plus, a, f, nz), v, strict=True):
                ctx.set(sig, x)
            want = v[0] - v[1] - v[2] - v[3]
            assert -(1 << (ROOM_WIDTH - 1)) <= want < 1 << (ROOM_WIDTH - 1)
            assert ctx.get(total) == want, v

    simulate(m, tb, clock=False)
