# amaranth: UnusedElaboratable=no
"""hw.controller.Controller in amaranth.sim against a naive cycle model of it.

The model (:class:`ControllerModel`) is the docstring written as Python: command acceptance
(the check itself is :func:`hw.spec.check`; test_command_check_sim.py holds the two equal), the
issue sequence (``issue``, ``index``, ``in_rd_addr``), the drain of each command, ``done``,
``busy`` and ``ready``, and the six performance counters. Every output is compared in every
cycle, with random commands, random ``start`` pulses while issuing (ignored) and while the last
command drains (taken: back to back), random ``array_active`` and ``clear_counters``. A second
test states the timing in the spec's own terms: BUSY lasts ``timing.busy_cycles`` (``count +
timing.drain(latency)``) cycles from the one after START, and DONE pulses in the cycle after.
"""

import collections

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw import enums
from hw.controller import Controller, late_command_check
from hw.spec import Command, ErrorCode, Geometry, Opcode, check, timing
from verif.hw.sim_util import raw, rng, simulate
from verif.hw.test_command_check_sim import GEOMETRIES as CHECK_GEOMETRIES
from verif.hw.test_command_check_sim import (
    directed_commands,
    perturbed_command,
    random_command,
    valid_command,
)

pytestmark = pytest.mark.unit

MASK32 = (1 << 32) - 1
COUNTERS = ("cycles", "busy", "compute", "stall", "macs", "vectors")
FIELDS = ("op", "bank", "in_addr", "acc_addr", "out_addr", "count", "rows", "cols", "pool")


class ControllerModel:
    """The Controller's registers and outputs, cycle by cycle."""

    def __init__(self, g, drain, acc_drain, late_check=False):
        """``late_check``: the Controller's ``check_latency=1`` (a refused start is BUSY for
        its check cycle and shows DONE and its error a cycle later)."""
        self.g, self.drain_cycles, self.acc_drain = g, drain, acc_drain
        self.late_check = late_check
        self.issuing, self.done, self.error, self.requant = 0, 0, ErrorCode.NONE, False
        self.checking = None  # with late_check: the error of a refused start in its check
        self.index = self.left = 0
        self.tails = []   # per command that issued its last vector: cycles until its DONE
        self.perf = dict.fromkeys(COUNTERS, 0)
        # the last cycle's increments: every counter but PERF_CYCLES adds them a cycle late,
        # PERF_MACS two (its issue and the command's rows and cols registered first)
        self.late = dict.fromkeys(COUNTERS, 0)
        self.macs_early = 0

    @property
    def busy(self):
        return int(bool(self.issuing or self.tails or self.checking is not None))

    @property
    def held(self):
        """Issuing, or a refused start's check cycle (a start is ignored)."""
        return int(bool(self.issuing or self.checking is not None))

    def outputs(self, cmd):
        in_bits = (self.g.in_depth - 1).bit_length()
        return dict(busy=self.busy, done=self.done, error=self.error, issue=self.issuing,
                    index=self.index, in_rd_addr=(cmd.in_addr + self.index) % (1 << in_bits),
                    ready=int(not self.held or self.left == 1),
                    **{f"perf_{k}": v for k, v in self.perf.items()})

    def step(self, cmd, start, clear, active):
        """The clock edge at the end of a cycle with these inputs."""
        issue = self.issuing
        inc = dict(busy=self.busy, compute=active, stall=self.busy and not issue,
                   macs=issue * ((cmd.rows * cmd.cols) & 0xFFFF), vectors=issue)
        late, self.late = self.late, {k: 0 if clear else int(v) for k, v in inc.items()}
        self.late["macs"], self.macs_early = (0, 0) if clear else (self.macs_early, inc["macs"])
        late["cycles"] = 1
        for k in COUNTERS:
            self.perf[k] = 0 if clear else (self.perf[k] + late[k]) & MASK32
        done = int(1 in self.tails)
        self.tails = [t - 1 for t in self.tails if t > 1]
        if self.checking is not None:
            self.error, self.checking, done = self.checking, None, 1
        elif not self.issuing:
            if start:  # accepted while the last command drains too
                self.error = check(cmd, self.g)
                self.index, self.left, self.requant = 0, cmd.count, cmd.requant
                if self.late_check and self.error != ErrorCode.NONE:
                    self.checking, self.error = self.error, ErrorCode.NONE
                elif self.error != ErrorCode.NONE or cmd.op == Opcode.NOP:
                    done = 1
                else:
                    self.issuing = 1
        else:
            self.index = (self.index + 1) & 0xFFFF
            self.left -= 1
            if self.left == 0:
                self.issuing = 0
                # without REQUANT: done once in ACC, but after the command ahead of it
                self.tails.append(self.drain_cycles if self.requant else
                                  max([self.acc_drain] + [t + 1 for t in self.tails]))
        self.done = done


