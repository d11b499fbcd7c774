# amaranth: UnusedElaboratable=no
"""hw.csr.RegisterFile in amaranth.sim against a naive model of the register map.

The model reads :data:`hw.spec.REGISTERS` field by field: reset values and CFG_* constants,
RW fields merged by byte strobes, W1P pulses in the cycle of the write, W1C/WC state with
``_set`` winning over a clear, and the refusals (UNMAPPED offsets, READ_ONLY registers, BUSY for
the command registers and CTRL.START while busy; a refused write changes nothing). Every cycle
of a long random run compares every port and both error answers; ``r_data`` is compared one
cycle after each ``r_en`` and while it holds.
"""

import pytest

from hw.csr import REG_SPACE_WORDS, RegisterFile, port_name
from hw.spec import REGISTERS, RO, RW, W1C, W1P, WC, BusError, Geometry, register, timing
from verif.hw.sim_util import raw, rng, simulate

pytestmark = pytest.mark.unit

G = Geometry.default(rows=8, cols=12)
CONFIG = G.as_dict() | {"latency": timing.array_latency(G.rows), "features": 0x2A}
BY_WORD = {reg.offset // 4: reg for reg in REGISTERS}
START = register("CTRL").field("START")
SOFT_RESET = register("CTRL").field("SOFT_RESET")


def bits(value, width):
    return int(value) & ((1 << width) - 1)


def strobe_mask(strb):
    return sum(0xFF << 8 * i for i in range(4) if strb >> i & 1)


class RegisterModel:
    """State of every stored field (raw bits) and the RO inputs as driven."""

    def __init__(self):
        self.state = {}
        for reg in REGISTERS:
            for f in reg.fields:
                if reg.config is None and f.access in (RW, W1C, WC):
                    self.state[port_name(reg, f)] = bits(f.reset, f.width)
        self.inputs = {}   # RO field port -> raw bits

    @staticmethod
    def written(fld, data, strb):
        return bool(data >> fld.lsb & 1 and strb >> (fld.lsb // 8) & 1)

    def w_err(self, addr, data, strb, busy):
        reg = BY_WORD.get(addr)
        if reg is None:
            return BusError.UNMAPPED
        if reg.read_only:
            return BusError.READ_ONLY
        if reg.locked_while_busy and busy:
            return BusError.BUSY
        if reg.name == "CTRL" and busy and self.written(START, data, strb) \
                and not self.written(SOFT_RESET, data, strb):  # SOFT_RESET wins
            return BusError.BUSY
        return BusError.NONE

    @staticmethod
    def r_err(addr):
        return BusError.NONE if addr in BY_WORD else BusError.UNMAPPED

    def word(self, addr):
        reg = BY_WORD.get(addr)
        if reg is None:
            return 0
        value = 0
        for f in reg.fields:
            name = port_name(reg, f)
            if reg.config is not None:
                v = CONFIG[reg.config]
            elif reg.constant:
                v = f.reset
            elif f.access == W1P:
                v = 0
            elif f.access == RO:
                v = self.inputs.get(name, 0)
            else:
                v = self.state[name]
            value |= bits(v, f.width) << f.lsb
        return value

    def pulses(self, ok, addr, data, strb):
        """W1P ports in this cycle."""
        out = {}
        mask = strobe_mask(strb)
        for reg in REGISTERS:
            for f in reg.fields:
                if f.access == W1P:
                    hit = ok and addr == reg.offset // 4
                    out[port_name(reg, f)] = int(hit and bits((data & mask) >> f.lsb, f.width) != 0)
        return out

    def edge(self, ok, addr, data, strb, sets, clears):
        """The clock edge: ``sets`` = {port: value} of asserted ``_set``, ``clears`` = the set of
        W1C ports whose ``_clr`` is high."""
        mask = strobe_mask(strb)
        for reg in REGISTERS:
            hit = ok and addr == reg.offset // 4
            for f in reg.fields:
                name = port_name(reg, f)
                if name not in self.state:
                    continue
                new, keep = bits(data >> f.lsb, f.width), bits(~mask >> f.lsb, f.width)
                if f.access == RW and hit:
                    self.state[name] = (self.state[name] & keep) | (new & ~keep)
                elif f.access in (W1C, WC):
                    if f.access == W1C:
                        clear = (hit and new & ~keep != 0) or name in clears
                    else:
                        clear = hit
                    if name in sets:
                        self.state[name] = bits(sets[name], f.width)
                    elif clear:
                        self.state[name] = 0


def ports(dut):
    """(stored-field outputs, W1P outputs, RO inputs, (set, value, clr) of sticky fields)."""
    stored, pulses, inputs, sticky = [], [], [], []
    for reg in REGISTERS:
        if reg.config is not None:
            continue
        for f in reg.fields:
            name = port_name(reg, f)
            if f.access == RO and not reg.constant:
                inputs.append((name, f.width))
            elif f.access == RW:
                stored.append(name)
            elif f.access == W1P:
                pulses.append(name)
            elif f.access in (W1C, WC):
                stored.append(name)
                sticky.append((name, f.width, f.access == W1C))
    return stored, pulses, inputs, sticky


def test_reset_values_and_constants():
    dut = RegisterFile(CONFIG)
    model = RegisterModel()

    async def tb(ctx):
        for reg in REGISTERS:
            ctx.set(dut.r_addr, reg.offset // 4)
            ctx.set(dut.r_en, 1)
            await ctx.tick()
            expected = model.word(reg.offset // 4)
            assert ctx.get(dut.r_data) == expected, reg.name
            if reg.config is None and not any(f.access == RO and not reg.constant
                                              for f in reg.fields):
                assert expected == reg.reset, reg.name
        assert model.word(register("CFG_COLS").offset // 4) == G.cols

    simulate(dut, tb)


def test_register_file_equals_its_model_every_cycle():
    dut = RegisterFile(CONFIG)
    model = RegisterModel()
    stored, pulses, inputs, sticky = ports(dut)
    r = rng(7)
    offsets = sorted(BY_WORD)
    seen = {e.name: 0 for e in BusError} | {"pulses": 0, "sets": 0, "clears": 0}

    def pick_addr():
        return r.choice(offsets) if r.random() < 0.85 else r.randrange(REG_SPACE_WORDS)

    async def tb(ctx):
        r_data = 0
        for cycle in range(5000):
            w_en, r_en, busy = r.random() < 0.5, r.random() < 0.5, r.random() < 0.3
            w_addr, r_addr = pick_addr(), pick_addr()
            w_data = r.getrandbits(32) if r.random() < 0.5 else r.getrandbits(4)
            w_strb = 0xF if r.random() < 0.7 else r.randrange(16)
            for port, v in ((dut.w_en, w_en), (dut.r_en, r_en), (dut.busy, busy),
                            (dut.w_addr, w_addr), (dut.r_addr, r_addr), (dut.w_data, w_data),
                            (dut.w_strb, w_strb)):
                ctx.set(port, v)
            for name, width in inputs:
                if r.random() < 0.2:
                    model.inputs[name] = r.getrandbits(width)
                    ctx.set(raw(getattr(dut, name)), model.inputs[name])
            sets, clears = {}, set()
            for name, width, w1c in sticky:
                s = r.random() < 0.05
                v = r.getrandbits(width)
                ctx.set(getattr(dut, name + "_set"), s)
                ctx.set(raw(getattr(dut, name + "_value")), v)
                if s:
                    sets[name] = v
                if w1c:
                    c = r.random() < 0.05
                    ctx.set(getattr(dut, name + "_clr"), c)
                    if c:
                        clears.add(name)
            where = f"cycle {cycle}"
            w_err = model.w_err(w_addr, w_data, w_strb, busy)
            assert ctx.get(raw(dut.w_err)) == w_err, where
            assert ctx.get(raw(dut.r_err)) == model.r_err(r_addr), where
            ok = w_en and w_err == BusError.NONE
            expected_pulses = model.pulses(ok, w_addr, w_data, w_strb)
            assert {p: ctx.get(getattr(dut, p)) for p in pulses} == expected_pulses, where
            got = {p: bits(ctx.get(raw(getattr(dut, p))), len(raw(getattr(dut, p))))
                   for p in stored}
            assert got == model.state, where
            assert ctx.get(dut.r_data) == r_data, where
            if w_en:
                seen[BusError(w_err).name] += 1
            seen["pulses"] += sum(expected_pulses.values())
            seen["sets"] += len(sets)
            seen["clears"] += len(clears)
            if r_en:
                r_data = model.word(r_addr)
            await ctx.tick()
            model.edge(ok, w_addr, w_data, w_strb, sets, clears)

    simulate(dut, tb)
    print(seen)
    assert min(seen.values()) > 20


def test_config_must_cover_every_cfg_register():
    with pytest.raises(ValueError, match="config has no value 'latency'"):
        RegisterFile({k: v for k, v in CONFIG.items() if k != "latency"})


def _random_write(ctx, dut, soft, r, words, seen):
    """Drive one cycle's bus write at random: mostly to one of ``words``, with random data and
    strobes, sometimes refused (busy), sometimes with a soft reset; counted in ``seen``."""
    w_en, busy, reset = r.random() < 0.6, r.random() < 0.2, r.random() < 0.02
    ctx.set(dut.w_en, w_en)
    ctx.set(dut.busy, busy)
    ctx.set(soft, reset)
    ctx.set(dut.w_addr, r.choice(words) if r.random() < 0.8 else r.choice(sorted(BY_WORD)))
    ctx.set(dut.w_data, r.getrandbits(32))
    ctx.set(dut.w_strb, r.randrange(16))
    seen["written"] += w_en and not busy
    seen["refused"] += w_en and busy
    seen["reset"] += reset


def test_derived_register_holds_the_looked_up_value_every_cycle():
    """``RegisterFile(derived=...)``: CMD_POOL's inverse (the accelerator's) equals the table
    entry of CMD_POOL in every cycle, through writes with random strobes, refused writes
    (busy) and soft resets; the inverse checked as an inverse (odd part times it is 1 modulo
    2**16), not against the table alone."""
    from amaranth import Module, Signal
    from amaranth.hdl import ResetInserter

    from hw.controller import POOL_INVERSES
    dut = RegisterFile(CONFIG, derived={"cmd_pool": ("inverse", POOL_INVERSES)})
    soft = Signal()
    top = Module()
    top.submodules.csr = ResetInserter(soft)(dut)
    pool_word = register("CMD_POOL").offset // 4
    r = rng(11)
    seen = {"written": 0, "refused": 0, "reset": 0, "changed": 0}

    async def tb(ctx):
        last = None
        for cycle in range(3000):
            pool, inverse = ctx.get(dut.cmd_pool), ctx.get(dut.cmd_pool_inverse)
            assert inverse == POOL_INVERSES[pool], f"cycle {cycle}: pool {pool}"
            if pool:
                odd = pool >> ((pool & -pool).bit_length() - 1)
                assert odd * inverse % 2**16 == 1, f"cycle {cycle}: pool {pool}"
            else:
                assert inverse == 0
            seen["changed"] += last is not None and pool != last
            last = pool
            _random_write(ctx, dut, soft, r, [pool_word], seen)
            await ctx.tick()

    simulate(top, tb)
    assert min(seen.values()) > 20, seen


def test_derived_register_arguments_are_checked():
    with pytest.raises(ValueError, match="'cmd_count' is not a read/write field's port|needs"):
        RegisterFile(CONFIG, derived={"cmd_count": ("x", [0] * 256)})
    with pytest.raises(ValueError, match="is not a read/write field's port"):
        RegisterFile(CONFIG, derived={"status_busy": ("x", [0, 1])})
    with pytest.raises(ValueError, match="needs 256 entries, not 4"):
        RegisterFile(CONFIG, derived={"cmd_pool": ("x", [0, 1, 2, 3])})


def test_sum_registers_hold_the_fields_sum_every_cycle():
    """``RegisterFile(sums=...)``: CMD_IN_ADDR + CMD_COUNT and CMD_ACC_ADDR + CMD_COUNT (the
    accelerator's) equal the Python sum of the two fields as read in every cycle, through
    writes with random strobes to the three registers and others, refused writes (busy) and
    soft resets."""
    from amaranth import Module, Signal
    from amaranth.hdl import ResetInserter

    sums = {"cmd_in_end": ("cmd_in_addr", "cmd_count"),
            "cmd_acc_end": ("cmd_acc_addr", "cmd_count")}
    dut = RegisterFile(CONFIG, sums=sums)
    soft = Signal()
    top = Module()
    top.submodules.csr = ResetInserter(soft)(dut)
    words = [register(n).offset // 4 for n in ("CMD_IN_ADDR", "CMD_ACC_ADDR", "CMD_COUNT")]
    r = rng(12)
    seen = {"written": 0, "refused": 0, "reset": 0, "carries": 0, "changed": 0}

    async def tb(ctx):
        last = None
        for cycle in range(3000):
            fields = {p: ctx.get(getattr(dut, p)) for p in ("cmd_in_addr", "cmd_acc_addr",
                                                           "cmd_count")}
            for name, (a, b) in sums.items():
                assert ctx.get(getattr(dut, name)) == fields[a] + fields[b], \
                    f"cycle {cycle}: {name} of {fields}"
            seen["carries"] += fields["cmd_in_addr"] + fields["cmd_count"] >= 1 << 16
            seen["changed"] += last is not None and fields != last
            last = fields
            _random_write(ctx, dut, soft, r, words, seen)
            await ctx.tick()

    simulate(top, tb)
    print(seen)
    assert min(seen.values()) > 20, seen


def test_sum_register_arguments_are_checked():
    with pytest.raises(ValueError, match="needs two read/write fields' ports"):
        RegisterFile(CONFIG, sums={"x": ("cmd_count", "status_busy")})
    with pytest.raises(ValueError, match="needs two read/write fields' ports"):
        RegisterFile(CONFIG, sums={"x": ("cmd_count",)})
    with pytest.raises(ValueError, match="'cmd_count' is a port already"):
        RegisterFile(CONFIG, sums={"cmd_count": ("cmd_in_addr", "cmd_count")})
