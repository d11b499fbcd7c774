"""Performance statistics of one driver call (read from the PERF_* counters)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Stats"]


def _ratio(num, den):
    return num / den if den else 0.0


@dataclass(frozen=True)
class Stats:
    """What one ``Accelerator.linear`` call cost.

    The cycle counts, ``macs`` and ``vectors`` come from the PERF_* counters (cleared at the start
    of the call; they wrap at 2**32). ``commands`` and the bus word counts are counted by the
    driver. A call that runs as a program (``Driver.path == "program"``) moves its data through
    the memory port, not the bus: its bus words are only the doorbell's and the status's, its
    ``bytes_read``/``bytes_written`` the memory traffic, and ``cycles`` runs from the doorbell
    to the interrupt (writing the memory image and reading the results back are host memory
    accesses, not accelerator cycles).

    Members
    -------
    cycles, busy_cycles, compute_cycles, stall_cycles : int
        PERF_CYCLES, PERF_BUSY (the compute unit's busy cycles, for commands and programs
        alike), PERF_COMPUTE, PERF_STALL.
    macs, vectors : int
        PERF_MACS, PERF_VECTORS.
    load_cycles, store_cycles : int
        PERF_LOAD, PERF_STORE: cycles the load and store units worked (programs only).
    bytes_read, bytes_written : int
        PERF_RD_BYTES, PERF_WR_BYTES: bytes moved through the memory port (programs only).
    instructions : int
        PERF_INSTRS: program instructions dispatched (END included; 0 on the register path).
    commands : int
        Commands started on the register path; for a program, doorbells rung (1 per
        ``linear`` call).
    bus_words_written, bus_words_read : int
        32-bit words moved over the bus.
    cells : int
        R * C, the multiply-accumulates the array can do per cycle.
    """
    cycles: int = 0
    busy_cycles: int = 0
    compute_cycles: int = 0
    stall_cycles: int = 0
    macs: int = 0
    vectors: int = 0
    load_cycles: int = 0
    store_cycles: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    instructions: int = 0
    commands: int = 0
    bus_words_written: int = 0
    bus_words_read: int = 0
    cells: int = 0

    @property
    def utilization_compute(self):
        """macs / (R*C*compute_cycles): how full the array is while vectors are inside it."""
        return _ratio(self.macs, self.cells * self.compute_cycles)

    @property
    def utilization_total(self):
        """macs / (R*C*cycles): how much of the array's peak the whole call achieved."""
        return _ratio(self.macs, self.cells * self.cycles)

    @classmethod
    def total(cls, stats):
        """The sum of several calls' stats on one array (``cells`` is the array's, not summed)."""
        stats = list(stats)
        sums = {f.name: sum(getattr(s, f.name) for s in stats)
                for f in dataclasses.fields(cls) if f.name != "cells"}
        return cls(**sums, cells=max((s.cells for s in stats), default=0))

    def as_dict(self):
        """All fields plus both utilizations."""
        return dataclasses.asdict(self) | {"utilization_compute": self.utilization_compute,
                                           "utilization_total": self.utilization_total}

    def __str__(self):
        return (f"{self.cycles} cycles (busy {self.busy_cycles}, compute {self.compute_cycles}, "
                f"stall {self.stall_cycles}), {self.macs} MACs, {self.vectors} vectors, "
                + (f"{self.instructions} instructions (load {self.load_cycles}, store "
                   f"{self.store_cycles} cycles; {self.bytes_read} bytes read, "
                   f"{self.bytes_written} written), " if self.instructions else "")
                + f"{self.commands} commands, bus {self.bus_words_written} words written / "
                f"{self.bus_words_read} read, utilization {self.utilization_compute:.1%} "
                f"compute / {self.utilization_total:.1%} total")
