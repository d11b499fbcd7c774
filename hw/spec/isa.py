"""The instruction stream: what a program in memory says, and how the hardware runs it.

The host writes a program (a sequence of 16-byte instructions) and its data into memory, sets
PROG_ADDR and PROG_LEN and writes DOORBELL.RUN. The accelerator then runs the program by itself
through its AXI4 memory port:

* the **fetch** unit reads instructions in order and **dispatches** each to its unit;
* the **load** unit copies memory into a window (LUT, PARAM, WEIGHT, IN);
* the **compute** unit runs VMM instructions (today's command, with all its flags);
* the **store** unit copies a window (ACC, OUT) into memory.

The three units run concurrently. **Dependencies are tracked by the hardware**: an instruction
is dispatched only when its unit is free and it touches no on-chip storage that an instruction
still running in another unit touches (:func:`conflicts`); instructions are dispatched in
program order, one at a time. So every program means what it would mean run one instruction
after another, and no program can deadlock: an instruction waits only for older ones, which
always finish. A bad instruction stops the program (:func:`check`); instructions already
running finish, then STATUS.DONE is set with the ErrorCode, PROG_PC names the instruction, and
the interrupt fires. END waits until every unit is idle, then sets STATUS.DONE.

DOORBELL.RUN first checks PROG_ADDR (a multiple of the port's width in bytes, else MEM_ALIGN)
and PROG_LEN (0: PROG_LEN), with PROG_PC 0. A program whose first PROG_LEN instructions hold no
END stops with PROG_LEN and PROG_PC = PROG_LEN. An instruction the memory answered with an
error stops the program with MEM_READ when it is next to dispatch (fetching ahead past an END
is harmless). PERF_INSTRS counts dispatched instructions, END included.

Memory images use the windows' own word layout (docs/registers.md): a LOAD or STORE moves
COUNT whole **units** of its window (a unit is a word of LUT or PARAM, a (bank, column) of
WEIGHT, a vector of IN, a row of ACC or OUT; :func:`unit_bytes`), packed one after another
from MEM_ADDR, which is a multiple of the port's width in bytes. A STORE writes every byte of
its units; bytes that hold no value (padding past R or C) are written as 0. Loaded bytes that
fall on no storage (padding) are dropped.

Encoding: four little-endian 32-bit words; word 0 bits 7:0 are the :class:`Op`.

====== ==================================================================================
op     fields
====== ==================================================================================
END    (all other bits 0)
LOAD   w0: WINDOW 11:8; w1: FIRST 15:0 (first unit), COUNT 31:16; w2: MEM_ADDR; w3: 0
STORE  as LOAD
VMM    w0: FLAGS 15:8 (CMD_FLAGS' bits), BANK 23:16, OUT_ZP 31:24 (int8);
       w1: IN_ADDR 15:0, ACC_ADDR 31:16; w2: OUT_ADDR 15:0, COUNT 31:16;
       w3: ROWS 7:0, COLS 15:8, POOL 23:16, bits 31:24 0
FENCE  waits until every unit is idle (all other bits 0)
====== ==================================================================================
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, fields

from .command import Command
from .command import check as check_command
from .geometry import Geometry
from .regmap import LUT_ENTRIES, PARAM_STRIDE, ErrorCode, Opcode, register

__all__ = [
    "INSTR_BYTES", "INSTR_WORDS", "Op", "Window", "LOAD_WINDOWS", "STORE_WINDOWS", "Instr",
    "End", "Fence", "Load", "Store", "Vmm", "encode", "decode", "to_bytes", "unit_bytes",
    "units", "transfer_bytes", "check", "touches", "conflicts", "unit_of",
]

INSTR_WORDS = 4
INSTR_BYTES = 4 * INSTR_WORDS


class Op(enum.IntEnum):
    """Instruction opcodes (word 0, bits 7:0)."""
    END = 0    #: wait for every unit, then STATUS.DONE (zeroed memory ends a program)
    LOAD = 1   #: memory -> a window (load unit)
    STORE = 2  #: a window -> memory (store unit)
    VMM = 3    #: one VMM command (compute unit)
    FENCE = 4  #: wait until every unit is idle


class Window(enum.IntEnum):
    """The on-chip storage a LOAD or STORE moves (word 0, bits 11:8)."""
    LUT = 0
    PARAM = 1
    WEIGHT = 2
    IN = 3
    ACC = 4
    OUT = 5


LOAD_WINDOWS = (Window.LUT, Window.PARAM, Window.WEIGHT, Window.IN)
STORE_WINDOWS = (Window.ACC, Window.OUT)

_FLAGS = register("CMD_FLAGS")


@dataclass(frozen=True)
class Instr:
    """Base of the instructions; ``op`` is the class's :class:`Op`."""
    op = None

    def words(self):
        return encode(self)


