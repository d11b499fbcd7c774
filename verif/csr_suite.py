"""A CSR suite generated from the register map, run with the same expectations on every target.

In the manner of OpenTitan's standard CSR tests, every expectation comes from ``hw/spec`` (the
register map, the geometry's window layout), never from a target: the register-level model and
the gateware in Icarus and Verilator answer the same checks through the same two calls,
``read32(addr) -> (value, resp)`` and ``write32(addr, value, strb) -> resp``
(:class:`~sw.targets.regmodel.RegisterModel` and :class:`~sw.targets.sim.client.SimTransport`).

Checks: ``hw_reset`` (every register's reset value, again after CTRL.SOFT_RESET), ``rw`` (random
values into every writable field, with random strobes), ``bit_bash`` (walking ones and zeros on
every bit of every register; read-only bits and registers unchanged, refused writes answer
SLVERR), ``aliasing`` (a write to one register changes no other), ``mem_walk`` (first, last and
random words of every window, with strobes; holes and gaps answer DECERR; read-only windows
SLVERR) and ``access_types`` (W1P reads 0, W1C, WC even with no strobes, RO fields of a
writable register, zero-strobe writes change nothing).
"""

from __future__ import annotations

import numpy as np

from hw.spec import (
    ALL_FEATURES,
    REGISTER_SPACE,
    REGISTERS,
    RO,
    RW,
    W1C,
    W1P,
    WC,
    WINDOWS,
    BusError,
    ErrorCode,
    Geometry,
    Opcode,
    register,
    timing,
)

__all__ = ["CHECKS", "CsrSuite"]

FULL = 0xFFFF_FFFF
#: registers whose value changes by itself (cycle counter)
VOLATILE = {"PERF_CYCLES"}
CTRL, STATUS = register("CTRL"), register("STATUS")


def _strobe_mask(strb):
    return sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)


def _mask(reg, *access):
    return sum(f.mask for f in reg.fields if f.access in access)


