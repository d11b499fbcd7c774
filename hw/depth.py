"""Deep paths in a mapped ECP5 netlist, in seconds, not the hour place and route takes:
``python -m hw.depth build/synth/8x8_b2_p2/netlist.json --target 125``.

nextpnr reports one critical path per run, and a run of the whole accelerator takes about an
hour (:mod:`hw.synth`). This reads the netlist Yosys's ``synth_ecp5`` wrote (the
``netlist.json`` of every :mod:`hw.synth` build) and estimates every register-to-register path
with a fixed delay per cell and per routed net (:data:`DELAYS`, :data:`NET_NS`), so that all
the paths over a clock period can be listed and fixed in one go. The cell delays are those
nextpnr-ecp5 reports for speed grade 8 (its critical path reports of this design); the delay
of a routed net is one average (:data:`NET_NS`), where nextpnr's routed nets of this design
took 0.4 to 3.5 ns. So the estimate ranks paths by their cells and their number of routed nets
(``hops``); it does not know placement: a long net to a far block counts as any other. Nets
inside a slice (a LUT4 into its PFUMX, a carry chain) cost nothing, as in nextpnr.

After a route, ``--routed build/report.json`` (nextpnr's report, which :mod:`hw.synth` asks
for with ``--detailed-timing-report``) lists every end point with its routed arrival instead:
the whole population over the clock, not only nextpnr's one critical path (:func:`routed`).

Start points are flip-flop outputs (``TRELLIS_FF`` Q), block-RAM read data (``DP16KD``
DO) and the products of MULT18X18D blocks with registers in use (:data:`DSP_CLK_TO_P`); end
points are every input of a flip-flop, block RAM, or LUT-RAM write port, and the operands of
such a block. The ports of the top module are left out (out of context, nextpnr does not
time them either).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DELAYS", "NET_NS", "CLK_TO_Q", "TimingPath", "RoutedEnd", "paths", "routed",
           "worst", "by_block", "report", "routed_report", "main"]

#: nextpnr-ecp5's routed net delays on this design ran from 0.4 to 3.5 ns; this is the
#: estimate's one figure for a net between slices
NET_NS = 0.9
#: clock-to-output of the start points (ns; nextpnr-ecp5, speed grade 8)
CLK_TO_Q = {"TRELLIS_FF": 0.40, "DP16KD": 4.26}
#: combinational cells: (input port pattern, output port pattern) -> ns, the first match wins;
#: inputs of ``INTERNAL`` come from the same slice (no routed net)
DELAYS = {
    "LUT4": [(r"[ABCD]", r"Z", 0.18)],
    "PFUMX": [(r"ALUT|BLUT|C0", r"Z", 0.15)],
    "L6MUX21": [(r"D0|D1|SD", r"Z", 0.15)],
    "CCU2C": [(r"CIN", r"COUT", 0.06), (r"CIN", r"S[01]", 0.25),
              (r"[ABCD][01]", r"COUT", 0.35), (r"[ABCD][01]", r"S[01]", 0.33)],
    "MULT18X18D": [(r"[AB]\d+|SIGNED[AB]", r"P\d+", 3.07)],
    "TRELLIS_DPR16X4": [(r"RAD\d*", r"DO\d*", 0.40)],
}
#: a MULT18X18D with its output register: clock to P (ns; nextpnr-ecp5's figure for
#: MULT18X18D_REGS_ALL, speed grade 8, in a routed 2x2 array). With registered operands and
#: no output register P comes after the multiply, its A/B-to-P delay later; with an output
#: register only, the operands' setup includes that delay. (The operand registers' setup is
#: taken as a flip-flop's, :data:`SETUP_NS`.)
DSP_CLK_TO_P = 0.58
#: (cell type, input port) fed from inside the slice: no routed net before it
INTERNAL = {("PFUMX", "ALUT"), ("PFUMX", "BLUT"), ("L6MUX21", "D0"), ("L6MUX21", "D1"),
            ("CCU2C", "CIN")}
#: setup time at an end point (ns)
SETUP_NS = 0.1
#: sequential cells: their inputs are end points (but the read address of a LUT-RAM, which
#: is combinational)
SEQUENTIAL = {"TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4"}
IGNORED_INPUTS = {"CLK", "CLKA", "CLKB", "WCK"}


@dataclass(frozen=True)
class TimingPath:
    """One estimated path: ``ns`` from the start's clock edge to the end's setup, ``hops``
    routed nets, the named signals along it (start first, the end's register or memory
    last), the types of the cells driving them, and the end's input port (``DI``: a
    flip-flop's data; ``CE``, ``LSR``; a memory's ``WAD``, ``DIA3``, ...)."""
    ns: float
    hops: int
    signals: tuple
    cells: tuple
    port: str = "DI"

    @property
    def start(self):
        return self.signals[0]

    @property
    def end(self):
        return self.signals[-1]

    @property
    def blocks(self):
        """The blocks along the path (the first part of each named signal's name), in order,
        once each."""
        seen = []
        for s in self.signals:
            if s.startswith("$"):       # a net Yosys made and named after nothing
                continue
            b = block_of(s)
            if not seen or seen[-1] != b:
                seen.append(b)
        return tuple(seen)


def block_of(signal):
    """``wdma.next_addr[9]`` -> ``wdma``; a top-level signal (``bias[3]``) -> ``top``."""
    head, dot, _ = signal.lstrip("\\").partition(".")
    return head if dot and not re.search(r"[\[$]", head) else "top"


def _module(netlist):
    modules = netlist["modules"]
    tops = [n for n, m in modules.items() if int(m.get("attributes", {}).get("top", 0))]
    if len(tops) == 1:
        return modules[tops[0]]
    with_cells = [m for m in modules.values() if m.get("cells")]
    return max(with_cells, key=lambda m: len(m["cells"]))


def _names(module):
    """bit -> its most readable name (a visible name over a hidden one, then the shortest)."""
    best = {}
    for name, net in module["netnames"].items():
        hidden = int(net.get("hide_name", 0)) or name.startswith("$")
        for i, bit in enumerate(net["bits"]):
            if isinstance(bit, str):
                continue
            label = name if len(net["bits"]) == 1 else f"{name}[{i}]"
            rank = (hidden, len(label))
            if bit not in best or rank < best[bit][0]:
                best[bit] = (rank, label.lstrip("\\"))
    return {bit: label for bit, (_, label) in best.items()}


def _dsp_registers(cell):
    """A MULT18X18D's (operand A, operand B, product) registers in use, as booleans."""
    params = cell.get("parameters", {})
    return tuple(str(params.get(f"REG_{r}_CLK", "NONE")) != "NONE"
                 for r in ("INPUTA", "INPUTB", "OUTPUT"))


def _dsp_clocked(cell):
    return cell["type"] == "MULT18X18D" and any(_dsp_registers(cell))


def _arc_delay(kind, inp, out):
    for ip, op, ns in DELAYS.get(kind, ()):
        if re.fullmatch(ip, inp) and re.fullmatch(op, out):
            return ns
    return None


def paths(netlist, net_ns=NET_NS):
    """Every end point's worst estimated path in ``netlist`` (Yosys's JSON, a dict or a
    path), as :class:`TimingPath`, worst first."""
    if not isinstance(netlist, dict):
        netlist = json.loads(Path(netlist).read_text())
    module = _module(netlist)
    names = _names(module)
    cells = module["cells"]
    # arrival[bit] = (ns, hops, previous bit or None, cell name)
    arrival = {}
    driver = {}                    # bit -> (cell name, port)
    for cname, cell in cells.items():
        kind = cell["type"]
        for port, direction in cell.get("port_directions", {}).items():
            if direction != "output":
                continue
            for bit in cell["connections"][port]:
                if isinstance(bit, int):
                    driver[bit] = (cname, port)
                    if kind in CLK_TO_Q:
                        arrival[bit] = (CLK_TO_Q[kind], 0, None, cname)
                    elif _dsp_clocked(cell):
                        through = 0.0 if _dsp_registers(cell)[2] else _arc_delay(
                            kind, "A0", "P0")
                        arrival[bit] = (DSP_CLK_TO_P + through, 0, None, cname)

    def comb_inputs(cname, out_port):
        cell = cells[cname]
        kind = cell["type"]
        if _dsp_clocked(cell):          # its products are start points
            return
        for port, direction in cell["port_directions"].items():
            if direction != "input":
                continue
            ns = _arc_delay(kind, re.sub(r"\[\d+\]$", "", port), out_port)
            if ns is None:
                continue
            for bit in cell["connections"][port]:
                if isinstance(bit, int):
                    yield bit, ns, (kind, port) not in INTERNAL

    def resolve(bit):
        """The arrival at ``bit`` (iterative: carry chains make deep recursion)."""
        stack = [bit]
        while stack:
            b = stack[-1]
            if b in arrival:
                stack.pop()
                continue
            if b not in driver:             # a top-level input or a constant: not timed
                arrival[b] = None
                stack.pop()
                continue
            cname, port = driver[b]
            pending = [i for i, _, _ in comb_inputs(cname, port) if i not in arrival]
            if pending:
                stack.extend(pending)
                continue
            best = None
            for i, ns, routed in comb_inputs(cname, port):
                a = arrival[i]
                if a is None:
                    continue
                t = a[0] + ns + (net_ns if routed else 0.0)
                if best is None or t > best[0]:
                    best = (t, a[1] + routed, i, cname)
            arrival[b] = best
            stack.pop()
        return arrival[bit]

    ends = []
    for cname, cell in cells.items():
        kind = cell["type"]
        dsp = _dsp_clocked(cell)
        if kind not in SEQUENTIAL and not dsp:
            continue
        for port, direction in cell.get("port_directions", {}).items():
            if direction != "input" or port in IGNORED_INPUTS:
                continue
            if kind == "TRELLIS_DPR16X4" and port.startswith("RAD"):
                continue
            setup = SETUP_NS
            if dsp:
                operand = re.fullmatch(r"([AB])\d+", port)
                if not operand:         # clocks, enables, resets, SIGNEDx: not timed here
                    continue
                if not _dsp_registers(cell)["AB".index(operand.group(1))]:
                    setup += _arc_delay(kind, port, "P0")   # into the product register
            for bit in cell["connections"][port]:
                if not isinstance(bit, int):
                    continue
                a = resolve(bit)
                if a is None:
                    continue
                ends.append((a[0] + net_ns + setup, a[1] + 1, bit, cname, port))
    result = []
    for ns, hops, bit, cname, port in ends:
        signals, kinds = [], []
        b = bit
        while b is not None:
            a = arrival[b]
            signals.append(names.get(b, f"${b}"))
            kinds.append(cells[a[3]]["type"])
            b = a[2]
        end = _end_name(cname, names, cells[cname])
        result.append(TimingPath(round(ns, 2), hops, tuple(reversed(signals)) + (end,),
                                 tuple(reversed(kinds)), port))
    result.sort(key=lambda p: (-p.ns, p.end))
    return result


def _end_name(cname, names, cell):
    if cell["type"] == "TRELLIS_FF":
        return names.get(cell["connections"]["Q"][0], cname.lstrip("\\"))
    return cname.lstrip("\\")


def _signal_base(signal):
    return re.sub(r"\[\d+\]", "", re.sub(r"_TRELLIS_FF_Q(_\d+)?", "", signal))


def worst(all_paths, limit=20):
    """The worst path of each (start signal, end signal) pair, bits folded (``x[3]`` and
    ``x[4]`` are ``x``), worst first, at most ``limit``."""
    seen, out = set(), []
    if limit <= 0:
        return out
    for p in all_paths:
        k = (_signal_base(p.start), _signal_base(p.end))
        if k in seen:
            continue
        seen.add(k)
        out.append(p)
        if len(out) == limit:
            break
    return out


def by_block(all_paths, period_ns):
    """End block -> (worst ns, end points over ``period_ns``, end points), worst first (of
    :func:`paths`' paths or :func:`routed`'s end points)."""
    table = {}
    for p in all_paths:
        b = block_of(p.end)
        w, over, n = table.get(b, (0.0, 0, 0))
        table[b] = (max(w, p.ns), over + (p.ns > period_ns), n + 1)
    return dict(sorted(table.items(), key=lambda kv: -kv[1][0]))


def _block_table(ends, period_ns):
    """Markdown lines of :func:`by_block` (paths or :class:`RoutedEnd`, both have ``end`` and
    ``ns``)."""
    return ["| end block | worst ns | over | end points |", "|---|---:|---:|---:|",
            *(f"| {b} | {w:.2f} | {over} | {n} |"
              for b, (w, over, n) in by_block(ends, period_ns).items())]


def report(all_paths, target_mhz, limit=20):
    period = 1000.0 / target_mhz
    lines = [f"{len(all_paths)} end points; estimate (cells + {NET_NS} ns a routed net) "
             f"against {target_mhz} MHz ({period:.2f} ns)", "", *_block_table(all_paths, period)]
    lines += ["", f"worst {limit} start/end pairs:"]
    for p in worst(all_paths, limit):
        end = p.end if p.port == "DI" else f"{p.end} ({p.port})"
        lines.append(f"{p.ns:6.2f} ns {p.hops:2d} nets  {p.start} -> {end}  "
                     f"[{' > '.join(p.blocks)}]")
    return "\n".join(lines)


@dataclass(frozen=True)
class RoutedEnd:
    """One end point of a routed design: ``ns``, the worst arrival nextpnr found at it (its
    routed nets and cells, from the clock edge); the end's signal (``end``, a flip-flop's
    output name as :class:`TimingPath` names it) and input ``port``; the ``net`` into it and
    that net's driving cell; and ``start``, the start of :func:`paths`'s estimated worst path
    to the same end (its likely origin; "" without the netlist)."""
    ns: float
    end: str
    port: str
    net: str
    driver: str
    start: str = ""

    @property
    def block(self):
        return block_of(self.end)


def routed(report, netlist=None):
    """Every timed end point of a routed design, worst first, as :class:`RoutedEnd`: from
    nextpnr's JSON report written with ``--detailed-timing-report`` (:func:`hw.synth.run_nextpnr`
    asks for it), whose ``detailed_net_timings`` give each register-to-register end point's
    worst arrival. nextpnr's own report names one critical path; this lists them all. With the
    Yosys ``netlist`` that was routed, ends are named by their signals and given the estimate's
    start (:func:`paths`)."""
    if not isinstance(report, dict):
        report = json.loads(Path(report).read_text())
    if "detailed_net_timings" not in report:
        raise ValueError("the nextpnr report has no detailed_net_timings: route with "
                         "--detailed-timing-report (hw.synth does)")
    names, cells, starts = {}, {}, {}
    if netlist is not None:
        if not isinstance(netlist, dict):
            netlist = json.loads(Path(netlist).read_text())
        module = _module(netlist)
        names, cells = _names(module), module["cells"]
        starts = {(p.end, p.port): p.start for p in paths(netlist)}
    ends = {}
    for net in report["detailed_net_timings"]:
        for e in net["endpoints"]:
            cname = e["cell"]
            cell = cells.get(cname) or cells.get("\\" + cname.lstrip("\\"))
            end = _end_name(cname, names, cell) if cell else cname.lstrip("\\")
            ns = max(e["delay"]) if isinstance(e["delay"], list) else e["delay"]
            key = (end, e["port"])
            if key not in ends or ns > ends[key].ns:
                ends[key] = RoutedEnd(round(ns, 3), end, e["port"], net["net"].lstrip("\\"),
                                      net["driver"].lstrip("\\"), starts.get(key, ""))
    return sorted(ends.values(), key=lambda r: (-r.ns, r.end))


def routed_report(ends, target_mhz, limit=20):
    """A text table of :func:`routed`'s end points against ``target_mhz``: per end block the
    worst arrival and the end points over the period, then the ``limit`` worst signals (bits
    folded)."""
    period = 1000.0 / target_mhz
    over = sum(r.ns > period for r in ends)
    lines = [f"{len(ends)} end points routed; {over} over {target_mhz:g} MHz ({period:.2f} ns)",
             "", *_block_table(ends, period)]
    lines += ["", f"worst {limit} end signals (routed ns; last net; the estimate's start):"]
    seen = set()
    for r in ends:
        k = (_signal_base(r.end), r.port)
        if k in seen:
            continue
        seen.add(k)
        end = r.end if r.port == "DI" else f"{r.end} ({r.port})"
        start = f"  <- {r.start}" if r.start else ""
        lines.append(f"{r.ns:6.2f} ns  {end}  via {r.net}{start}")
        if len(seen) == limit:
            break
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("netlist", help="Yosys's JSON netlist (synth_ecp5 -json)")
    p.add_argument("--target", type=float, default=125.0, help="clock in MHz (default 125)")
    p.add_argument("--top", type=int, default=20, help="start/end pairs to list")
    p.add_argument("--path", type=int, default=0, metavar="N",
                   help="also print the signals along the N worst pairs")
    p.add_argument("--block", action="append", default=[],
                   help="only the paths ending in this block (say post, seq, top); repeatable")
    p.add_argument("--routed", metavar="REPORT",
                   help="nextpnr's JSON report of this netlist routed (--detailed-timing-report):"
                        " every end point's routed arrival instead of the estimate")
    args = p.parse_args(argv)
    if args.routed:
        ends = routed(args.routed, args.netlist)
        if args.block:
            ends = [r for r in ends if r.block in args.block]
        print(routed_report(ends, args.target, args.top))
        return
    all_paths = paths(args.netlist)
    if args.block:
        known = {block_of(tp.end) for tp in all_paths}
        unknown = sorted(set(args.block) - known)
        if unknown:
            p.error(f"no path ends in {', '.join(unknown)}; the end blocks are "
                    f"{', '.join(sorted(known))}")
        all_paths = [tp for tp in all_paths if block_of(tp.end) in args.block]
    print(report(all_paths, args.target, args.top))
    for tp in worst(all_paths, args.path):
        print(f"\n{tp.ns} ns ({tp.port}):")
        for s, k in zip(tp.signals, tp.cells + ("",), strict=True):
            print(f"  {s}  ({k})" if k else f"  {s}")


if __name__ == "__main__":
    main()