@dataclass(frozen=True)
class End(Instr):
    op = Op.END


@dataclass(frozen=True)
class Fence(Instr):
    op = Op.FENCE


@dataclass(frozen=True)
class Load(Instr):
    """Copy ``count`` units from memory at ``mem_addr`` into ``window`` from unit ``first``."""
    window: int
    first: int
    count: int
    mem_addr: int
    op = Op.LOAD


@dataclass(frozen=True)
class Store(Instr):
    """Copy ``count`` units of ``window`` from unit ``first`` into memory at ``mem_addr``."""
    window: int
    first: int
    count: int
    mem_addr: int
    op = Op.STORE


@dataclass(frozen=True)
class Vmm(Instr):
    """A VMM command; the fields are the CMD_* registers' (``flags`` is CMD_FLAGS' word)."""
    bank: int = 0
    in_addr: int = 0
    acc_addr: int = 0
    out_addr: int = 0
    count: int = 1
    rows: int = 1
    cols: int = 1
    pool: int = 1
    flags: int = 0
    out_zp: int = 0
    op = Op.VMM

    @property
    def requant(self):
        return bool(self.flags & _FLAGS.field("REQUANT").mask)

    @property
    def accumulate(self):
        return bool(self.flags & _FLAGS.field("ACCUMULATE").mask)

    def command(self):
        """The :class:`~hw.spec.command.Command` this instruction runs."""
        return Command(op=Opcode.VMM.value, bank=self.bank, in_addr=self.in_addr,
                       acc_addr=self.acc_addr, out_addr=self.out_addr, count=self.count,
                       rows=self.rows, cols=self.cols, requant=self.requant, pool=self.pool)


def _bits(value, lsb, width, name, signed=False):
    lo, hi = (-(1 << width - 1), (1 << width - 1) - 1) if signed else (0, (1 << width) - 1)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"instruction field {name} must be an int in [{lo}, {hi}], "
                         f"got {value!r}")
    return (value & ((1 << width) - 1)) << lsb


def encode(instr: Instr) -> tuple[int, int, int, int]:
    """The four 32-bit words of an instruction (ValueError if a field does not fit)."""
    op = instr.op
    if op in (Op.END, Op.FENCE):
        return (int(op), 0, 0, 0)
    if op in (Op.LOAD, Op.STORE):
        return (int(op) | _bits(int(instr.window), 8, 4, "WINDOW"),
                _bits(instr.first, 0, 16, "FIRST") | _bits(instr.count, 16, 16, "COUNT"),
                _bits(instr.mem_addr, 0, 32, "MEM_ADDR"), 0)
    if op == Op.VMM:
        return (int(op) | _bits(instr.flags, 8, 8, "FLAGS") | _bits(instr.bank, 16, 8, "BANK")
                | _bits(instr.out_zp, 24, 8, "OUT_ZP", signed=True),
                _bits(instr.in_addr, 0, 16, "IN_ADDR") | _bits(instr.acc_addr, 16, 16, "ACC_ADDR"),
                _bits(instr.out_addr, 0, 16, "OUT_ADDR") | _bits(instr.count, 16, 16, "COUNT"),
                _bits(instr.rows, 0, 8, "ROWS") | _bits(instr.cols, 8, 8, "COLS")
                | _bits(instr.pool, 16, 8, "POOL"))
    raise TypeError(f"not an instruction: {instr!r}")


def to_bytes(program) -> bytes:
    """A program (instructions) as the bytes the accelerator fetches."""
    return b"".join(struct.pack("<4I", *encode(i)) for i in program)


def decode(words) -> Instr | None:
    """The instruction of four 32-bit words, or None if it is not one (BAD_INSTR)."""
    w0, w1, w2, w3 = (int(w) & 0xFFFF_FFFF for w in words)
    op = w0 & 0xFF
    if op in (Op.END, Op.FENCE):
        return (End() if op == Op.END else Fence()) if not (w0 >> 8 or w1 or w2 or w3) else None
    if op in (Op.LOAD, Op.STORE):
        if w0 >> 12 or w3:
            return None
        cls = Load if op == Op.LOAD else Store
        return cls(window=(w0 >> 8) & 0xF, first=w1 & 0xFFFF, count=w1 >> 16, mem_addr=w2)
    if op == Op.VMM:
        if w3 >> 24:
            return None
        zp = w0 >> 24
        return Vmm(flags=(w0 >> 8) & 0xFF, bank=(w0 >> 16) & 0xFF, out_zp=zp - 256 * (zp >> 7),
                   in_addr=w1 & 0xFFFF, acc_addr=w1 >> 16, out_addr=w2 & 0xFFFF,
                   count=w2 >> 16, rows=w3 & 0xFF, cols=(w3 >> 8) & 0xFF,
                   pool=(w3 >> 16) & 0xFF)
    return None


