"""One record type for every row of ``make bench``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..driver.stats import Stats

__all__ = ["Record", "Stopwatch", "print_header", "print_record"]


class Stopwatch:
    """Wall-clock seconds of a run on ``acc``, and of them the seconds the host waited for the
    simulator (``transport.sim_seconds``: every request to the simulation, bulk memory
    transfers included; 0 on the register model). The rest is the driver's own work:
    compiling, choosing a plan on the cycle model, packing."""

    def __init__(self, acc):
        self.acc = acc
        self.start, self.sim0 = time.perf_counter(), self._sim()

    def _sim(self):
        return getattr(self.acc.transport, "sim_seconds", 0.0)

    def stop(self):
        """(wall seconds, simulator seconds) since the start."""
        return time.perf_counter() - self.start, self._sim() - self.sim0


@dataclass(frozen=True)
class Record:
    """A measured layer (or part of one).

    Members
    -------
    name, target, op : str
        What ran, where, and which operation.
    stats : Stats
        The hardware's counters and the driver's bus words.
    wall_s : float or None
        Wall-clock seconds of the run (None where the record sums parts of several runs).
    sim_s : float or None
        Of those, the seconds spent in the simulator (:class:`Stopwatch`); None where unknown
        or on the register model.
    macs : int or None
        The layer's nominal MACs when they differ from what the array did (zero weights of a
        depthwise lowering, identity weights of pooling); utilization is computed from them.
    mapping : str
        How the layer was mapped onto the array.
    extra : dict
        Further fields of the JSON record (shape, block, limit, ...).
    """
    name: str
    target: str
    op: str
    stats: Stats
    wall_s: float | None = None
    macs: int | None = None
    sim_s: float | None = None
    mapping: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def useful_macs(self):
        return self.stats.macs if self.macs is None else self.macs

    def as_dict(self):
        s, macs, cells = self.stats, self.useful_macs, self.stats.cells

        def ratio(cycles):
            return round(macs / (cells * cycles), 4) if cells and cycles else 0.0

        wall = self.wall_s
        return {
            "name": self.name, "target": self.target, "op": self.op, "mapping": self.mapping,
            "macs": macs, "array_macs": s.macs, "cycles": s.cycles,
            "compute_cycles": s.compute_cycles, "busy_cycles": s.busy_cycles,
            "stall_cycles": s.stall_cycles, "commands": s.commands,
            "bus_words": s.bus_words_written + s.bus_words_read,
            "utilization_compute": ratio(s.compute_cycles), "utilization_total": ratio(s.cycles),
            "wall_s": None if wall is None else round(wall, 3),
            "sim_cycles_per_s": round(s.cycles / wall) if wall else None,
            # the simulator alone (the driver's compiling and choosing excluded)
            "sim_s": None if not self.sim_s else round(self.sim_s, 3),
            "simulator_cycles_per_s": round(s.cycles / self.sim_s) if self.sim_s else None,
            # programs: what the memory port moved and how long each unit worked
            "instructions": s.instructions, "bytes_read": s.bytes_read,
            "bytes_written": s.bytes_written, "load_cycles": s.load_cycles,
            "store_cycles": s.store_cycles,
        } | self.extra


_COLUMNS = f"{'layer':28} {'MACs':>10} {'cycles':>9} {'compute':>8} {'util_c':>7} " \
           f"{'util_t':>7} {'wall s':>7} {'cyc/s':>7} {'sim/s':>7}"


def print_header():
    print(_COLUMNS)


def print_record(r: Record):
    d = r.as_dict()
    rate = d["sim_cycles_per_s"] or "-"
    sim = d["simulator_cycles_per_s"] or "-"
    print(f"{d['name'][:28]:28} {d['macs']:>10} {d['cycles']:>9} {d['compute_cycles']:>8} "
          f"{d['utilization_compute']:>7.3f} {d['utilization_total']:>7.3f} "
          f"{d['wall_s'] or 0:>7.1f} {rate:>7} {sim:>7}")
