"""The host driver of pimacc: its registers, commands and data movement, programs, and fully
connected layers (``linear``) on any :class:`~sw.targets.transport.Transport`.

A ``linear`` call runs its tiling plan (:mod:`.tiling`) one of two ways:

* **program** (when the transport has memory behind the accelerator and the layer fits in it):
  the plan is compiled into one program (:func:`~sw.driver.program.compile_plan`), written into
  the memory with its data in one bulk write, run by one DOORBELL, and its results read back in
  one bulk read (:meth:`Driver.run_program`);
* **registers**: every byte through the AXI4-Lite port, one command per step.

``Driver(transport, dma=None)`` chooses programs whenever it can; ``dma=False`` always uses the
registers, ``dma=True`` requires memory (AcceleratorError otherwise). :attr:`Driver.path` says
which path the last ``linear`` call took, and why.

The public class is :class:`sw.Accelerator`, this driver plus the layers lowered onto
``linear`` (``sw/layers``).
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np

from hw.spec import (
    ID_MAGIC,
    REGISTERS,
    VERSION,
    ErrorCode,
    Feature,
    Geometry,
    Opcode,
    command_registers,
    isa,
    register,
    words_for,
)

from ..knobs import plan_cache as _plan_cache_knob
from ..knobs import predict_workers as _workers_knob
from ..targets import Transport, open_transport
from ..targets.regmodel.program import predict_cycles
from . import pinning
from .arguments import check_accumulator_range, check_extras, check_linear, fold_input_zero_point
from .packing import pack_int8, unpack_int8
from .plancache import PlanCache
from .predictor import Predictor
from .program import (
    Job,
    Program,
    compile_plan,
    compile_plans,
    describe,
    explain,
    plan_lower_bound,
)
from .stats import Stats
from .taps import compile_taps
from .tiling import Plan, Step, plan_linear, plan_options

__all__ = ["AcceleratorError", "Driver", "PROGRAM_ORDERS"]

#: the instruction orders (:func:`~sw.driver.program.compile_plan`) a layer's program is
#: compiled in; the driver runs the fastest on the cycle model
PROGRAM_ORDERS = ("late_store", "lookahead")
#: calls in the program :meth:`Driver.predict_linear` measures what a further call adds from
BATCH_SAMPLE = 4
#: instructions of compiled programs the driver keeps for calls of the same shape (about 0.4 kB
#: of host memory each)
PROGRAM_CACHE = 1_000_000

_CTRL, _STATUS, _FLAGS = register("CTRL"), register("STATUS"), register("CMD_FLAGS")
_IRQ_EN = _CTRL.pack(IRQ_EN=1)
_PROG = tuple(register(n) for n in ("PROG_ADDR", "PROG_LEN", "DOORBELL"))  # one block write
_CMD = command_registers()
_CFG = tuple(r for r in REGISTERS if r.config and r.name != "CFG_MEM_BITS")
_PERF = tuple(r for r in REGISTERS if r.name.startswith("PERF_"))
_PERF_STATS = {"PERF_CYCLES": "cycles", "PERF_BUSY": "busy_cycles",
               "PERF_COMPUTE": "compute_cycles", "PERF_STALL": "stall_cycles",
               "PERF_MACS": "macs", "PERF_VECTORS": "vectors", "PERF_LOAD": "load_cycles",
               "PERF_STORE": "store_cycles", "PERF_RD_BYTES": "bytes_read",
               "PERF_WR_BYTES": "bytes_written", "PERF_INSTRS": "instructions"}
for _group in (_CMD, _CFG, _PERF, _PROG):  # each group is read or written as one block
    assert [r.offset for r in _group] == list(range(_group[0].offset, _group[-1].offset + 4, 4))


class AcceleratorError(RuntimeError):
    """The accelerator refused or did not finish a command, or is not a pimacc."""


class Driver:
    """Runs fully connected layers on a pimacc reached through ``transport``.

    On construction the driver checks ID and VERSION, reads the configuration and enables the
    interrupt.

    Members
    -------
    geometry : Geometry
        From the CFG_* registers.
    latency : int
        CFG_LATENCY.
    features : frozenset of Feature
        CFG_FEATURES.
    version : int
        VERSION.
    stats : Stats
        Statistics of the last :meth:`linear` call (or :meth:`run_program`).
    dma : bool or None
        None: ``linear`` runs programs when the transport has memory and the layer fits;
        False: always the register path; True: always programs.
    path : str
        How the last ``linear`` call ran: ``"program"``, or ``"registers"`` and why.
    plan : Plan or None
        The tiling of the last ``linear`` call (:mod:`.tiling`): on the register path the one
        that moves the fewest bus words, as a program the fastest on the cycle model.

    Raises
    ------
    AcceleratorError
        If ID is not ``regmap.ID_MAGIC`` or the major version differs from the driver's, or
        ``dma=True`` and the transport has no memory.
    """

    def __init__(self, transport: Transport, *, dma=None, plan_cache=None,
                 predict_workers=None):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a Transport, got {type(transport).__name__}")
        if dma not in (None, False, True):
            raise TypeError(f"dma must be None, False or True, got {dma!r}")
        self.transport = transport
        self.dma = dma
        self.path = ""
        self.plan = None
        self._choices = {}  # shape -> the cycle model's choice (plans, orders) or prediction
        path = plan_cache or _plan_cache_knob()
        #: predictions kept on disk between processes (:mod:`.plancache`; None: off)
        self.plan_cache = PlanCache(path) if path else None
        workers = predict_workers or _workers_knob()
        #: worker processes for a first call's predictions (:mod:`.predictor`; None: serial)
        self.predictor = Predictor(workers) if workers and workers > 1 else None
        #: programs predicted on the cycle model so far (the first call of a shape predicts)
        self.predictions = 0
        #: compiled programs by (kind, plan(s), order, LUT, zero point(s)), least recently used
        #: first: a shape's program is compiled once, for its prediction, and then runs on the
        #: data of every call of that shape (``bind``); at most PROGRAM_CACHE instructions
        self._programs = OrderedDict()
        self._pins, self._recorder, self._plan_geometry = {}, None, None
        #: the last :meth:`pin`'s :class:`~.pinning.PinReport` (None: nothing pinned)
        self.pinned = None
        self.stats = Stats()
        self.mapping = None  # how the last convolution-family call was mapped (sw/layers)
        self._written = self._read_words = 0
        ident = self._read_reg("ID")
        if ident != ID_MAGIC:
            raise AcceleratorError(f"no pimacc behind {transport!r}: ID reads 0x{ident:08X}, "
                                   f"expected 0x{ID_MAGIC:08X} ('PIMA')")
        self.version = self._read_reg("VERSION")
        if self.version >> 24 != VERSION >> 24:
            raise AcceleratorError(f"VERSION 0x{self.version:08X} has major version "
                                   f"{self.version >> 24}; this driver speaks {VERSION >> 24}")
        cfg = dict(zip((r.config for r in _CFG), self.read_words(_CFG[0].offset, len(_CFG)),
                       strict=True))
        self.latency = cfg.pop("latency")
        features = cfg.pop("features")
        self.features = frozenset(f for f in Feature if features & f.value)
        self.geometry = Geometry(**cfg, mem_bits=self._read_reg("CFG_MEM_BITS"))
        self._cmd_cache = None
        self._lut = None  # the table the device holds, if known
        if dma and not transport.mem_size:
            raise AcceleratorError(f"dma=True needs memory behind the accelerator's memory port; "
                                   f"{transport!r} has none (mem_size 0)")
        self.write_words(_CTRL.offset, [_IRQ_EN])

    @classmethod
    def open(cls, target="regmodel", *, stall_seed=None, dma=None, plan_cache=None,
             predict_workers=None, **geometry_overrides):
        """Open an accelerator of geometry ``Geometry.default(**geometry_overrides)``:
        ``"regmodel"`` (alias ``"model"``: :class:`~sw.targets.regmodel.RegisterModel`) or a
        simulation of the hardware (``"icarus"``, ``"verilator"``; ``"harness"``: Verilator with
        the clock and memory in C++, the fastest; see :mod:`sw.targets`).
        ``stall_seed`` stalls the simulated bus at random (results are the same); ``dma``:
        None runs layers as programs from memory when the target has memory, False always
        through the registers, True requires memory. ``plan_cache``: a file that keeps the
        cycle model's predictions between processes (:mod:`.plancache`; default the
        ``PIMACC_PLAN_CACHE`` environment variable, else none); ``predict_workers``: processes
        that predict a first call's candidates side by side (:mod:`.predictor`; default
        ``PIMACC_PREDICT_WORKERS``, else one after another in this process)."""
        transport = open_transport(target, Geometry.default(**geometry_overrides), stall_seed,
                                   memory=dma is not False)
        try:
            return cls(transport, dma=dma, plan_cache=plan_cache,
                       predict_workers=predict_workers)
        except BaseException:
            transport.close()
            raise

    def close(self):
        if self.predictor is not None:
            self.predictor.close()
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"{type(self).__name__}({self.transport!r}, {self.geometry})"

    @property
    def plan_geometry(self):
        """The geometry layers are planned on: the accelerator's, with only the streaming banks
        while tiles are pinned (:meth:`pin`)."""
        return self._plan_geometry or self.geometry

    def pin(self, run, *, banks=None):
        """Keep the weight tiles a workload loads most resident in the array.

        ``run()`` runs the workload once (e.g. ``lambda: net.run(acc, x)``), planned on the
        streaming banks, while the driver records the content of every weight tile its
        programs load. The ``banks`` top banks (default: all but
        :data:`~.pinning.STREAM_BANKS`) are then loaded with the most often loaded tiles, by
        one program; later programs skip the LOADs of those tiles and read them in place
        (:mod:`.pinning`). Tiles that do not fit keep streaming: the report says how many (and
        a warning, when some do). Replaces an earlier pin. Returns the
        :class:`~.pinning.PinReport` (also :attr:`pinned`)."""
        if not self.programs_possible():
            raise AcceleratorError("pin needs programs: memory behind the accelerator and dma "
                                   "not False")
        total, free = self.geometry.banks, self.geometry.banks - pinning.STREAM_BANKS
        banks = free if banks is None else banks
        if isinstance(banks, bool) or not isinstance(banks, int) or not 1 <= banks <= free:
            raise ValueError(f"banks must be an int in [1, {free}] (this accelerator has "
                             f"{total} weight banks and streams through "
                             f"{pinning.STREAM_BANKS}), got {banks!r}"
                             + ("; build it with more banks (e.g. banks=16)" if free < 1 else ""))
        self.unpin()
        first = total - banks
        self._plan_geometry = self.geometry.replace(banks=first)
        recorder = self._recorder = pinning.Recorder()
        try:
            run()
        finally:
            self._recorder = None
        tiles, mem = recorder.ranked(), self.geometry.mem_bytes
        chosen = tiles[:banks]
        if chosen:
            unit = isa.unit_bytes(isa.Window.WEIGHT, self.geometry)
            p = Program(self.geometry)
            for j, tile in enumerate(chosen):
                p.load(isa.Window.WEIGHT, (first + j) * self.geometry.cols_p2, len(tile) // unit,
                       p.data(f"pin{j}", tile))
            p.end_program()
            self.run_program(p, what="pinning weight tiles")
        self._pins = {tile: first + j for j, tile in enumerate(chosen)}
        self.pinned = pinning.PinReport(
            tiles=len(tiles), pinned=len(chosen), loads=sum(recorder.loads.values()),
            loads_saved=sum(recorder.loads[t] for t in chosen),
            bytes_saved=sum(recorder.loads[t] * -(-len(t) // mem) * mem for t in chosen),
            first_bank=first, banks=total)
        if not self.pinned.fits:
            warnings.warn(str(self.pinned), stacklevel=2)
        return self.pinned

    def unpin(self):
        """Forget pinned tiles: every bank streams again."""
        self._pins, self._plan_geometry, self.pinned = {}, None, None

    def reset(self):
        """CTRL.SOFT_RESET (abort a command, registers to reset values), then enable the IRQ."""
        self.write_words(_CTRL.offset, [_CTRL.pack(SOFT_RESET=1)])
        self.write_words(_CTRL.offset, [_IRQ_EN])
        self._cmd_cache = None
        self._lut = None  # the table the device holds, if known

    # --- layers ---------------------------------------------------------------------------------

    def linear(self, x, w, b=None, *, scale=None, zero_point=0, relu=False, input_zero_point=0,
               lut=None, pool=1):
        """A fully connected layer ``x @ w.T + b``, bit-exact with :func:`models.linear`.

        Parameters
        ----------
        x : ndarray of int8, shape [M, K]
        w : ndarray of int8, shape [N, K]
            PyTorch ``Linear`` layout.
        b : ndarray of int32, shape [N], optional
            Added by the accelerator on the first K tile.
        scale : float or ndarray of float, shape [N], optional
            None: return the int32 accumulators. Else requantize to int8 on the accelerator
            with :func:`models.quantize_multiplier` per column (``2**-33 <= scale < 2**31``).
        zero_point : int
            Output zero point, -128..127 (only with ``scale``).
        relu : bool
            Clamp the output at ``zero_point`` (only with ``scale``), after ``lut``.
        input_zero_point : int
            -128..127: the real input is ``x - input_zero_point``; the driver folds
            ``-input_zero_point * w.sum(axis=1)`` into the bias.
        lut : ndarray of int8, shape [256], optional
            With ``scale``: the lookup-table stage replaces each int8 result y by
            ``lut[y + 128]`` (sigmoid, tanh, GELU, exp tables: :mod:`models.lut`).
        pool : int
            With ``scale``: 1..255; the hardware's max-pooling stage returns one row per group
            of ``pool`` consecutive rows of x, their elementwise max (M must be a multiple).

        Returns
        -------
        ndarray of int32 [M, N] (no scale) or int8 [M // pool, N]; :attr:`stats` tells what it
        cost.

        Raises
        ------
        TypeError, ValueError
            For bad arguments (the message names the argument and what is allowed), and
            ValueError when an int32 accumulator could overflow, judged from the range of x,
            the weights and the bias (the rule:
            :func:`~sw.driver.arguments.check_accumulator_range`); a result is never a wrapped
            number.
        AcceleratorError
            If a command is rejected or times out, or a needed feature is missing.
        """
        call = self._prepare(x, w, b, scale, zero_point, relu, input_zero_point, lut, pool)
        plan = plan_linear(call.m, call.k, call.n, self.plan_geometry, **call.flags)
        options = plan_options(call.m, call.k, call.n, self.plan_geometry, **call.flags)
        compiled = self._compile(options, call.x, call.w, call.b, call.params, call.zero_point,
                                 lut)
        self.plan = plan if compiled is None else compiled.plan
        if compiled is not None:
            return self._run_compiled([compiled], lut, call.what)[0]
        if lut is not None:
            self._load_lut(lut)
        return self._run(plan, call.x, call.w, call.b, call.params, call.zero_point)

    def linear_batch(self, calls):
        """Several ``linear`` calls ``[(x, w, b, keywords)]`` (keywords as :meth:`linear`'s)
        as one program when they run as programs and those with a ``lut`` share one: one doorbell,
        and each call's loads overlap the previous call's computing and stores (the convolution
        family's groups, e.g. a depthwise layer's channels). Otherwise one :meth:`linear` after
        another. Returns the results; :attr:`stats` covers them all."""
        calls = list(calls)
        luts = [kw.get("lut") for _, _, _, kw in calls if kw.get("lut") is not None]
        same_lut = all(np.array_equal(t, luts[0]) for t in luts)
        if len(calls) < 2 or not self.programs_possible() or not same_lut:
            return self._one_by_one(calls)
        prepared = []
        for x, w, b, kw in calls:
            kw = dict(kw)
            prepared.append(self._prepare(x, w, b, kw.pop("scale", None),
                                          kw.pop("zero_point", 0), kw.pop("relu", False),
                                          kw.pop("input_zero_point", 0), kw.pop("lut", None),
                                          kw.pop("pool", 1), **kw))
        options = [plan_options(c.m, c.k, c.n, self.plan_geometry, **c.flags) for c in prepared]
        lut = luts[0] if luts else None
        table = self._table_to_load(lut)
        key = ("batch", tuple(tuple(o) for o in options), table is not None)
        if key not in self._choices:
            best = None
            for i in range(max(len(o) for o in options)):
                for order in PROGRAM_ORDERS:
                    plans = tuple(o[min(i, len(o) - 1)] for o in options)
                    cycles = self._predicted(
                        ("batch cycles", plans, order, table is not None),
                        lambda i=i, order=order: self._batch_program(
                            options, i, order, table, prepared)[0].program)
                    if best is None or cycles < best[0]:
                        best = (cycles, i, order)
            self._choices[key] = best[1:]
        i, order = self._choices[key]
        compiled = self._batch_program(options, i, order, table, prepared)
        for one, c in zip(compiled, prepared, strict=True):
            one.bind(c.x, c.w, c.b, c.params)
        if compiled[0].program.end > self.transport.mem_size:
            return self._one_by_one(calls)  # too large as one program: each call decides
        self.path, self.plan = "program", compiled[-1].plan
        return self._run_compiled(compiled, lut, f"{len(calls)} linear calls")

    def _batch_program(self, options, i, order, table, prepared):
        """The program of :meth:`linear_batch`'s calls, each in plan ``i`` of its ``options``
        (or its last), in ``order`` (:func:`compile_plans`; cached)."""
        plans = tuple(o[min(i, len(o) - 1)] for o in options)
        zps = tuple(c.zero_point for c in prepared)
        key = ("batch", plans, order, None if table is None else table.tobytes(), zps)
        return self._program(key, lambda: compile_plans(
            [Job(p, None, None, None, None, zp) for p, zp in zip(plans, zps, strict=True)],
            table, order=order))

    def _one_by_one(self, calls):
        results, stats = [], []
        for x, w, b, kw in calls:
            results.append(self.linear(x, w, b, **kw))
            stats.append(self.stats)
        self.stats = Stats.total(stats)
        return results

    def _prepare(self, x, w, b, scale, zero_point, relu, input_zero_point, lut, pool, **extra):
        """Check one ``linear`` call's arguments, fold its input zero point into the bias and
        check the features it needs."""
        if extra:
            raise TypeError(f"linear got unexpected keywords {sorted(extra)}")
        m, k, n, params = check_linear(x, w, b, scale, zero_point, relu)
        check_extras(m, scale, input_zero_point, lut, pool)
        check_accumulator_range(x, w, b, input_zero_point)
        b = fold_input_zero_point(w, b, input_zero_point)
        need = {Feature.BIAS: b is not None, Feature.REQUANT: scale is not None,
                Feature.RELU: bool(relu), Feature.LUT: lut is not None,
                Feature.MAXPOOL: pool != 1}
        for feature, needed in need.items():
            if needed and feature not in self.features:
                raise AcceleratorError(f"this accelerator lacks Feature.{feature.name}")
        flags = dict(int8=scale is not None, bias=b is not None, relu=bool(relu),
                     lut=lut is not None, pool=int(pool))
        return SimpleNamespace(m=m, k=k, n=n, x=x, w=w, b=b, params=params,
                               zero_point=int(zero_point), flags=flags,
                               what=f"linear [{m}, {k}] x [{n}, {k}]")

    def _run_compiled(self, compiled, lut, what):
        """Run the program of ``compiled`` (CompiledLinear s sharing it); their results."""
        raw = self._run_with_lut(compiled[0].program, lut, what)
        return [c.results(raw[c.region]) for c in compiled]

    def _table_to_load(self, lut):
        """The table a program must load into the LUT window: None when ``lut`` is None or the
        window holds it already."""
        if lut is None or (self._lut is not None and np.array_equal(self._lut, lut)):
            return None
        return lut

    def _run_with_lut(self, program, lut, what):
        """:meth:`run_program`, keeping track of the table the LUT window holds after it."""
        if self._recorder is not None:
            self._recorder.record(program)
        if self._pins or program.geometry != self.geometry:
            program = pinning.apply(program, self._pins, self.geometry)
        if lut is not None:
            self._lut = None  # unknown until the program has run
        raw = self.run_program(program, what=what)
        if lut is not None:
            self._lut = np.array(lut, dtype=np.int8)
        return raw

    def _compile(self, plans, x, w, b, params, zero_point, lut):
        """The layer's program if it runs as one (sets :attr:`path`), else None: of the
        ``plans`` in each of :data:`PROGRAM_ORDERS`, the one the cycle model
        (:func:`~sw.targets.regmodel.predict_cycles`) finds fastest, the first on a tie."""
        mem = self.transport.mem_size
        if self.dma is False:
            self.path = "registers (dma=False)"
            return None
        if not mem:
            self.path = "registers (no memory behind the accelerator)"
            return None
        table = self._table_to_load(lut)  # (the LUT window keeps its table between calls)
        # the timing does not depend on the data: one choice per shape (remembered)
        key = ("linear", tuple(plans), table is not None)
        if key not in self._choices:
            _, i = self._fastest_linear(plans, table, zero_point=zero_point)
            self._choices[key] = (plans[i // len(PROGRAM_ORDERS)],
                                  PROGRAM_ORDERS[i % len(PROGRAM_ORDERS)])
        plan, order = self._choices[key]
        compiled = self._linear_program(plan, order, table, zero_point).bind(x, w, b, params)
        if compiled.program.end > mem:
            why = (f"the layer's program needs {compiled.program.end} bytes of memory, the "
                   f"target has {mem}")
            if self.dma:
                raise AcceleratorError(f"dma=True: {why}")
            self.path = f"registers ({why})"
            warnings.warn(f"linear runs through the registers: {why}", stacklevel=3)
            return None
        self.path = "program"
        return compiled

    def programs_possible(self):
        """Whether calls may run as programs (memory behind the accelerator, ``dma`` not
        False)."""
        return self.dma is not False and bool(self.transport.mem_size)

    def _predicted(self, key, program):
        """The cycles of the program ``program()`` gives, on the cycle model, remembered by
        ``key`` (here and in the :attr:`plan_cache`)."""
        if key in self._choices:
            return self._choices[key]
        cycles = None if self.plan_cache is None else self.plan_cache.get(key, self.latency)
        if cycles is None:
            cycles = predict_cycles(program(), self.latency)
            self.predictions += 1
            if self.plan_cache is not None:
                self.plan_cache.put(key, self.latency, cycles)
        self._choices[key] = cycles
        return cycles

    def _known(self, key):
        """Whether the cycles of ``key`` are known (here or in the plan cache)."""
        if key in self._choices:
            return True
        cycles = None if self.plan_cache is None else self.plan_cache.get(key, self.latency)
        if cycles is not None:
            self._choices[key] = cycles
        return cycles is not None

    def _prefetch(self, jobs):
        """Predict ``jobs`` [(key, (kind, plan, order, lut, zero point))] not yet known on the
        :attr:`predictor`'s processes, and remember their cycles (a per-tap program that does
        not fit the memory: math.inf)."""
        jobs = [(k, t) for k, t in jobs if not self._known(k)]
        if not jobs:
            return
        answers = self.predictor.map([t + (self.latency,) for _, t in jobs])
        for (key, _), (cycles, end) in zip(jobs, answers, strict=True):
            if key[0] == "taps" and end > self.transport.mem_size:
                cycles = math.inf
            else:
                self.predictions += 1
            self._choices[key] = cycles
            if self.plan_cache is not None:
                self.plan_cache.put(key, self.latency, cycles)

    def prefetch_taps(self, plans, *, lut=False, zero_point=0):
        """With :attr:`predictor`: predict the per-tap programs of ``plans`` in every order
        side by side (what :meth:`predict_taps` then answers at once); else nothing."""
        if self.predictor is None:
            return
        self._prefetch([(("taps", plan, bool(lut), order, self.transport.mem_size),
                         ("taps", plan, order, bool(lut), zero_point))
                        for plan in plans for order in PROGRAM_ORDERS])

    def _program(self, key, build):
        """The compiled program (CompiledLinear, list of them, or CompiledTaps) of ``key``, from
        the cache or ``build()``; the cache keeps the most recently used ones, up to
        :data:`PROGRAM_CACHE` instructions in all."""
        if key in self._programs:
            self._programs.move_to_end(key)
            return self._programs[key]
        compiled = build()
        self._programs[key] = compiled
        size = lambda c: len((c[0] if isinstance(c, list) else c).program)  # noqa: E731
        total = sum(size(c) for c in self._programs.values())
        while total > PROGRAM_CACHE and len(self._programs) > 1:
            total -= size(self._programs.popitem(last=False)[1])
        return compiled

    def _linear_program(self, plan, order, table, zero_point):
        """``plan``'s program in ``order`` (:func:`compile_plan`; cached, bind it to data)."""
        key = ("linear", plan, order, None if table is None else table.tobytes(), zero_point)
        return self._program(key, lambda: compile_plan(plan, None, None, None, None, zero_point,
                                                       table, order=order))

    def _taps_program(self, plan, order, table, zero_point):
        """The per-tap program of ``plan`` in ``order`` (:func:`compile_taps`; cached)."""
        key = ("taps", plan, order, None if table is None else table.tobytes(), zero_point)
        return self._program(key, lambda: compile_taps(plan, None, None, None, None,
                                                       zero_point, table, order=order))

    def predict_linear(self, m, k, n, *, int8=False, bias=False, relu=False, lut=False,
                       pool=1, limit=None, zero_point=0, calls=1):
        """Cycles the fastest program of a ``linear`` of this shape takes on the cycle model
        (doorbell to done; the data does not change it). With ``limit``, programs whose lower
        bound exceeds it are not predicted, and the result is ``math.inf`` when none is left:
        exact whenever it is at most ``limit``. ``zero_point`` (the output's, which does not
        change the timing): the programs compiled for the prediction are kept for a call with
        it (:meth:`_program`).

        ``calls`` > 1: an estimate for that many such calls as one program
        (:meth:`linear_batch`, every call in the same plan), from programs of one call and of
        :data:`BATCH_SAMPLE` calls: the first call's cycles plus ``calls - 1`` times what a
        further call adds on average (a later call's loads overlap the previous call's
        computing, as in the whole batch), in the best plan and order; ``limit`` skips plans
        whose lower bound for the calls exceeds it (``math.inf`` when none is left)."""
        table = np.zeros(256, np.int8) if lut else None
        plans = plan_options(m, k, n, self.plan_geometry, int8=int8, bias=bias, relu=relu, lut=lut,
                             pool=pool)
        if calls > 1:  # (a plan whose bound for the calls exceeds the best so far is skipped)
            best = math.inf if limit is None else limit
            for bound, plan in sorted(((plan_lower_bound(p, lut), p) for p in plans),
                                      key=lambda bp: bp[0]):
                if calls * (bound - 1) < best:  # (the END's beat is counted once)
                    best = min(best, self._predict_batch(plan, calls, table, zero_point))
            return best
        key = ("predict linear", tuple(plans), lut)
        if key in self._choices:
            return self._choices[key]
        cycles, _ = self._fastest_linear(plans, table, limit, zero_point)
        if cycles < math.inf:  # (exact: remembered)
            self._choices[key] = cycles
        return cycles

    def _predict_batch(self, plan, calls, table, zero_point):
        """:meth:`predict_linear`'s estimate of ``calls`` calls in ``plan``, each order's
        programs of one call and of :data:`BATCH_SAMPLE` calls (as :meth:`linear_batch` would
        run them), the faster order."""
        few, lut = min(calls, BATCH_SAMPLE), table is not None

        def cycles(n, order):
            return self._predicted(
                ("batch cycles", (plan,) * n, order, lut) if n > 1 else
                ("cycles", plan, order, lut),
                lambda: compile_plans([Job(plan, None, None, None, None, zero_point)] * n, table,
                                      order=order)[0].program)
        return min(cycles(1, o) + (calls - 1) * (cycles(few, o) - cycles(1, o)) / (few - 1)
                   for o in PROGRAM_ORDERS)

    def _fastest_linear(self, plans, table, limit=None, zero_point=0):
        """(cycles, index) of the fastest of ``plans`` x :data:`PROGRAM_ORDERS` on the cycle
        model, index ``plan * len(PROGRAM_ORDERS) + order``; the first on a tie, as if every
        one were predicted. Candidates are tried in the order of their lower bound
        (:func:`~.program.plan_lower_bound`) and skipped once it exceeds the best prediction
        (or ``limit``): (math.inf, None) when every one exceeds ``limit``. With
        :attr:`predictor`, the next candidates not yet known are predicted side by side."""
        orders, lut = len(PROGRAM_ORDERS), table is not None
        bounds = [plan_lower_bound(plan, lut) for plan in plans]
        cands = [(p, o, p * orders + o) for p in sorted(range(len(plans)),
                                                        key=bounds.__getitem__)
                 for o in range(orders)]
        best = (math.inf if limit is None else limit, None)

        def skipped(p, i):
            return bounds[p] > best[0] or (bounds[p] == best[0] and best[1] is not None
                                           and i > best[1])
        for k, (p, o, i) in enumerate(cands):
            if skipped(p, i):
                continue
            key = ("cycles", plans[p], PROGRAM_ORDERS[o], lut)  # (the data do not matter)
            if self.predictor is not None and not self._known(key):
                self._prefetch([(("cycles", plans[q], PROGRAM_ORDERS[r], lut),
                                 ("linear", plans[q], PROGRAM_ORDERS[r], lut, zero_point))
                                for q, r, j in cands[k:] if not skipped(q, j)]
                               [:self.predictor.workers])
            cycles = self._predicted(
                key, lambda p=p, o=o: self._linear_program(plans[p], PROGRAM_ORDERS[o], table,
                                                           zero_point).program)
            if cycles < best[0] or (cycles == best[0] and (best[1] is None or i < best[1])):
                best = (cycles, i)
        return best if best[1] is not None else (math.inf, None)

    def predict_taps(self, plan, *, lut=False, limit=None, zero_point=0):
        """Cycles the per-tap program of ``plan`` (:class:`~.taps.TapPlan`) takes on the cycle
        model in the faster of :data:`PROGRAM_ORDERS` (``math.inf`` when the program does not
        fit the memory). With ``limit``, a program whose lower bound exceeds it is not
        predicted (``math.inf``): exact whenever at most ``limit``. ``zero_point``: as
        :meth:`predict_linear`'s."""
        return min(self._predict_taps(plan, lut, order, limit, zero_point)
                   for order in PROGRAM_ORDERS)

    def _predict_taps(self, plan, lut, order, limit=None, zero_point=0):
        # (whether the program fits depends on the target's memory: part of the key)
        key = ("taps", plan, bool(lut), order, self.transport.mem_size)
        known = self._choices.get(key)
        if known is None and self.plan_cache is not None:
            known = self.plan_cache.get(key, self.latency)
        if known is not None:
            self._choices[key] = known
            return known
        if limit is not None and plan.lower_bound() > limit:
            return math.inf  # (not exact: not remembered)
        table = np.zeros(256, np.int8) if lut else None
        program = self._taps_program(plan, order, table, zero_point).program
        if program.end > self.transport.mem_size:
            self._choices[key] = math.inf
            if self.plan_cache is not None:
                self.plan_cache.put(key, self.latency, math.inf)
            return math.inf
        if limit is not None and program.lower_bound() > limit:
            return math.inf  # (not exact: not remembered)
        return self._predicted(key, lambda: program)

    def run_taps(self, plan, x, w, b, params, zero_point, lut=None, *, pad_value=0):
        """Run a convolution as a per-tap program (:mod:`.taps`) of ``plan``. ``b``: int32
        [cout] with the input zero point folded in, or None; ``params``: uint32 [2, cout] or
        None; the padding holds ``pad_value``. Returns [n, cout, Ho, Wo] and sets
        :attr:`stats`, :attr:`plan` and :attr:`path`."""
        need = {Feature.BIAS: b is not None, Feature.REQUANT: params is not None,
                Feature.RELU: plan.relu, Feature.LUT: lut is not None}
        for feature, needed in need.items():
            if needed and feature not in self.features:
                raise AcceleratorError(f"this accelerator lacks Feature.{feature.name}")
        table = self._table_to_load(lut)
        best = (math.inf, PROGRAM_ORDERS[0])
        for order in PROGRAM_ORDERS:  # the first fastest (a slower order's bound may skip it)
            cycles = self._predict_taps(plan, lut is not None, order, best[0], zero_point)
            best = (cycles, order) if cycles < best[0] else best
        order = best[1]
        compiled = self._taps_program(plan, order, table, zero_point).bind(
            x, w, b, params, pad_value)
        raw = self._run_with_lut(compiled.program, lut, f"per-tap conv {x.shape} * {w.shape}")
        self.path, self.plan = "program", plan
        return compiled.results(raw["y"])

    # --- programs -------------------------------------------------------------------------------

    def run_program(self, program: Program, max_cycles=None, *, what="program"):
        """Run ``program``: write its image into the memory (one bulk write), set PROG_ADDR and
        PROG_LEN, ring DOORBELL, wait for the interrupt, check STATUS, then read its output
        regions back (one bulk read each). Sets :attr:`stats` (``commands``: 1, the doorbell).

        Parameters
        ----------
        program : Program
        max_cycles : int, optional
            Give up after this many cycles (default :meth:`Program.cycle_bound`).
        what : str
            Names the program in error messages.

        Returns
        -------
        dict of str -> bytes
            Each output region's bytes.

        Raises
        ------
        AcceleratorError
            If the program stops with an error (the message names the ErrorCode, PROG_PC, the
            instruction and what is allowed), or does not finish within ``max_cycles`` (the
            driver then soft-resets the accelerator), or does not fit the memory.
        """
        if not isinstance(program, Program):
            raise TypeError(f"program must be a Program, got {type(program).__name__}")
        if program.geometry != self.geometry:
            raise ValueError(f"the program is for {program.geometry}, the accelerator is "
                             f"{self.geometry}")
        mem = self.transport.mem_size
        if program.end > mem:
            raise AcceleratorError(f"{what} needs memory up to byte {program.end}; the memory "
                                   f"behind the accelerator holds {mem} bytes")
        if max_cycles is None:
            max_cycles = program.cycle_bound(self.latency)
        self.transport.mem_write(program.base, program.image())
        self.begin_measure()
        self.write_words(_PROG[0].offset, [program.code_addr, len(program),
                                           _PROG[2].pack(RUN=1)])
        if not self.transport.wait_irq(max_cycles):
            status = _STATUS.unpack(self._read_reg("STATUS"))
            pc = self._read_reg("PROG_PC")
            self.reset()
            raise AcceleratorError(f"{what} did not finish within {max_cycles} cycles (STATUS = "
                                   f"{status}, PROG_PC = {pc}); the driver soft-reset the "
                                   "accelerator")
        status = _STATUS.unpack(self._read_reg("STATUS"))
        if status["ERROR"] != ErrorCode.NONE.value:
            self._program_error(program, status["ERROR"], what)
        self.write_words(_STATUS.offset, [_STATUS.pack(DONE=1)])
        self.stats = self.end_measure(commands=1)
        return {r.name: self.transport.mem_read(r.addr, r.nbytes)
                for r in program.regions.values() if r.output}

    def _program_error(self, program, code, what):
        pc = self._read_reg("PROG_PC")
        self.write_words(_STATUS.offset, [_STATUS.pack(DONE=1)])
        try:
            code = ErrorCode(code)
        except ValueError:
            raise AcceleratorError(f"{what} stopped with an unknown ErrorCode {code} at "
                                   f"instruction {pc}") from None
        instr = program.decoded(pc) if pc < len(program) else None
        if code == ErrorCode.PROG_LEN:
            where = f"PROG_LEN = {len(program)} instructions ran without an END"
        else:
            where = f"instruction {pc}: {describe(instr)}"
        if code in (ErrorCode.MEM_READ, ErrorCode.MEM_WRITE):
            where += f"; MEM_ERROR_ADDR = 0x{self._read_reg('MEM_ERROR_ADDR'):X}"
        allowed = explain(code, instr, self.geometry, self.transport.mem_size)
        raise AcceleratorError(f"{what} stopped: ErrorCode.{code.name} at PROG_PC = {pc} "
                               f"({where}); allowed: {allowed}")

    def _load_lut(self, lut):
        """Write the lookup table (64 words) unless the device already holds this one."""
        table = np.ascontiguousarray(lut, dtype=np.int8)
        if self._lut is not None and np.array_equal(self._lut, table):
            return
        self.write_words(self.geometry.lut_addr(0), table.view("<u4").tolist())
        self._lut = table.copy()

    def _run(self, plan: Plan, x, w, b, params, zero_point):
        self.begin_measure()  # (a LUT load just before is not counted)
        y = np.empty((plan.m // plan.pool, plan.n), dtype=np.int8 if plan.int8 else np.int32)
        steps = plan.iter_steps()  # lazily: memory does not grow with the layer
        s, prefetched = next(steps), False
        while s is not None:
            if s.load_weights and not prefetched:
                self._write_weights(s, w)
            for kt, vector in s.load_inputs:
                self._write_inputs(s, x, kt, vector)
            if s.load_params:
                self._write_params(s, b, params)
            self._start(s, zero_point)
            nxt = next(steps, None)
            prefetched = nxt is not None and nxt.load_weights and nxt.bank != s.bank
            if prefetched:
                self._write_weights(nxt, w)  # double buffering: the other bank, while busy
            self.finish_command(s.count, f"command {s.index}", s)
            if s.read_back:
                o0 = s.m0 // s.pool
                y[o0:o0 + s.out_rows, s.n0:s.n0 + s.cols] = self._read_results(s, plan.int8)
            s = nxt
        self.stats = self.end_measure(commands=plan.commands)
        return y

    # --- measuring and commands (also for benches that issue commands themselves) ---------------

    def begin_measure(self):
        """Zero the PERF_* counters and the driver's bus word counts."""
        self.write_words(_CTRL.offset, [_IRQ_EN | _CTRL.pack(CLEAR_COUNTERS=1)])
        self._written = self._read_words = 0
        self._cmd_cache = None

    def end_measure(self, commands):
        """The :class:`Stats` since :meth:`begin_measure` (``commands`` as the caller counts)."""
        written, read = self._written, self._read_words
        perf = self.read_words(_PERF[0].offset, len(_PERF))
        counters = {_PERF_STATS[r.name]: v for r, v in zip(_PERF, perf, strict=True)}
        return Stats(**counters, commands=commands, bus_words_written=written,
                     bus_words_read=read, cells=self.geometry.cells)

    def start_command(self, values):
        """Write the CMD_* registers (``values`` by register name; missing ones 0, CMD_POOL 1,
        CMD_FLAGS a word) and CTRL.START. Only the span of words that changed since the last
        command is rewritten: registers keep their values."""
        values = {"CMD_OP": Opcode.VMM.value, "CMD_POOL": 1} | values
        words = [values.get(r.name, 0) if r is _FLAGS else r.pack(VALUE=values.get(r.name, 0))
                 for r in _CMD]
        old = self._cmd_cache or [None] * len(words)
        changed = [i for i, (a, o) in enumerate(zip(words, old, strict=True)) if a != o]
        if changed:
            lo, hi = changed[0], changed[-1] + 1
            self.write_words(_CMD[lo].offset, words[lo:hi])
        self._cmd_cache = words
        self.write_words(_CTRL.offset, [_IRQ_EN | _CTRL.pack(START=1)])

    def finish_command(self, count, what="command", detail=None):
        """Wait for the interrupt of a command of ``count`` vectors, check STATUS.ERROR and clear
        DONE. AcceleratorError (naming ``what``, then ``detail``) if it was rejected or did not
        finish; the wait allows 100 cycles per vector and latency cycle, plus 1000."""
        timeout = 100 * (count + self.latency) + 1000
        if not self.transport.wait_irq(timeout):
            status = _STATUS.unpack(self._read_reg("STATUS"))
            raise AcceleratorError(f"{what} did not finish within {timeout} cycles; "
                                   f"STATUS = {status}")
        status = _STATUS.unpack(self._read_reg("STATUS"))
        if status["ERROR"] != ErrorCode.NONE.value:
            codes = {e.value: e.name for e in ErrorCode}
            name = codes.get(status["ERROR"], f"<unknown {status['ERROR']}>")
            raise AcceleratorError(f"{what} was rejected: ErrorCode.{name}"
                                   + (f" ({detail})" if detail else ""))
        self.write_words(_STATUS.offset, [_STATUS.pack(DONE=1)])

    # --- data movement --------------------------------------------------------------------------

    def _row_words(self, rows):
        """Words written per weight column / input vector: with ROW_MASK only the used ones."""
        return words_for(rows) if Feature.ROW_MASK in self.features else self.geometry.row_words

    def _write_rows(self, addr_of, words):
        """Write rows of words at ``addr_of(i)``: one block when they are contiguous."""
        if words.shape[1] == self.geometry.row_words_p2:
            self.write_words(addr_of(0), words.ravel())
        else:
            for i, row in enumerate(words):
                self.write_words(addr_of(i), row)

    def _write_weights(self, s: Step, w):
        tile = w[s.n0:s.n0 + s.cols, s.k0:s.k0 + s.rows]
        words = pack_int8(tile, self._row_words(s.rows))
        self._write_rows(lambda c: self.geometry.weight_addr(s.bank, c), words)

    def _write_inputs(self, s: Step, x, kt, vector):
        k0 = kt * self.geometry.rows
        rows = min(self.geometry.rows, x.shape[1] - k0)
        words = pack_int8(x[s.m0:s.m0 + s.count, k0:k0 + rows], self._row_words(rows))
        self._write_rows(lambda v: self.geometry.in_addr(vector + v), words)

    def _write_params(self, s: Step, b, params):
        fields = []
        if b is not None:
            fields.append(b[s.n0:s.n0 + s.cols].view(np.uint32))
        if params is not None:
            fields += [params[0, s.n0:s.n0 + s.cols], params[1, s.n0:s.n0 + s.cols]]
        first = "BIAS" if b is not None else "MULT"
        words = np.stack(fields, axis=1)
        for c in range(s.cols):
            self.write_words(self.geometry.param_addr(c, first), words[c])

    def _read_results(self, s: Step, int8):
        g = self.geometry
        if int8:
            used, stride, addr = words_for(s.cols), g.col_words_p2, g.out_addr
        else:
            used, stride, addr = s.cols, g.cols_p2, g.acc_addr
        rows = s.out_rows if int8 else s.count
        if used == stride:
            words = self.read_words(addr(0), rows * used)
        else:
            words = [v for r in range(rows) for v in self.read_words(addr(r), used)]
        words = np.array(words, dtype="<u4").reshape(rows, used)
        return unpack_int8(words, s.cols) if int8 else words.view("<i4").astype(np.int32)

    # --- commands -------------------------------------------------------------------------------

    def _start(self, s: Step, zero_point):
        flags = _FLAGS.pack(ACCUMULATE=s.accumulate, BIAS=s.bias, REQUANT=s.requant, RELU=s.relu,
                            LUT=s.lut)
        self.start_command({"CMD_FLAGS": flags, "CMD_BANK": s.bank, "CMD_IN_ADDR": s.in_addr,
                            "CMD_COUNT": s.count, "CMD_ROWS": s.rows, "CMD_COLS": s.cols,
                            "CMD_OUT_ZP": zero_point, "CMD_POOL": s.pool})

    # --- bus ------------------------------------------------------------------------------------

    def read_words(self, addr, count):
        """Read ``count`` words at byte address ``addr`` (counted in :attr:`stats`)."""
        self._read_words += count
        return self.transport.read(addr, count)

    def write_words(self, addr, words):
        """Write words from byte address ``addr`` on (counted in :attr:`stats`)."""
        self._written += len(words)
        self.transport.write(addr, words)


    def _read_reg(self, name):
        return self.read_words(register(name).offset, 1)[0]
