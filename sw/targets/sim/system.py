"""The simulation-only top level ``pimacc_sys``: the accelerator with its memory.

``pimacc_sys`` instantiates ``pimacc`` (hw/top.py) and ``axi4_ram`` (axi4_ram.v, ``DATA_BITS`` =
``geometry.mem_bits``), joins every ``m_axi_*`` of the one to the ``s_axi_*`` of the other, and
brings out ``clk``, ``rst``, ``irq``, the ``s_axil_*`` port and the RAM's control ports (prefixed
``mem_``) so that cocotb reaches them: :class:`~sw.targets.sim.memory.SimMemory` binds to
``mem_*``, the testbench's AXI4-Lite manager to ``s_axil_*``. Nothing else is in it, so a cycle
of ``pimacc_sys`` is a cycle of the accelerator with its memory answering in the simulation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib

from hw.spec.geometry import build_key

from .build import SimBuild, accelerator_ports, accelerator_verilog, build_sources

__all__ = ["AXI4_PORTS", "DEFAULT_MEM_BYTES", "MEM_PREFIX", "RAM_CONTROLS", "RAM_SOURCE",
           "accelerator_ports", "axi4_ports", "build_system", "system_verilog"]

RAM_SOURCE = pathlib.Path(__file__).with_name("axi4_ram.v")
#: the RAM's default size: 16 MiB (Icarus: +0.4 s to start, +90 MB; see axi4_ram.v)
DEFAULT_MEM_BYTES = 16 << 20
#: prefix of the RAM's control ports on ``pimacc_sys``
MEM_PREFIX = "mem_"

#: The AXI4 memory port, seen from the manager: (name after ``m_axi_``/``s_axi_``, width,
#: driven by the manager). Widths "data" and "strb" follow the data width.
AXI4_PORTS = (
    ("awaddr", 32, True), ("awlen", 8, True), ("awsize", 3, True), ("awburst", 2, True),
    ("awvalid", 1, True), ("awready", 1, False),
    ("wdata", "data", True), ("wstrb", "strb", True), ("wlast", 1, True), ("wvalid", 1, True),
    ("wready", 1, False),
    ("bresp", 2, False), ("bvalid", 1, False), ("bready", 1, True),
    ("araddr", 32, True), ("arlen", 8, True), ("arsize", 3, True), ("arburst", 2, True),
    ("arvalid", 1, True), ("arready", 1, False),
    ("rdata", "data", False), ("rresp", 2, False), ("rlast", 1, False), ("rvalid", 1, False),
    ("rready", 1, True),
)

#: The RAM's control ports: (name, width, is an input of the RAM). See axi4_ram.v.
RAM_CONTROLS = (
    ("stall_seed", 32, True), ("stall_pressure", 8, True), ("rd_latency", 8, True),
    ("err_lo", 32, True), ("err_hi", 32, True), ("err_kind", 2, True),
    ("bulk_cmd", 2, True), ("bulk_go", 1, True), ("bulk_lo", 32, True), ("bulk_hi", 32, True),
    ("cfg_bytes", 32, False), ("cfg_data_bits", 32, False), ("violation", 4, False),
)


def axi4_ports(data_bits: int) -> list[tuple[str, int, bool]]:
    """:data:`AXI4_PORTS` with the widths of a ``data_bits`` bus."""
    widths = {"data": data_bits, "strb": data_bits // 8}
    return [(name, widths.get(width, width), out) for name, width, out in AXI4_PORTS]


def _decl(direction, width, name):
    return f"{direction} wire {f'[{width - 1}:0] ' if width > 1 else ''}{name}"


def system_verilog(geometry, mem_bytes: int = DEFAULT_MEM_BYTES, ports=None) -> str:
    """Verilog text of ``pimacc_sys`` for a geometry.

    ``ports`` (``{name: (width, is an output)}``) are ``pimacc``'s ports, by default
    :func:`accelerator_ports`. Every ``m_axi_*`` of :data:`AXI4_PORTS` is joined to the RAM;
    every other port of ``pimacc`` becomes a port of ``pimacc_sys`` of the same name.

    Raises
    ------
    ValueError
        ``pimacc`` lacks one of the ``m_axi_*`` ports, has one of another width or direction,
        has an ``m_axi_*`` port the RAM does not know, or ``mem_bytes`` is not a positive
        multiple of the word size up to 2**31.
    """
    ports = dict(accelerator_ports(geometry) if ports is None else ports)
    data_bits = geometry.mem_bits
    if not (0 < mem_bytes <= 1 << 31 and mem_bytes % (data_bits // 8) == 0):
        raise ValueError(f"mem_bytes must be a positive multiple of {data_bits // 8} up to "
                         f"2**31, got {mem_bytes!r}")
    axi = axi4_ports(data_bits)
    for name, width, out in axi:
        got = ports.pop(f"m_axi_{name}", None)
        if got is None:
            raise ValueError(f"pimacc has no m_axi_{name} (is its AXI4 memory port there?)")
        if got != (width, out):
            raise ValueError(f"pimacc's m_axi_{name} is {got[0]} bits "
                             f"{'out' if got[1] else 'in'}, expected {width} bits "
                             f"{'out' if out else 'in'}")
    unknown = sorted(name for name in ports if name.startswith("m_axi_"))
    if unknown:
        raise ValueError(f"pimacc has AXI4 ports the RAM does not know: {', '.join(unknown)}")

    decls = [_decl("output" if out else "input", width, name)
             for name, (width, out) in ports.items()]
    decls += [_decl("input" if into else "output", width, MEM_PREFIX + name)
              for name, width, into in RAM_CONTROLS]
    wires = [f"  {_decl('', width, f'm_axi_{name}').strip()};" for name, width, _ in axi]
    acc_conns = [f".{name}({name})" for name in ports]
    acc_conns += [f".m_axi_{name}(m_axi_{name})" for name, _, _ in axi]
    ram_conns = [".clk(clk)", ".rst(rst)"]
    ram_conns += [f".s_axi_{name}(m_axi_{name})" for name, _, _ in axi]
    ram_conns += [f".{name}({MEM_PREFIX}{name})" for name, _, _ in RAM_CONTROLS]

    def join(items, indent):
        return (",\n" + " " * indent).join(items)

    return (
        f"// pimacc_sys: pimacc {dataclasses.astuple(geometry)} with {mem_bytes} bytes of\n"
        f"// simulated memory on its AXI4 port (generated by sw/targets/sim/system.py)\n"
        f"module pimacc_sys (\n  {join(decls, 2)}\n);\n"
        + "\n".join(wires) + "\n\n"
        f"  pimacc u_acc (\n    {join(acc_conns, 4)}\n  );\n\n"
        f"  axi4_ram #(.DATA_BITS({data_bits}), .MEM_BYTES({mem_bytes})) u_ram (\n"
        f"    {join(ram_conns, 4)}\n  );\nendmodule\n")


def _digest(*texts) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode() if isinstance(text, str) else text)
    return h.hexdigest()[:10]


def build_system(geometry, sim: str | None = None, mem_bytes: int = DEFAULT_MEM_BYTES,
                 accelerator: str | None = None, ports=None) -> SimBuild:
    """Compiled simulation of ``pimacc_sys`` (``pimacc`` from hw/top.py, ``axi4_ram``, the
    wrapper), cached like :func:`~sw.targets.sim.build.build_accelerator` by geometry, memory
    size, the hash of hw/ and of axi4_ram.v.

    ``accelerator``: Verilog text of a module ``pimacc`` to use instead of the generated one (a
    stub, in tests), with its ``ports`` as :func:`system_verilog` takes them (default: those of
    hw/top.py).
    """
    ram = RAM_SOURCE.read_text()
    wrapper = system_verilog(geometry, mem_bytes, ports)
    parts = [ram, wrapper] + ([accelerator] if accelerator is not None else [])
    key = ("pimacc_sys_" + build_key(geometry)
           + f"_{mem_bytes}-{_digest(*parts)}")

    def write(build_dir):
        text = accelerator_verilog(geometry) if accelerator is None else accelerator
        (build_dir / "pimacc.v").write_text(text)
        (build_dir / "axi4_ram.v").write_text(ram)
        (build_dir / "pimacc_sys.v").write_text(wrapper)

    return build_sources(write, "pimacc_sys", key, ("pimacc.v", "axi4_ram.v", "pimacc_sys.v"),
                         sim)
