"""Tiling of a fully connected layer onto the VMM array: a pure function, shapes in, plan out.

``y[M, N] = x[M, K] @ w[N, K].T`` is cut into ``KT = ceil(K/R)`` K tiles and
``NT = ceil(N/C)`` N tiles; the rows of x into chunks of at most ``m_chunk`` vectors (the
accumulators and, in int8 mode, the output buffer hold one chunk). Per chunk::

    for nt in range(NT):              # PARAM (bias, mult, shift) of the tile's columns
        for kt in range(KT):          # one VMM command: weight tile (nt, kt), count = chunk
            ...                       # ACCUMULATE for kt > 0, BIAS on kt == 0, REQUANT last
        read back ACC (int32) or OUT (int8) rows of the chunk, columns of tile nt

Inputs: when the chunk fits the input buffer as a whole (``m_chunk * KT <= in_depth``) it is
written once per chunk, K tile ``kt`` at vector ``kt * m_chunk`` (*resident* inputs); else each
command reloads its K tile at vector 0 (slower: x is written NT times).

Weights: with ``KT * NT <= banks`` every tile gets its own bank and is written once for the whole
layer (*resident* weights); otherwise command ``i`` uses bank ``i % banks`` (0, 1, 0, 1 ... with
two banks), so the next tile can be written while the current command runs (double buffering).

The chunk size is the largest that fits, unless a smaller chunk that keeps the inputs resident
moves fewer bus words (:meth:`Plan.cost`, the one cost model of the driver's traffic).
:func:`plan_options` also offers each chunk halved, so that two chunks fit the accumulators
and a program can store one while computing the next (the driver picks among them by the cycle
model when the layer runs as a program).
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.spec import Geometry, register, timing, words_for

__all__ = ["Cost", "Plan", "PlanError", "Step", "plan_linear", "plan_options"]

class PlanError(ValueError):
    """The layer cannot be tiled onto this geometry (a pooling group larger than the buffers);
    the arguments themselves are valid."""


#: the largest CMD_COUNT the register can hold
MAX_COUNT = (1 << register("CMD_COUNT").field("VALUE").width) - 1


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class Step:
    """One VMM command and the data movement around it.

    Members
    -------
    index : int
        Position in the plan (the bank alternation follows it).
    m0, count : int
        Rows ``m0 .. m0+count-1`` of x; accumulator and output rows ``0 .. count-1``.
    nt, n0, cols : int
        N tile: weight rows / output columns ``n0 .. n0+cols-1`` on array columns ``0 .. cols-1``.
    kt, k0, rows : int
        K tile: x columns / weight columns ``k0 .. k0+rows-1`` on array rows ``0 .. rows-1``.
    bank, in_addr : int
        CMD_BANK and CMD_IN_ADDR.
    accumulate, bias, requant, relu, lut : bool
        CMD_FLAGS.
    pool : int
        CMD_POOL (1 unless this command requantizes a pooled layer).
    load_weights : bool
        Weight tile (nt, kt) must be in ``bank`` before the command starts.
    load_params : bool
        PARAM of columns ``n0 ..`` must be written before the command starts.
    load_inputs : tuple of (kt, vector)
        K tiles of ``x[m0:m0+count]`` to write to the input buffer (at that vector) first.
    read_back : bool
        The command completes tile (chunk, nt): read the results afterwards.
    """
    index: int
    m0: int
    count: int
    nt: int
    n0: int
    cols: int
    kt: int
    k0: int
    rows: int
    bank: int
    in_addr: int
    accumulate: bool
    bias: bool
    requant: bool
    relu: bool
    load_weights: bool
    load_params: bool
    load_inputs: tuple[tuple[int, int], ...]
    read_back: bool
    lut: bool = False
    pool: int = 1

    @property
    def macs(self):
        return self.count * self.rows * self.cols

    @property
    def out_rows(self):
        """Output-buffer rows the command writes (with REQUANT)."""
        return self.count // self.pool


@dataclass(frozen=True)
class Cost:
    """What a plan costs: the array's busy cycles and the bus words the driver moves.

    Members
    -------
    busy_cycles : int
        Sum of :func:`hw.spec.timing.busy_cycles` over the commands (PERF_BUSY).
    weights, inputs, params, commands, results : int
        32-bit bus words by kind; ``commands`` counts :data:`hw.spec.timing.COMMAND_WORDS` per
        command (an upper bound: the driver skips CMD_* words that did not change).
    """
    busy_cycles: int
    weights: int
    inputs: int
    params: int
    commands: int
    results: int

    @property
    def words(self):
        return self.weights + self.inputs + self.params + self.commands + self.results


@dataclass(frozen=True)
class Plan:
    """How one ``linear`` call runs: see the module docstring.

    The steps are produced lazily (:meth:`iter_steps`), so a plan takes the same memory for any
    layer size; :attr:`steps` materializes them (for inspection and tests).
    """
    m: int
    k: int
    n: int
    geometry: Geometry
    int8: bool
    bias: bool
    relu: bool
    pool: int
    k_tiles: int
    n_tiles: int
    m_chunk: int
    resident_inputs: bool
    resident_weights: bool
    lut: bool = False

    @property
    def macs(self):
        """Multiply-accumulates of the layer: every step's count * rows * cols."""
        return self.m * self.k * self.n

    @property
    def commands(self):
        return _ceil_div(self.m, self.m_chunk) * self.k_tiles * self.n_tiles

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self.iter_steps())

    def iter_steps(self):
        """The plan's :class:`Step` s in order, one at a time."""
        g, kt_count, nt_count = self.geometry, self.k_tiles, self.n_tiles
        int8, bias, pool, chunk = self.int8, self.bias, self.pool, self.m_chunk
        index, loaded_nt = 0, None
        for m0 in range(0, self.m, chunk):
            count = min(chunk, self.m - m0)
            for nt in range(nt_count):
                n0 = nt * g.cols
                for kt in range(kt_count):
                    k0 = kt * g.rows
                    last = kt == kt_count - 1
                    if self.resident_inputs:
                        in_addr = kt * count
                        loads = tuple((t, t * count) for t in range(kt_count)) \
                            if nt == 0 and kt == 0 else ()
                    else:
                        in_addr = 0
                        loads = ((kt, 0),)
                    tile = nt * kt_count + kt
                    yield Step(
                        index=index, m0=m0, count=count,
                        nt=nt, n0=n0, cols=min(g.cols, self.n - n0),
                        kt=kt, k0=k0, rows=min(g.rows, self.k - k0),
                        bank=tile if self.resident_weights else index % g.banks,
                        in_addr=in_addr, accumulate=kt > 0, bias=bias and kt == 0,
                        requant=int8 and last, relu=self.relu and last, lut=self.lut and last,
                        pool=pool if int8 and last else 1,
                        load_weights=not self.resident_weights or m0 == 0,
                        load_params=(bias or int8) and kt == 0 and loaded_nt != nt,
                        load_inputs=loads, read_back=last)
                    index += 1
                    if kt == 0 and (bias or int8):
                        loaded_nt = nt

    def cost(self, latency=None):
        """The plan's :class:`Cost` on an array of latency ``latency`` (CFG_LATENCY; default
        the one :func:`hw.spec.timing.array_latency` gives for the geometry)."""
        g = self.geometry
        latency = timing.array_latency(g.rows) if latency is None else latency
        busy = weights = inputs = params = results = 0
        for s in self.iter_steps():
            busy += timing.busy_cycles(s.count, latency, s.requant)
            inputs += len(s.load_inputs) * s.count * g.row_words
            weights += s.cols * g.row_words if s.load_weights else 0
            params += s.cols * (self.bias + 2 * self.int8) if s.load_params else 0
            if s.read_back:
                results += s.out_rows * words_for(s.cols) if self.int8 else s.count * s.cols
        return Cost(busy, weights, inputs, params, timing.COMMAND_WORDS * self.commands,
                    results)