def small_command(r, g):
    """Mostly short VMM commands that pass (long enough to overlap starts and counters)."""
    count = r.randrange(1, min(g.in_depth, g.acc_depth, 12) + 1)
    cmd = Command(op=Opcode.VMM.value, bank=r.randrange(g.banks),
                  in_addr=r.randrange(g.in_depth - count + 1),
                  acc_addr=r.randrange(g.acc_depth - count + 1), out_addr=0, count=count,
                  rows=r.randrange(1, g.rows + 1), cols=r.randrange(1, g.cols + 1),
                  requant=r.random() < 0.4, pool=1)
    roll = r.random()
    if roll < 0.1:
        return Command(**{**cmd.__dict__, "op": Opcode.NOP.value})
    if roll < 0.25:   # some rejected ones
        return Command(**{**cmd.__dict__, "bank": g.banks + r.randrange(3)})
    if roll < 0.3:
        return Command(**{**cmd.__dict__, "count": 0})
    return cmd


def drive(ctx, ctl, cmd):
    for f in FIELDS:
        ctx.set(raw(getattr(ctl, f)), getattr(cmd, f))
    ctx.set(ctl.requant, cmd.requant)


GEOMETRIES = {
    "16x16": Geometry.default(),
    "5x3x3": Geometry(rows=5, cols=3, banks=3, in_depth=40, acc_depth=24, out_depth=20),
}


def _controller_and_model(g, **kwargs):
    """A Controller for ``g``'s array (its drains from :mod:`hw.spec.timing`; ``kwargs`` to
    the Controller) and its model."""
    latency = timing.array_latency(g.rows)
    drain, acc_drain = timing.drain(latency), timing.drain(latency, requant=False)
    return (Controller(g, drain=drain, acc_drain=acc_drain, **kwargs),
            ControllerModel(g, drain, acc_drain,
                            late_check=kwargs.get("check_latency", 0) == 1))


def _cycle(ctx, dut, model, cmd, cycle, **inputs):
    """Drive ``cmd`` and ``inputs`` (start, clear_counters, array_active, ...) and check every
    output against the model's; returns the model's outputs."""
    drive(ctx, dut, cmd)
    for name, value in inputs.items():
        ctx.set(getattr(dut, name), value)
    expected = model.outputs(cmd)
    got = {k: ctx.get(raw(getattr(dut, k))) for k in expected}
    if not expected["issue"]:   # an issue cycle's vector's address and index; nothing otherwise
        for name in ("in_rd_addr", "index"):
            del got[name], expected[name]
    else:                       # the input buffer reads in every issue cycle
        assert ctx.get(dut.read_en), f"cycle {cycle}: issue without read_en"
    assert got == {k: int(v) for k, v in expected.items()}, f"cycle {cycle}"
    if model.checking is None:  # no register-mode start in its check cycle: no cancel
        assert ctx.get(dut.program_last_issue) == ctx.get(dut.last_issue), f"cycle {cycle}"
    # the issue before the cancel, and the cancel (the datapath drops a cancelled vector)
    assert ctx.get(dut.issue) == ctx.get(dut.issue_early) & ~ctx.get(dut.cancel_issue) & 1, \
        f"cycle {cycle}"
    return expected


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_controller_equals_its_model_every_cycle(name):
    g = GEOMETRIES[name]
    dut, model = _controller_and_model(g)
    r = rng(len(name))
    stats = {"commands": 0, "vectors": 0, "ignored_starts": 0, "while_draining": 0,
             "done_held_back": 0}

    async def tb(ctx):
        cmd = small_command(r, g)
        for cycle in range(4000):
            if not model.issuing and r.random() < 0.3:
                cmd = small_command(r, g)
            elif model.issuing and r.random() < 0.05:
                cmd = Command(**{**cmd.__dict__, "rows": r.randrange(1, g.rows + 1)})
            start = r.random() < (0.2 if not model.busy else 0.25)
            clear, active = r.random() < 0.02, r.random() < 0.5
            expected = _cycle(ctx, dut, model, cmd, cycle, start=start, clear_counters=clear,
                              array_active=active)
            stats["commands"] += start and not model.issuing
            stats["while_draining"] += start and not model.issuing and model.busy
            stats["ignored_starts"] += start and model.issuing
            stats["vectors"] += expected["issue"]
            stats["done_held_back"] += (model.issuing and model.left == 1 and not model.requant
                                        and any(t > model.acc_drain for t in model.tails))
            await ctx.tick()
            model.step(cmd, start, clear, active)

    simulate(dut, tb)
    print(stats)
    assert min(v for k, v in stats.items() if k != "done_held_back") > 50
    assert stats["done_held_back"] > 10


