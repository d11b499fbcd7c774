"""Weights resident in the array: the tiles a workload loads most, kept in banks of their own.

The array holds ``banks`` weight tiles (a tile: up to R weights for each of up to C columns).
Every program streams its tiles through the banks: a LOAD into a bank, the VMMs that use it.
:meth:`Driver.pin <sw.driver.driver.Driver.pin>` keeps tiles there instead:

1. it runs the workload once, recording the content of every weight tile its programs load and
   how often (:class:`Recorder`);
2. it reserves the top banks (all but :data:`STREAM_BANKS`, or as many as there are tiles),
   loads the most often loaded tiles into them with one program, and plans every later layer
   on the banks below them;
3. before each later program runs, :func:`apply` drops every LOAD of a pinned tile and points
   the VMMs that used its bank at the pinned bank. So an inference moves only activations when
   its tiles are all pinned; the rest stream as before, and :class:`PinReport` says how many.

Tiles are matched by content (their bytes in the WEIGHT layout), so any layer type pins: linear
layers, convolutions' patch and per-tap programs, batches of groups. The hardware's conflict
checks still guard every program (a pinned bank is never a LOAD's target).

Pinning applies to programs (the driver's path whenever memory sits behind the accelerator);
the register path plans on the streaming banks too, so it never overwrites a pinned tile. A
soft reset keeps the banks (it resets registers, not windows). Only a program of the user's own
(``acc.run_program``) that loads into a pinned bank replaces its tile: pin again after one.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from hw.spec import isa

from .program import Program

__all__ = ["STREAM_BANKS", "PinReport", "Recorder", "apply"]

#: banks left for streaming when pinning (two: a tile loads while the other computes)
STREAM_BANKS = 2


def _weight_loads(program: Program):
    """(index, LOAD, region name) of each WEIGHT LOAD of ``program``."""
    by_addr = {r.addr: r.name for r in program.regions.values()}
    for i, instr in enumerate(program.instructions):
        if isinstance(instr, isa.Load) and instr.window == isa.Window.WEIGHT:
            yield i, instr, by_addr.get(instr.mem_addr)


def _tile_bytes(program: Program, instr, region, fills):
    """The bytes ``instr`` (a WEIGHT LOAD of a whole region) brings, from the region's fill."""
    if region not in fills:
        fills[region] = program.fill_bytes(region)
    unit = isa.unit_bytes(isa.Window.WEIGHT, program.geometry)
    return fills[region][:instr.count * unit]


class Recorder:
    """Counts the weight tiles the programs of a workload load: content -> loads."""

    def __init__(self):
        self.loads = Counter()
        self.order = {}  # content -> first seen (ties keep the workload's order)

    def record(self, program: Program):
        fills = {}
        for _, instr, region in _weight_loads(program):
            if region is None:
                continue
            tile = _tile_bytes(program, instr, region, fills)
            self.loads[tile] += 1
            self.order.setdefault(tile, len(self.order))

    def ranked(self):
        """The tiles, most loaded first (ties: first seen first)."""
        return sorted(self.loads, key=lambda t: (-self.loads[t], self.order[t]))


@dataclass(frozen=True)
class PinReport:
    """What :meth:`Driver.pin` did.

    Members
    -------
    tiles : int
        Distinct weight tiles the workload loaded.
    pinned : int
        Tiles now resident (banks ``first_bank ..``).
    loads : int
        Weight-tile LOADs of one run of the workload, streamed.
    loads_saved : int
        Of them, the LOADs of pinned tiles: what each later run no longer does.
    bytes_saved : int
        Memory bytes those LOADs moved (whole beats; their fetch, 16 bytes each, comes on
        top).
    first_bank, banks : int
        The pinned banks and the accelerator's.
    """
    tiles: int
    pinned: int
    loads: int
    loads_saved: int
    bytes_saved: int
    first_bank: int
    banks: int

    @property
    def streamed(self):
        """Tiles that still stream on every run."""
        return self.tiles - self.pinned

    @property
    def fits(self):
        return self.streamed == 0

    def __str__(self):
        where = (f"banks {self.first_bank}..{self.first_bank + self.pinned - 1}" if self.pinned
                 else "no bank")
        text = (f"{self.pinned} of {self.tiles} weight tiles resident ({where} of "
                f"{self.banks}); each run skips {self.loads_saved:,} of {self.loads:,} weight "
                f"loads ({self.bytes_saved:,} bytes)")
        if not self.fits:
            text += (f"; {self.streamed} tiles do not fit and stream on every run (more banks: "
                     f"a build with banks >= {self.tiles + STREAM_BANKS})")
        return text


def apply(program: Program, pinned: dict, geometry) -> Program:
    """``program`` (compiled on the streaming banks) with every LOAD of a pinned tile dropped
    and the VMMs that read its bank pointed at the pinned bank; a new Program for
    ``geometry`` (the accelerator's, with the pinned banks), or ``program`` itself when it
    loads no pinned tile. ``pinned``: tile bytes -> bank."""
    fills, drop, bank_of = {}, {}, {}
    for i, instr, region in _weight_loads(program):
        if region is not None:
            bank = pinned.get(_tile_bytes(program, instr, region, fills))
            if bank is not None:
                drop[i] = bank
    if not drop and program.geometry == geometry:
        return program
    cols_p2 = program.geometry.cols_p2
    out = program.copy_layout(geometry)
    for i, instr in enumerate(program.instructions):
        if isinstance(instr, isa.Load) and instr.window == isa.Window.WEIGHT:
            stream_bank = instr.first // cols_p2
            if i in drop:
                bank_of[stream_bank] = drop[i]  # the VMMs up to the next LOAD of this bank
                continue
            bank_of.pop(stream_bank, None)
        elif isinstance(instr, isa.Vmm) and instr.bank in bank_of:
            instr = dataclasses.replace(instr, bank=bank_of[instr.bank])
        out.append(instr)
    return out