def _chunk_options(m, kt, geometry, int8, pool):
    """(chunk, resident_inputs) candidates: the largest chunk that fits, and, if its inputs are
    not resident, the largest chunk whose inputs are."""
    cap = min(m, geometry.acc_depth, geometry.in_depth, MAX_COUNT)
    if int8:
        cap = min(cap, geometry.out_depth * pool)
    cap -= cap % pool  # a chunk holds whole pooling groups
    if cap < 1:
        most = min(geometry.acc_depth, geometry.in_depth)
        raise PlanError(f"pool={pool} needs chunks of {pool} rows, but the accumulators and "
                         f"input buffer hold at most {most}")
    options = [(cap, cap * kt <= geometry.in_depth)]
    resident = geometry.in_depth // kt
    resident -= resident % pool
    if not options[0][1] and resident >= 1:
        options.append((resident, True))
    return options


def _halved(options, kt, geometry, pool):
    """Each chunk of ``options`` halved (whole pooling groups), when that is a new size."""
    out = []
    for chunk, _ in options:
        half = chunk // 2 - (chunk // 2) % pool
        if half >= 1 and all(half != c for c, _ in options + out):
            out.append((half, half * kt <= geometry.in_depth))
    return out


def plan_linear(m, k, n, geometry, *, int8=False, bias=False, relu=False, lut=False, pool=1):
    """Plan ``y[m, n] = x[m, k] @ w[n, k].T (+ b)`` on an accelerator of ``geometry``: of
    :func:`plan_options` (without the halved chunks), the one that moves the fewest bus words.

    Parameters
    ----------
    m, k, n : int
        Layer shape, each >= 1.
    geometry : Geometry
    int8 : bool
        Requantize on the last K tile and read OUT (else read the int32 ACC).
    bias : bool
        Start the accumulators from PARAM BIAS on the first K tile.
    relu : bool
        With ``int8``: clamp at the zero point.
    lut : bool
        With ``int8``: the lookup-table stage on the last K tile.
    pool : int
        With ``int8``: max over groups of ``pool`` consecutive rows (CMD_POOL on the last K
        tile); ``m`` must be a multiple; chunks hold whole groups and the output buffer holds
        ``count // pool`` rows of a chunk.

    Returns
    -------
    Plan
    """
    plans = plan_options(m, k, n, geometry, int8=int8, bias=bias, relu=relu, lut=lut,
                         pool=pool, halves=False)
    # the fewest bus words; on a tie the larger chunk (fewer commands) comes first
    return min(plans, key=lambda p: p.cost().words)


