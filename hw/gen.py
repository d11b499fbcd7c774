"""Verilog generation: ``python -m hw.gen --rows 16 --cols 16 -o build/pimacc.v``."""

import argparse
import dataclasses
import os
import re

from amaranth.back import verilog
from amaranth.hdl import Const, Value, ValueCastable

from .spec import Geometry, timing

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


#: submodules (their names in the design) whose continuous assignments become blocks
#: (:func:`_group_assigns`): the VMM array's products and adder trees, the accumulator's
#: row update (the other blocks measured no faster grouped, the post-processing slower)
GROUPED = ("array", "accum")


def to_verilog(component, name, grouped=GROUPED):
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
    text = _MODULE.sub(lambda m: _trigger_bare_blocks(_group_assigns(_drop_aliases(
        _join_slices(m.group(0))), grouped)), text)
    text = _REPEATS.sub(_replicate, text)
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


#: a continuous assignment to a whole wire or port (``assign name = expression;``)
_ASSIGN = re.compile(r"^  assign (\\\S+ |[A-Za-z_][\w$]*) ?= ([^\n]*);\n", re.MULTILINE)
#: an identifier: escaped (``\\$12 ``, ``\\x_q.sums[0] ``) or plain
_IDENT = re.compile(r"\\\S+ |[A-Za-z_$][\w$]*")
_INPUT = re.compile(r"^  (?:input|inout) (?:\[\d+:\d+\] )?(\\\S+ |[A-Za-z_][\w$]*);$",
                   re.MULTILINE)
#: a run of the same single bit in a concatenation (Yosys's sign extension: ``{ a[17], a[17],
#: ..., a }``)
_REPEATS = re.compile(r"(?<=[{,] )((?:\\\S+ |[A-Za-z_][\w$]*) ?\[\d+\])(?:, \1)+(?=,| })")


def _drop_aliases(module):
    """One module's text without the wires that only name a field or an element of another
    signal (``assign \\i__payload.sums[3]  = i__payload[135:104];``, from Amaranth's views)
    and that nothing reads. Icarus evaluates every such assignment whenever its source changes
    (about 1,800 of them in the 16x16 design, a fifth of its computing time)."""
    count = {}
    for name in _IDENT.findall(module):
        count[name] = count.get(name, 0) + 1
    for m in list(_ASSIGN.finditer(module)):
        name = m.group(1)
        if not name.startswith("\\") or not ("." in name or "[" in name) or count[name] != 2:
            continue
        decl = re.compile(rf"^  wire (?:\[\d+:0\] )?{re.escape(name)};\n", re.MULTILINE)
        if decl.search(module):
            module = decl.sub("", module.replace(m.group(0), "", 1), count=1)
    return module


