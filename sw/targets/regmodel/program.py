"""Programs on the register-level model: what a program does, and when (``hw/spec/isa.py``).

:class:`ProgramEngine` runs a program at once, when DOORBELL.RUN is written, in two halves that
are computed together, instruction by instruction in program order:

**Effects.** Each dispatched instruction changes the windows and the port memory exactly as the
register path would: a LOAD copies ``COUNT`` units (window word layouts, :func:`isa.unit_bytes`)
from memory into its window, dropping the bits the window does not store (padding, the unused
bits of PARAM words); a STORE copies units of ACC or OUT into memory, its padding bytes written
as 0 (the bytes of its last beat past its units are not written: strobes off); a VMM runs the
command the CMD_* registers would run; FENCE and END change nothing. Instructions take effect in
dispatch order, which the hardware's conflict tracking makes equal to program order for the
on-chip storage. The memory itself is not tracked by the hardware (a LOAD of what an older,
still running STORE writes, or a STORE over the program's own instructions, races in the
hardware): the model applies such effects in program order.

**Timing**, an event model of the hardware of ``isa.py``, with the durations of
:class:`ProgramTiming`:

* the **fetch** unit reads the program in aligned blocks of ``fetch_bytes`` (one burst each, one
  burst outstanding) into a prefetch queue of ``fetch_queue`` instructions (a block is issued when
  its instructions fit beside the ones queued or in flight); a block arrives
  ``read_latency + beats`` cycles after its issue; it never reads past PROG_LEN instructions;
* the **dispatcher** takes the instruction at the head of the queue ``dispatch`` cycles after it
  arrived, at most one per cycle, in program order, and dispatches it when its unit is free and
  no running instruction it :func:`isa.conflicts` with is still running (END and FENCE: when
  every unit is idle);
* the **load**, **store** and **compute** units run one instruction each at a time, for
  :meth:`ProgramTiming.load_cycles`, :meth:`~ProgramTiming.store_cycles` and
  :meth:`~ProgramTiming.vmm_cycles`.

**Errors.** The dispatcher checks each instruction (:func:`isa.check`, or MEM_READ if its fetch
burst failed) when it reaches the head of the queue; a bad one stops dispatching. A LOAD or STORE
whose memory answers an error (:class:`~.port_memory.PortMemory`) reports it when it finishes;
dispatching stops then too (younger instructions already dispatched complete, and take effect;
the failing LOAD or STORE itself changes nothing in the model, where the hardware may have moved
the bursts before the failing one: those units are unspecified). Running instructions finish,
then STATUS.DONE rises ``done`` cycles later with the ErrorCode of the *oldest* failing
instruction; PROG_PC names it (PROG_LEN: PROG_PC = PROG_LEN, the instruction that was not
allowed to run). After END, PROG_PC is END's index.

**Counters** (added to PERF_* at the doorbell): PERF_BUSY, PERF_COMPUTE, PERF_STALL, PERF_MACS
and PERF_VECTORS count each VMM as a command (PERF_BUSY: the compute unit's busy cycles);
PERF_LOAD and PERF_STORE the cycles of each LOAD and STORE; PERF_RD_BYTES the fetch blocks
issued before the program stopped and every LOAD's beats; PERF_WR_BYTES every STORE's beats
(whole beats, :func:`isa.transfer_bytes`; a failing LOAD or STORE counts whole);
PERF_INSTRS the dispatched instructions, FENCE and END included.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass

import numpy as np

from hw.spec import ErrorCode, Geometry, isa, timing

from .memory import ModelMemory
from .port_memory import PortMemory

__all__ = ["ProgramEngine", "ProgramRun", "ProgramTiming"]


@dataclass(frozen=True)
class ProgramTiming:
    """The durations of the program cycle model, in clock cycles. They are estimates until
    calibrated against the RTL; every one is a field so a test or a bench can try others
    (``dataclasses.replace``)."""

    #: memory read latency: a burst's address accepted -> its first data beat
    read_latency: int = 8
    #: memory write latency: a burst's last data beat -> its write response
    write_latency: int = 4
    #: bytes the fetch unit reads per burst (an aligned block: four instructions)
    fetch_bytes: int = 64
    #: instructions the prefetch queue holds, counting those of the block in flight
    fetch_queue: int = 8
    #: an instruction's arrival at the head of the queue -> the earliest cycle it is dispatched
    #: (decode and check)
    dispatch: int = 1
    #: cycles a LOAD spends besides its beats and window writes (address set-up, last write)
    load_setup: int = 2
    #: cycles a STORE spends besides its window reads, beats and write response
    store_setup: int = 2
    #: cycles a VMM spends besides the command's busy cycles (:func:`timing.busy_cycles`)
    vmm_setup: int = 0
    #: the program's end (END dispatched, or the last running instruction after an error)
    #: -> STATUS.DONE
    done: int = 1

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ProgramTiming.{f.name} must be an int >= 0, got {value!r}")
        if self.fetch_bytes < isa.INSTR_BYTES or self.fetch_bytes & (self.fetch_bytes - 1):
            raise ValueError(f"ProgramTiming.fetch_bytes must be a power of two >= "
                             f"{isa.INSTR_BYTES}, got {self.fetch_bytes}")
        if self.fetch_queue * isa.INSTR_BYTES < self.fetch_bytes:
            raise ValueError(f"ProgramTiming.fetch_queue ({self.fetch_queue}) must hold a fetch "
                             f"block of {self.fetch_bytes // isa.INSTR_BYTES} instructions")

    def load_cycles(self, units, beats):
        """A LOAD: set-up, the read latency, then one beat and one window unit per cycle."""
        return self.load_setup + self.read_latency + max(units, beats)

    def store_cycles(self, units, beats):
        """A STORE: set-up, one window unit and one beat per cycle, then the write response."""
        return self.store_setup + max(units, beats) + self.write_latency

    def vmm_cycles(self, count, latency):
        """A VMM: the command's busy cycles (the compute unit is busy through the drain)."""
        return self.vmm_setup + timing.busy_cycles(count, latency)

    def fetch_cycles(self, beats):
        """A fetch block: the read latency, then its beats."""
        return self.read_latency + beats


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
        """Cycles each unit worked: {"load", "store", "compute"}."""
        out = dict.fromkeys(("load", "store", "compute"), 0)
        for _, instr, start, end in self.schedule:
            unit = isa.unit_of(instr)
            if unit:
                out[unit] += end - start
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
        self.timing, self.vmm = program_timing, vmm
        self._unit_words = {w: isa.unit_bytes(w, g) // 4 for w in isa.Window}

    # --- effects --------------------------------------------------------------------------------

    def _window(self, instr):
        buf = getattr(self.buffers, _WINDOW_BUFFER[instr.window])
        per = self._unit_words[instr.window]
        return buf, slice(instr.first * per, (instr.first + instr.count) * per)

    def _load(self, instr):
        buf, span = self._window(instr)
        n = span.stop - span.start
        words = self.port.data[instr.mem_addr:instr.mem_addr + 4 * n].view("<u4")
        buf.data[span] = words & buf.mask[span]

    def _store(self, instr):
        buf, span = self._window(instr)
        data = (buf.data[span] & buf.mask[span]).astype("<u4").view(np.uint8)
        self.port.data[instr.mem_addr:instr.mem_addr + data.size] = data

    # --- the program ----------------------------------------------------------------------------

    def run(self, prog_addr, prog_len) -> ProgramRun:
        """Run the program at ``prog_addr`` (at most ``prog_len`` instructions)."""
        g, t = self.g, self.timing
        run = ProgramRun(counters=dict.fromkeys(
            ("PERF_BUSY", "PERF_COMPUTE", "PERF_STALL", "PERF_MACS", "PERF_VECTORS", "PERF_LOAD",
             "PERF_STORE", "PERF_RD_BYTES", "PERF_WR_BYTES", "PERF_INSTRS"), 0))
        k = run.counters
        if prog_addr % g.mem_bytes:
            run.error = ErrorCode.MEM_ALIGN
            return run
        if prog_len == 0:
            run.error = ErrorCode.PROG_LEN
            return run
        fetch = _Fetch(self.port, g, t, prog_addr, prog_len)
        dispatched = []       # dispatch cycle of each dispatched instruction, by index
        running = []          # (touches, finish) of instructions that may still run
        unit_free = dict.fromkeys(("load", "store", "compute"), 0)
        errors = []           # (index, ErrorCode, mem_error_addr)
        stop = None           # the cycle dispatching stopped (an error was found), if any
        end = None            # the cycle END was dispatched
        last_finish = 0
        prev = -1
        for i in range(prog_len + 1):
            if i == prog_len:     # PROG_LEN instructions ran without an END
                head = prev + 1
                if stop is None or head < stop:
                    errors.append((i, ErrorCode.PROG_LEN, None))
                    stop = head
                break
            arrival, words, burst_error = fetch.instruction(i, dispatched)
            head = max(prev + 1, arrival + t.dispatch)
            if stop is not None and head >= stop:
                break
            instr = isa.decode(words) if burst_error is None else None
            code = ErrorCode.MEM_READ if burst_error is not None else isa.check(instr, g)
            if code != ErrorCode.NONE:
                errors.append((i, code, burst_error))
                stop = head
                break
            running = [(touch, f) for touch, f in running if f > head]
            unit = isa.unit_of(instr)
            if unit is None:  # END, FENCE: every unit idle
                start = max([head] + [f for _, f in running])
            else:
                touch = isa.touches(instr, g)
                start = max([head, unit_free[unit]]
                            + [f for other, f in running if _overlap(touch, other)])
            if stop is not None and start >= stop:
                break
            dispatched.append(start)
            prev = start
            k["PERF_INSTRS"] += 1
            if unit is None:
                run.schedule.append((i, instr, start, start))
                if instr.op == isa.Op.END:
                    end = start
                    break
                continue
            finish = start + self._execute(instr, errors, i, k)
            if errors and errors[-1][0] == i:  # its memory failed: dispatching stops at its end
                stop = finish if stop is None else min(stop, finish)
            unit_free[unit] = finish
            running.append((touch, finish))
            last_finish = max(last_finish, finish)
            run.schedule.append((i, instr, start, finish))
        halt = end if end is not None and not errors else stop
        k["PERF_RD_BYTES"] += fetch.bytes_issued(dispatched, halt)
        run.cycles = max(halt, last_finish) + t.done
        if errors:
            index, run.error, run.mem_error_addr = min(errors, key=lambda e: e[0])
            run.pc = index
        else:
            run.pc = run.schedule[-1][0]
        return run

    def _execute(self, instr, errors, index, k):
        """Apply a dispatched LOAD/STORE/VMM and count it in ``k``; returns its duration."""
        g, t = self.g, self.timing
        if instr.op == isa.Op.VMM:
            self.vmm(instr)
            n = instr.count
            busy = t.vmm_cycles(n, self.latency)
            k["PERF_BUSY"] += busy
            k["PERF_COMPUTE"] += timing.compute_cycles(n, self.latency)
            k["PERF_STALL"] += busy - n
            k["PERF_MACS"] += n * instr.rows * instr.cols
            k["PERF_VECTORS"] += n
            return busy
        beats = -(-instr.count * 4 * self._unit_words[instr.window] // g.mem_bytes)
        nbytes = beats * g.mem_bytes  # isa.transfer_bytes
        write = instr.op == isa.Op.STORE
        failed = self.port.failing_burst(instr.mem_addr, nbytes, g.mem_bytes, write)
        if failed is not None:
            errors.append((index, ErrorCode.MEM_WRITE if write else ErrorCode.MEM_READ, failed))
        elif write:
            self._store(instr)
        else:
            self._load(instr)
        if write:
            k["PERF_WR_BYTES"] += nbytes
            cycles = t.store_cycles(instr.count, beats)
            k["PERF_STORE"] += cycles
        else:
            k["PERF_RD_BYTES"] += nbytes
            cycles = t.load_cycles(instr.count, beats)
            k["PERF_LOAD"] += cycles
        return cycles


def _overlap(a, b):
    """Whether two :func:`isa.touches` results share storage (:func:`isa.conflicts`)."""
    return any(w in b and a[w][0] < b[w][1] and b[w][0] < a[w][1] for w in a)


class _Fetch:
    """The fetch unit: aligned blocks of the program, one burst each and one in flight, into a
    prefetch queue of ``fetch_queue`` instructions."""

    def __init__(self, port, g, t, prog_addr, prog_len):
        self.port, self.g, self.t = port, g, t
        self.addr, self.len = prog_addr, prog_len
        self.block = max(t.fetch_bytes, g.mem_bytes)
        self.queue = max(t.fetch_queue, self.block // isa.INSTR_BYTES)
        self.first_block = prog_addr // self.block
        self.blocks = []  # (issue, arrival, lo, hi, error address or None), by block

    def _span(self, b):
        """Block ``b``'s instructions [first, stop) and its bytes [lo, hi) (whole beats)."""
        lo = max((self.first_block + b) * self.block, self.addr)
        hi = min((self.first_block + b + 1) * self.block, self.addr + isa.INSTR_BYTES * self.len)
        first, stop = ((a - self.addr) // isa.INSTR_BYTES for a in (lo, hi))
        beat = self.g.mem_bytes
        return first, stop, lo, -(-hi // beat) * beat

    def _issue_cycle(self, b, dispatched):
        """When block ``b`` is issued, or None if the queue never has room for it (the
        instruction that frees the room was not dispatched)."""
        if b == 0:
            return 0
        _, stop, _, _ = self._span(b)
        need = stop - self.queue - 1  # this instruction must have left the queue
        if need >= len(dispatched):
            return None
        room = dispatched[need] + 1 if need >= 0 else 0
        return max(self.blocks[b - 1][1], room)

    def instruction(self, i, dispatched):
        """(arrival cycle, its four words, failing burst address or None) of instruction
        ``i``, whose predecessors have all been dispatched."""
        b = (self.addr + isa.INSTR_BYTES * i) // self.block - self.first_block
        while len(self.blocks) <= b:
            n = len(self.blocks)
            issue = self._issue_cycle(n, dispatched)
            _, _, lo, hi = self._span(n)
            arrival = issue + self.t.fetch_cycles((hi - lo) // self.g.mem_bytes)
            failed = self.port.failing_burst(lo, hi - lo, self.g.mem_bytes, write=False)
            self.blocks.append((issue, arrival, lo, hi, failed))
        _, arrival, _, _, failed = self.blocks[b]
        if failed is not None:
            return arrival, None, failed
        a = self.addr + isa.INSTR_BYTES * i
        return arrival, tuple(self.port.data[a:a + isa.INSTR_BYTES].view("<u4").tolist()), None

    def bytes_issued(self, dispatched, halt):
        """Bytes of the blocks issued before cycle ``halt`` (the prefetches included)."""
        total, b = 0, 0
        while True:
            if b < len(self.blocks):
                issue, _, lo, hi, _ = self.blocks[b]
            else:
                first, _, lo, hi = self._span(b)
                if first >= self.len:
                    break
                issue = self._issue_cycle(b, dispatched)
                if issue is None:
                    break
                self.blocks.append((issue, issue + self.t.fetch_cycles(
                    (hi - lo) // self.g.mem_bytes), lo, hi, None))
            if issue >= halt:
                break
            total += hi - lo
            b += 1
        return total
