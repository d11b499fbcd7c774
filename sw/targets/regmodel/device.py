"""The register-level model of pimacc: the driver's stand-in for the hardware.

:class:`RegisterModel` answers bus accesses exactly as ``hw/spec/regmap.py`` specifies
(registers, field access types, reset values, window layouts, DECERR/SLVERR and BUS_ERROR),
checks a started command with :func:`hw.spec.check` and executes it with the golden model
(``models/``) at once; STATUS then reports it BUSY for the cycles the hardware needs
(:mod:`hw.spec.timing`), on the model's clock, and meanwhile the model refuses (SLVERR,
BUS_ERROR = BUSY) exactly what the hardware refuses: the CMD_* registers, CTRL.START without
SOFT_RESET, the PARAM, IN and LUT windows and the running bank's weights. A SOFT_RESET while BUSY
stops the command (its results are already in ACC and OUT, where the hardware would have written
only a part of them).

Behind its AXI4 memory port is a :class:`~.port_memory.PortMemory` of ``mem_size`` bytes
(16 MiB by default; the host reaches it with ``mem_write``/``mem_read``). DOORBELL.RUN runs the
program at PROG_ADDR (``hw/spec/isa.py``) at once on :class:`~.program.ProgramEngine` (its
effects and its cycle model are described there); STATUS reports it BUSY for the cycles the cycle
model predicts, and meanwhile the model refuses DOORBELL, PROG_*, CMD_*, CTRL.START and *every*
writable window (LUT, PARAM, all of WEIGHT, IN: a running program may write any of them), and
reads of ACC and OUT (SLVERR, BUS_ERROR = BUSY: the store unit reads them), as the gateware does. A
SOFT_RESET while a program runs stops it: the model has already applied all its effects (the
hardware would have applied only those of the instructions it had dispatched; partial effects
are not modelled), and the next program runs normally.

It is a *functional* model. Its PERF_* counters are an estimate, except PERF_MACS and
PERF_VECTORS, which are exact:

* every bus word (read or write, refused or not) takes one cycle, and so does nothing else: the
  clock moves by bus words and by ``wait_irq``;
* a VMM command is busy, and computes, for the cycles :mod:`hw.spec.timing` gives
  (``busy_cycles``, ``compute_cycles``); all but ``COUNT`` of the busy cycles are stall cycles;
  NOP and rejected commands take no busy cycles;
* bus words written after START overlap the busy time (double buffering) and ``wait_irq``
  advances the clock to its end.

With a :class:`~hw.spec.CimGeometry` it models the compute-in-memory build: VMM products come
from :func:`models.cim.cim_vmm` with the window in CIM_SHIFT, CFG_FEATURES has Feature.CIM, the
CIM registers exist (CFG_CIM, CIM_SHIFT, PERF_ADC, PERF_ROWS: exact, by
:func:`models.cim.counts` of the vectors), CFG_LATENCY is
:func:`hw.spec.timing.cim_array_latency` and a command's vectors issue ``8 / bits_per_cycle``
cycles apart (``busy_cycles(..., vector_cycles)``), in commands and in programs alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hw.spec import (
    ADDR_WIDTH,
    ALL_FEATURES,
    Feature,
    Geometry,
    check,
    cim_of,
    isa,
    register,
    timing,
)
from hw.spec.regmap import RO, RW, W1C, W1P, WC, BusError, ErrorCode, Opcode, registers
from models import apply_lut, group_max, requantize, wrap_int32
from models.cim import cim_vmm
from models.cim import counts as cim_counts

from ..transport import BusErrorResponse, Transport
from .memory import FULL, ModelMemory
from .port_memory import DEFAULT_MEM_SIZE, PortMemory
from .program import ProgramEngine, ProgramTiming

__all__ = ["RegisterModel"]

_STATUS, _CTRL = register("STATUS"), register("CTRL")
_START, _SOFT_RESET = _CTRL.field("START").mask, _CTRL.field("SOFT_RESET").mask
_PROGRAM = "program"  # what runs (``_running``) when it is a program, not a command's bank


def _byte_mask(strb):
    return sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)


#: Cycles an AXI4-Lite transaction of n words takes besides its n data cycles (the address and
#: response handshakes), as the simulation's manager drives them: n + 2 measured on Icarus for
#: blocks of 1 to 64 words (``verif/layers/test_conv_sim.py`` checks it on the RTL).
TRANSACTION_CYCLES = 2


class RegisterModel(Transport):
    """Register-level model of the accelerator.

    Parameters
    ----------
    geometry : Geometry, optional
        Default :meth:`Geometry.default`; ``geometry_overrides`` replace fields of it.
    latency : int, optional
        CFG_LATENCY (default :func:`hw.spec.timing.array_latency` of the rows, as built;
        :func:`~hw.spec.timing.cim_array_latency` for a CimGeometry).
    features : int, optional
        CFG_FEATURES (default: every feature, as built; with Feature.CIM for a CimGeometry).
    mem_size : int, optional
        Bytes of memory behind the memory port (default 16 MiB; 0: none).
    program_timing : ProgramTiming, optional
        The durations of the program cycle model (default ``ProgramTiming()``).

    Members
    -------
    irq : bool
        The ``irq`` output: STATUS.DONE & CTRL.IRQ_EN.
    port : PortMemory
        The memory behind the memory port (``port.inject_error(lo, hi)`` makes a range fail).
    last_program : ProgramRun or None
        What the last program did and when (its schedule, counters, error).
    """

    def __init__(self, geometry=None, *, latency=None, features=None, mem_size=DEFAULT_MEM_SIZE,
                 program_timing=None, **geometry_overrides):
        g = geometry if geometry is not None else Geometry.default()
        if not isinstance(g, Geometry):
            raise TypeError(f"geometry must be a Geometry, got {type(g).__name__}")
        g = dataclasses.replace(g, **geometry_overrides)
        self.geometry = g
        self.cim = cim = cim_of(g)
        self._vector_cycles = 1 if cim is None else cim.cycles_per_vector
        default_latency = (timing.array_latency(g.rows) if cim is None
                           else timing.cim_array_latency(cim.bits_per_cycle))
        self.latency = default_latency if latency is None else int(latency)
        default_features = ALL_FEATURES | (0 if cim is None else Feature.CIM)
        self.features = default_features if features is None else int(features)
        self._config = dict(dataclasses.asdict(g), latency=self.latency, features=self.features)
        if cim is not None:
            self._config["cim"] = g.cim_word
        self._registers = registers(cim is not None)
        self._perf = tuple(r.name for r in self._registers if r.name.startswith("PERF_"))
        self._by_offset = {r.offset: r for r in self._registers}
        self.memory = ModelMemory(g)
        self.port = PortMemory(mem_size)
        self.program_timing = ProgramTiming() if program_timing is None else program_timing
        if not isinstance(self.program_timing, ProgramTiming):
            raise TypeError(f"program_timing must be a ProgramTiming, got "
                            f"{type(self.program_timing).__name__}")
        self._engine = ProgramEngine(self.memory, self.port, g, self.latency,
                                     self.program_timing, self._vmm)
        self.last_program = None
        self._now = 0
        self._reset_registers()

    # --- Transport ------------------------------------------------------------------------------

    def read(self, addr, count=1):
        self._check_addr(addr, count)
        self._tick(TRANSACTION_CYCLES)
        buf = self.memory.find(addr)
        i = buf.span(addr, count) if buf and not self._read_locked(buf) else None
        if i is not None:
            self._tick(count)
            return buf.data[i:i + count].tolist()
        values, first = [], None
        for j in range(count):
            self._tick(1)  # each word as the bus reads it (PERF_CYCLES counts on meanwhile)
            value, resp = self._read_word(addr + 4 * j)
            values.append(value)
            if resp != "OKAY" and first is None:
                first = (addr + 4 * j, resp)
        if first:
            raise BusErrorResponse(*first, f"read of {count} word(s) at 0x{addr:05X}")
        return values

    def write(self, addr, words):
        data = np.asarray(words).ravel()
        if data.size and (data.dtype.kind not in "iu" or data.min() < 0 or data.max() > FULL):
            raise ValueError("words must be integers in 0..2**32-1")
        data = data.astype("<u4")
        self._check_addr(addr, data.size)
        self._tick(data.size + TRANSACTION_CYCLES)
        buf = self.memory.find(addr)
        i = buf.span(addr, data.size) if buf and buf.writable else None
        if i is not None and not self._locked(buf, i, data.size):
            buf.data[i:i + data.size] = data & buf.mask[i:i + data.size]
            return
        first = None
        for j, value in enumerate(data.tolist()):
            resp = self._write_word(addr + 4 * j, value, 0xF)
            if resp != "OKAY" and first is None:
                first = (addr + 4 * j, resp)
        if first:
            raise BusErrorResponse(*first, f"write of {data.size} word(s) at 0x{addr:05X}")

    def wait_irq(self, max_cycles):
        if self.irq:
            return True
        if self.busy and self._busy_until - self._now <= max_cycles:
            self._tick(self._busy_until - self._now)  # the command finishes: DONE
            return self.irq
        self._tick(max_cycles)
        return False

    @property
    def mem_size(self):
        return self.port.size

    def mem_write(self, addr, data):
        self.port.write(addr, data)

    def mem_read(self, addr, size):
        return self.port.read(addr, size)

    def inject_mem_error(self, lo, hi, *, read=True, write=True):
        """A program's bursts that touch bytes [lo, hi) are answered with an error (like the
        RTL RAM model's ``err_lo``/``err_hi``): reads, writes or both."""
        self.port.inject_error(lo, hi, read=read, write=write)

    def clear_mem_errors(self):
        self.port.clear_errors()

    # --- single words with responses -----------------------------------------------------------

    def read32(self, addr):
        """Read one word: returns ``(value, resp)``, resp ``"OKAY"`` / ``"DECERR"``."""
        self._check_addr(addr, 1)
        self._tick(1)
        return self._read_word(addr)

    def write32(self, addr, value, strb=0xF):
        """Write one word with byte strobes: returns resp ``"OKAY"``/``"SLVERR"``/``"DECERR"``."""
        self._check_addr(addr, 1)
        if not 0 <= value <= FULL or not 0 <= strb <= 0xF:
            raise ValueError(f"value must be 32-bit and strb 4-bit, got {value:#x}, {strb:#x}")
        self._tick(1)
        return self._write_word(addr, value, strb)

    @property
    def irq(self):
        return bool(self._regs["STATUS"] & _STATUS.field("DONE").mask
                    and self._regs["CTRL"] & _CTRL.field("IRQ_EN").mask)

    @property
    def busy(self):
        """STATUS.BUSY: a started VMM command or program has not used up its cycles yet."""
        return self._running is not None

    # --- decoding -------------------------------------------------------------------------------

    @staticmethod
    def _check_addr(addr, count):
        if addr % 4 or addr < 0 or addr + 4 * count > 1 << ADDR_WIDTH:
            raise ValueError(f"address 0x{addr:X} (+{count} words) is not a word address in the "
                             f"{ADDR_WIDTH}-bit address space")

    def _refuse(self, addr, code):
        self._regs["BUS_ERROR"] = code.value
        self._regs["BUS_ERROR_ADDR"] = addr
        return "DECERR" if code == BusError.UNMAPPED else "SLVERR"

    def _read_word(self, addr):
        reg = self._by_offset.get(addr)
        if reg is not None:
            return self._read_register(reg), "OKAY"
        buf = self.memory.find(addr)
        i = buf.span(addr, 1) if buf else None
        if i is None:
            return 0, self._refuse(addr, BusError.UNMAPPED)
        if self._read_locked(buf):
            return 0, self._refuse(addr, BusError.BUSY)
        return int(buf.data[i]), "OKAY"

    def _read_locked(self, buf):
        """A read of ACC or OUT is refused while a program runs (the store unit reads them)."""
        return self._running == _PROGRAM and buf in (self.memory.acc, self.memory.out)

    def _locked(self, buf, i, count=1):
        """A write to words ``i .. i+count-1`` of ``buf`` is refused while BUSY (a command: the
        running bank's weights, every PARAM, IN and LUT word; a program: every writable
        window)."""
        if self._running is None:
            return False
        if self._running == _PROGRAM:
            return buf.writable
        if buf is self.memory.weight:
            per_bank = self.geometry.row_words_p2 * self.geometry.cols_p2
            return i // per_bank <= self._running <= (i + count - 1) // per_bank
        return buf in (self.memory.param, self.memory.inputs, self.memory.lut)

    def _write_word(self, addr, value, strb):
        reg = self._by_offset.get(addr)
        if reg is not None:
            if reg.read_only:
                return self._refuse(addr, BusError.READ_ONLY)
            if self._running is not None and self._refused_while_busy(reg, value, strb):
                return self._refuse(addr, BusError.BUSY)
            self._write_register(reg, value, _byte_mask(strb))
            return "OKAY"
        buf = self.memory.find(addr)
        i = buf.span(addr, 1) if buf else None
        if i is None:
            return self._refuse(addr, BusError.UNMAPPED)
        if not buf.writable:
            return self._refuse(addr, BusError.READ_ONLY)
        if self._locked(buf, i):
            return self._refuse(addr, BusError.BUSY)
        m = int(buf.mask[i]) & _byte_mask(strb)
        buf.data[i] = (int(buf.data[i]) & ~m | value & m) & FULL
        return "OKAY"

    # --- registers ------------------------------------------------------------------------------

    @staticmethod
    def _refused_while_busy(reg, value, strb):
        """The hardware's rule: the command registers, and CTRL.START unless SOFT_RESET (which
        wins) is written with it."""
        if reg.locked_while_busy:
            return True
        if reg.name != "CTRL":
            return False
        mask = _byte_mask(strb)
        return bool(value & mask & _START) and not value & mask & _SOFT_RESET

    def _reset_registers(self):
        self._regs = {r.name: r.reset for r in self._registers
                      if not r.config and r.name not in self._perf}
        self._counters = dict.fromkeys(self._perf, 0)
        self._busy_until = self._now
        self._running = None  # the bank of the command that is BUSY

    def _read_register(self, reg):
        if reg.config:
            return self._config[reg.config] & FULL
        if reg.name in self._perf:
            return self._counters[reg.name] & FULL
        if reg.name == "PROG_PC" and self._running == _PROGRAM:
            return self.last_program.pc_at(self._now - self._program_start)
        w1p = sum(f.mask for f in reg.fields if f.access == W1P)
        return self._regs[reg.name] & ~w1p

    def _write_register(self, reg, value, byte_mask):
        word, actions = self._regs[reg.name], set()
        for f in reg.fields:
            m = f.mask & byte_mask
            if f.access == RW:
                word = word & ~m | value & m
            elif f.access == W1P:
                if value & m:
                    actions.add(f.name)
            elif f.access == W1C:
                word &= ~(value & m)
            elif f.access == WC:  # any write clears, whatever the data and strobes
                word &= ~f.mask
            else:
                assert f.access == RO, f.access
        self._regs[reg.name] = word
        if "SOFT_RESET" in actions:  # wins over the other bits of the same write
            self._reset_registers()
            return
        if "CLEAR_COUNTERS" in actions:
            self._counters = dict.fromkeys(self._perf, 0)
        if "START" in actions:
            self._start()
        if "RUN" in actions:
            self._doorbell()

    def _field(self, name, field="VALUE"):
        reg = register(name)
        return reg.unpack(self._regs[name])[field]

    def _tick(self, cycles):
        self._now += cycles
        self._counters["PERF_CYCLES"] += cycles
        if self._running is not None and self._now >= self._busy_until:
            # the command's or program's last cycle: BUSY falls, DONE rises
            if self._running == _PROGRAM:
                self._finish_program(self.last_program)
            else:
                self._regs["STATUS"] = self._regs["STATUS"] & ~_STATUS.field("BUSY").mask \
                    | _STATUS.field("DONE").mask
            self._running = None

    # --- commands -------------------------------------------------------------------------------

    def _command(self):
        """The VMM instruction of the command in the CMD_* registers."""
        f = self._field
        return isa.Vmm(bank=f("CMD_BANK"), in_addr=f("CMD_IN_ADDR"), acc_addr=f("CMD_ACC_ADDR"),
                       out_addr=f("CMD_OUT_ADDR"), count=f("CMD_COUNT"), rows=f("CMD_ROWS"),
                       cols=f("CMD_COLS"), pool=f("CMD_POOL"), flags=self._regs["CMD_FLAGS"],
                       out_zp=f("CMD_OUT_ZP"))

    def _start(self):
        vmm = self._command()
        command = dataclasses.replace(vmm.command(), op=self._field("CMD_OP"))
        error = check(command, self.geometry)
        if error == ErrorCode.NONE and command.op == Opcode.VMM.value:
            self._vmm(vmm)
            n = vmm.count
            vc = self._vector_cycles
            self._account(busy=timing.busy_cycles(n, self.latency, vmm.requant, vc),
                          compute=timing.compute_cycles(n, self.latency, vc), vectors=n,
                          macs=n * vmm.rows * vmm.cols)
            self._running = vmm.bank
            self._regs["STATUS"] = _STATUS.pack(BUSY=1, ERROR=error.value)
        elif error != ErrorCode.NONE:
            # rejected: BUSY for the gateware's check cycle (a busy and stall cycle), then
            # DONE with the error (Controller check_latency=1)
            self._account(busy=1, compute=0, vectors=0, macs=0)
            self._running = vmm.bank
            self._regs["STATUS"] = _STATUS.pack(BUSY=1, ERROR=error.value)
        else:  # NOP: done at once
            self._regs["STATUS"] = _STATUS.pack(DONE=1, ERROR=error.value)

    def _doorbell(self):
        """DOORBELL.RUN: run the program at PROG_ADDR at once; BUSY for its cycles."""
        run = self._engine.run(self._field("PROG_ADDR"), self._field("PROG_LEN"))
        self.last_program = run
        for name, value in run.counters.items():
            self._counters[name] += value
        self._count_cim(run.counters.get("PERF_VECTORS", 0))
        if run.cycles == 0:  # refused at the doorbell: done at once
            self._finish_program(run)
            return
        self._running = _PROGRAM
        self._program_start = self._now
        self._busy_until = self._now + run.cycles
        self._regs["STATUS"] = _STATUS.pack(BUSY=1)

    def _finish_program(self, run):
        self._regs["STATUS"] = _STATUS.pack(DONE=1, ERROR=run.error.value)
        self._regs["PROG_PC"] = run.pc
        if run.mem_error_addr is not None:
            self._regs["MEM_ERROR_ADDR"] = run.mem_error_addr

    def _vmm(self, vmm: isa.Vmm):
        """One VMM command (docs/architecture.md, command semantics) on the windows, from the
        CMD_* registers or a program; every column is computed."""
        mem = self.memory
        n, r, zp = vmm.count, vmm.rows, vmm.out_zp
        flags = register("CMD_FLAGS").unpack(vmm.flags)
        x = mem.vectors(vmm.in_addr, n).astype(np.int64)
        x[:, r:] = 0  # ROW_MASK
        if self.cim is None:
            s = x @ mem.weights(vmm.bank).astype(np.int64).T  # exact: |s| <= R * 2**14
        else:
            s = cim_vmm(x.astype(np.int8), mem.weights(vmm.bank), self.cim,
                        self._field("CIM_SHIFT")).astype(np.int64)
        acc = mem.accumulators(vmm.acc_addr, n)
        bias, mult, shift = mem.params()
        if flags["ACCUMULATE"]:
            start = acc.astype(np.int64)
        elif flags["BIAS"]:
            start = bias.astype(np.int64)
        else:
            start = 0
        acc[...] = wrap_int32(start + s)
        if flags["REQUANT"]:
            y = requantize(acc.astype(np.int32), mult, shift, zp, False)
            if flags["LUT"]:
                y = apply_lut(y, mem.table())
            if flags["RELU"]:
                y = np.maximum(y, np.int8(zp))
            pool = vmm.pool
            mem.outputs(vmm.out_addr, n // pool)[...] = group_max(y, pool)

    def _account(self, busy, compute, vectors, macs):
        self._busy_until = self._now + busy
        k = self._counters
        k["PERF_BUSY"] += busy
        k["PERF_COMPUTE"] += compute
        k["PERF_STALL"] += busy - vectors
        k["PERF_MACS"] += macs
        k["PERF_VECTORS"] += vectors
        self._count_cim(vectors)

    def _count_cim(self, vectors):
        """PERF_ADC and PERF_ROWS of ``vectors`` vectors through the whole R x C array."""
        if self.cim is not None:
            g, k = self.geometry, self._counters
            c = cim_counts(vectors, g.rows, g.cols, self.cim)
            k["PERF_ADC"] += c["adc_conversions"]
            k["PERF_ROWS"] += c["row_activations"]

    def __repr__(self):
        return f"RegisterModel({self.geometry}, latency={self.latency})"
