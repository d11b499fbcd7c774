"""The C header of the register map and the instruction format: ``python -m hw.spec.cheader``.

``sw/c/pimacc_regs.h`` is generated from :mod:`hw.spec.regmap` and :mod:`hw.spec.isa` (``make
docs`` rewrites it, ``verif/sw/c/test_cheader.py`` fails when the committed file differs or a
value differs from the Python map once compiled). It holds only what does not depend on the
geometry; a driver reads the geometry from the CFG_* registers.

Names (all prefixed ``PIMACC_``):

* ``REG_<REGISTER>``: the byte offset of a register;
* ``<REGISTER>_<FIELD>_SHIFT``, ``_WIDTH``, ``_MASK`` (the mask in place) and ``_RESET``;
  ``PIMACC_FIELD_GET(REGISTER, FIELD, word)`` and ``PIMACC_FIELD_PREP(REGISTER, FIELD, value)``
  extract and place a field;
* ``WIN_<WINDOW>_BASE`` and ``_SIZE`` for the buffer windows and ``WIN_REG_*`` for the register
  space, ``PARAM_STRIDE``, ``PARAM_<FIELD>_OFFSET`` and ``_BITS``, ``LUT_ENTRIES``;
* one C ``enum`` per enumeration, members ``<ENUM>_<MEMBER>`` with the enumeration's name in
  upper snake case (``ErrorCode.BAD_BANK`` -> ``PIMACC_ERROR_CODE_BAD_BANK``), and
  ``<ENUM>_WIDTH`` for those the hardware carries in a field (:data:`~hw.spec.regmap.ENUM_WIDTHS`);
* the instruction format: ``INSTR_BYTES``, ``INSTR_WORDS``, ``INSTR_OP_*`` and for every op and
  field ``INSTR_<OP>_<FIELD>_WORD``, ``_SHIFT``, ``_WIDTH``, ``_MASK``, ``_SIGNED``, and
  ``INSTR_<OP>_RESERVED_W<n>`` (bits that must be 0), read from :data:`hw.spec.isa.FIELDS` so a
  new instruction appears when the header is regenerated;
* the limits of a geometry (``MAX_ROWS`` ...) and the memory port widths (``MEM_BITS_<n>``).

Why our own generator and not SystemRDL with PeakRDL (``peakrdl-cheader``): the register map
already has one source, :mod:`hw.spec.regmap`, in Python, from which the gateware, the Python
driver, the register-level model and the documents are built. Exporting it to SystemRDL only to
run PeakRDL would add a second description and a compiler to keep in step with the first,
while SystemRDL has no notion of our instruction format, our enumerations' use outside fields,
the PARAM layout or the geometry limits, which the C driver needs as much as the registers.
Sixty lines of Python that read the same objects keep one source of truth.
"""

from __future__ import annotations

import argparse
import enum
import pathlib
import re
import sys

from . import isa, regmap
from .geometry import LIMITS, MEM_BITS

