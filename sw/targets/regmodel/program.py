"""Programs on the register-level model: what a program does, and when (``hw/spec/isa.py``).

:class:`ProgramEngine` runs a program at once, when DOORBELL.RUN is written, in two halves that
are computed together, instruction by instruction in program order:

**Effects.** Each dispatched instruction changes the windows and the port memory exactly as the
register path would: a LOAD copies ``COUNT`` units (window word layouts, :func:`isa.unit_bytes`)
from memory into its window, dropping the bits the window does not store (padding, the unused
bits of PARAM words); a STORE copies units of ACC or OUT into memory, its padding bytes written
as 0, and so are the bytes of its last beat past its units (whole beats, every strobe, as
the hardware writes them); a VMM runs the
command the CMD_* registers would run; FENCE and END change nothing. Instructions take effect in
dispatch order, which the hardware's conflict tracking makes equal to program order for the
on-chip storage. The memory itself is not tracked by the hardware (a LOAD of what an older,
still running STORE writes, or a STORE over the program's own instructions, races in the
hardware): the model applies such effects in program order.

**Timing**, an event model of the hardware that runs programs (``hw/sequencer.py``,
``hw/load_store.py``, ``hw/dma.py``), with the durations of :class:`ProgramTiming`:

* the **fetch** unit asks for ``fetch_block`` instructions at a time from PROG_ADDR on (never
  past PROG_LEN), one transfer in flight, when the prefetch queue of ``fetch_queue``
  instructions has room for all of them;
* the **read port** is shared by fetch blocks and LOADs and pipelined: a transfer's data
  comes ``read_latency`` cycles after its request at the earliest, and the data of one
  transfer at a time streams (``stream_gap`` idle cycles between two), so a request made while
  another transfer's data streams hides its latency (the model books a LOAD in dispatch order
  and a fetch block when the instruction that makes room for it has left the queue; the
  hardware serves them in the order it took them, so the two may differ by a few cycles where
  both wait);
* the **dispatcher** takes the queue's head ``dispatch`` cycles after it arrived, at most one
  instruction per cycle, in program order, and hands it to its unit when the unit is free and
  no running instruction of another unit that it :func:`isa.conflicts` with still runs
  (``release`` cycles after that one's end); FENCE and END leave the queue at once, the
  instruction after a FENCE waits until every unit (fetch included) is idle, and END's program
  is done when they are;
* the **load** unit holds two LOADs, one writing its pieces and one waiting for its data: the
  next LOAD is taken once the waiting one's transfer was taken and the writing one ended. It
  asks for its transfer ``load_setup`` cycles after its dispatch and writes a
  piece per cycle after ``read_latency`` (a unit, or a beat of a unit larger than a beat); the
  **store** unit takes :meth:`ProgramTiming.store_cycles`;
* the **compute** unit starts a VMM ``vmm_start`` cycles after its dispatch, busy for
  :func:`hw.spec.timing.busy_cycles`; the next VMM may start ``vmm_gap`` cycles after its last
  vector (one more after a one-vector VMM; back to back: the drain overlaps the next VMM), with
  at most two VMMs in flight. VMMs do not wait for each other's conflicts: the datapath keeps
  their order.

Fitted to the RTL, the model predicts it within a cycle on small programs and within 0.1 %
on a whole 64x256x256 layer (``amaranth.sim``, a memory of read latency 2).

**Errors.** The dispatcher checks the queue's head (:func:`isa.check`, or MEM_READ if a burst
of its fetch failed, MEM_ERROR_ADDR that burst's address); a bad one stops dispatching. A LOAD
or STORE whose memory answers an error (:class:`~.port_memory.PortMemory`) reports it when it
ends (after a FENCE's wait, if it ends during one); dispatching stops then too. The first error
found is the one reported (a memory error before the head's on the same cycle, the load unit's
before the store unit's), as the hardware does: an older transfer's later error does not replace
a younger instruction's. Younger instructions already dispatched complete and take effect. A
failing LOAD or STORE does what the hardware does: the load unit writes the window up to the
first failing burst and drops every beat from there on; the store unit sends every beat, and
the memory writes every burst but the failing ones. Running instructions finish, then
STATUS.DONE rises; PROG_PC names the failing instruction (PROG_LEN: PROG_PC = PROG_LEN). After
END, PROG_PC is END's index.

**Counters** (added to PERF_* at the doorbell): PERF_BUSY, PERF_COMPUTE and PERF_STALL count the
cycles of the union of the VMMs' spans as the controller does, PERF_MACS and PERF_VECTORS each
VMM; PERF_LOAD and PERF_STORE each LOAD's and STORE's cycles from dispatch to end;
PERF_RD_BYTES the fetch blocks asked for before the program stopped and every LOAD's beats;
PERF_WR_BYTES every STORE's beats (whole beats, :func:`isa.transfer_bytes`; a failing LOAD or
STORE counts whole); PERF_INSTRS the instructions taken from the queue, FENCE and END included.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hw.spec import ErrorCode, Geometry, cim_of, isa, timing

from .memory import ModelMemory
from .port_memory import PortMemory, bursts

__all__ = ["ProgramEngine", "ProgramRun", "ProgramTiming", "predict_cycles"]


@dataclass(frozen=True)
class ProgramTiming:
    """The durations of the program cycle model, in clock cycles, named after the hardware
    (``hw/sequencer.py``, ``hw/load_store.py``, ``hw/dma.py``). Every one is a field so a test
    or a bench can try others (``dataclasses.replace``). The defaults were fitted to the RTL in
    ``amaranth.sim`` (the test RAM of ``verif/hw/test_program_sim.py``, read latency 2, and
    ``read_latency`` 4) and then set for the memory of the simulation target
    (``sw/targets/sim/axi4_ram.v``, read latency 4 by default)."""

    #: DOORBELL.RUN -> the fetch unit's first request (the sequencer waking up)
    start: int = 3
    #: a read transfer's request on the port -> its first beat at the unit: the memory's
    #: latency (4 in axi4_ram.v) and 2 cycles of the DMA engine
    read_latency: int = 6
    #: instructions the fetch unit asks for at once (``FETCH_BLOCK``)
    fetch_block: int = 4
    #: instructions the prefetch queue holds, counting those in flight (``QUEUE_DEPTH``)
    fetch_queue: int = 8
    #: an instruction leaving a full queue -> the fetch unit's request for the next block
    fetch_room: int = 3
    #: a fetch block's last beat -> the fetch unit's request for the next block (one block in
    #: flight at a time)
    port_gap: int = 2
    #: idle cycles of the read data path between two transfers' beats (the next transfer's
    #: request is taken while the current one's data streams, so its latency is hidden)
    stream_gap: int = 0
    #: an instruction's last beat -> the earliest cycle the dispatcher takes it (queue, decode)
    dispatch: int = 3
    #: cycles a LOAD, STORE or VMM waits besides: the dispatcher's range comparisons are
    #: registered, so it takes none in the cycle its head arrives or after it took one
    #: (END, FENCE and a failing instruction do not wait)
    settle: int = 1
    #: a LOAD's dispatch -> its read request (then ``read_latency``, then one piece per cycle:
    #: a unit, or a beat of a unit larger than a beat)
    load_setup: int = 2
    #: a STORE's cycles besides its pieces and ``store_pack`` (dispatch to the first window
    #: read, the write response after the last beat)
    store_setup: int = 6
    #: idle cycles per beat when several units share a beat (the store unit packs them), else
    #: once per STORE
    store_pack: int = 2
    #: a VMM's dispatch -> its first vector (its busy cycles start then; the controller issues
    #: it in the cycle it takes the VMM)
    vmm_start: int = 1
    #: a VMM's last vector -> its weights and inputs are free (the vector has passed the
    #: array's multipliers; ``hw.sequencer.FRONT``): a LOAD into its bank or input range may go
    vmm_front: int = 3
    #: idle cycles between a VMM's last vector and the next VMM's first (back to back; at most
    #: two VMMs in flight); one more after a one-vector VMM (its only vector issues in the
    #: cycle the controller takes it, when the dispatcher takes no VMM)
    vmm_gap: int = 0
    #: an instruction's end -> the dispatch of one that waited for it (a conflict, the unit,
    #: or the second VMM in flight)
    release: int = 1
    #: every unit idle -> the instruction after a FENCE may be taken
    fence: int = 1
    #: the program's end (END taken or an error, and every unit idle) -> STATUS.DONE
    done: int = 1

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ProgramTiming.{f.name} must be an int >= 0, got {value!r}")
        if self.fetch_block < 1 or self.fetch_queue < self.fetch_block:
            raise ValueError(f"ProgramTiming.fetch_queue ({self.fetch_queue}) must hold a fetch "
                             f"block of fetch_block ({self.fetch_block} >= 1) instructions")

    @staticmethod
    def pieces(units, unit_bytes, beat_bytes):
        """Cycles a window port needs for ``units`` units: one unit per cycle, or one beat per
        cycle for units larger than a beat."""
        return units * (unit_bytes // beat_bytes) if unit_bytes > beat_bytes else units

    def load_cycles(self, units, unit_bytes, beat_bytes):
        """A LOAD without contention for the read port: set-up, the read latency, then a piece
        per cycle (PERF_LOAD)."""
        return self.load_setup + self.read_latency + self.pieces(units, unit_bytes, beat_bytes)

    def store_cycles(self, units, unit_bytes, beat_bytes):
        """A STORE: set-up and write response, a piece per cycle, and ``store_pack`` idle cycles
        per beat when units share beats, else once (PERF_STORE)."""
        beats = -(-units * unit_bytes // beat_bytes)
        pack = self.store_pack * (beats if unit_bytes < beat_bytes else 1)
        return self.store_setup + self.pieces(units, unit_bytes, beat_bytes) + pack

    def vmm_cycles(self, count, latency, requant=True, vector_cycles=1):
        """A VMM's busy cycles alone (:func:`hw.spec.timing.busy_cycles`: its vectors, each
        ``vector_cycles`` apart, and the drain, shorter without REQUANT)."""
        return timing.busy_cycles(count, latency, requant, vector_cycles)


@dataclass
class ProgramRun:
    """What a program did (``RegisterModel.last_program``).

    Members
    -------
    error : ErrorCode
    pc : int
        PROG_PC at the end.
    mem_error_addr : int or None
        The failing burst's address (MEM_READ, MEM_WRITE).
    cycles : int
        From the doorbell to STATUS.DONE.
    schedule : list of (index, Instr, start, end)
        Every dispatched instruction with its dispatch and finish cycles (END and FENCE:
        start == end).
    counters : dict
        PERF_* name -> what the program added.
    """
    error: ErrorCode = ErrorCode.NONE
    pc: int = 0
    mem_error_addr: int | None = None
    cycles: int = 0
    schedule: list = dataclasses.field(default_factory=list)
    counters: dict = dataclasses.field(default_factory=dict)

    def pc_at(self, cycle):
        """PROG_PC ``cycle`` cycles after the doorbell, while the program runs: the index of the
        last instruction dispatched by then (0 before the first)."""
        n = bisect.bisect_right(self.schedule, cycle, key=lambda entry: entry[2])
        return self.schedule[n - 1][0] if n else 0

    def unit_cycles(self):
        """Cycles each unit worked, in the union of its instructions' spans from dispatch to
        end: {"load", "store", "compute"} (load and store: PERF_LOAD and PERF_STORE)."""
        out = dict.fromkeys(("load", "store", "compute"), 0)
        until = dict.fromkeys(out, 0)
        for _, instr, start, end in self.schedule:
            unit = isa.unit_of(instr)
            if unit:
                out[unit] += max(0, end - max(start, until[unit]))
                until[unit] = max(until[unit], end)
        return out


_WINDOW_BUFFER = {isa.Window.LUT: "lut", isa.Window.PARAM: "param", isa.Window.WEIGHT: "weight",
                  isa.Window.IN: "inputs", isa.Window.ACC: "acc", isa.Window.OUT: "out"}


class ProgramEngine:
    """Runs programs on the windows ``buffers`` and the port memory ``port`` of an accelerator
    of geometry ``g`` and array latency ``latency``; ``vmm(instr)`` executes a VMM instruction
    on the windows (the register model's command datapath)."""

    def __init__(self, buffers: ModelMemory, port: PortMemory, g: Geometry, latency,
                 program_timing: ProgramTiming, vmm):
        self.buffers, self.port, self.g, self.latency = buffers, port, g, latency
        #: cycles between two vectors (a CIM array's 8 / bits_per_cycle; else 1)
        cim = cim_of(g)
        self.vector_cycles = 1 if cim is None else cim.cycles_per_vector
        self.timing, self.vmm = program_timing, vmm
        #: words -> instruction already decoded (predict_cycles); with ``buffers`` None the
        #: engine moves no data (timing only)
        self.decoded = {}
        self._unit_words = {w: isa.unit_bytes(w, g) // 4 for w in isa.Window}

    # --- effects --------------------------------------------------------------------------------

    def _window(self, instr):
        buf = getattr(self.buffers, _WINDOW_BUFFER[instr.window])
        per = self._unit_words[instr.window]
        return buf, slice(instr.first * per, (instr.first + instr.count) * per)

    def _load(self, instr, failed=()):
        """LOAD, up to the first of the ``failed`` bursts (the load unit drops every beat from
        the first one that came with an error)."""
        buf, span = self._window(instr)
        n = span.stop - span.start
        a = instr.mem_addr
        raw = np.zeros(4 * n, np.uint8)  # (bytes past the memory are in failed bursts)
        got = self.port.data[a:a + 4 * n]
        raw[:got.size] = got
        words = raw.view("<u4") & buf.mask[span]
        if failed:
            n = min(n, (failed[0][0] - a) // 4)
            span = slice(span.start, span.start + n)
            words = words[:n]
        buf.data[span] = words

    def _store(self, instr, nbytes, failed=()):
        """STORE: the units, then zeros to the end of the last beat (``nbytes`` in all);
        the ``failed`` bursts change no memory."""
        buf, span = self._window(instr)
        data = np.zeros(nbytes, np.uint8)
        units = (buf.data[span] & buf.mask[span]).astype("<u4").view(np.uint8)
        data[:units.size] = units
        a = instr.mem_addr
        keep = np.repeat(_kept(a, nbytes, failed), 4)
        inside = min(nbytes, max(0, self.port.size - a))  # (the rest is in failed bursts)
        old = self.port.data[a:a + inside]
        self.port.data[a:a + inside] = np.where(keep[:inside], data[:inside], old)

    # --- the program ----------------------------------------------------------------------------

    def run(self, prog_addr, prog_len) -> ProgramRun:
        """Run the program at ``prog_addr`` (at most ``prog_len`` instructions)."""
        run = ProgramRun(counters=dict.fromkeys(
            ("PERF_BUSY", "PERF_COMPUTE", "PERF_STALL", "PERF_MACS", "PERF_VECTORS", "PERF_LOAD",
             "PERF_STORE", "PERF_RD_BYTES", "PERF_WR_BYTES", "PERF_INSTRS"), 0))
        if prog_addr % self.g.mem_bytes:
            run.error = ErrorCode.MEM_ALIGN
        elif prog_len == 0:
            run.error = ErrorCode.PROG_LEN
        else:
            _Run(self, run, prog_addr, prog_len).go()
        return run


def predict_cycles(program, latency=None, program_timing=None) -> int:
    """The cycles (doorbell to STATUS.DONE) ``program`` (a :class:`sw.driver.program.Program`)
    takes on the cycle model, without its data: the timing does not depend on it. ``latency``:
    the array's (default :func:`hw.spec.timing.array_latency` of the geometry)."""
    g = program.geometry
    cim = cim_of(g)
    if latency is None:
        latency = (timing.array_latency(g.rows) if cim is None
                   else timing.cim_array_latency(cim.bits_per_cycle))
    port = PortMemory(-(-program.end // g.mem_bytes) * g.mem_bytes)
    port.write(program.code_addr, program.to_bytes())
    engine = ProgramEngine(None, port, g, latency, program_timing or ProgramTiming(),
                           vmm=lambda instr: None)
    engine.decoded = program.decoded_by_words()  # (no decoding, no data: timing only)
    run = engine.run(program.code_addr, len(program))
    if run.error != ErrorCode.NONE:
        raise ValueError(f"the program stops with {run.error.name} at instruction {run.pc}")
    return run.cycles


class _Run:
    """One program on the event model (see the module docstring); ``go()`` fills ``run``."""

    def __init__(self, engine, run, prog_addr, prog_len):
        self.e, self.run, self.t, self.g = engine, run, engine.timing, engine.g
        self.k = run.counters
        self.port = _Port()
        self.fetch = _Fetch(engine.port, self.g, self.t, self.port, prog_addr, prog_len)
        self.prog_len = prog_len
        self.pops = []          # the cycle each instruction left the queue, by index
        self.loads, self.stores, self.vmms = [], [], []  # (touches, finish[, front end]) of each
        self.load_free = self.store_free = 0  # when the unit takes its next instruction
        self.load_end = 0  # when the load unit's last LOAD ends (PERF_LOAD: the union)
        self.pending = []       # (detected, unit order, index, ErrorCode, address) of failures
        self.busy = []          # (first vector, finish, count) of each VMM

    # the cycle every unit and the fetch unit are idle from, given that none starts after ``t``
    def _idle(self, t):
        t = max([t, self.load_end, self.store_free] + [f for _, f, _ in self.vmms[-2:]])
        return self.fetch.idle_after(t)

    def go(self):
        t, run = self.t, self.run
        prev, barrier = -1, 0
        stop = None     # (cycle, index, ErrorCode, address): why and when dispatching stopped
        for i in range(self.prog_len + 1):
            self.fetch.advance(self.pops)
            if i == self.prog_len:  # every instruction ran and none was END
                stop = self._first_failure(prev + 1) or (prev + 1, i, ErrorCode.PROG_LEN, None)
                break
            arrival, words, fetch_error = self.fetch.instruction(i)
            head = max(prev + 1, arrival + t.dispatch, barrier)
            failure = self._first_failure(head)
            if failure:
                stop = failure
                break
            instr = None if fetch_error is not None else (
                self.e.decoded.get(words) or isa.decode(words))
            code = ErrorCode.MEM_READ if fetch_error is not None else isa.check(instr, self.g)
            if code != ErrorCode.NONE:
                stop = (head, i, code, fetch_error)
                break
            if instr.op not in (isa.Op.END, isa.Op.FENCE):
                head = max(head, prev + 1 + t.settle, arrival + t.dispatch + t.settle)
            else:
                self._pop(i, instr, head, head)
                prev = head
                if instr.op == isa.Op.END:
                    idle = self._idle(head + 1)
                    failure = self._first_failure(idle)
                    stop = failure or (head, i, ErrorCode.NONE, None)
                    break
                barrier = self._idle(head + 1) + t.fence
                for p in self.pending:  # a unit's error is seen when the fence ends
                    p[0] = max(p[0], barrier)
                continue
            # (a 2-D LOAD: a one-row LOAD per row, each dispatched when it can go; the
            # instruction leaves the queue with its last row)
            rows = isa.rows_of(instr)
            first_start = None
            for r, row in enumerate(rows):
                start = self._ready(row, head)
                failure = self._first_failure(start)
                if failure:
                    stop = failure
                    break
                finish = self._dispatch(i, row, start, pop=r == len(rows) - 1)
                first_start = start if first_start is None else first_start
                head = start + 1 + t.settle
            if stop:
                break
            run.schedule.append((i, instr, first_start, finish))
            prev = start
        halt, index, run.error, run.mem_error_addr = stop
        if run.error == ErrorCode.NONE:
            run.mem_error_addr = None
        run.pc = index
        self.k["PERF_RD_BYTES"] += self.fetch.bytes_before(halt)
        self.k["PERF_INSTRS"] = len(self.pops)
        run.cycles = self._idle(halt) + t.done
        self._count_vmms()

    def _first_failure(self, cycle):
        """The first memory error a unit reported by ``cycle`` (the load unit's first on a tie),
        as a stop, or None."""
        seen = [p for p in self.pending if p[0] <= cycle]
        if not seen:
            return None
        detected, _, index, code, addr = min(seen)
        return detected, index, code, addr

    def _pop(self, i, instr, cycle, finish):
        self.pops.append(cycle)
        if instr.op in (isa.Op.END, isa.Op.FENCE):
            self.run.schedule.append((i, instr, cycle, finish))

    def _ready(self, instr, head):
        """The first cycle from ``head`` on when instruction ``instr`` may be dispatched: its
        unit free, and no running instruction of another unit it conflicts with."""
        touch, t = isa.touches(instr, self.g), self.t
        ends = []  # the cycles of what it waits for ending
        if instr.op == isa.Op.VMM:
            start = head
            if self.busy:  # back to back after the previous VMM's vectors ...
                first, _, count = self.busy[-1]
                gap, vc = t.vmm_gap + (count == 1), self.e.vector_cycles
                start = max(start, first + (count - 1) * vc + max(vc, 1 + gap) - t.vmm_start)
            if len(self.vmms) >= 2:  # ... and at most two in flight
                ends.append(self.vmms[-2][1])
            others = self.loads[-2:] + self.stores[-1:]
            ends += [f for other, f in others if _overlap(touch, other)]
        else:
            start = head
            free = self.load_free if instr.op == isa.Op.LOAD else self.store_free
            ends.append(free)
            # a VMM's weights and inputs are free once its last vector passed the array
            front = instr.op == isa.Op.LOAD and instr.window in (isa.Window.WEIGHT,
                                                                  isa.Window.IN)
            ends += [fr if front else f for other, f, fr in self.vmms[-2:]
                     if _overlap(touch, other)]
        return max([start] + [f + t.release for f in ends if f + t.release > head])

    def _dispatch(self, i, instr, start, pop=True):
        """Dispatch ``instr`` (one row) at ``start``: its effect, its counters; returns when it
        ends. ``pop``: instruction ``i`` leaves the queue then (its last row)."""
        e, t, g, k = self.e, self.t, self.g, self.k
        if pop:
            self.pops.append(start)
        touch = isa.touches(instr, g)
        if instr.op == isa.Op.VMM:
            e.vmm(instr)
            first = start + t.vmm_start
            vc = e.vector_cycles
            finish = first + t.vmm_cycles(instr.count, e.latency, instr.requant, vc)
            if self.busy:  # done pulses keep their order
                finish = max(finish, self.busy[-1][1] + 1)
            self.busy.append((first, finish, instr.count))
            self.vmms.append((touch, finish, first + (instr.count - 1) * vc + t.vmm_front))
            k["PERF_MACS"] += instr.count * instr.rows * instr.cols
            k["PERF_VECTORS"] += instr.count
            return finish
        unit = 4 * e._unit_words[instr.window]
        beats = -(-instr.count * unit // g.mem_bytes)
        nbytes = beats * g.mem_bytes  # isa.transfer_bytes
        write = instr.op == isa.Op.STORE
        failed = e.port.failing_bursts(instr.mem_addr, nbytes, g.mem_bytes, write)
        if write:
            finish = start + t.store_cycles(instr.count, unit, g.mem_bytes)
            self.store_free = finish
            self.stores.append((touch, finish))
            k["PERF_STORE"] += finish - start
            k["PERF_WR_BYTES"] += nbytes
        else:
            pieces = t.pieces(instr.count, unit, g.mem_bytes)
            request = start + t.load_setup
            data = self.port.reserve(request + t.read_latency, pieces + t.stream_gap)
            finish = data + pieces
            # the unit holds two LOADs: this one leaves the queued slot once its transfer is
            # taken (the port is free for it) and the one moving before it has ended
            accepted = max(request, data - t.read_latency)
            self.load_free = max(accepted, self.load_end)
            k["PERF_LOAD"] += finish - max(start, self.load_end)
            self.load_end = finish
            self.loads.append((touch, finish))
            k["PERF_RD_BYTES"] += nbytes
        if failed:
            code = ErrorCode.MEM_WRITE if write else ErrorCode.MEM_READ
            self.pending.append([finish, int(write), i, code, failed[0][0]])
        if e.buffers is None:  # timing only
            pass
        elif write:
            e._store(instr, nbytes, failed)
        else:
            e._load(instr, failed)
        return finish

    def _count_vmms(self):
        """PERF_BUSY, PERF_COMPUTE and PERF_STALL: cycles in the union of the VMMs' busy and
        array-active spans, as the controller counts them."""
        k, latency = self.k, self.e.latency
        busy = compute = 0
        busy_end = compute_end = None
        for first, finish, count in self.busy:
            busy += _extend(first, finish, busy_end)
            busy_end = finish if busy_end is None else max(busy_end, finish)
            end = first + timing.compute_cycles(count, latency, self.e.vector_cycles)
            compute += _extend(first, end, compute_end)
            compute_end = end if compute_end is None else max(compute_end, end)
        k["PERF_BUSY"] += busy
        k["PERF_COMPUTE"] += compute
        k["PERF_STALL"] += busy - k["PERF_VECTORS"]


def _kept(addr, nbytes, failed):
    """A bool per 32-bit word of [addr, addr + nbytes): not in one of the ``failed`` bursts."""
    keep = np.ones(nbytes // 4, bool)
    for start, length in failed:
        keep[(start - addr) // 4:(start + length - addr) // 4] = False
    return keep


def _extend(lo, hi, covered_to):
    """Cycles [lo, hi) adds to a union of spans that starts before ``lo`` and ends at
    ``covered_to`` (None: empty)."""
    return hi - max(lo, covered_to) if covered_to is not None and covered_to > lo else hi - lo


def _overlap(a, b):
    """Whether two :func:`isa.touches` results share storage (:func:`isa.conflicts`)."""
    return any(w in b and a[w][0] < b[w][1] and b[w][0] < a[w][1] for w in a)


class _Port:
    """The read port, shared by the fetch unit and the load unit: one transfer at a time."""

    def __init__(self):
        self.spans = []  # [start, end) of the transfers, sorted

    def reserve(self, cycle, length):
        """The first cycle from ``cycle`` on when the port is free for ``length`` cycles; it is
        taken then."""
        i = bisect.bisect_right(self.spans, (cycle, cycle))
        if i and self.spans[i - 1][1] > cycle:
            cycle = self.spans[i - 1][1]
        while i < len(self.spans) and self.spans[i][0] < cycle + length:
            cycle = max(cycle, self.spans[i][1])
            i += 1
        self.spans.insert(i, (cycle, cycle + length))
        return cycle


class _Fetch:
    """The fetch unit: blocks of ``fetch_block`` instructions from PROG_ADDR on, one transfer
    in flight, asked for when the prefetch queue has room for the whole block."""

    def __init__(self, memory, g, t, port, prog_addr, prog_len):
        self.memory, self.g, self.t, self.port = memory, g, t, port
        self.addr, self.len = prog_addr, prog_len
        self.blocks = []  # (request, grant, end, first, stop, [arrival of each instruction])

    def _span(self, b):
        first = b * self.t.fetch_block
        return first, min(first + self.t.fetch_block, self.len)

    def advance(self, pops):
        """Ask for every block whose request cycle the instructions taken so far decide."""
        t, beat = self.t, self.g.mem_bytes
        while True:
            b = len(self.blocks)
            first, stop = self._span(b)
            if first >= self.len:
                return
            need = stop - t.fetch_queue - 1  # this instruction must have left the queue
            if need >= len(pops):
                return
            request = max(self.blocks[-1][2] + t.port_gap if self.blocks else t.start,
                          pops[need] + t.fetch_room if need >= 0 else 0)
            n = stop - first
            beats = -(-n * isa.INSTR_BYTES // beat)
            length = max(beats, n)
            data = self.port.reserve(request + t.read_latency, length + t.stream_gap)
            each = max(beats, n) / n
            arrivals = [data + math.ceil((j + 1) * each) for j in range(n)]
            self.blocks.append((request, data - t.read_latency, data + length, first, stop,
                                arrivals))

    def instruction(self, i):
        """(arrival cycle, its four words or None, failing burst address or None) of
        instruction ``i``, whose block has been asked for."""
        first, _ = self._span(i // self.t.fetch_block)
        arrival = self.blocks[i // self.t.fetch_block][5][i - first]
        beat = self.g.mem_bytes
        a = self.addr + isa.INSTR_BYTES * i
        lo = a // beat * beat
        hi = -(-(a + isa.INSTR_BYTES) // beat) * beat
        block_lo = self.addr + isa.INSTR_BYTES * first
        # the bursts of the block's transfer that hold this instruction's beats
        for burst, length in bursts(block_lo, self._bytes(i // self.t.fetch_block), beat):
            if burst < hi and lo < burst + length:
                failed = self.memory.failing_burst(burst, length, beat, write=False)
                if failed is not None:
                    return arrival, None, failed
        return arrival, tuple(self.memory.data[a:a + isa.INSTR_BYTES].view("<u4").tolist()), None

    def _bytes(self, b):
        first, stop = self._span(b)
        return -(-(stop - first) * isa.INSTR_BYTES // self.g.mem_bytes) * self.g.mem_bytes

    def idle_after(self, cycle):
        """The first cycle from ``cycle`` on when no block asked for by then is in flight."""
        for request, _, end, *_ in self.blocks:
            if request <= cycle < end:
                cycle = end
        return cycle

    def bytes_before(self, halt):
        """Bytes of the blocks asked for before cycle ``halt`` (when fetching stopped)."""
        return sum(self._bytes(b) for b, block in enumerate(self.blocks) if block[0] < halt)
