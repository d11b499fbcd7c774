"""The register map of pimacc: the ONE source of truth for the host interface (pure Python).

Everything that talks about addresses reads this module:

* ``hw/csr.py`` builds the Amaranth register block from :data:`REGISTERS` and ``hw/decoder.py``
  the address decoder from :data:`REGISTER_SPACE` and :data:`WINDOWS`,
* the driver (``sw/driver``) and the register-level model (``sw/targets/regmodel``) use the
  same :data:`REGISTERS`, :class:`~hw.spec.geometry.Geometry` and enums,
* ``docs/registers.md`` and the README's register section are produced by ``python -m hw.docs``
  and a test fails when the committed files differ from what this module generates.

The bus is AXI4-Lite, 32-bit data, byte addresses, :data:`ADDR_WIDTH` address bits.
Registers live in the first 4 KiB (:data:`REGISTER_SPACE`); the buffers are reached through fixed
windows, each a power of two in size and aligned to it.

The enumerations are plain :class:`enum.IntEnum` so that nothing here needs Amaranth; the
gateware uses their ``amaranth.lib.enum`` twins of the width given by :data:`ENUM_WIDTHS`
(``hw/enums.py``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "ADDR_WIDTH", "ID_MAGIC", "VERSION", "Opcode", "ErrorCode", "BusError", "Feature",
    "ENUM_WIDTHS", "ALL_FEATURES", "Field", "Register", "Window", "REGISTERS", "REGISTER_SPACE",
    "CIM_REGISTERS", "registers",
    "WINDOWS", "LUT_ENTRIES", "PARAM_STRIDE", "PARAM_FIELDS", "PARAM_BITS", "register", "window",
    "command_registers", "markdown",
]

ADDR_WIDTH = 20
ID_MAGIC = 0x50494D41  # "PIMA"
VERSION = 0x0001_0000  # major.minor.patch as 8.8.16 bits


class Opcode(enum.IntEnum):
    """Command opcodes (``CMD_OP``)."""
    NOP = 0
    #: Stream ``CMD_COUNT`` input vectors through the array, update the accumulators and,
    #: with ``CMD_FLAGS.REQUANT``, write int8 results to the output buffer.
    VMM = 1


class ErrorCode(enum.IntEnum):
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
    # The program's own errors (see hw/spec/isa.py); PROG_PC names the instruction.
    BAD_INSTR = 10     #: an unknown instruction op, or a reserved instruction field not 0
    BAD_WINDOW = 11    #: LOAD into a window other than LUT/PARAM/WEIGHT/IN, STORE from other
                       #: than ACC/OUT
    WINDOW_RANGE = 12  #: LOAD/STORE COUNT is 0, or FIRST + COUNT > the window's units
    MEM_ALIGN = 13     #: a memory address (MEM_ADDR, PROG_ADDR) not a multiple of CFG_MEM_BITS/8
    MEM_READ = 14      #: the memory answered a read with SLVERR/DECERR (MEM_ERROR_ADDR)
    MEM_WRITE = 15     #: the memory answered a write with SLVERR/DECERR (MEM_ERROR_ADDR)
    PROG_LEN = 16      #: PROG_LEN instructions ran without an END (or PROG_LEN is 0)
    MEM_RANGE = 17     #: a LOAD's or STORE's bytes (every row of a 2-D LOAD) reach past the
                       #: 32-bit address space


class BusError(enum.IntEnum):
    """Why the last bus access was refused (``BUS_ERROR.CODE``)."""
    NONE = 0
    UNMAPPED = 1   #: no register or buffer word at that address (DECERR)
    READ_ONLY = 2  #: write to a read-only register or window (SLVERR)
    BUSY = 3       #: write to a command register or to a buffer in use while BUSY (SLVERR)


class Feature(enum.IntEnum):
    """Bits of ``CFG_FEATURES``: what this build of the accelerator can do."""
    REQUANT = 1 << 0   #: per-column Q31 requantization to int8
    RELU = 1 << 1      #: ReLU clamped at the output zero point
    BIAS = 1 << 2      #: per-column int32 bias added on the first K tile
    ROW_MASK = 1 << 3  #: rows >= CMD_ROWS are ignored (no need to zero-pad weights)
    LUT = 1 << 4       #: 256-entry int8 lookup-table activation after requantization
    MAXPOOL = 1 << 5   #: max over groups of CMD_POOL consecutive output rows
    #: the array computes in compute-in-memory mode (``models.cim``); the CIM registers
    #: (:data:`CIM_REGISTERS`: CFG_CIM, CIM_SHIFT, PERF_ADC, PERF_ROWS) exist
    CIM = 1 << 6


#: bits of each enumeration where the hardware carries it (its register field)
ENUM_WIDTHS = {Opcode: 8, ErrorCode: 8, BusError: 8, Feature: 32}
#: CFG_FEATURES of the hardware as built: every feature but CIM (a build parameter; a CIM build
#: reports ``ALL_FEATURES | Feature.CIM``)
ALL_FEATURES = sum(f.value for f in Feature if f is not Feature.CIM)


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
    _reg("STATUS", 0x00C, "Status of the last command or program.",
         Field("BUSY", 0, 1, RO, "a command or a program is running"),
         Field("DONE", 1, 1, W1C,
               "the last command or program finished or was rejected; cleared by START and "
               "DOORBELL too"),
         Field("ERROR", 8, 8, RO, "why the last command or program was rejected or stopped "
               "(ErrorCode); cleared by the next START or DOORBELL", enum=ErrorCode)),
    _reg("BUS_ERROR", 0x010, "The last refused bus access.",
         Field("CODE", 0, 8, WC, "why it was refused (BusError)", enum=BusError)),
    _reg("BUS_ERROR_ADDR", 0x014, "Byte address of the word of the last refused bus access "
         "(bits 1:0 read 0).",
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
    _perf("PERF_BUSY", 0x084, "Cycles with a VMM command running (from the CMD_* registers or "
          "a program's VMM instruction: the compute unit's busy cycles)."),
    _perf("PERF_COMPUTE", 0x088, "Cycles with at least one vector inside the VMM array."),
    _perf("PERF_STALL", 0x08C, "Cycles with a command running and no vector issued."),
    _perf("PERF_MACS", 0x090, "Useful multiply-accumulates: CMD_ROWS * CMD_COLS per vector."),
    _perf("PERF_VECTORS", 0x094, "Input vectors issued into the array."),
    _perf("PERF_LOAD", 0x098, "Cycles with the load unit working on a LOAD."),
    _perf("PERF_STORE", 0x09C, "Cycles with the store unit working on a STORE."),
    _perf("PERF_RD_BYTES", 0x0A0, "Bytes read from memory (instructions and LOADs)."),
    _perf("PERF_WR_BYTES", 0x0A4, "Bytes written to memory (STOREs)."),
    _perf("PERF_INSTRS", 0x0A8, "Program instructions dispatched."),

    _reg("PROG_ADDR", 0x0C0, "Byte address in memory of the program's first instruction "
         "(a multiple of CFG_MEM_BITS/8).", _word("VALUE", RW, "address"),
         locked_while_busy=True),
    _reg("PROG_LEN", 0x0C4, "The most instructions the program may run; one that runs this "
         "many without an END stops with PROG_LEN.", _word("VALUE", RW, "instructions"),
         locked_while_busy=True),
    _reg("DOORBELL", 0x0C8, "Runs the program at PROG_ADDR (hw/spec/isa.py).",
         Field("RUN", 0, 1, W1P, "start the program"), locked_while_busy=True),
    _reg("PROG_PC", 0x0CC, "Index of the instruction the program last dispatched; after an "
         "error, the instruction that failed.", _word("VALUE", RO, "instruction index")),
    _reg("MEM_ERROR_ADDR", 0x0D0, "Byte address of the burst the memory answered with "
         "SLVERR/DECERR (MEM_READ, MEM_WRITE).", _word("VALUE", RO, "address")),
    _cfg("CFG_MEM_BITS", 0x0D4, "Data width of the AXI4 memory port in bits (64, 128, 256).",
         "mem_bits"),
)

#: the registers of a compute-in-memory build only (Feature.CIM; hw/cim_array.py): in the exact
#: digital build these words are unmapped, so its register block is unchanged
CIM_REGISTERS: tuple[Register, ...] = (
    _cfg("CFG_CIM", 0x0E0, "The CIM build: BITS_PER_CYCLE in bits 7:0 (1, 2, 4, 8), "
         "GROUP_ROWS (rows per ADC group) in 15:8, ADC_BITS in 23:16, CELL_BITS (bits per "
         "weight cell: 8, or 1, 2, 4 for weights sliced in offset encoding) in 31:24.", "cim"),
    _reg("CIM_SHIFT", 0x0E4, "The ADC window (models.cim): each group's partial sum p becomes "
         "clip((p + 2**(SHIFT-1)) >> SHIFT) on ADC_BITS bits (signed, or unsigned for the "
         "sliced cells' non-negative sums); set per layer. A vector takes the value it finds "
         "when it enters the array.",
         _word("VALUE", RW, "right shift 0..31", width=5), locked_while_busy=True),
    _perf("PERF_ADC", 0x0E8, "ADC conversions: C * R / GROUP_ROWS * 8 / CELL_BITS per input "
          "slice, 8 / BITS_PER_CYCLE slices per vector."),
    _perf("PERF_ROWS", 0x0EC, "Row activations: R per input slice."),
)


def registers(cim=False):
    """The registers of a build: :data:`REGISTERS`, and :data:`CIM_REGISTERS` with ``cim``."""
    return REGISTERS + CIM_REGISTERS if cim else REGISTERS


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

#: the register block: byte addresses [base, base + size)
REGISTER_SPACE = Window("REG", 0x00000, 0x01000, True, "Registers (see the table above).")
LUT_ENTRIES = 256
PARAM_STRIDE = 16
PARAM_FIELDS = {"BIAS": 0, "MULT": 4, "SHIFT": 8}
#: bits each PARAM field stores (BIAS is signed); wider writes are truncated
PARAM_BITS = {"BIAS": 32, "MULT": 31, "SHIFT": 6}


def register(name) -> Register:
    for r in REGISTERS + CIM_REGISTERS:
        if r.name == name:
            return r
    raise KeyError(f"no register {name!r}")


def window(name) -> Window:
    for w in WINDOWS:
        if w.name == name:
            return w
    raise KeyError(f"no window {name!r}")


def command_registers() -> tuple[Register, ...]:
    """The CMD_* registers in address order: the block the driver writes before a START."""
    return tuple(r for r in REGISTERS if r.name.startswith("CMD_"))


def _check_layout():
    """Windows and the register space are aligned powers of two that do not overlap."""
    spans = [REGISTER_SPACE, *WINDOWS]
    for w in spans:
        assert w.size & (w.size - 1) == 0 and w.base % w.size == 0, w
        assert w.base + w.size <= 1 << ADDR_WIDTH, w
    for a in spans:
        for b in spans:
            assert a is b or a.base + a.size <= b.base or b.base + b.size <= a.base, (a, b)
    for r in REGISTERS + CIM_REGISTERS:
        assert r.offset % 4 == 0 and r.offset < REGISTER_SPACE.size, r
    assert len({r.offset for r in REGISTERS + CIM_REGISTERS}) == len(REGISTERS + CIM_REGISTERS)


_check_layout()


def markdown() -> str:
    """The register document (docs/registers.md), generated from this module."""
    out = ["# pimacc register map", "",
           "Generated by `python -m hw.docs` from `hw/spec/regmap.py`; do not edit by hand "
           "(`make docs` rewrites it, a test checks it).", "",
           f"AXI4-Lite, 32-bit data, byte strobes honoured, {ADDR_WIDTH}-bit byte addresses. "
           "An unmapped address answers DECERR; a refused write answers SLVERR and changes "
           "nothing; either way BUS_ERROR records why. A write to CTRL in the cycle after a "
           "write to a CMD_* register waits a cycle (AWREADY and WREADY low): a START then "
           "finds its command settled for the register-mode check (only a manager that writes "
           "START in the cycle after the last CMD_* register notices). BUS_ERROR records a "
           "refusal in the cycle after it: a register read in that cycle waits a cycle "
           "(ARREADY low), and a write to BUS_ERROR in that cycle clears it, so every access "
           "after a refused one sees it recorded.", "",
           "## Registers", "",
           "| offset | name | field | bits | access | reset | description |",
           "|---|---|---|---|---|---|---|"]
    for r in REGISTERS + CIM_REGISTERS:
        lock = " Refused (BUSY) while a command runs." if r.locked_while_busy else ""
        if r in CIM_REGISTERS:
            lock += " CIM builds only (Feature.CIM); unmapped otherwise."
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