def _group_assigns(module, grouped=GROUPED):
    """One module's text with its continuous assignments to internal wires gathered into
    ``always @*`` blocks, one per group of assignments that feed one another (one column's
    products and adder tree, say), each in the order of its dependencies.

    Icarus 11 evaluates a continuous assignment as a net of operator nodes, bit by bit through
    each adder and sign extension, and wakes each assignment separately; in a block it runs
    word-wide instructions once per change of the block's inputs. Same values once the
    inputs settle; the wires (an output port's too, declared apart from the port) become
    variables (``reg``) with the same widths. A wide output assigned in a block changes once
    per cycle instead of once per slice (the accumulator's 512-bit row, read by the whole
    post-processing pipeline). The block reads the module's start-up trigger so it also runs
    once at time 1 (:func:`to_verilog`). Only the submodules named in ``grouped``: elsewhere
    a block's inputs settle one after the other and it would run several times a cycle."""
    name = module[len("module "):module.index("(")].strip().lstrip("\\")
    if re.sub(r"\$\d+$", "", name.rpartition(".")[2]) not in grouped:
        return module
    inputs = set(_INPUT.findall(module))
    decls = {}
    for m in re.finditer(r"^  wire ((?:\[\d+:0\] )?)(\\\S+ |[A-Za-z_][\w$]*);\n", module,
                         re.MULTILINE):
        decls[m.group(2)] = m
    assigns = {}
    for m in _ASSIGN.finditer(module):
        name = m.group(1) if m.group(1).startswith("\\") else m.group(1).strip()
        if name in decls and name not in inputs and name not in assigns:
            assigns[name] = m
    if not assigns:
        return module
    reads = {name: [t for t in _IDENT.findall(m.group(2)) if t in assigns and t != name]
             for name, m in assigns.items()}
    parent = {name: name for name in assigns}

    def root(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for name, deps in reads.items():
        for d in deps:
            parent[root(d)] = root(name)
    groups = {}
    for name in assigns:
        groups.setdefault(root(name), []).append(name)
    groups = [g for g in groups.values() if len(g) > 1]
    if not groups:
        return module
    trigger = _TRIGGER.search(module)
    reg = trigger.group(2) if trigger else "\\$auto$verilog_backend.cc:0:dump_module$0 "
    blocks = []
    for group in groups:
        order, seen = [], set()
        for start in group:   # depth-first, dependencies first (no recursion: deep trees)
            stack = [(start, False)]
            while stack:
                n, done = stack.pop()
                if done:
                    order.append(n)
                elif n not in seen:
                    seen.add(n)
                    stack.append((n, True))
                    stack.extend((d, False) for d in reads[n] if d not in seen)
        body = "".join(f"    {n}{'' if n.endswith(' ') else ' '}= {assigns[n].group(2)};\n"
                       for n in order)
        blocks.append(f"  always @* begin\n    if ({reg}) begin end\n{body}  end\n")
        for n in group:
            module = module.replace(assigns[n].group(0), "", 1)
            d = decls[n]
            module = module.replace(d.group(0), f"  reg {d.group(1)}{d.group(2)};\n", 1)
    if not trigger:
        header_end = module.index(";\n") + 2   # after the module's port list
        module = f"{module[:header_end]}  reg {reg} = 0;\n{module[header_end:]}"
    end = module.rindex("endmodule")
    return module[:end] + "".join(blocks) + module[end:]


def _replicate(m):
    """``{ a[17], a[17], a[17], a }`` as ``{ {3{a[17]}}, a }``: one operand instead of many
    (Icarus loads each one)."""
    bit = m.group(1)
    return f"{{{m.group(0).count(bit)}{{{bit}}}}}"


def _trigger_bare_blocks(module):
    """One module's text with its one-statement ``always @*`` blocks reading a dummy register
    (declared as Yosys declares its own, so :data:`_TRIGGER` then toggles it)."""
    text = module
    if not _BARE.search(text):
        return text
    reg = "\\$auto$verilog_backend.cc:0:dump_module$0 "
    text = _BARE.sub(lambda b: f"{b.group(1)}always @* begin\n{b.group(2)}if ({reg}) begin end"
                               f"\n{b.group(2)}{b.group(3)}\n{b.group(1)}end", text)
    if f"reg {reg} = 0;" in text:   # declared already (:func:`_group_assigns`)
        return text
    header_end = text.index(";\n") + 2   # after the module's port list
    return f"{text[:header_end]}  reg {reg} = 0;\n{text[header_end:]}"


def main(argv=None):
    p = argparse.ArgumentParser(description="Generate the pimacc top-level Verilog.")
    defaults = Geometry.default()
    for f in dataclasses.fields(Geometry):
        p.add_argument("--" + f.name.replace("_", "-"), type=int,
                       default=getattr(defaults, f.name))
    p.add_argument("--weight-store", choices=("ff", "ram", "auto"), default="auto",
                   help="the array's weights in registers (ff) or a RAM per column (auto: a "
                        "RAM from 16 banks on)")
    p.add_argument("--array-pipeline", type=int, choices=timing.ARRAY_PIPELINES, default=0,
                   help="extra pipeline stages of the array (1: the input broadcast "
                        "registered, 2: the products too, 3: the products copied once more "
                        "beside the adders; each adds a cycle of latency)")
    p.add_argument("--dsp-registers", action="store_true",
                   help="with --array-pipeline 2 or 3: the array's products (and the "
                        "requantizer's and the instruction check's multiplies) as Lattice "
                        "ECP5 MULT18X18D "
                        "instances with their registers in use (hw.ecp5; a simulator needs "
                        "the block's model too: python -m hw.ecp5 -o FILE)")
    p.add_argument("--name", default="pimacc")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    from .top import PimAccelerator
    geometry = Geometry(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Geometry)})
    top = PimAccelerator(geometry, weight_store=args.weight_store,
                         array_pipeline=args.array_pipeline,
                         array_mult_cells="ecp5" if args.dsp_registers else "inferred")
    text = to_verilog(top, args.name)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        pipeline = (f", array_pipeline={top.array_pipeline}" if top.array_pipeline else "") \
            + (", array_mult_cells=ecp5" if args.dsp_registers else "")
        f.write(f"// pimacc {geometry}, weight_store={top.weight_store}{pipeline}\n"
                "// generated by `python -m hw.gen`; do not edit\n")
        f.write(text)
    print(f"wrote {args.output} ({geometry.rows}x{geometry.cols}, {geometry.banks} banks)")


if __name__ == "__main__":
    main()
