"""Differential fuzzing: the gateware against the register-level model, in lockstep.

Seeded random sequences of bus accesses and commands - legal and illegal fields, random byte
strobes (none included), unmapped addresses, writes while BUSY, soft resets in the middle of a
command, counters cleared - go to both devices (anything with ``read32``, ``write32``, ``read``
and ``wait_irq``: :class:`~sw.targets.sim.client.SimTransport` and
:class:`~sw.targets.regmodel.RegisterModel`). Every response and every value read must agree,
every register is compared after each step, and every window word after each command and at
the end of a sequence. A failing sequence is printed as its seed and the list of steps up to
the failure: a reproducer.

What may differ, by design, and is not compared: PERF_CYCLES, PERF_BUSY, PERF_COMPUTE and
PERF_STALL (the model's cycles are an estimate), PERF_MACS/VECTORS and the ACC/OUT windows while
a command runs (the model computes at START), and after an abort or a counter clear in the middle
of a command (the hardware did part of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hw.spec import (
    REGISTER_SPACE,
    WINDOWS,
    Geometry,
    Opcode,
    cim_of,
    command_registers,
    register,
)
from hw.spec.regmap import registers

__all__ = ["Fuzzer", "run_sequences"]

CTRL, STATUS, DOORBELL = register("CTRL"), register("STATUS"), register("DOORBELL")
IRQ_EN = CTRL.field("IRQ_EN").mask
ESTIMATED = {"PERF_CYCLES", "PERF_BUSY", "PERF_COMPUTE", "PERF_STALL"}
COUNTS = {"PERF_MACS", "PERF_VECTORS", "PERF_ADC", "PERF_ROWS"}  # (the last two: CIM builds)
#: a command at least this long is still BUSY for the few accesses that follow its START
#: (its busy cycles, LONG + drain, outlast them on the model's clock and on the hardware's)
LONG = 12
WHILE_BUSY = 3


class Mismatch(AssertionError):
    pass


@dataclass
class Fuzzer:
    """One lockstep pair: ``rtl`` and ``model`` of geometry ``g``, random choices from ``rng``."""
    rtl: object
    model: object
    g: Geometry
    rng: object
    steps: list = field(default_factory=list)
    exact_counts: bool = True    # PERF_MACS/VECTORS comparable
    exact_results: bool = True   # ACC/OUT comparable
    accesses: int = 0
    events: dict = field(default_factory=dict)  # what the sequence exercised, counted

    @property
    def registers(self):
        """The build's registers (a CIM build's include CIM_SHIFT and its counters)."""
        return registers(cim_of(self.g) is not None)

    def saw(self, event):
        self.events[event] = self.events.get(event, 0) + 1

    # --- the pair ---------------------------------------------------------------------------

    def both(self, what, *args):
        self.accesses += 1
        a, b = getattr(self.rtl, what)(*args), getattr(self.model, what)(*args)
        if a != b:
            raise Mismatch(f"{what}{tuple(hex(x) for x in args)}: rtl {a!r}, model {b!r}")
        return a

    def write(self, addr, value, strb=0xF):
        if addr == CTRL.offset:
            value |= IRQ_EN  # keep the interrupt on: wait_irq must not wait in vain
        if addr == DOORBELL.offset:
            value &= ~1  # no programs: the RTL here has no memory (programs: test_program_*)
        soft = CTRL.field("SOFT_RESET")
        if (addr == CTRL.offset and value & soft.mask and strb >> (soft.lsb // 8) & 1
                and self.model.busy):  # an abort, whichever step wrote it
            self.exact_counts = self.exact_results = False
        self.steps.append(("write32", hex(addr), hex(value), bin(strb)))
        return self.both("write32", addr, value, strb)

    def read(self, addr, busy=False):
        """A read; the values of the registers that may differ by design (module docstring)
        are left out, their responses still compared."""
        self.steps.append(("read32", hex(addr)))
        name = next((r.name for r in self.registers if r.offset == addr), None)
        partial = not self.exact_results and any(
            w.base <= addr < w.base + w.size for w in WINDOWS if w.name in ("ACC", "OUT"))
        if name in ESTIMATED or (name in COUNTS and (busy or not self.exact_counts)) or partial:
            self.accesses += 1
            a, b = self.rtl.read32(addr)[1], self.model.read32(addr)[1]
            if a != b:
                raise Mismatch(f"read32({hex(addr)}): rtl {a}, model {b}")
            return None
        return self.both("read32", addr)

    def settle(self):
        """Wait for the command (if any) to finish on both, and compare everything."""
        self.steps.append(("wait_irq",))
        self.rtl.wait_irq(20_000)
        self.model.wait_irq(20_000)
        self.compare_registers(busy=False)
        self.compare_windows()

    def compare_registers(self, busy):
        skip = set(ESTIMATED)
        if busy or not self.exact_counts:
            skip |= COUNTS
        for r in self.registers:
            if r.name not in skip:
                self.both("read32", r.offset)

    def compare_windows(self):
        for w in WINDOWS:
            if w.name in ("ACC", "OUT") and not self.exact_results:
                continue
            words = self.g.window_bytes()[w.name] // 4
            run = []
            for i in range(words + 1):
                if i < words and self.g.word_mask(w.name, i):
                    run.append(i)
                elif run:
                    addr = w.base + 4 * run[0]
                    a, b = self.rtl.read(addr, len(run)), self.model.read(addr, len(run))
                    self.accesses += len(run)
                    if a != b:
                        bad = next(j for j in range(len(run)) if a[j] != b[j])
                        raise Mismatch(f"{w.name} word {run[bad]}: rtl 0x{a[bad]:08X}, model "
                                       f"0x{b[bad]:08X}")
                    run = []

    # --- random steps -----------------------------------------------------------------------

    def pick(self, options, p=None):
        return options[int(self.rng.choice(len(options), p=p))]

    def value(self):
        return int(self.rng.integers(0, 2**32))

    def strb(self):
        return int(self.pick([0xF, 0xF, 0xF, 0, 1, 2, 4, 8, 3, 0xC, 5, 0xA, 7, 0xE]))

    def address(self, busy):
        """A random word address: a register, a window word (first, last, random, a hole),
        or a gap; no ACC/OUT read while BUSY (the hardware shows partial results)."""
        kind = self.pick(["reg", "reg", "window", "window", "gap"])
        if kind == "reg":
            if self.rng.random() < 0.9:
                return self.pick([r.offset for r in self.registers])
            return 4 * int(self.rng.integers(0, REGISTER_SPACE.size // 4))
        if kind == "gap":
            return self.pick([0x1000, 0x7FFC, 0x9000, 0xFFFC])
        w = self.pick([w for w in WINDOWS if not (busy and w.name in ("ACC", "OUT"))])
        words = self.g.window_bytes()[w.name] // 4
        i = self.pick([0, words - 1, int(self.rng.integers(0, words)),
                       int(self.rng.integers(0, w.size // 4))])
        return w.base + 4 * i

    def command(self):
        """CMD_* fields that make a valid command, one of them often spoiled (a bad opcode,
        bank, count, range, rows, cols or pool), then START."""
        g, rng = self.g, self.rng
        count = int(self.pick([1, 2, 3, LONG, g.acc_depth]))
        flags = int(rng.integers(0, 32))
        requant = flags >> 2 & 1
        pool = self.pick([p for p in (1, 2, 4, count) if count % p == 0]) if requant else 1
        fields = {
            "CMD_OP": Opcode.VMM.value,
            "CMD_FLAGS": flags,
            "CMD_BANK": int(rng.integers(0, g.banks)),
            "CMD_IN_ADDR": int(rng.integers(0, g.in_depth - count + 1)),
            "CMD_ACC_ADDR": int(rng.integers(0, g.acc_depth - count + 1)),
            "CMD_OUT_ADDR": int(rng.integers(0, g.out_depth - count // pool + 1)),
            "CMD_COUNT": count,
            "CMD_ROWS": int(rng.integers(1, g.rows + 1)),
            "CMD_COLS": int(rng.integers(1, g.cols + 1)),
            "CMD_OUT_ZP": int(rng.integers(-128, 128)) & 0xFF,
            "CMD_POOL": pool,
        }
        if rng.random() < 0.3:
            name, bad = self.pick([
                ("CMD_OP", 5), ("CMD_OP", Opcode.NOP.value), ("CMD_BANK", g.banks),
                ("CMD_COUNT", 0), ("CMD_IN_ADDR", g.in_depth), ("CMD_ACC_ADDR", g.acc_depth),
                ("CMD_OUT_ADDR", g.out_depth + 1), ("CMD_ROWS", 0), ("CMD_ROWS", g.rows + 1),
                ("CMD_COLS", g.cols + 1), ("CMD_POOL", 0), ("CMD_POOL", 3)])
            fields[name] = bad
        for r in command_registers():
            self.write(r.offset, fields[r.name] & 0xFFFF)
        self.start()

    def start(self, soft_reset=False):
        self.write(CTRL.offset, CTRL.pack(START=1, SOFT_RESET=int(soft_reset)))
        self.saw("start")
        if self.model.busy:  # the command runs: a few accesses while BUSY, or wait
            self.saw("command ran")
            count = self.model.read32(register("CMD_COUNT").offset)[0]
            if count >= LONG:
                for _ in range(int(self.rng.integers(0, WHILE_BUSY + 1))):
                    self.step(busy=True)
                    self.saw("access while busy")
                    if not self.model.busy:
                        break
            if self.model.busy and self.rng.random() < 0.2:  # abort it
                self.write(CTRL.offset, CTRL.pack(SOFT_RESET=1, START=int(self.rng.random() < .5)))
                self.saw("abort")
                self.exact_counts = self.exact_results = False
        else:
            self.saw("command refused or NOP")
        self.settle()

    def step(self, busy=False):
        """One random access (``busy``: while a command runs, so no command of its own)."""
        action = self.pick(["read", "write", "write", "data", "command", "ctrl"]
                           if not busy else ["read", "write", "write", "ctrl"])  # one access
        if action == "read":
            self.read(self.address(busy), busy)
        elif action == "write":
            self.write(self.address(busy), self.value(), self.strb())
            if not busy and self.model.busy:
                # a random CTRL word with START set started the command in the CMD_* registers:
                # wait for it, as start() does for a short one (the model's clock is an
                # estimate, so BUSY a few accesses after START may differ by design)
                self.saw("command ran")
                self.settle()
        elif action == "data":  # a burst of data words into a writable window
            w = self.pick([w for w in WINDOWS if w.writable])
            words = self.g.window_bytes()[w.name] // 4
            first = int(self.rng.integers(0, words))
            for i in range(first, min(words, first + int(self.rng.integers(1, 9)))):
                if self.g.word_mask(w.name, i):
                    self.write(w.base + 4 * i, self.value())
        elif action == "command":
            self.command()
        else:  # CTRL: counters cleared, or a bare START / SOFT_RESET
            kind = self.pick(["clear", "start", "reset"])
            if kind == "clear":
                self.write(CTRL.offset, CTRL.pack(CLEAR_COUNTERS=1))
                if busy:
                    self.exact_counts = False
            elif kind == "start" and not busy:
                self.start()
            elif kind == "reset":
                self.write(CTRL.offset, CTRL.pack(SOFT_RESET=1))
                if busy:
                    self.exact_counts = self.exact_results = False
            else:
                self.write(CTRL.offset, CTRL.pack(START=1))  # refused while BUSY
        if not busy:
            self.compare_registers(busy=False)


def reproducer(steps):
    """The sequence as Python lines for both devices (``dev`` = either), from its soft reset."""
    lines = []
    for op, *args in steps:
        if op == "wait_irq":
            lines.append("dev.wait_irq(20_000)")
        else:
            lines.append(f"dev.{op}({', '.join(args)})")
    return "reproducer (replay on each device; the last access disagrees):\n  " + \
        "\n  ".join(lines)


def _resync(fz):
    """After an aborted command ACC and OUT may differ: one command that rewrites every ACC and
    OUT row (no accumulate, requantized) on both makes them equal again."""
    g = fz.g
    fields = {"CMD_OP": Opcode.VMM.value, "CMD_FLAGS": register("CMD_FLAGS").pack(REQUANT=1),
              "CMD_COUNT": g.acc_depth, "CMD_ROWS": g.rows, "CMD_COLS": g.cols, "CMD_POOL": 1}
    for r in command_registers():
        fz.write(r.offset, fields.get(r.name, 0))
    fz.write(CTRL.offset, CTRL.pack(START=1))
    fz.steps.append(("wait_irq",))
    fz.rtl.wait_irq(20_000)
    fz.model.wait_irq(20_000)
    fz.exact_results = True


def run_sequences(rtl, model, geometry, seeds, steps=12, log=print):
    """Run one sequence per seed on the pair, each from a soft reset with the counters cleared
    (and ACC/OUT made equal again after an abort); returns the number of compared accesses.
    On a mismatch, raises AssertionError with the seed and the steps that led to it."""
    import numpy as np
    g = geometry
    if g.acc_depth > min(g.in_depth, g.out_depth):
        raise ValueError("the resync command needs in_depth and out_depth >= acc_depth")
    total, exact, events = 0, False, {}
    for seed in seeds:
        fz = Fuzzer(rtl, model, geometry, np.random.default_rng(seed))
        try:
            fz.write(CTRL.offset, CTRL.pack(SOFT_RESET=1))
            if not exact:
                _resync(fz)
            fz.write(CTRL.offset, CTRL.pack(CLEAR_COUNTERS=1))
            fz.compare_registers(busy=False)
            fz.compare_windows()
            for _ in range(steps):
                fz.step()
            fz.settle()
        except Mismatch as e:
            raise AssertionError(f"seed {seed}: {e}\n{reproducer(fz.steps)}") from None
        total += fz.accesses
        exact = fz.exact_results
        for k, v in fz.events.items():
            events[k] = events.get(k, 0) + v
    log(f"{len(seeds)} sequences, {total} compared accesses; exercised: {events}")
    return total, events
