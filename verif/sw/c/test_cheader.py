"""The generated C header (sw/c/pimacc_regs.h) is up to date, compiles as strict C99, and every
value it defines equals the Python register map and instruction format once compiled.

The expected names and values are computed here from hw/spec/regmap.py and hw/spec/isa.py by
the naming rules of hw/spec/cheader.py's docstring, not by calling the generator, so a slip in
the generator shows up as a difference.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest

from hw.spec import cheader, isa, regmap
from hw.spec.geometry import LIMITS, MEM_BITS

pytestmark = [pytest.mark.nosim,
              pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")]

HEADER = cheader.DEFAULT_OUTPUT
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SEED = 12


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def expected() -> dict[str, int]:
    """Every macro and enumerator of the header with its value, from the Python map."""
    v = {"ADDR_WIDTH": regmap.ADDR_WIDTH, "ID_MAGIC": regmap.ID_MAGIC,
         "VERSION": regmap.VERSION, "ALL_FEATURES": regmap.ALL_FEATURES,
         "LUT_ENTRIES": regmap.LUT_ENTRIES, "PARAM_STRIDE": regmap.PARAM_STRIDE,
         "INSTR_BYTES": isa.INSTR_BYTES, "INSTR_WORDS": isa.INSTR_WORDS,
         "INSTR_OP_WORD": 0, "INSTR_OP_SHIFT": 0, "INSTR_OP_WIDTH": 8, "INSTR_OP_MASK": 0xFF}
    for r in regmap.REGISTERS + regmap.CIM_REGISTERS:
        v[f"REG_{r.name}"] = r.offset
        for f in r.fields:
            v |= {f"{r.name}_{f.name}_SHIFT": f.lsb, f"{r.name}_{f.name}_WIDTH": f.width,
                  f"{r.name}_{f.name}_MASK": ((1 << f.width) - 1) << f.lsb,
                  f"{r.name}_{f.name}_RESET": f.reset}
    for w in (regmap.REGISTER_SPACE, *regmap.WINDOWS):
        v |= {f"WIN_{w.name}_BASE": w.base, f"WIN_{w.name}_SIZE": w.size}
    for name, offset in regmap.PARAM_FIELDS.items():
        v |= {f"PARAM_{name}_OFFSET": offset, f"PARAM_{name}_BITS": regmap.PARAM_BITS[name]}
    v |= {f"MAX_{name.upper()}": most for name, most in LIMITS.items()}
    v |= {f"MEM_BITS_{bits}": bits for bits in MEM_BITS}
    for e, width in regmap.ENUM_WIDTHS.items():
        v[f"{_snake(e.__name__)}_WIDTH"] = width
    for e in (regmap.Opcode, regmap.ErrorCode, regmap.BusError, regmap.Feature, isa.Op,
              isa.Window):
        v |= {f"{_snake(e.__name__)}_{m.name}": m.value for m in e}
    for op in isa.Op:
        for f in isa.FIELDS[op]:
            base = f"INSTR_{op.name}_{f.name}"
            v |= {f"{base}_WORD": f.word, f"{base}_SHIFT": f.lsb, f"{base}_WIDTH": f.width,
                  f"{base}_MASK": ((1 << f.width) - 1) << f.lsb, f"{base}_SIGNED": int(f.signed)}
        for w in range(isa.INSTR_WORDS):
            v[f"INSTR_{op.name}_RESERVED_W{w}"] = isa.reserved_mask(op, w)
    return {f"PIMACC_{k}": value for k, value in v.items()}


def _compile_and_run(tmp_path, body, includes=""):
    src = tmp_path / "main.c"
    src.write_text(f'#include <stdio.h>\n#include "pimacc_regs.h"\n{includes}\n'
                   f"int main(void) {{\n{body}\n    return 0;\n}}\n")
    exe = tmp_path / "main"
    subprocess.run(["gcc", *STRICT, "-I", str(HEADER.parent), str(src), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout


def test_committed_header_is_generated():
    assert HEADER.read_text() == cheader.generate(), "stale: run `python -m hw.spec.cheader`"


def test_check_option_reports_a_stale_header(tmp_path):
    out = tmp_path / "h.h"
    assert cheader.main(["-o", str(out)]) == 0
    assert cheader.main(["-o", str(out), "--check"]) == 0
    out.write_text(out.read_text() + "/* edited */\n")
    assert cheader.main(["-o", str(out), "--check"]) == 1


def test_header_defines_exactly_the_map():
    """No name missing, none extra (object-like macros and enumerators)."""
    text = HEADER.read_text()
    defined = set(re.findall(r"^#define (PIMACC_\w+)(?= )", text, re.MULTILINE))
    defined |= set(re.findall(r"^    (PIMACC_\w+) = ", text, re.MULTILINE))
    defined -= {"PIMACC_FIELD_GET", "PIMACC_FIELD_PREP"}
    want = set(expected())
    assert not want - defined, f"missing: {sorted(want - defined)}"
    assert not defined - want, f"not in the map: {sorted(defined - want)}"


def test_compiled_values_equal_the_python_map(tmp_path):
    want = expected()
    body = "\n".join(f'    printf("%s %llu\\n", "{name}", (unsigned long long)({name}));'
                     for name in want)
    got = {}
    for line in _compile_and_run(tmp_path, body).splitlines():
        name, value = line.split()
        got[name] = int(value)
    wrong = {n: (got.get(n), v) for n, v in want.items() if got.get(n) != v}
    assert not wrong, f"C value != Python value: {wrong}"


def test_field_macros_pack_as_the_python_map(tmp_path):
    status, flags = regmap.register("STATUS"), regmap.register("CMD_FLAGS")
    body = "\n".join([
        '    printf("%lu\\n", (unsigned long)PIMACC_FIELD_PREP(STATUS, ERROR, 13));',
        '    printf("%lu\\n", (unsigned long)PIMACC_FIELD_GET(STATUS, ERROR, 0x0D03u));',
        '    printf("%lu\\n", (unsigned long)(PIMACC_FIELD_PREP(CMD_FLAGS, REQUANT, 1) | '
        'PIMACC_FIELD_PREP(CMD_FLAGS, RELU, 1)));'])
    out = [int(s) for s in _compile_and_run(tmp_path, body).split()]
    assert out == [status.pack(ERROR=13), status.unpack(0x0D03)["ERROR"],
                   flags.pack(REQUANT=1, RELU=1)]


def test_instructions_encoded_with_the_macros_equal_isa_encode(tmp_path):
    """Random instructions of every op with fields, put together in C from the header's
    WORD/SHIFT/MASK macros, give isa.encode's words."""
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    cases = []
    for op in isa.Op:
        for _ in range(3):
            values = {}
            for f in isa.FIELDS[op]:
                lo, hi = ((-(1 << f.width - 1), (1 << f.width - 1) - 1) if f.signed
                          else (0, (1 << f.width) - 1))
                values[f] = rng.randint(lo, hi)
            cases.append((op, values))
    lines = []
    for op, values in cases:
        lines.append("    { unsigned long w[PIMACC_INSTR_WORDS] = {0};")
        lines.append(f"      w[PIMACC_INSTR_OP_WORD] |= (unsigned long)PIMACC_OP_{op.name} "
                     "<< PIMACC_INSTR_OP_SHIFT;")
        for f, value in values.items():
            m = f"PIMACC_INSTR_{op.name}_{f.name}"
            lines.append(f"      w[{m}_WORD] |= ((unsigned long)({value}L) << {m}_SHIFT) "
                         f"& {m}_MASK;")
        lines.append('      printf("%lu %lu %lu %lu\\n", w[0], w[1], w[2], w[3]); }')
    out = _compile_and_run(tmp_path, "\n".join(lines)).splitlines()
    for (op, values), line in zip(cases, out, strict=True):
        instr = isa.decode([int(s) for s in line.split()])
        assert instr is not None and instr.op == op, (op, line)
        assert {f: f.get([int(s) for s in line.split()]) for f in values} == values
        cls = type(instr)
        assert isa.encode(cls(**{f.attr: v for f, v in values.items()})) == \
            tuple(int(s) for s in line.split())
