"""Programs for the accelerator's instruction stream (``hw/spec/isa.py``): a builder with its
memory layout, the compiler of a tiling :class:`~sw.driver.tiling.Plan` into one program, and
the words that explain a program's error.

A :class:`Program` holds instructions (``hw.spec.isa`` classes) and the memory regions they
read and write, allocated upwards from ``base``, each aligned to :data:`ALIGN` bytes (and to a
beat of the memory port); the instructions follow the last region. ``Driver.run_program`` writes
:meth:`Program.image` into the memory in one bulk write, rings the doorbell and reads the output
regions back.

:func:`compile_plan` turns a ``linear`` plan into a program (see its docstring for the order of
the instructions and why).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from hw.spec import ErrorCode, Geometry, isa, register, timing

from .packing import pack_int8
from .tiling import Plan

__all__ = ["ALIGN", "CompiledLinear", "Job", "Program", "Region", "compile_plan", "compile_plans",
           "describe", "explain", "floor_cycles", "plan_lower_bound"]

_FLAGS = register("CMD_FLAGS")
#: the least alignment of a region in memory, in bytes (also at least one beat of the port)
ALIGN = 64


def _round_up(n, to):
    return -(-n // to) * to


@dataclass(frozen=True)
class Region:
    """Bytes [addr, addr + nbytes) of memory; ``output``: read back after the run."""
    name: str
    addr: int
    nbytes: int
    output: bool = False


class Program:
    """A program for an accelerator of ``geometry`` and the memory it uses from ``base`` on.

    Parameters
    ----------
    geometry : Geometry
    base : int
        First byte of memory the program may use (a multiple of :attr:`align`).

    Members
    -------
    instructions : list
        ``isa.Instr`` objects, or 4-tuples of raw 32-bit words (for tests of bad instructions).
    regions : dict of str -> Region
        In allocation order.
    align : int
        ``max(ALIGN, geometry.mem_bytes)``.
    """

    def __init__(self, geometry: Geometry, base=0):
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, got {type(geometry).__name__}")
        self.geometry = geometry
        self.align = max(ALIGN, geometry.mem_bytes)
        if not isinstance(base, int) or base < 0 or base % self.align:
            raise ValueError(f"base must be an int >= 0 and a multiple of {self.align}, "
                             f"got {base!r}")
        self.base = base
        self.instructions = []
        self._words = []  # the encoded instructions
        self.regions = {}
        self._fill = {}
        self._top = base

    # --- memory ---------------------------------------------------------------------------------

    def reserve(self, name, nbytes, *, fill=None, output=False) -> int:
        """Allocate ``nbytes`` (aligned) and return the address. ``fill()`` gives the bytes to
        write there before the run (called by :meth:`image`; None: zeros); ``output``: read the
        region back after the run."""
        if name in self.regions:
            raise ValueError(f"region {name!r} exists already")
        if not isinstance(nbytes, int) or nbytes < 1:
            raise ValueError(f"region {name!r}: nbytes must be an int >= 1, got {nbytes!r}")
        addr = self._top
        self.regions[name] = Region(name, addr, nbytes, output)
        if fill is not None:
            self._fill[name] = fill
        self._top = _round_up(addr + nbytes, self.align)
        return addr

    def data(self, name, data) -> int:
        """Allocate a region holding ``data`` (bytes, or a NumPy array's bytes); its address."""
        raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
        return self.reserve(name, len(raw), fill=lambda: raw)

    def output(self, name, nbytes) -> int:
        """Allocate a region to read back after the run; its address."""
        return self.reserve(name, nbytes, output=True)

    @property
    def code_addr(self):
        """PROG_ADDR: the instructions follow the regions."""
        return self._top

    @property
    def end(self):
        """The first byte past the program."""
        return self.code_addr + isa.INSTR_BYTES * len(self.instructions)

    @property
    def size(self):
        """Bytes of memory the program uses from :attr:`base`."""
        return self.end - self.base

    def fill_bytes(self, name) -> bytes:
        """The bytes region ``name`` is filled with (zeros when it has no fill)."""
        fill = self._fill.get(name)
        return fill() if fill is not None else bytes(self.regions[name].nbytes)

    def copy_layout(self, geometry=None) -> Program:
        """A program with this one's regions (and fills) and no instructions, for ``geometry``
        (default this one's: e.g. the accelerator's, for a program compiled on fewer banks)."""
        out = Program(self.geometry if geometry is None else geometry, self.base)
        out.regions, out._fill, out._top = dict(self.regions), dict(self._fill), self._top
        return out

    def image(self) -> bytes:
        """The bytes from :attr:`base` to :attr:`end`: the regions (zeros where nothing is
        filled in) and the instructions."""
        out = bytearray(self.size)
        for name, fill in self._fill.items():
            r = self.regions[name]
            raw = fill()
            if len(raw) != r.nbytes:
                raise ValueError(f"region {name!r} is {r.nbytes} bytes, its fill gave {len(raw)}")
            out[r.addr - self.base:r.addr - self.base + r.nbytes] = raw
        out[self.code_addr - self.base:] = self.to_bytes()
        return bytes(out)

    # --- instructions ---------------------------------------------------------------------------

    def append(self, instr) -> int:
        """Append an instruction (an ``isa.Instr``, or four raw words); its index. Fields that do
        not fit raise ValueError here; whether the accelerator accepts it is its own check."""
        if isinstance(instr, isa.Instr):
            words = isa.encode(instr)
        else:
            words = tuple(int(w) for w in instr)
            if len(words) != isa.INSTR_WORDS or not all(0 <= w <= 0xFFFF_FFFF for w in words):
                raise ValueError(f"an instruction is an isa.Instr or {isa.INSTR_WORDS} 32-bit "
                                 f"words, got {instr!r}")
            instr = words
        self.instructions.append(instr)
        self._words.append(words)
        return len(self.instructions) - 1

    def load(self, window, first, count, mem_addr) -> int:
        return self.append(isa.Load(int(window), first, count, mem_addr))

    def store(self, window, first, count, mem_addr) -> int:
        return self.append(isa.Store(int(window), first, count, mem_addr))

    def vmm(self, **fields) -> int:
        return self.append(isa.Vmm(**fields))

    def fence(self) -> int:
        return self.append(isa.Fence())

    def end_program(self) -> int:
        """Append END."""
        return self.append(isa.End())

    def to_bytes(self) -> bytes:
        """The instructions as the accelerator fetches them."""
        return np.array(self._words, dtype="<u4").reshape(-1).tobytes()

    def decoded_by_words(self):
        """{the four words of an instruction: the instruction} for the program's isa.Instr s."""
        return {w: i for w, i in zip(self._words, self.instructions, strict=True)
                if isinstance(i, isa.Instr)}

    def decoded(self, index):
        """Instruction ``index`` as the accelerator decodes it (None: not an instruction)."""
        return isa.decode(self._words[index])

    def cycle_bound(self, latency):
        """A generous bound on the cycles the program needs (the driver's timeout): every
        instruction serialized, 100 cycles per vector, beat and unit, plus 1000."""
        g, total = self.geometry, 1000
        for i in self.instructions:
            total += 100
            if isinstance(i, isa.Vmm):
                total += 100 * timing.busy_cycles(i.count, latency)
            elif isinstance(i, isa.Load | isa.Store) and i.window in set(isa.Window):
                total += 100 * (i.count + isa.transfer_bytes(i, g) // g.mem_bytes)
        return total

    def lower_bound(self):
        """Cycles the program needs at least, on any timing: the compute unit issues one vector a
        cycle (every VMM's COUNT, one after another) and the memory port moves a beat a cycle
        each way (reads: every LOAD row and the instructions' fetch; writes: every STORE).
        The driver skips predicting a program on the cycle model when this exceeds the best
        prediction it has (:func:`floor_cycles`)."""
        g = self.geometry
        vectors, read, written = 0, isa.INSTR_BYTES * len(self.instructions), 0
        for i in self.instructions:
            if isinstance(i, isa.Vmm):
                vectors += i.count
            elif isinstance(i, isa.Load):
                read += isa.transfer_bytes(i, g) * max(1, getattr(i, "rows", 1))
            elif isinstance(i, isa.Store):
                written += isa.transfer_bytes(i, g)
        return floor_cycles(g, vectors, read, written)

    def __len__(self):
        return len(self.instructions)

    def __repr__(self):
        return (f"Program({len(self)} instructions at 0x{self.code_addr:X}, "
                f"{len(self.regions)} regions, {self.size} bytes from 0x{self.base:X})")


def describe(instr) -> str:
    """An instruction as text (None: undecodable words)."""
    if instr is None:
        return "not an instruction"
    if isinstance(instr, isa.Load | isa.Store):
        try:
            window = isa.Window(instr.window).name
        except ValueError:
            window = f"<window {instr.window}>"
        text = (f"{type(instr).__name__.upper()} {window} FIRST={instr.first} "
                f"COUNT={instr.count} MEM_ADDR=0x{instr.mem_addr:X}")
        if getattr(instr, "rows", 0) > 1:
            text += f" ROWS={instr.rows} SKIP={instr.skip} PITCH=0x{instr.pitch:X}"
        return text
    if isinstance(instr, isa.Vmm):
        return (f"VMM BANK={instr.bank} IN_ADDR={instr.in_addr} ACC_ADDR={instr.acc_addr} "
                f"OUT_ADDR={instr.out_addr} COUNT={instr.count} ROWS={instr.rows} "
                f"COLS={instr.cols} POOL={instr.pool} FLAGS=0x{instr.flags:02X} "
                f"OUT_ZP={instr.out_zp}")
    return type(instr).__name__.upper()


def explain(code: ErrorCode, instr, g: Geometry, mem_size=None) -> str:
    """What ``code`` needs of ``instr`` to be allowed on an accelerator of geometry ``g``."""
    window = getattr(instr, "window", None)
    units = isa.units(window, g) if window in set(isa.Window) else None
    name = isa.Window(window).name if units is not None else window
    memory = f" (the memory holds {mem_size} bytes)" if mem_size is not None else ""
    text = {
        ErrorCode.BAD_INSTR: "an instruction is END, LOAD, STORE, VMM or FENCE (op 0..4) with "
                             "every reserved bit 0",
        ErrorCode.BAD_WINDOW: "LOAD into LUT, PARAM, WEIGHT or IN; STORE from ACC or OUT",
        ErrorCode.WINDOW_RANGE: f"COUNT >= 1 and FIRST + (ROWS - 1) * SKIP + COUNT <= {units} "
                                f"(the units of {name})",
        ErrorCode.MEM_ALIGN: f"MEM_ADDR, PITCH and PROG_ADDR multiples of {g.mem_bytes} bytes "
                             "(CFG_MEM_BITS / 8)",
        ErrorCode.MEM_RANGE: "MEM_ADDR + (ROWS - 1) * PITCH + the row's bytes <= 2**32 (the "
                             "32-bit address space)",
        ErrorCode.MEM_READ: f"every burst read from memory answered OKAY{memory}",
        ErrorCode.MEM_WRITE: f"every burst written to memory answered OKAY{memory}",
        ErrorCode.PROG_LEN: "PROG_LEN >= 1 and an END within PROG_LEN instructions",
        ErrorCode.BAD_OPCODE: "CMD_OP is NOP or VMM",
        ErrorCode.BAD_BANK: f"BANK < {g.banks}",
        ErrorCode.BAD_COUNT: "COUNT >= 1",
        ErrorCode.IN_RANGE: f"IN_ADDR + COUNT <= {g.in_depth}",
        ErrorCode.ACC_RANGE: f"ACC_ADDR + COUNT <= {g.acc_depth}",
        ErrorCode.OUT_RANGE: f"with REQUANT, OUT_ADDR + COUNT / POOL <= {g.out_depth}",
        ErrorCode.BAD_ROWS: f"1 <= ROWS <= {g.rows}",
        ErrorCode.BAD_COLS: f"1 <= COLS <= {g.cols}",
        ErrorCode.BAD_POOL: "POOL >= 1, POOL == 1 without REQUANT, and POOL divides COUNT",
    }
    return text.get(code, "")


def floor_cycles(g: Geometry, vectors, read_bytes, written_bytes):
    """The least cycles of a program that issues ``vectors`` vectors, reads ``read_bytes`` and
    writes ``written_bytes`` of memory (whole beats): one vector and one beat each way a
    cycle."""
    return max(vectors, -(-read_bytes // g.mem_bytes), -(-written_bytes // g.mem_bytes))


def plan_lower_bound(plan: Plan, lut=False) -> int:
    """:meth:`Program.lower_bound` of ``plan``'s program (:func:`compile_plan`, any order, with
    a LUT load when ``lut``) without compiling it: the same vectors, LOAD and STORE bytes and
    instructions, counted in closed form from the plan's shape (as :meth:`Plan.iter_steps`
    walks it)."""
    g = plan.geometry

    def beats(window, count):
        n = count * isa.unit_bytes(window, g)
        return -(-n // g.mem_bytes) * g.mem_bytes

    out = isa.Window.OUT if plan.int8 else isa.Window.ACC
    kts, nts, chunk = plan.k_tiles, plan.n_tiles, plan.m_chunk
    counts = [chunk] * (plan.m // chunk) + ([plan.m % chunk] if plan.m % chunk else [])
    tile_cols = [min(g.cols, plan.n - nt * g.cols) for nt in range(nts)]
    weights = kts * sum(beats(isa.Window.WEIGHT, c) for c in tile_cols)  # one set of tiles
    params = sum(beats(isa.Window.PARAM, 4 * c) for c in tile_cols)      # one set of N tiles
    read = beats(isa.Window.LUT, isa.units(isa.Window.LUT, g)) if lut else 0
    instructions = 1 + bool(lut)  # END (and the LUT's LOAD)
    written = 0
    for count in counts:
        steps = nts * kts
        instructions += 2 * steps + nts  # VMMs, weight LOADs (as if streamed), STOREs
        if plan.resident_inputs:
            read += kts * beats(isa.Window.IN, count)
            instructions += kts
        else:
            read += steps * beats(isa.Window.IN, count)
            instructions += steps
        written += nts * beats(out, count // plan.pool if plan.int8 else count)
    read += weights * (1 if plan.resident_weights else len(counts))
    if plan.resident_weights:  # loaded with the first chunk only
        instructions -= (len(counts) - 1) * nts * kts
    if plan.bias or plan.int8:  # PARAM with each N tile, once when there is one N tile
        loads = 1 if nts == 1 else len(counts) * nts
        instructions += loads
        read += params * (1 if nts == 1 else len(counts))
    vectors = plan.m * kts * nts
    return floor_cycles(g, vectors, read + isa.INSTR_BYTES * instructions, written)


# --- linear layers --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledLinear:
    """A ``linear`` plan as a program, and where its results land.

    Members
    -------
    program : Program
        The program (shared by every job of :func:`compile_plans`).
    plan : Plan
    tiles : tuple of (o0, n0, rows, cols, offset)
        Each stored tile: result rows ``o0 ..``, columns ``n0 ..``; ``offset`` into the output
        region ``region``, in OUT (int8) or ACC (int32) unit layout.
    region : str
        The output region's name.
    """
    program: Program
    plan: Plan
    tiles: tuple
    region: str = "y"
    #: the arrays the program's regions are filled from (``x``, ``w``, ``b``, ``params``)
    source: object = None

    def bind(self, x, w, b, params):
        """Fill the program's regions from these arrays from now on (a program compiled once,
        for timing, runs on any data of its shape); returns self. Every job of
        :func:`compile_plans` binds its own."""
        self.source.x, self.source.w, self.source.b, self.source.params = x, w, b, params
        return self

    def results(self, raw: bytes):
        """The layer's result from the bytes of its output region."""
        plan, g = self.plan, self.plan.geometry
        y = np.empty((plan.m // plan.pool, plan.n), dtype=np.int8 if plan.int8 else np.int32)
        window = isa.Window.OUT if plan.int8 else isa.Window.ACC
        unit = isa.unit_bytes(window, g)
        for o0, n0, rows, cols, offset in self.tiles:
            block = np.frombuffer(raw, dtype=np.uint8, count=rows * unit, offset=offset)
            if plan.int8:
                y[o0:o0 + rows, n0:n0 + cols] = block.view(np.int8).reshape(rows, -1)[:, :cols]
            else:
                y[o0:o0 + rows, n0:n0 + cols] = block.view("<i4").reshape(rows, -1)[:, :cols]
        return y


@dataclass(frozen=True)
class Job:
    """One ``linear`` call of :func:`compile_plans`: its plan and arguments (as
    :func:`compile_plan`)."""
    plan: Plan
    x: object
    w: object
    b: object
    params: object
    zero_point: int


#: the orders :func:`compile_plan` can emit (the default is the fastest on the cycle model)
ORDERS = ("sequential", "prefetch", "late_store", "lookahead")


def compile_plan(plan: Plan, x, w, b, params, zero_point, lut=None, *, base=0,
                 order="late_store", double_buffer=True) -> CompiledLinear:
    """The program of one ``linear`` call: ``plan`` on ``x``, ``w``, ``b`` (folded),
    ``params`` (MULT, SHIFT as uint32 [2, N], or None), the output ``zero_point`` and, when not
    None, the lookup table ``lut`` (loaded first).

    Memory: an image per weight tile (its ``cols`` units in the WEIGHT layout), per chunk and K
    tile of x (``count`` units in the IN layout), per N tile of PARAM (4 words per column:
    BIAS, MULT, SHIFT, 0), and one output region ``"y"`` of the stored tiles.

    Each step of the plan is a VMM with, before it, its LOADs (the weight tile into its bank,
    the K tile of x when the chunk first uses it, or every step when the inputs are not
    resident, PARAM when an N tile starts) and, after it when it completes a tile, a STORE of
    OUT (int8) or ACC (int32). With ``double_buffer``, consecutive tiles alternate between two
    halves of ACC and OUT, consecutive chunks (or steps, when inputs are not resident) between
    two halves of IN, whenever two fit, so a STORE or a LOAD does not wait for the VMM next to
    it. ``order``:

    * ``"sequential"``: each step's LOADs, its VMM, its STORE;
    * ``"prefetch"``: after each VMM, the next step's LOADs that do not conflict with it (the
      weights into the other bank, inputs into the other half), then its STORE, then the LOADs
      that must wait for it (PARAM);
    * ``"late_store"``: as ``"prefetch"``, with each STORE moved after the next VMM when the
      two do not conflict, so the dispatcher never waits for a VMM to end before issuing
      the next one. Fastest on the register model's cycle model for most layers
      (:mod:`verif` measures all of them);
    * ``"lookahead"``: as ``"late_store"``, and the LOADs of the step after next go before
      the next VMM when they do not touch what it uses: when VMMs are short and LOADs long
      (one input row, a weight tile each), the next LOAD is then asked for while the current
      one streams, which hides the memory's latency. The driver tries it against
      ``"late_store"`` on the cycle model.
    """
    return compile_plans([Job(plan, x, w, b, params, zero_point)], lut, base=base, order=order,
                         double_buffer=double_buffer)[0]


def compile_plans(jobs, lut=None, *, base=0, order="late_store", double_buffer=True):
    """Several ``linear`` calls (:class:`Job` s, on one geometry) as one program, in order, each
    compiled as :func:`compile_plan` compiles one, with its regions named ``"<job>."`` ... and
    its output region ``"y<job>"`` (``"y"`` for a single job). The alternations (weight banks,
    the halves of IN, ACC and OUT) run on across the jobs, so one job's first LOADs and VMMs
    overlap the last STOREs of the one before. Returns one :class:`CompiledLinear` per job
    (sharing the program)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if not jobs:
        raise ValueError("compile_plans needs at least one job")
    g = jobs[0].plan.geometry
    p = Program(g, base)
    head = []
    if lut is not None:
        head.append(isa.Load(isa.Window.LUT, 0, isa.units(isa.Window.LUT, g),
                             p.data("lut", np.ascontiguousarray(lut, dtype=np.int8))))
    steps, outputs = [], []  # outputs: (job, region, tiles, stores [(step, window, ...)])
    counter = {"step": 0, "chunk": 0, "tile": 0}
    for j, job in enumerate(jobs):
        if job.plan.geometry != g:
            raise ValueError("every job of compile_plans must be for one geometry")
        name = "" if len(jobs) == 1 else f"{j}."
        outputs.append(_linear_steps(p, job, name, steps, counter, double_buffer))
    for region, _, stores, nbytes, _ in outputs:
        addr = p.output(region, nbytes)
        for at, (window, first, rows, offset) in stores:
            loads, vmm, _ = steps[at]
            steps[at] = (loads, vmm, isa.Store(window, first, rows, addr + offset))
    for instr in head + _order(steps, order, g):
        p.append(instr)
    p.end_program()
    return [CompiledLinear(p, job.plan, tiles, region, src)
            for job, (region, tiles, _, _, src) in zip(jobs, outputs, strict=True)]


def param_words(b, params, n0, cols):
    """PARAM's image for columns ``n0 ..`` (``cols`` of them): 4 words a column, BIAS (``b``,
    int32, or 0), MULT and SHIFT (``params`` uint32 [2, N], or 0), 0."""
    words = np.zeros((cols, 4), dtype="<u4")
    if b is not None:
        words[:, 0] = b[n0:n0 + cols].view(np.uint32)
    if params is not None:
        words[:, 1:3] = params[:, n0:n0 + cols].T
    return words.tobytes()


def _linear_steps(p, job, name, steps, counter, double_buffer):
    """Append the (loads, vmm, None) steps of one job to ``steps`` (regions reserved in ``p``
    with prefix ``name``); ``counter`` carries the step, chunk and tile alternations across
    jobs. Returns (output region, tiles, stores [(step index, (window, first, rows, offset))],
    output bytes, the data source the regions are filled from)."""
    plan, zero_point = job.plan, job.zero_point
    # the regions are filled from ``src`` when the image is made: CompiledLinear.bind rebinds it
    src = SimpleNamespace(x=job.x, w=job.w, b=job.b, params=job.params)
    g = plan.geometry
    chunk, kt_count, nt_count = plan.m_chunk, plan.k_tiles, plan.n_tiles
    in_span = kt_count * chunk if plan.resident_inputs else chunk
    out_rows = chunk // plan.pool
    halves = {  # where the second half starts (0: no double buffering)
        "in": in_span if double_buffer and 2 * in_span <= g.in_depth else 0,
        "acc": chunk if double_buffer and 2 * chunk <= g.acc_depth else 0,
        # a VMM's OUT range counts COUNT rows for its conflicts (isa.touches), not COUNT / POOL:
        # halves COUNT apart keep a pooled tile's VMM off the other half's STORE when they fit
        "out": 0 if not double_buffer else chunk if chunk + out_rows <= g.out_depth
        else out_rows if 2 * out_rows <= g.out_depth else 0,
    }
    rwp2 = g.row_words_p2
    unit_out = isa.unit_bytes(isa.Window.OUT if plan.int8 else isa.Window.ACC, g)

    def tile_image(n0, cols, k0, rows):
        return lambda: pack_int8(src.w[n0:n0 + cols, k0:k0 + rows], rwp2).tobytes()

    def input_image(m0, count, k0, rows):
        return lambda: pack_int8(src.x[m0:m0 + count, k0:k0 + rows], rwp2).tobytes()

    def param_image(n0, cols):
        return lambda: param_words(src.b, src.params, n0, cols)

    def region(key, nbytes, fill):
        key = name + key
        return p.regions[key].addr if key in p.regions else p.reserve(key, nbytes, fill=fill)

    out_bytes, tiles, stores, deferred = 0, [], [], {}
    first_chunk, first_tile, first_step = counter["chunk"], counter["tile"], counter["step"]
    for s in plan.iter_steps():
        c = first_chunk + s.m0 // chunk
        t = first_tile + (s.m0 // chunk) * nt_count + s.nt
        index = first_step + s.index
        bank = s.bank if plan.resident_weights else index % g.banks
        loads = []
        if s.load_weights:
            addr = region(f"w{s.nt}.{s.kt}", s.cols * 4 * rwp2,
                          tile_image(s.n0, s.cols, s.k0, s.rows))
            loads.append(isa.Load(isa.Window.WEIGHT, bank * g.cols_p2, s.cols, addr))
        if plan.resident_inputs:
            in_addr = (c % 2) * halves["in"] + s.in_addr
        else:
            in_addr = (index % 2) * halves["in"]
        if plan.resident_inputs:  # each K tile just before the chunk's first VMM that uses it
            deferred.update(s.load_inputs)
            inputs = [(s.kt, deferred.pop(s.kt))] if s.kt in deferred else []
        else:
            inputs = s.load_inputs
        for kt, _ in inputs:
            k0 = kt * g.rows
            rows = min(g.rows, plan.k - k0)
            addr = region(f"x{s.m0 // chunk}.{kt}", s.count * 4 * rwp2,
                          input_image(s.m0, s.count, k0, rows))
            first = (c % 2) * halves["in"] + kt * s.count if plan.resident_inputs else in_addr
            loads.append(isa.Load(isa.Window.IN, first, s.count, addr))
        if s.load_params:
            addr = region(f"p{s.nt}", 16 * s.cols, param_image(s.n0, s.cols))
            loads.append(isa.Load(isa.Window.PARAM, 0, 4 * s.cols, addr))
        acc_addr, out_addr = (t % 2) * halves["acc"], (t % 2) * halves["out"]
        flags = _FLAGS.pack(ACCUMULATE=s.accumulate, BIAS=s.bias, REQUANT=s.requant,
                            RELU=s.relu, LUT=s.lut)
        vmm = isa.Vmm(bank=bank, in_addr=in_addr, acc_addr=acc_addr, out_addr=out_addr,
                      count=s.count, rows=s.rows, cols=s.cols, pool=s.pool, flags=flags,
                      out_zp=zero_point)
        if s.read_back:
            rows = s.out_rows if plan.int8 else s.count
            window = isa.Window.OUT if plan.int8 else isa.Window.ACC
            first = out_addr if plan.int8 else acc_addr
            stores.append((len(steps), (window, first, rows, out_bytes)))
            tiles.append((s.m0 // plan.pool, s.n0, rows, s.cols, out_bytes))
            out_bytes += _round_up(rows * unit_out, p.align)
        steps.append((loads, vmm, None))
    counter["step"] = first_step + plan.commands
    counter["chunk"] = first_chunk + -(-plan.m // chunk)
    counter["tile"] = first_tile + -(-plan.m // chunk) * nt_count
    return ("y" if not name else f"y{name[:-1]}"), tuple(tiles), stores, out_bytes, src


def _order(steps, order, g):
    """The instructions of ``steps`` [(loads, vmm, store)] in ``order`` (see compile_plan)."""
    out = []
    if order == "sequential":
        for loads, vmm, store in steps:
            out += [*loads, vmm] + ([store] if store else [])
        return out
    ahead = 2 if order == "lookahead" else 1
    emitted = set()  # (step, load index)

    def emit(j, pick):
        for n, ld in enumerate(steps[j][0]):
            if (j, n) not in emitted and pick(ld):
                emitted.add((j, n))
                out.append(ld)

    late = None  # a STORE waiting to go after the next VMM
    for i, (_, vmm, store) in enumerate(steps):
        emit(i, lambda ld: True)  # whatever of its own loads is still missing
        out.append(vmm)
        if i + 1 < len(steps):
            emit(i + 1, lambda ld, vmm=vmm: not isa.conflicts(ld, vmm, g))
        if ahead > 1 and i + 2 < len(steps):
            # the step after next: before the next VMM (it must not touch what that one uses);
            # the dispatcher holds it until this VMM has ended if it touches this one's
            nxt = steps[i + 1][1]
            if not any((i + 1, n) not in emitted for n in range(len(steps[i + 1][0]))):
                emit(i + 2, lambda ld, nxt=nxt: not isa.conflicts(ld, nxt, g))
        if late is not None:  # (after the prefetches: the load unit is the busier one)
            out.append(late)
            late = None
        if store is not None:
            if (order in ("late_store", "lookahead") and i + 1 < len(steps)
                    and not isa.conflicts(store, steps[i + 1][1], g)):
                late = store
            else:
                out.append(store)
        if i + 1 < len(steps):
            emit(i + 1, lambda ld: True)  # those that must wait for this VMM
    if late is not None:
        out.append(late)
    return out