class CsrSuite:
    """The checks against one device of geometry ``geometry``; ``rng`` seeds the random parts.
    Each check method returns the number of bus accesses it made and raises AssertionError
    with the register or address and what was expected."""

    def __init__(self, dev, geometry: Geometry, rng):
        self.dev, self.g, self.rng = dev, geometry, rng
        self.accesses = 0
        config = geometry.as_dict() | {"latency": timing.array_latency(geometry.rows),
                                       "features": ALL_FEATURES}
        self.reset = {r.name: (config[r.config] if r.config else r.reset) for r in REGISTERS}

    # --- bus ------------------------------------------------------------------------------------

    def rd(self, addr, resp="OKAY"):
        self.accesses += 1
        value, got = self.dev.read32(addr)
        assert got == resp, f"read of 0x{addr:05X}: {got}, expected {resp}"
        return value

    def wr(self, addr, value, strb=0xF, resp="OKAY"):
        self.accesses += 1
        got = self.dev.write32(addr, value & FULL, strb)
        assert got == resp, f"write of 0x{value:08X} (strb {strb:04b}) to 0x{addr:05X}: {got}, " \
                            f"expected {resp}"

    def registers(self):
        """Every register's value by name (the volatile ones left out)."""
        return {r.name: self.rd(r.offset) for r in REGISTERS if r.name not in VOLATILE}

    def soft_reset(self):
        self.wr(CTRL.offset, CTRL.pack(SOFT_RESET=1))

    def _rand(self):
        return int(self.rng.integers(0, 2**32))

    # --- checks ---------------------------------------------------------------------------------

    def hw_reset(self):
        """Every register reads its reset (or configuration) value, before anything else and
        again after a soft reset that follows writes to every writable field."""
        for phase in ("reset", "soft reset"):
            for name, value in self.registers().items():
                assert value == self.reset[name], \
                    f"{phase}: {name} = 0x{value:08X}, expected 0x{self.reset[name]:08X}"
            for r in REGISTERS:
                if _mask(r, RW) and r.name != "CTRL":
                    self.wr(r.offset, self._rand())
            self.wr(CTRL.offset, CTRL.pack(IRQ_EN=1))
            self.rd(0x7FFC, "DECERR")  # sets BUS_ERROR and BUS_ERROR_ADDR
            self.soft_reset()

    def rw(self, rounds=4):
        """Random values (and random strobes) into every register with RW fields: the RW bits
        take the written bytes, every other bit keeps its value or reads 0 (W1P)."""
        for _ in range(rounds):
            for r in REGISTERS:
                rw = _mask(r, RW)
                if not rw:
                    continue
                value, strb = self._rand(), int(self.rng.integers(0, 16))
                if r.name == "CTRL":
                    value &= rw  # W1P bits would start a command or reset
                old = self.rd(r.offset)
                self.wr(r.offset, value, strb)
                keep = ~_strobe_mask(strb) | ~rw
                expected = (old & keep | value & ~keep) & rw | old & ~rw & ~_mask(r, W1P)
                got = self.rd(r.offset)
                assert got == expected, f"{r.name}: wrote 0x{value:08X} strb {strb:04b} over " \
                                        f"0x{old:08X}, read 0x{got:08X}, expected 0x{expected:08X}"

    def bit_bash(self):
        """Walking ones and zeros on every bit of every register: RW bits follow, everything
        else is unchanged; a write to a read-only register answers SLVERR (BUS_ERROR
        READ_ONLY) and changes nothing."""
        for r in REGISTERS:
            if r.name in VOLATILE or r.name in ("CTRL", "STATUS", "BUS_ERROR", "DOORBELL"):
                continue  # their action bits: access_types
            rw = _mask(r, RW)
            before = self.rd(r.offset)
            for bit in range(32):
                for pattern in (1 << bit, FULL ^ (1 << bit)):
                    if r.read_only:
                        self.wr(r.offset, pattern, resp="SLVERR")
                        assert self.rd(register("BUS_ERROR").offset) == BusError.READ_ONLY
                        assert self.rd(register("BUS_ERROR_ADDR").offset) == r.offset
                        # (BUS_ERROR_ADDR itself now holds its own, refused, address)
                        expected = r.offset if r.name == "BUS_ERROR_ADDR" else before
                    else:
                        self.wr(r.offset, pattern)
                        expected = pattern & rw | before & ~rw
                    got = self.rd(r.offset)
                    assert got == expected, f"{r.name} bit {bit}: wrote 0x{pattern:08X}, read " \
                                            f"0x{got:08X}, expected 0x{expected:08X}"
            self.wr(register("BUS_ERROR").offset, 0)
        self.soft_reset()

    def aliasing(self):
        """A write to one register changes no other register."""
        for target in REGISTERS:
            if not _mask(target, RW) or target.name == "CTRL":
                continue
            before = self.registers()
            self.wr(target.offset, self._rand())
            after = self.registers()
            changed = sorted(n for n in before if before[n] != after[n] and n != target.name)
            assert not changed, f"a write to {target.name} changed {changed}"
        self.soft_reset()

    def mem_walk(self, samples=6):
        """First, last and random words of every window, and its holes: a stored word reads
        back what was written (the bits ``Geometry.word_mask`` says it keeps, with the strobes
        honoured); read-only windows answer SLVERR to writes; holes and the gaps between
        windows answer DECERR to both."""
        g = self.g
        for w in WINDOWS:
            words = g.window_bytes()[w.name] // 4
            mapped = [i for i in (0, words - 1) if g.word_mask(w.name, i)]
            mapped += [int(i) for i in self.rng.integers(0, words, samples)
                       if g.word_mask(w.name, int(i))]
            holes = [i for i in range(words) if not g.word_mask(w.name, i)]
            holes = [holes[j] for j in self.rng.permutation(len(holes))[:samples]]
            holes += [words, w.size // 4 - 1] if words < w.size // 4 else []
            for i in mapped:
                addr, mask = w.base + 4 * i, g.word_mask(w.name, i)
                if not w.writable:
                    self.wr(addr, self._rand(), resp="SLVERR")
                    self.rd(addr)
                    continue
                value = self._rand()
                self.wr(addr, value)
                got = self.rd(addr)
                assert got == value & mask, f"{w.name} word {i}: wrote 0x{value:08X}, read " \
                                            f"0x{got:08X}, expected 0x{value & mask:08X}"
                strb, new = int(self.rng.integers(0, 16)), self._rand()
                self.wr(addr, new, strb)
                lanes = _strobe_mask(strb)
                expected = (value & ~lanes | new & lanes) & mask
                got = self.rd(addr)
                assert got == expected, f"{w.name} word {i}: strb {strb:04b} of 0x{new:08X} " \
                                        f"over 0x{value:08X} read 0x{got:08X}, expected " \
                                        f"0x{expected:08X}"
            for i in holes:
                addr = w.base + 4 * i
                self.wr(addr, self._rand(), resp="DECERR")
                assert self.rd(addr, "DECERR") == 0, f"a refused read of 0x{addr:05X} is not 0"
        ends = sorted([(REGISTER_SPACE.base, REGISTER_SPACE.size)]
                      + [(w.base, w.size) for w in WINDOWS])
        for (base, size), (nxt, _) in zip(ends, ends[1:], strict=False):
            if base + size < nxt:  # a gap between two spaces
                for addr in (base + size, nxt - 4):
                    self.wr(addr, self._rand(), resp="DECERR")
                    assert self.rd(addr, "DECERR") == 0, f"a refused read of 0x{addr:05X}"
        used = {r.offset for r in REGISTERS}
        for addr in (a for a in (0x018, 0x07C, 0x098, REGISTER_SPACE.size - 4) if a not in used):
            self.wr(addr, 1, resp="DECERR")
            assert self.rd(addr, "DECERR") == 0, f"a refused read of 0x{addr:05X} is not 0"
        self.wr(register("BUS_ERROR").offset, 0)

    def access_types(self):
        """W1P fields read 0; STATUS.DONE is write-1-to-clear and its RO fields ignore writes;
        BUS_ERROR.CODE clears on any write, even one with no byte strobes; a zero-strobe write to
        any other register changes nothing."""
        status, bus_error = STATUS, register("BUS_ERROR")
        self.wr(CTRL.offset, CTRL.pack(IRQ_EN=1, CLEAR_COUNTERS=1))
        assert self.rd(CTRL.offset) == CTRL.pack(IRQ_EN=1), "W1P bits must read 0"
        self.wr(register("CMD_OP").offset, Opcode.NOP.value)
        self.wr(CTRL.offset, CTRL.pack(IRQ_EN=1, START=1))  # a NOP: DONE at once, no error
        done = status.pack(DONE=1)
        assert self.rd(status.offset) == done
        self.wr(status.offset, FULL ^ status.field("DONE").mask)  # 0 to DONE, 1s to RO bits
        assert self.rd(status.offset) == done, "writing 0 to W1C DONE or to RO fields changed it"
        self.wr(status.offset, done, strb=0)
        assert self.rd(status.offset) == done, "a zero-strobe write cleared DONE"
        self.wr(status.offset, done)
        assert self.rd(status.offset) == 0, "writing 1 to DONE did not clear it"
        # DOORBELL.RUN reads 0; with PROG_LEN 0 the program stops at once, DONE with PROG_LEN
        self.wr(register("PROG_LEN").offset, 0)
        self.wr(register("DOORBELL").offset, 1)
        assert self.rd(register("DOORBELL").offset) == 0, "DOORBELL.RUN must read 0"
        got = self.rd(status.offset)
        assert got == status.pack(DONE=1, ERROR=ErrorCode.PROG_LEN), f"STATUS 0x{got:08X}"
        self.wr(status.offset, done)
        for strb in (0, 0xF):
            self.rd(0x7FF8, "DECERR")
            assert self.rd(bus_error.offset) == BusError.UNMAPPED
            assert self.rd(register("BUS_ERROR_ADDR").offset) == 0x7FF8
            self.wr(bus_error.offset, 0, strb=strb)
            assert self.rd(bus_error.offset) == 0, f"a write with strb {strb:04b} left CODE"
        for r in REGISTERS:
            if _mask(r, RW) and r.name != "CTRL":
                before = self.rd(r.offset)
                self.wr(r.offset, ~before, strb=0)
                assert self.rd(r.offset) == before, f"a zero-strobe write changed {r.name}"
        assert all(f.access in (RO, RW, W1P, W1C, WC) for r in REGISTERS for f in r.fields)
        self.soft_reset()


#: the checks in running order (hw_reset first: it needs the device fresh)
CHECKS = ("hw_reset", "rw", "bit_bash", "aliasing", "mem_walk", "access_types")


def run(dev, geometry, seed):
    """Run every check on ``dev``; returns the number of bus accesses."""
    suite = CsrSuite(dev, geometry, np.random.default_rng(seed))
    for name in CHECKS:
        getattr(suite, name)()
    return suite.accesses
