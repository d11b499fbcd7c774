"""The register map of pimacc: the ONE source of truth for the host interface.

Everything that talks about addresses reads this module:

* ``hw/csr.py`` builds the Amaranth register block from :data:`REGISTERS`,
* ``hw/top.py`` decodes the buffer windows with :class:`Geometry`,
* the driver (``sw/``) and the functional model (``sw/model_device.py``) use the same
  :data:`REGISTERS`, :class:`Geometry` and enums,
* ``docs/registers.md`` is produced by ``python -m hw.regmap`` and a test fails when the
  committed file differs from what this module generates.

The bus is AXI4-Lite, 32-bit data, byte addresses, :data:`ADDR_WIDTH` address bits.
Registers live in the first 4 KiB; the buffers are reached through fixed windows.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from amaranth.lib import enum

__all__ = [
    "ADDR_WIDTH", "ID_MAGIC", "VERSION", "Opcode", "ErrorCode", "BusError", "Feature",
    "Field", "Register", "Window", "REGISTERS", "WINDOWS", "Geometry", "register", "window",
    "markdown",
]

ADDR_WIDTH = 20
ID_MAGIC = 0x50494D41  # "PIMA"
VERSION = 0x0001_0000  # major.minor.patch as 8.8.16 bits


class Opcode(enum.Enum, shape=8):
    """Command opcodes (``CMD_OP``)."""
    NOP = 0
    #: Stream ``CMD_COUNT`` input vectors through the array, update the accumulators and,
    #: with ``CMD_FLAGS.REQUANT``, write int8 results to the output buffer.
    VMM = 1


class ErrorCode(enum.Enum, shape=8):
    """Why a command was rejected (``STATUS.ERROR``). A rejected command does nothing."""
    NONE = 0
    BAD_OPCODE = 1   #: ``CMD_OP`` is not an :class:`Opcode`
    BAD_BANK = 2     #: ``CMD_BANK`` >= ``CFG_BANKS``
    BAD_COUNT = 3    #: ``CMD_COUNT`` is 0
    IN_RANGE = 4     #: ``CMD_IN_ADDR + CMD_COUNT`` > ``CFG_IN_DEPTH``
    ACC_RANGE = 5    #: ``CMD_ACC_ADDR + CMD_COUNT`` > ``CFG_ACC_DEPTH``
    #: ``REQUANT`` set and ``CMD_OUT_ADDR + CMD_COUNT / CMD_POOL`` > ``CFG_OUT_DEPTH``
    OUT_RANGE = 6
    BAD_ROWS = 7     #: ``CMD_ROWS`` is 0 or > ``CFG_ROWS``
    BAD_COLS = 8     #: ``CMD_COLS`` is 0 or > ``CFG_COLS``
    #: ``CMD_POOL`` is 0, or > 1 without ``REQUANT``, or does not divide ``CMD_COUNT``
    BAD_POOL = 9


class BusError(enum.Enum, shape=8):
    """Why the last bus access was refused (``BUS_ERROR.CODE``)."""
    NONE = 0
    UNMAPPED = 1   #: no register or buffer word at that address (DECERR)
    READ_ONLY = 2  #: write to a read-only register or window (SLVERR)
    BUSY = 3       #: write to a command register or to a buffer in use while BUSY (SLVERR)


class Feature(enum.Enum, shape=32):
    """Bits of ``CFG_FEATURES``: what this build of the accelerator can do."""
    REQUANT = 1 << 0   #: per-column Q31 requantization to int8
    RELU = 1 << 1      #: ReLU clamped at the output zero point
    BIAS = 1 << 2      #: per-column int32 bias added on the first K tile
    ROW_MASK = 1 << 3  #: rows >= CMD_ROWS are ignored (no need to zero-pad weights)
    LUT = 1 << 4       #: 256-entry int8 lookup-table activation after requantization
    MAXPOOL = 1 << 5   #: max over groups of CMD_POOL consecutive output rows


# Field access types.
RO = "ro"    # read only; a write to a register that has only RO fields is refused (READ_ONLY)
RW = "rw"    # read/write
W1P = "w1p"  # write 1 to trigger an action; always reads 0
W1C = "w1c"  # reads the state; write 1 to clear it
WC = "wc"    # reads the state; any write to the register clears it
ACCESS_DOC = {
    RO: "read only", RW: "read/write", W1P: "write 1 to act, reads 0",
    W1C: "write 1 to clear", WC: "any write clears",
}


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    access: str
    doc: str
    reset: int = 0
    signed: bool = False
    enum: type | None = None

    @property
    def mask(self):
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    doc: str
    fields: tuple[Field, ...]
    #: registers of the command group are refused (BUSY) while a command runs
    locked_while_busy: bool = False
    #: the value comes from the hardware's configuration, not from ``reset`` of the fields
    config: str | None = None
    #: read-only constant (its reset value), e.g. ID
    constant: bool = False

    @property
    def read_only(self):
        return all(f.access == RO for f in self.fields)

    @property
    def reset(self):
        value = 0
        for f in self.fields:
            value |= (f.reset & ((1 << f.width) - 1)) << f.lsb
        return value

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r}")

    def pack(self, **values):
        """Return the 32-bit word with the named fields set (others 0)."""
        word = 0
        for name, value in values.items():
            f = self.field(name.upper())
            value = int(value)
            lo, hi = (-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed \
                else (0, (1 << f.width) - 1)
            if not lo <= value <= hi:
                raise ValueError(f"{self.name}.{f.name} must be in [{lo}, {hi}], got {value}")
            word |= (value & ((1 << f.width) - 1)) << f.lsb
        return word

    def unpack(self, word):
        """Return a dict field name -> value of a 32-bit word."""
        out = {}
        for f in self.fields:
            v = (word >> f.lsb) & ((1 << f.width) - 1)
            if f.signed and v >> (f.width - 1):
                v -= 1 << f.width
            out[f.name] = v
        return out


def _reg(name, offset, doc, *fields, **kw):
    return Register(name, offset, doc, tuple(fields), **kw)


def _word(name, access, doc, reset=0, width=32, signed=False, enum=None):
    return Field(name, 0, width, access, doc, reset, signed, enum)


def _cfg(name, offset, doc, source):
    return _reg(name, offset, doc, _word("VALUE", RO, doc), config=source)


def _cmd(name, offset, doc, width=16, signed=False, enum=None):
    return _reg(name, offset, doc, _word("VALUE", RW, doc, width=width, signed=signed, enum=enum),
                locked_while_busy=True)


def _perf(name, offset, doc):
    return _reg(name, offset, doc + " Wraps at 2**32; cleared by CTRL.CLEAR_COUNTERS.",
                _word("VALUE", RO, doc))


REGISTERS: tuple[Register, ...] = (
    _reg("ID", 0x000, "Identification: ASCII 'PIMA'.", _word("VALUE", RO, "magic", ID_MAGIC),
         constant=True),
    _reg("VERSION", 0x004, "Design version, major.minor.patch in 8.8.16 bits.",
         _word("VALUE", RO, "version", VERSION), constant=True),
    _reg("CTRL", 0x008, "Control.",
         Field("START", 0, 1, W1P, "start the command in the CMD_* registers"),
         Field("SOFT_RESET", 1, 1, W1P,
               "abort any command; return every register (not the buffers) to its reset value"),
         Field("IRQ_EN", 2, 1, RW, "drive `irq` high while STATUS.DONE is set"),
         Field("CLEAR_COUNTERS", 3, 1, W1P, "zero the PERF_* counters")),
    _reg("STATUS", 0x00C, "Status of the last command.",
         Field("BUSY", 0, 1, RO, "a command is running"),
         Field("DONE", 1, 1, W1C,
               "the last command finished or was rejected; cleared by START too"),
         Field("ERROR", 8, 8, RO, "why the last command was rejected (ErrorCode); "
               "cleared by the next START", enum=ErrorCode)),
    _reg("BUS_ERROR", 0x010, "The last refused bus access.",
         Field("CODE", 0, 8, WC, "why it was refused (BusError)", enum=BusError)),
    _reg("BUS_ERROR_ADDR", 0x014, "Byte address of the last refused bus access.",
         _word("VALUE", RO, "address")),

    _cfg("CFG_ROWS", 0x020, "R: array rows, the length of an input vector (int8).", "rows"),
    _cfg("CFG_COLS", 0x024, "C: array columns, int32 dot products per input vector.", "cols"),
    _cfg("CFG_BANKS", 0x028, "Resident weight banks in the array.", "banks"),
    _cfg("CFG_IN_DEPTH", 0x02C, "Input buffer depth, in R-long vectors.", "in_depth"),
    _cfg("CFG_ACC_DEPTH", 0x030, "Accumulator depth, in C-wide int32 rows.", "acc_depth"),
    _cfg("CFG_OUT_DEPTH", 0x034, "Output buffer depth, in C-wide int8 rows.", "out_depth"),
    _cfg("CFG_LATENCY", 0x038, "VMM array latency in cycles (input register to column sums).",
         "latency"),
    _cfg("CFG_FEATURES", 0x03C, "Feature bits (Feature).", "features"),

    _cmd("CMD_OP", 0x040, "Opcode of the next command (Opcode).", width=8, enum=Opcode),
    _reg("CMD_FLAGS", 0x044, "Options of a VMM command.",
         Field("ACCUMULATE", 0, 1, RW, "add to the accumulators (else overwrite them)"),
         Field("BIAS", 1, 1, RW, "when overwriting, start from the per-column bias"),
         Field("REQUANT", 2, 1, RW, "also requantize the new accumulators into the output buffer"),
         Field("RELU", 3, 1, RW, "with REQUANT: clamp results below CMD_OUT_ZP to it"),
         Field("LUT", 4, 1, RW, "with REQUANT: replace each int8 result y by LUT[y + 128] "
               "(before RELU)"),
         locked_while_busy=True),
    _cmd("CMD_BANK", 0x048, "Weight bank the command multiplies with.", width=8),
    _cmd("CMD_IN_ADDR", 0x04C, "First input-buffer vector."),
    _cmd("CMD_ACC_ADDR", 0x050, "Accumulator row of the first vector."),
    _cmd("CMD_OUT_ADDR", 0x054, "Output-buffer row of the first vector (with REQUANT)."),
    _cmd("CMD_COUNT", 0x058, "Number of input vectors (1..)."),
    _cmd("CMD_ROWS", 0x05C, "Active rows 1..R: input elements at rows >= CMD_ROWS count as 0.",
         width=8),
    _cmd("CMD_COLS", 0x060, "Active columns 1..C (counted in PERF_MACS).", width=8),
    _cmd("CMD_OUT_ZP", 0x064, "Output zero point, int8.", width=8, signed=True),
    _reg("CMD_POOL", 0x068, "With REQUANT: each group of POOL consecutive vectors gives ONE "
         "output row, the elementwise max of their results (max-pooling); 1 = off.",
         _word("VALUE", RW, "group size 1..255", reset=1, width=8), locked_while_busy=True),

    _perf("PERF_CYCLES", 0x080, "Clock cycles."),
    _perf("PERF_BUSY", 0x084, "Cycles with a command running."),
    _perf("PERF_COMPUTE", 0x088, "Cycles with at least one vector inside the VMM array."),
    _perf("PERF_STALL", 0x08C, "Cycles with a command running and no vector issued."),
    _perf("PERF_MACS", 0x090, "Useful multiply-accumulates: CMD_ROWS * CMD_COLS per vector."),
    _perf("PERF_VECTORS", 0x094, "Input vectors issued into the array."),
)


@dataclass(frozen=True)
class Window:
    name: str
    base: int
    size: int
    writable: bool
    doc: str
    layout: str = field(default="")


WINDOWS: tuple[Window, ...] = (
    Window("LUT", 0x08000, 0x01000, True,
           "Lookup-table activation (CMD_FLAGS.LUT); locked while BUSY.",
           "word w holds entries 4w..4w+3 (entry i is the output for int8 input i-128), "
           "entry 4w in bits 7:0"),
    Window("PARAM", 0x10000, 0x10000, True,
           "Per-column post-processing parameters; locked while BUSY.",
           "column c at +16*c: +0 BIAS (int32), +4 MULT (Q31, 0..2**31-1), "
           "+8 SHIFT (right shift 0..63)"),
    Window("WEIGHT", 0x20000, 0x20000, True,
           "Resident weights. The bank of the running command is locked while BUSY; the other "
           "banks can be written meanwhile (double buffering).",
           "word ((bank*COLS_P2 + c)*ROW_WORDS_P2 + w) holds rows 4w..4w+3 of column c, "
           "row 4w in bits 7:0"),
    Window("IN", 0x40000, 0x40000, True, "Input buffer (int8 vectors); locked while BUSY.",
           "word (v*ROW_WORDS_P2 + w) holds elements 4w..4w+3 of vector v, element 4w in bits 7:0"),
    Window("ACC", 0x80000, 0x40000, False, "Accumulators (int32), read only.",
           "word (a*COLS_P2 + c) is column c of accumulator row a"),
    Window("OUT", 0xC0000, 0x40000, False, "Output buffer (int8), read only.",
           "word (o*COL_WORDS_P2 + w) holds columns 4w..4w+3 of output row o, "
           "column 4w in bits 7:0"),
)

LUT_ENTRIES = 256
PARAM_STRIDE = 16
PARAM_FIELDS = {"BIAS": 0, "MULT": 4, "SHIFT": 8}


def register(name) -> Register:
    for r in REGISTERS:
        if r.name == name:
            return r
    raise KeyError(f"no register {name!r}")


def window(name) -> Window:
    for w in WINDOWS:
        if w.name == name:
            return w
    raise KeyError(f"no window {name!r}")


def _pow2(n):
    return 1 << (n - 1).bit_length()


@dataclass(frozen=True)
class Geometry:
    """The accelerator's geometry (what the CFG_* registers report) and the word layout of the
    buffer windows that follows from it.

    Strides are rounded up to powers of two so the hardware decodes addresses by bit slicing;
    words that fall into the padding are unmapped (DECERR).
    """
    rows: int
    cols: int
    banks: int
    in_depth: int
    acc_depth: int
    out_depth: int

    @classmethod
    def default(cls, **overrides):
        """The default build: a 16x16 array, two banks."""
        values = dict(rows=16, cols=16, banks=2, in_depth=1024, acc_depth=256, out_depth=256)
        values.update(overrides)
        return cls(**values)

    @property
    def row_words(self):
        return (self.rows + 3) // 4

    @property
    def col_words(self):
        return (self.cols + 3) // 4

    @property
    def row_words_p2(self):
        return _pow2(self.row_words)

    @property
    def cols_p2(self):
        return _pow2(self.cols)

    @property
    def col_words_p2(self):
        return _pow2(self.col_words)

    def lut_addr(self, word=0):
        return window("LUT").base + 4 * word

    def param_addr(self, col, name):
        return window("PARAM").base + PARAM_STRIDE * col + PARAM_FIELDS[name]

    def weight_addr(self, bank, col, word=0):
        return window("WEIGHT").base + 4 * ((bank * self.cols_p2 + col) * self.row_words_p2 + word)

    def in_addr(self, vector, word=0):
        return window("IN").base + 4 * (vector * self.row_words_p2 + word)

    def acc_addr(self, row, col=0):
        return window("ACC").base + 4 * (row * self.cols_p2 + col)

    def out_addr(self, row, word=0):
        return window("OUT").base + 4 * (row * self.col_words_p2 + word)

    def check(self):
        """Raise ValueError if this geometry does not fit the fixed windows."""
        need = {
            "LUT": LUT_ENTRIES,
            "PARAM": PARAM_STRIDE * self.cols,
            "WEIGHT": 4 * self.banks * self.cols_p2 * self.row_words_p2,
            "IN": 4 * self.in_depth * self.row_words_p2,
            "ACC": 4 * self.acc_depth * self.cols_p2,
            "OUT": 4 * self.out_depth * self.col_words_p2,
        }
        for name, size in need.items():
            if size > window(name).size:
                raise ValueError(f"geometry {self} needs {size} bytes of the {name} window, "
                                 f"which has {window(name).size}")


def markdown() -> str:
    """The register document (docs/registers.md), generated from this module."""
    out = ["# pimacc register map", "",
           "Generated by `python -m hw.regmap` from `hw/regmap.py`; do not edit by hand "
           "(`make docs` rewrites it, a test checks it).", "",
           f"AXI4-Lite, 32-bit data, byte strobes honoured, {ADDR_WIDTH}-bit byte addresses. "
           "An unmapped address answers DECERR; a refused write answers SLVERR and changes "
           "nothing; either way BUS_ERROR records why.", "",
           "## Registers", "",
           "| offset | name | field | bits | access | reset | description |",
           "|---|---|---|---|---|---|---|"]
    for r in REGISTERS:
        lock = " Refused (BUSY) while a command runs." if r.locked_while_busy else ""
        reset = f"CFG `{r.config}`" if r.config else f"0x{r.reset:08X}"
        out.append(f"| 0x{r.offset:03X} | **{r.name}** | | | | {reset} | {r.doc}{lock} |")
        for f in r.fields:
            bits = f"{f.lsb}" if f.width == 1 else f"{f.lsb + f.width - 1}:{f.lsb}"
            kind = ("signed " if f.signed else "") + ACCESS_DOC[f.access]
            out.append(f"| | | {f.name} | {bits} | {kind} | {f.reset} | {f.doc} |")
    out += ["", "## Buffer windows", "",
            "`ROW_WORDS = ceil(ROWS/4)`, `COL_WORDS = ceil(COLS/4)`; `_P2` is rounded up to a "
            "power of two.", "",
            "| base | size | name | access | layout | description |", "|---|---|---|---|---|---|"]
    for w in WINDOWS:
        acc = "read/write" if w.writable else "read only"
        out.append(f"| 0x{w.base:05X} | 0x{w.size:05X} | **{w.name}** | {acc} | {w.layout} "
                   f"| {w.doc} |")
    out += ["", "## Enumerations", ""]
    for e in (Opcode, ErrorCode, BusError, Feature):
        out += [f"### {e.__name__}", "", e.__doc__.strip(), "", "| value | name |", "|---|---|"]
        out += [f"| {m.value} | {m.name} |" for m in e]
        out.append("")
    return "\n".join(out)


README_BEGIN = "<!-- register map: generated by `make docs` from hw/regmap.py -->"
README_END = "<!-- end of the generated register map -->"


def readme_section() -> str:
    """The register map as embedded in README.md: ``markdown()`` without its title."""
    body = markdown().split("\n", 2)[2].strip()
    body = body.replace("\n### ", "\n#### ").replace("\n## ", "\n### ")  # under README's ##
    return f"{README_BEGIN}\n{body}\n{README_END}"


def with_readme_section(readme: str) -> str:
    """``readme`` with the text between the markers replaced by :func:`readme_section`."""
    head, rest = readme.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return head + readme_section() + tail


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", help="write the Markdown register map here (default stdout)")
    p.add_argument("--readme", help="also rewrite the register map section of this README")
    args = p.parse_args(argv)
    text = markdown()
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.readme:
        with open(args.readme) as f:
            readme = f.read()
        with open(args.readme, "w") as f:
            f.write(with_readme_section(readme))


if __name__ == "__main__":
    main()