__all__ = ["DEFAULT_OUTPUT", "ENUMS", "c_name", "generate", "macros", "main"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = ROOT / "sw" / "c" / "pimacc_regs.h"
PREFIX = "PIMACC_"

#: the enumerations of the header, in order
ENUMS: tuple[type[enum.IntEnum], ...] = (regmap.Opcode, regmap.ErrorCode, regmap.BusError,
                                         regmap.Feature, isa.Op, isa.Window)


def c_name(enum_class) -> str:
    """``ErrorCode`` -> ``ERROR_CODE``: an enumeration's name in upper snake case."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", enum_class.__name__).upper()


def _hex(value):
    return f"0x{value:X}u"


def macros() -> list[tuple[str, str, str]]:
    """Every object-like macro of the header: (name without the prefix, C value, comment)."""
    out = [("ADDR_WIDTH", str(regmap.ADDR_WIDTH), "bits of a byte address on the AXI4-Lite port"),
           ("ID_MAGIC", _hex(regmap.ID_MAGIC), "ID reads this: ASCII 'PIMA'"),
           ("VERSION", _hex(regmap.VERSION), "VERSION of this map: major.minor.patch, 8.8.16"),
           ("ALL_FEATURES", _hex(regmap.ALL_FEATURES), "CFG_FEATURES with every feature")]
    for r in regmap.REGISTERS + regmap.CIM_REGISTERS:
        cim_only = " (CIM builds only: Feature.CIM)" if r in regmap.CIM_REGISTERS else ""
        out.append((f"REG_{r.name}", f"0x{r.offset:03X}u", r.doc + cim_only))
        for f in r.fields:
            base = f"{r.name}_{f.name}"
            kind = ("signed " if f.signed else "") + regmap.ACCESS_DOC[f.access]
            out += [(f"{base}_SHIFT", str(f.lsb), f"{kind}: {f.doc}"),
                    (f"{base}_WIDTH", str(f.width), ""),
                    (f"{base}_MASK", _hex(f.mask), ""),
                    (f"{base}_RESET", _hex(f.reset & ((1 << f.width) - 1)), "")]
    for w in (regmap.REGISTER_SPACE, *regmap.WINDOWS):
        out += [(f"WIN_{w.name}_BASE", _hex(w.base), w.doc), (f"WIN_{w.name}_SIZE", _hex(w.size),
                                                              w.layout)]
    out += [("LUT_ENTRIES", str(regmap.LUT_ENTRIES), "entries of the lookup table"),
            ("PARAM_STRIDE", str(regmap.PARAM_STRIDE), "bytes of a column in the PARAM window")]
    for name, offset in regmap.PARAM_FIELDS.items():
        out += [(f"PARAM_{name}_OFFSET", str(offset), f"byte offset of {name} in a column"),
                (f"PARAM_{name}_BITS", str(regmap.PARAM_BITS[name]), "bits it stores")]
    for name, most in LIMITS.items():
        out.append((f"MAX_{name.upper()}", str(most), f"the largest geometry {name}"))
    out += [(f"MEM_BITS_{bits}", str(bits), "a data width the memory port can be built with")
            for bits in MEM_BITS]
    for e in ENUMS:
        if e in regmap.ENUM_WIDTHS:
            out.append((f"{c_name(e)}_WIDTH", str(regmap.ENUM_WIDTHS[e]),
                        f"bits of the field that carries a {e.__name__}"))
    out += [("INSTR_BYTES", str(isa.INSTR_BYTES), "bytes of an instruction"),
            ("INSTR_WORDS", str(isa.INSTR_WORDS), "little-endian 32-bit words of an instruction"),
            ("INSTR_OP_WORD", "0", "the op (Op) is word 0, bits 7:0"),
            ("INSTR_OP_SHIFT", "0", ""), ("INSTR_OP_WIDTH", "8", ""),
            ("INSTR_OP_MASK", _hex(0xFF), "")]
    for op in isa.Op:
        for f in isa.FIELDS[op]:
            base = f"INSTR_{op.name}_{f.name}"
            out += [(f"{base}_WORD", str(f.word), f.doc), (f"{base}_SHIFT", str(f.lsb), ""),
                    (f"{base}_WIDTH", str(f.width), ""),
                    (f"{base}_MASK", _hex(((1 << f.width) - 1) << f.lsb), ""),
                    (f"{base}_SIGNED", str(int(f.signed)), "")]
        out += [(f"INSTR_{op.name}_RESERVED_W{w}", _hex(isa.reserved_mask(op, w)),
                 f"bits of word {w} of {op.name} that must be 0" if w == 0 else "")
                for w in range(isa.INSTR_WORDS)]
    names = [n for n, _, _ in out] + [f"{c_name(e)}_{m.name}" for e in ENUMS for m in e]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"the C header would define {', '.join(dup)} twice")
    return out


def _comment(text):
    text = " ".join(text.split()).replace("*/", "* /")
    return f"  /* {text} */" if text else ""


def generate() -> str:
    """The text of ``pimacc_regs.h``."""
    lines = [
        "/* pimacc_regs.h: the pimacc register map and instruction format for C.",
        " *",
        " * Generated by `python -m hw.spec.cheader` (`make docs`) from hw/spec/regmap.py and",
        " * hw/spec/isa.py; do not edit: a test fails when this file differs from its source.",
        " * C99; geometry-independent (read the geometry from the CFG_* registers).",
        " */",
        "#ifndef PIMACC_REGS_H",
        "#define PIMACC_REGS_H",
        "",
        "/* A field of a register word: PIMACC_FIELD_GET(STATUS, ERROR, word). */",
        "#define PIMACC_FIELD_GET(reg, field, word) \\",
        "    (((word) & PIMACC_##reg##_##field##_MASK) >> PIMACC_##reg##_##field##_SHIFT)",
        "/* A field placed in a register word (value truncated to the field). */",
        "#define PIMACC_FIELD_PREP(reg, field, value) \\",
        "    (((unsigned long)(value) << PIMACC_##reg##_##field##_SHIFT) & "
        "PIMACC_##reg##_##field##_MASK)",
        "",
    ]
    for name, value, doc in macros():
        lines.append(f"#define {PREFIX}{name} {value}{_comment(doc)}")
    for e in ENUMS:
        tag = f"pimacc_{c_name(e).lower()}"
        lines += ["", f"/* {' '.join((e.__doc__ or e.__name__).split())} */", f"enum {tag} {{"]
        lines += [f"    {PREFIX}{c_name(e)}_{m.name} = {m.value}," for m in e]
        lines.append("};")
    lines += ["", "#endif /* PIMACC_REGS_H */", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", type=pathlib.Path, default=DEFAULT_OUTPUT)
    p.add_argument("--check", action="store_true",
                   help="only compare with the file; exit 1 when it is stale")
    args = p.parse_args(argv)
    text = generate()
    if args.check:
        stale = not args.output.exists() or args.output.read_text() != text
        if stale:
            print(f"{args.output} is stale: run `python -m hw.spec.cheader`", file=sys.stderr)
        return int(stale)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
