"""Verilog generation: ``python -m hw.gen --rows 16 --cols 16 -o build/pimacc.v``."""

import argparse
import dataclasses
import os
import re

from amaranth.back import verilog
from amaranth.hdl import Const, Value, ValueCastable

from .spec import Geometry

__all__ = ["ports_of", "to_verilog", "main"]


def ports_of(component, sep="_"):
    """Top-level ports of a component, named by joining its interface path with ``sep``.

    Amaranth's default separator is ``__``; ``_`` gives the classic ``s_axil_awaddr`` names
    that cocotbext-axi binds by prefix. Constant members (e.g. the ``ready`` of an
    ``always_ready`` stream) are left out. Each port's direction is left to Amaranth (``None``:
    driven inside the design is an output, else an input), which is the member's flow for a
    component and needs no private Amaranth API.
    """
    ports = {}
    for path, _, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if not isinstance(value, Value) or isinstance(value, Const):
            continue
        ports[sep.join(map(str, path))] = (value, None)
    return ports


_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                      re.MULTILINE)
#: an ``always @*`` block of one statement, which Yosys writes without a trigger register
_BARE = re.compile(r"^(\s*)always @\*\n(\s*)((?!begin\b|if\b)[^\n]*;)$", re.MULTILINE)
_MODULE = re.compile(r"^module .*?^endmodule$", re.MULTILINE | re.DOTALL)
#: a wire's declaration, and a continuous assignment to a bit or a range of one
_WIRE = re.compile(r"^  wire \[(\d+):0\] (\\\S+ |[A-Za-z_][\w$]*);$", re.MULTILINE)
_SLICE = re.compile(r"^  assign (\\\S+ |[A-Za-z_][\w$]*) ?\[(\d+)(?::(\d+))?\] = (.*);\n",
                    re.MULTILINE)


def to_verilog(component, name):
    """Deterministic Verilog text (no source locations) for a component.

    Yosys makes every ``always @*`` block read a dummy register initialised to 0 so that the
    block runs once at time zero. Icarus 11 applies declaration initialisers without an event,
    so blocks whose inputs never change (an FSM held in reset at state 0, say) would keep
    their outputs at X. An ``initial #1`` toggle of each dummy register fixes that; synthesis
    tools ignore it. Yosys writes a block of one statement (a part of a signal set to a
    constant, say) with no dummy register at all, so it would never run: such blocks get one
    (:func:`_trigger_bare_blocks`).
    """
    text = verilog.convert(component, name=name, ports=ports_of(component), emit_src=False,
                           strip_internal_attrs=True)
    text = _MODULE.sub(lambda m: _trigger_bare_blocks(_join_slices(m.group(0))), text)
    return _TRIGGER.sub(r"\1reg \2 = 0;\n\1initial #1 \2 = 1;", text)


def _join_slices(module):
    """One module's text with each wire that Yosys drives slice by slice (``assign w[7:0] =
    a; assign w[15:8] = b;``, from a signal assigned element by element) driven by one
    concatenation instead (``assign w = { b, a };``), where the slices cover the wire exactly.

    Icarus 11 resolves a wire with several drivers bit by bit, every time any of them changes:
    the 512-bit row of column sums the accumulator writes, built from 16 slices, cost more
    than the whole VMM array (the 16x16 system ran 372 cycles/s computing). Same meaning, one
    driver."""
    widths = {name: int(msb) + 1 for msb, name in _WIRE.findall(module)}
    slices = {}
    for m in _SLICE.finditer(module):
        name, msb, lsb, value = m.groups()
        if name in widths:
            lsb = msb if lsb is None else lsb
            slices.setdefault(name, []).append((int(lsb), int(msb), value, m.group(0)))
    for name, parts in slices.items():
        parts.sort()
        covered = 0
        for lsb, msb, _, _ in parts:
            if lsb != covered:
                break
            covered = msb + 1
        if len(parts) < 2 or covered != widths[name]:
            continue
        joined = f"  assign {name} = {{ {', '.join(p[2] for p in reversed(parts))} }};\n"
        module = module.replace(parts[0][3], joined, 1)
        for part in parts[1:]:
            module = module.replace(part[3], "", 1)
    return module


def _trigger_bare_blocks(module):
    """One module's text with its one-statement ``always @*`` blocks reading a dummy register
    (declared as Yosys declares its own, so :data:`_TRIGGER` then toggles it)."""
    text = module
    if not _BARE.search(text):
        return text
    reg = "\\$auto$verilog_backend.cc:0:dump_module$0 "
    text = _BARE.sub(lambda b: f"{b.group(1)}always @* begin\n{b.group(2)}if ({reg}) begin end"
                               f"\n{b.group(2)}{b.group(3)}\n{b.group(1)}end", text)
    header_end = text.index(";\n") + 2   # after the module's port list
    return f"{text[:header_end]}  reg {reg} = 0;\n{text[header_end:]}"


def main(argv=None):
    p = argparse.ArgumentParser(description="Generate the pimacc top-level Verilog.")
    defaults = Geometry.default()
    for f in dataclasses.fields(Geometry):
        p.add_argument("--" + f.name.replace("_", "-"), type=int,
                       default=getattr(defaults, f.name))
    p.add_argument("--name", default="pimacc")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    from .top import PimAccelerator
    geometry = Geometry(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Geometry)})
    text = to_verilog(PimAccelerator(geometry), args.name)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(f"// pimacc {geometry}\n// generated by `python -m hw.gen`; do not edit\n")
        f.write(text)
    print(f"wrote {args.output} ({geometry.rows}x{geometry.cols}, {geometry.banks} banks)")


if __name__ == "__main__":
    main()