@pytest.mark.parametrize("requant", [True, False])
@pytest.mark.parametrize("count", [1, 2, 7])
def test_busy_and_done_follow_the_spec_timing(count, requant):
    g = Geometry.default(rows=8, cols=8)
    latency = timing.array_latency(g.rows)
    dut = Controller(g, drain=timing.drain(latency),
                     acc_drain=timing.drain(latency, requant=False))
    cmd = Command(op=Opcode.VMM.value, count=count, rows=8, cols=4, pool=1, requant=requant)

    async def tb(ctx):
        drive(ctx, dut, cmd)
        ctx.set(dut.clear_counters, 1)
        await ctx.tick()
        ctx.set(dut.clear_counters, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        busy, issues, indices, done_at = 0, 0, [], None
        for cycle in range(1, count + timing.drain(latency) + 10):
            busy += ctx.get(dut.busy)
            if ctx.get(dut.issue):
                issues += 1
                indices.append(ctx.get(dut.index))
                assert ctx.get(dut.in_rd_addr) == cmd.in_addr + ctx.get(dut.index)
            if ctx.get(dut.done):
                assert done_at is None, "one DONE pulse"
                done_at = cycle
            await ctx.tick()
        assert busy == timing.busy_cycles(count, latency, requant)
        # START's cycle is 0; BUSY in cycles 1 .. count + drain; DONE right after them.
        assert done_at == 1 + count + timing.drain(latency, requant)
        assert issues == count and indices == list(range(count))
        assert ctx.get(dut.perf_busy) == timing.busy_cycles(count, latency, requant)
        assert ctx.get(dut.perf_vectors) == count
        assert ctx.get(dut.perf_macs) == count * cmd.rows * cmd.cols
        assert ctx.get(dut.perf_stall) == timing.drain(latency, requant)

    simulate(dut, tb)


def test_controller_checks_its_drain():
    with pytest.raises(ValueError, match="drain must be >= 1"):
        Controller(Geometry.default(), drain=0)


@pytest.mark.parametrize("check_latency, failed_input", [(0, False), (1, False), (1, True)])
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_an_external_check_equals_the_model(name, check_latency, failed_input):
    """With ``external_check`` (the accelerator's), the verdict comes from ``check_error``:
    in the start cycle (no cycle changes), or a cycle late (``check_latency=1``: a
    register-mode start is taken and cancelled a cycle later if bad, BUSY in that cycle,
    DONE after it; with ``check_failed_input`` the cancel comes from ``check_failed``). Every
    output equals the model's every cycle."""
    g = GEOMETRIES[name]
    dut, model = _controller_and_model(g, external_check=True, check_latency=check_latency,
                                       check_failed_input=failed_input)
    r = rng(len(name) + 10 * check_latency)
    stats = {"commands": 0, "refused": 0, "while_draining": 0, "start_after_refused": 0}

    async def tb(ctx):
        cmd = last = small_command(r, g)
        # the first cycle a start can be taken after a refused command (the cycle after its
        # start, or with the late check after its check cycle)
        after_refused = False
        for cycle in range(4000):
            if not model.held and r.random() < 0.3:
                cmd = small_command(r, g)
            # (often right after a refused command: the late check has just cancelled it)
            start = r.random() < (0.7 if after_refused else 0.3 if not model.busy else 0.25)
            clear, active = r.random() < 0.02, r.random() < 0.5
            # the verdict of the command on the inputs now, or of the one of the cycle before
            verdict = check(last if check_latency else cmd, g)
            failed = {"check_failed": int(verdict != 0)} if failed_input else {}
            _cycle(ctx, dut, model, cmd, cycle, start=start, clear_counters=clear,
                   array_active=active, check_error=verdict, **failed)
            taken = start and not model.held
            stats["commands"] += taken
            stats["while_draining"] += taken and model.busy
            stats["start_after_refused"] += taken and after_refused
            refused = taken and check(cmd, g) != 0
            stats["refused"] += refused
            checking = model.checking is not None
            await ctx.tick()
            model.step(cmd, start, clear, active)
            after_refused = checking if check_latency else refused
            last = cmd

    simulate(dut, tb)
    print(stats)
    assert min(stats.values()) > 20, stats


def test_the_late_check_needs_an_external_check():
    with pytest.raises(ValueError, match="latency must be 1 or 2, not 3"):
        late_command_check(Module(), Geometry.default(), latency=3, **{
            f: Signal(8) for f in (*FIELDS, "requant")})
    with pytest.raises(ValueError, match=r"error_latency must be 2 or latency \(2\), not 1"):
        late_command_check(Module(), Geometry.default(), latency=2, error_latency=1, **{
            f: Signal(8) for f in (*FIELDS, "requant")})
    with pytest.raises(ValueError, match="check_latency must be 0, or 1 with external_check"):
        Controller(Geometry.default(), drain=4, check_latency=1)
    with pytest.raises(ValueError, match="check_failed_input needs check_latency=1"):
        Controller(Geometry.default(), drain=4, external_check=True, check_failed_input=True)


class LateCheck(wiring.Component):
    """:func:`late_command_check` of its command inputs: ``error`` and ``failed``."""

    def __init__(self, g, latency=1, error_latency=None):
        self.g, self.latency, self.error_latency = g, latency, error_latency
        super().__init__({"op": In(enums.Opcode), "bank": In(8), "in_addr": In(16),
                          "acc_addr": In(16), "out_addr": In(16), "count": In(16),
                          "rows": In(8), "cols": In(8), "requant": In(1), "pool": In(8),
                          "error": Out(enums.ErrorCode), "failed": Out(1)})

    def elaborate(self, platform):
        m = Module()
        error, failed = late_command_check(m, self.g, latency=self.latency,
                                           error_latency=self.error_latency,
                                           **{f: getattr(self, f)
                                              for f in (*FIELDS, "requant")})
        m.d.comb += [self.error.eq(error), self.failed.eq(failed)]
        return m


@pytest.mark.parametrize("latency,error_latency", [(1, 1), (2, 2), (1, 2)])
@pytest.mark.parametrize("name", list(CHECK_GEOMETRIES))
def test_the_late_check_and_its_failed_bit_equal_the_spec(name, latency, error_latency):
    """late_command_check ``latency`` cycles after its fields: ``failed`` is whether
    :func:`hw.spec.check` of them is not NONE, and ``error_latency`` cycles after them
    ``error`` is that check, for boundary-biased commands (those of test_command_check_sim,
    each check in turn the first to fail), a new one every cycle."""
    g = CHECK_GEOMETRIES[name]
    r = rng(sum(map(ord, name)) + latency + 2 * error_latency)
    dut = LateCheck(g, latency, error_latency)
    seen = collections.Counter()

    async def tb(ctx):
        directed = directed_commands(g)
        sent = []
        for i in range(len(directed) + 3000):
            cmd = directed[i] if i < len(directed) else \
                (valid_command if i % 10 == 0 else random_command if i % 10 < 4
                 else perturbed_command)(r, g)
            drive(ctx, dut, cmd)
            if len(sent) >= error_latency:
                last = sent[-latency]
                assert ctx.get(dut.failed) == int(check(last, g) != 0), \
                    f"command {i - latency}: {last}"
                last = sent[-error_latency]
                expected = check(last, g)
                seen[expected.name] += 1
                assert ctx.get(raw(dut.error)) == expected, \
                    f"command {i - error_latency}: {last}"
            sent.append(cmd)
            await ctx.tick()

    simulate(dut, tb)
    print(f"{name}: {dict(seen)}")
    assert {c.name for c in ErrorCode if c <= ErrorCode.BAD_POOL} == set(seen)
