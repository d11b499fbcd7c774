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

Memory is not tracked: a LOAD of bytes an older STORE writes, or a STORE over the program
itself, needs a FENCE between them. When an instruction fails, instructions already dispatched
still finish (a LOAD that met a memory error has written its window up to the failing burst);
the first failure found is the one reported.

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

Encoding: four little-endian 32-bit words; word 0 bits 7:0 are the :class:`Op`; the other
fields are :data:`FIELDS` (every bit not in a field must be 0, else BAD_INSTR). The table in
docs/registers.md is generated from it (:func:`markdown`).
"""

from __future__ import annotations

import enum
import functools
import struct
from dataclasses import dataclass

from .command import Command
from .command import check as check_command
from .geometry import Geometry
from .regmap import LUT_ENTRIES, PARAM_STRIDE, ErrorCode, Opcode, register

__all__ = [
    "INSTR_BYTES", "INSTR_WORDS", "Op", "Window", "LOAD_WINDOWS", "STORE_WINDOWS", "Instr",
    "InstrField", "FIELDS", "field", "reserved_mask", "markdown",
    "End", "Fence", "Load", "Store", "Vmm", "encode", "decode", "to_bytes", "unit_bytes",
    "units", "transfer_bytes", "rows_of", "check", "touches", "conflicts", "unit_of",
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
_REQUANT, _ACCUMULATE = _FLAGS.field("REQUANT").mask, _FLAGS.field("ACCUMULATE").mask
_BIAS, _LUT = _FLAGS.field("BIAS").mask, _FLAGS.field("LUT").mask


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
class _Transfer(Instr):
    """The fields of LOAD and STORE: ``count`` units of ``window`` from unit ``first``, and
    where they are in memory (``mem_addr``)."""
    window: int
    first: int
    count: int
    mem_addr: int


@dataclass(frozen=True)
class Load(_Transfer):
    """Copy ``count`` units from memory at ``mem_addr`` into ``window`` from unit ``first``.

    A **2-D LOAD** (``rows`` > 1, as VTA's LOAD) copies ``rows`` such rows: row ``r`` is
    ``count`` units from ``mem_addr + r * pitch`` into the window from unit
    ``first + r * skip``. So a tile of an image in memory (rows of a larger pitch) lands in
    a window with its own row length (``skip`` > ``count`` leaves the units between the rows
    as they are, e.g. a zero-padded border loaded once), and ``pitch`` = 0 repeats one row of
    memory (fills). The hardware runs the rows as one-row LOADs, one after another
    (:func:`rows_of`); each is checked for conflicts on its own; the instruction counts once
    (PERF_INSTRS)."""
    rows: int = 0
    skip: int = 0
    pitch: int = 0
    op = Op.LOAD


@dataclass(frozen=True)
class Store(_Transfer):
    """Copy ``count`` units of ``window`` from unit ``first`` into memory at ``mem_addr``."""
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
        return bool(self.flags & _REQUANT)

    @property
    def accumulate(self):
        return bool(self.flags & _ACCUMULATE)

    def command(self):
        """The :class:`~hw.spec.command.Command` this instruction runs."""
        return Command(op=Opcode.VMM.value, bank=self.bank, in_addr=self.in_addr,
                       acc_addr=self.acc_addr, out_addr=self.out_addr, count=self.count,
                       rows=self.rows, cols=self.cols, requant=self.requant, pool=self.pool)


@dataclass(frozen=True)
class InstrField:
    """A field of an instruction: ``width`` bits from bit ``lsb`` of 32-bit word ``word``."""
    name: str
    word: int
    lsb: int
    width: int
    doc: str
    signed: bool = False

    @property
    def attr(self):
        """The attribute of the instruction class that holds it."""
        return self.name.lower()

    def get(self, words):
        v = (words[self.word] >> self.lsb) & ((1 << self.width) - 1)
        return v - (1 << self.width) if self.signed and v >> (self.width - 1) else v

    def put(self, value):
        lo, hi = ((-(1 << self.width - 1), (1 << self.width - 1) - 1) if self.signed
                  else (0, (1 << self.width) - 1))
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ValueError(f"instruction field {self.name} must be an int in [{lo}, {hi}], "
                             f"got {value!r}")
        return (value & ((1 << self.width) - 1)) << self.lsb


_TRANSFER = (
    InstrField("WINDOW", 0, 8, 4, "the window (:class:`Window`)"),
    InstrField("FIRST", 1, 0, 16, "first unit of the window"),
    InstrField("COUNT", 1, 16, 16, "units to move (1..)"),
    InstrField("MEM_ADDR", 2, 0, 32, "byte address in memory (a multiple of CFG_MEM_BITS/8)"),
)
_LOAD_2D = (
    InstrField("PITCH", 0, 12, 20, "2-D: memory bytes from a row's first unit to the next "
               "row's (a multiple of CFG_MEM_BITS/8; 0 repeats one row)"),
    InstrField("ROWS", 3, 0, 16, "2-D: rows of COUNT units (0 and 1: one row)"),
    InstrField("SKIP", 3, 16, 16, "2-D: window units from a row's first unit to the next "
               "row's"),
)
#: the fields of each instruction (besides OP, word 0 bits 7:0)
FIELDS: dict[Op, tuple[InstrField, ...]] = {
    Op.END: (),
    Op.LOAD: _TRANSFER + _LOAD_2D,
    Op.STORE: _TRANSFER,
    Op.VMM: (
        InstrField("FLAGS", 0, 8, 8, "CMD_FLAGS' bits (ACCUMULATE, BIAS, REQUANT, RELU, LUT)"),
        InstrField("BANK", 0, 16, 8, "CMD_BANK"),
        InstrField("OUT_ZP", 0, 24, 8, "CMD_OUT_ZP (int8)", signed=True),
        InstrField("IN_ADDR", 1, 0, 16, "CMD_IN_ADDR"),
        InstrField("ACC_ADDR", 1, 16, 16, "CMD_ACC_ADDR"),
        InstrField("OUT_ADDR", 2, 0, 16, "CMD_OUT_ADDR"),
        InstrField("COUNT", 2, 16, 16, "CMD_COUNT"),
        InstrField("ROWS", 3, 0, 8, "CMD_ROWS"),
        InstrField("COLS", 3, 8, 8, "CMD_COLS"),
        InstrField("POOL", 3, 16, 8, "CMD_POOL"),
    ),
    Op.FENCE: (),
}
_CLASSES = {Op.END: End, Op.LOAD: Load, Op.STORE: Store, Op.VMM: Vmm, Op.FENCE: Fence}


def field(op, name) -> InstrField:
    for f in FIELDS[Op(op)]:
        if f.name == name:
            return f
    raise KeyError(f"{Op(op).name} has no field {name!r}")


def reserved_mask(op, word) -> int:
    """The bits of ``word`` that must be 0 in an instruction ``op``."""
    used = 0xFF if word == 0 else 0
    for f in FIELDS[Op(op)]:
        if f.word == word:
            used |= ((1 << f.width) - 1) << f.lsb
    return ~used & 0xFFFF_FFFF


#: per op: (attribute, word, lsb, least, largest, mask) of each field (what encode checks)
_LAYOUT = {op: tuple((f.attr, f.word, f.lsb,
                      -(1 << f.width - 1) if f.signed else 0,
                      (1 << f.width - 1) - 1 if f.signed else (1 << f.width) - 1,
                      (1 << f.width) - 1) for f in fields)
           for op, fields in FIELDS.items()}


def encode(instr: Instr) -> tuple[int, int, int, int]:
    """The four 32-bit words of an instruction (ValueError if a field does not fit)."""
    if not isinstance(instr, Instr) or instr.op is None:
        raise TypeError(f"not an instruction: {instr!r}")
    words = [int(instr.op), 0, 0, 0]
    for attr, word, lsb, lo, hi, mask in _LAYOUT[instr.op]:
        value = int(getattr(instr, attr))
        if not lo <= value <= hi:
            field(instr.op, attr.upper()).put(value)  # (raises, naming the field)
        words[word] |= (value & mask) << lsb
    return tuple(words)


def to_bytes(program) -> bytes:
    """A program (instructions) as the bytes the accelerator fetches."""
    return b"".join(struct.pack("<4I", *encode(i)) for i in program)


def decode(words) -> Instr | None:
    """The instruction of four 32-bit words, or None if it is not one (BAD_INSTR)."""
    words = [int(w) & 0xFFFF_FFFF for w in words]
    op = words[0] & 0xFF
    if op not in {o.value for o in Op}:
        return None
    if any(words[i] & reserved_mask(op, i) for i in range(INSTR_WORDS)):
        return None
    return _CLASSES[Op(op)](**{f.attr: f.get(words) for f in FIELDS[Op(op)]})


def markdown() -> str:
    """The instruction format section of docs/registers.md."""
    out = ["## Instructions", "",
           f"A program is a sequence of {INSTR_BYTES}-byte instructions in memory (four "
           "little-endian 32-bit words w0..w3), run by DOORBELL.RUN from PROG_ADDR; what they "
           "mean is in `hw/spec/isa.py`. Word 0 bits 7:0 hold the op; every bit not in a "
           "field must be 0 (else BAD_INSTR).", "",
           "| op | value | field | word | bits | description |", "|---|---|---|---|---|---|"]
    for op in Op:
        out.append(f"| **{op.name}** | {op.value} | | | | {_doc(op)} |")
        for f in FIELDS[op]:
            bits = f"{f.lsb + f.width - 1}:{f.lsb}"
            out.append(f"| | | {f.name} | w{f.word} | {bits} | {f.doc} |")
    out += ["", "### Window (LOAD, STORE)", "", "| value | window | unit |", "|---|---|---|"]
    units_doc = {Window.LUT: "a word (4 entries)", Window.PARAM: "a word (BIAS, MULT, SHIFT, "
                 "padding of a column)", Window.WEIGHT: "a (bank, column): ROW_WORDS_P2 words",
                 Window.IN: "a vector: ROW_WORDS_P2 words", Window.ACC: "a row: COLS_P2 words",
                 Window.OUT: "a row: COL_WORDS_P2 words"}
    out += [f"| {w.value} | {w.name} | {units_doc[w]} |" for w in Window]
    out.append("")
    return "\n".join(out)


def _doc(op):
    return _OP_DOCS[op]


_OP_DOCS = {
    Op.END: "wait until every unit is idle, then STATUS.DONE (zeroed memory ends a program)",
    Op.LOAD: "memory -> a window (load unit); with ROWS > 1 a 2-D LOAD: row r is COUNT units "
             "from MEM_ADDR + r * PITCH into the window from FIRST + r * SKIP",
    Op.STORE: "a window -> memory (store unit)",
    Op.VMM: "one VMM command (compute unit), checked as CMD_* would be",
    Op.FENCE: "wait until every unit is idle",
}


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
    """Bytes a LOAD or STORE moves in memory per row: COUNT units, rounded up to whole beats
    (a 2-D LOAD moves this :func:`rows_of` times)."""
    n = instr.count * unit_bytes(instr.window, g)
    return -(-n // g.mem_bytes) * g.mem_bytes


def rows_of(instr: Instr) -> list[Instr]:
    """The one-row instructions a LOAD or STORE runs as (a 2-D LOAD: one LOAD per row; any
    other: itself)."""
    if instr.op != Op.LOAD or instr.rows <= 1:
        return [instr]
    return [Load(instr.window, instr.first + r * instr.skip, instr.count,
                 instr.mem_addr + r * instr.pitch) for r in range(instr.rows)]


def _span(instr: Instr) -> tuple[int, int]:
    """[first, last) units of its window a LOAD or STORE (every row of it) writes or reads."""
    rows = max(1, getattr(instr, "rows", 0))
    return instr.first, instr.first + (rows - 1) * getattr(instr, "skip", 0) + instr.count


@functools.lru_cache(maxsize=1 << 16)  # (the driver's cycle model asks again and again)
def check(instr: Instr | None, g: Geometry) -> ErrorCode:
    """The ErrorCode that stops a program at this instruction (NONE: it runs). The decoded
    instruction is None when :func:`decode` refused its words."""
    if instr is None:
        return ErrorCode.BAD_INSTR
    if instr.op in (Op.LOAD, Op.STORE):
        allowed = LOAD_WINDOWS if instr.op == Op.LOAD else STORE_WINDOWS
        if instr.window not in [int(w) for w in allowed]:
            return ErrorCode.BAD_WINDOW
        if instr.count == 0 or _span(instr)[1] > units(instr.window, g):
            return ErrorCode.WINDOW_RANGE
        if instr.mem_addr % g.mem_bytes or getattr(instr, "pitch", 0) % g.mem_bytes:
            return ErrorCode.MEM_ALIGN
        last_row = instr.mem_addr + (max(1, getattr(instr, "rows", 0)) - 1) * \
            getattr(instr, "pitch", 0)
        if last_row + transfer_bytes(instr, g) > 1 << 32:
            return ErrorCode.MEM_RANGE
        return ErrorCode.NONE
    if instr.op == Op.VMM:
        return check_command(instr.command(), g)
    return ErrorCode.NONE


@functools.lru_cache(maxsize=1 << 16)
def touches(instr: Instr, g: Geometry) -> dict[Window, tuple[int, int]]:
    """The on-chip storage an instruction uses while it runs: window -> [first, last) unit
    (one dict per instruction and geometry, shared: do not change it).

    A VMM uses its weight bank, its input vectors, the accumulator rows, with REQUANT the
    output rows from OUT_ADDR (COUNT of them, whatever POOL is: the hardware compares ranges
    without dividing), with BIAS or REQUANT all of PARAM (bias, mult, shift), and with LUT all
    of the LUT. (So the next tile's parameters can load while a VMM that does not use them
    runs.)"""
    if instr.op in (Op.LOAD, Op.STORE):
        return {Window(instr.window): _span(instr)}
    if instr.op != Op.VMM:
        return {}
    bank = instr.bank * g.cols_p2
    used = {Window.WEIGHT: (bank, bank + g.cols_p2),
            Window.IN: (instr.in_addr, instr.in_addr + instr.count),
            Window.ACC: (instr.acc_addr, instr.acc_addr + instr.count)}
    if instr.requant or instr.flags & _BIAS:
        used[Window.PARAM] = (0, units(Window.PARAM, g))
    if instr.flags & _LUT:
        used[Window.LUT] = (0, units(Window.LUT, g))
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