def plan_options(m, k, n, geometry, *, int8=False, bias=False, relu=False, lut=False, pool=1,
                 halves=True):
    """The plans worth trying for a layer (arguments as :func:`plan_linear`): the largest chunk
    that fits, the largest that keeps the inputs resident (when that is another), and with
    ``halves`` each of those halved (two fit the accumulators: one can be stored while the next
    is computed). Largest chunk first."""
    if not isinstance(geometry, Geometry):
        raise TypeError(f"geometry must be a Geometry, got {type(geometry).__name__}")
    for name, v in (("m", m), ("k", k), ("n", n)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if (relu or lut or pool != 1) and not int8:
        raise ValueError("relu, lut and pool need int8 (requantized) output")
    if not isinstance(pool, int) or not 1 <= pool <= 255 or m % pool:
        raise ValueError(f"pool must be an int in 1..255 that divides m={m}, got {pool!r}")
    kt = _ceil_div(k, geometry.rows)
    options = _chunk_options(m, kt, geometry, int8, pool)
    if halves:
        options += _halved(options, kt, geometry, pool)
    return [_plan(m, k, n, geometry, int8, bias, relu, lut, pool, chunk, resident)
            for chunk, resident in options]


def _plan(m, k, n, g, int8, bias, relu, lut, pool, chunk, resident_inputs):
    kt_count, nt_count = _ceil_div(k, g.rows), _ceil_div(n, g.cols)
    return Plan(m=m, k=k, n=n, geometry=g, int8=int8, bias=bias, relu=relu, pool=pool,
                k_tiles=kt_count, n_tiles=nt_count, m_chunk=chunk,
                resident_inputs=resident_inputs, resident_weights=kt_count * nt_count <= g.banks,
                lut=lut)