def unit_bytes(window: int, g: Geometry) -> int:
    """Bytes of one unit of ``window`` in memory (a power of two: its stride in the window)."""
    return {Window.LUT: 4, Window.PARAM: 4, Window.WEIGHT: 4 * g.row_words_p2,
            Window.IN: 4 * g.row_words_p2, Window.ACC: 4 * g.cols_p2,
            Window.OUT: 4 * g.col_words_p2}[Window(window)]


def units(window: int, g: Geometry) -> int:
    """How many units ``window`` has (FIRST + COUNT may not exceed it)."""
    return {Window.LUT: LUT_ENTRIES // 4, Window.PARAM: g.cols * PARAM_STRIDE // 4,
            Window.WEIGHT: g.banks * g.cols_p2, Window.IN: g.in_depth,
            Window.ACC: g.acc_depth, Window.OUT: g.out_depth}[Window(window)]


def transfer_bytes(instr: Instr, g: Geometry) -> int:
    """Bytes a LOAD or STORE moves in memory: COUNT units, rounded up to whole beats."""
    n = instr.count * unit_bytes(instr.window, g)
    return -(-n // g.mem_bytes) * g.mem_bytes


def check(instr: Instr | None, g: Geometry) -> ErrorCode:
    """The ErrorCode that stops a program at this instruction (NONE: it runs). The decoded
    instruction is None when :func:`decode` refused its words."""
    if instr is None:
        return ErrorCode.BAD_INSTR
    if instr.op in (Op.LOAD, Op.STORE):
        allowed = LOAD_WINDOWS if instr.op == Op.LOAD else STORE_WINDOWS
        if instr.window not in [int(w) for w in allowed]:
            return ErrorCode.BAD_WINDOW
        if instr.count == 0 or instr.first + instr.count > units(instr.window, g):
            return ErrorCode.WINDOW_RANGE
        if instr.mem_addr % g.mem_bytes:
            return ErrorCode.MEM_ALIGN
        return ErrorCode.NONE
    if instr.op == Op.VMM:
        return check_command(instr.command(), g)
    return ErrorCode.NONE


def touches(instr: Instr, g: Geometry) -> dict[Window, tuple[int, int]]:
    """The on-chip storage an instruction uses while it runs: window -> [first, last) unit.

    A VMM uses its weight bank, its input vectors, the accumulator rows, with REQUANT the
    output rows from OUT_ADDR (COUNT of them, whatever POOL is: the hardware compares ranges
    without dividing), all of PARAM (bias, mult, shift) and all of the LUT."""
    if instr.op in (Op.LOAD, Op.STORE):
        return {Window(instr.window): (instr.first, instr.first + instr.count)}
    if instr.op != Op.VMM:
        return {}
    bank = instr.bank * g.cols_p2
    used = {Window.WEIGHT: (bank, bank + g.cols_p2),
            Window.IN: (instr.in_addr, instr.in_addr + instr.count),
            Window.ACC: (instr.acc_addr, instr.acc_addr + instr.count),
            Window.PARAM: (0, units(Window.PARAM, g)),
            Window.LUT: (0, units(Window.LUT, g))}
    if instr.requant:
        used[Window.OUT] = (instr.out_addr, instr.out_addr + instr.count)
    return used


def conflicts(a: Instr, b: Instr, g: Geometry) -> bool:
    """Whether two instructions touch the same storage, so the younger waits for the older."""
    ta, tb = touches(a, g), touches(b, g)
    return any(w in tb and ta[w][0] < tb[w][1] and tb[w][0] < ta[w][1] for w in ta)


def unit_of(instr: Instr) -> str | None:
    """The unit that runs an instruction: "load", "store", "compute", or None (END, FENCE)."""
    return {Op.LOAD: "load", Op.STORE: "store", Op.VMM: "compute"}.get(instr.op)


assert [f.name for f in fields(Load)] == [f.name for f in fields(Store)]
