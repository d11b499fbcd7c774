"""How the convolution family is lowered onto ``Accelerator.linear``: pure functions of shapes.

**Patch lowering** (conv2d, every ``groups``, depthwise). A *unit* is one output pixel, or one
pooled output pixel when ``max_pool`` is fused. Units are taken in ``ba x bb`` *blocks*. One row
of the ``linear`` input is the input patch that a block needs (``Cin/groups x ph x pw`` values,
padding holding the input zero point); its columns are the block's ``ba * bb * Cout/groups``
outputs, and the weight matrix holds each kernel at its unit's offset inside the patch (zeros
elsewhere). With ``max_pool = (k, s)`` a block has ``k*k`` rows, one per window offset, so the
hardware's max-pooling stage (``pool = k*k``) takes the max over consecutive rows.

``ba = bb = 1`` is plain im2col: best when ``Cin * kh * kw`` fills the array's rows and ``Cout``
its columns. Larger blocks help when they do not: a 3x3 depthwise channel has only 9 weights, and
a 2x6 block (a 4x8 patch: 32 rows, 12 outputs) reaches 12 * 9 MACs per 2 array cycles on a
16x16 array, against 9 for im2col (see :func:`depthwise_limit`).

**Packing** (grouped convolutions, as programs): ``pack`` groups share one ``linear`` call, their
patches side by side along K and their outputs along N, the weight matrix block-diagonal (each
group's kernels in its own rows and columns, zeros across groups). The array computes the zero
blocks too, so a packed call needs about as many array cycles per output as ``pack`` calls, but
it loads PARAM (bias, multiplier and shift of every column) and issues its LOADs, VMMs and
STOREs once for ``pack`` groups. That is what limits a depthwise layer with a small image: the
VMM of the next group cannot start before its PARAM is loaded, and its PARAM cannot load while
the previous group's VMM uses PARAM (MobileNet's 14x14x512 depthwise layer, 16x16 array: 66,648
cycles one channel per call, 44,950 with 2x2 blocks of 4 channels a call, on the cycle model).

The block is chosen by :func:`estimate` on the register path: the array's busy cycles of the
``linear`` plan (``sw.driver.tiling.plan_linear``) plus :data:`WORD_COST` per 32-bit bus
word. As programs, :func:`program_estimate` (busy cycles or the memory port's beats) ranks the
blocks and the cycle model decides among the best few (``sw/layers/conv.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hw.spec import isa, timing
from models.conv import ConvShape

from ..driver.tiling import PlanError, plan_linear

__all__ = ["WORD_COST", "Mapping", "PatchLowering", "choose_block", "depthwise_limit",
           "estimate", "packings", "program_estimate", "rank_blocks", "run_calls"]

#: Cycles one 32-bit bus word costs in :func:`estimate`. The simulated AXI4-Lite moves one word
#: per cycle; an accelerator of this size would have a DMA of about 32 bytes per cycle, so data
#: movement is weighted 1/8 and the array's cycles decide unless the traffic differs widely.
WORD_COST = 1 / 8
#: largest block side tried by :func:`choose_block`
BLOCK_MAX = 8


@dataclass(frozen=True)
class Mapping:
    """What the last convolution-family call of an ``Accelerator`` ran (``acc.mapping``).

    Members
    -------
    op : str
        ``conv2d``, ``depthwise_conv2d``, ``max_pool2d``, ``avg_pool2d``, ``add``.
    name : str
        The lowering: ``patch`` (with ``block``), ``identity-max``, ``identity-accumulate``,
        ``window-sum``, ``concat``.
    detail : str
        One line for humans.
    macs : int
        The layer's nominal operations (conv: ``N*Cout*Ho*Wo*Cin/groups*kh*kw``; pooling: one
        per window element; add: two per element), as opposed to ``Stats.macs`` (what the
        array did, padding and zero weights included).
    calls : int
        ``linear`` calls made (one per ``pack`` groups for grouped convolutions).
    block : tuple of int
        ``(ba, bb)`` of the patch lowering, else ``(1, 1)``.
    pack : int
        Groups per ``linear`` call of the patch lowering (see the module docstring), else 1.
    """
    op: str
    name: str
    detail: str
    macs: int
    calls: int = 1
    block: tuple[int, int] = (1, 1)
    pack: int = 1


def run_calls(acc, calls, mapping):
    """Run ``(x, w, b, kwargs)`` linear calls on ``acc`` (``acc.linear_batch``: one program
    when they run as programs); set ``acc.stats`` to their whole and ``acc.mapping`` to
    ``mapping``. Returns the results."""
    results = acc.linear_batch(calls)
    acc.mapping = mapping
    return results


def estimate(geometry, latency, m, k, n, *, int8, bias, pool=1):
    """Estimated cycles of ``linear`` on an [m, k] x [n, k] problem: busy cycles of its plan
    plus :data:`WORD_COST` per bus word (:meth:`~sw.driver.tiling.Plan.cost`).
    ``math.inf`` if the plan is impossible (:class:`~sw.driver.tiling.PlanError`: a pooling
    group that does not fit); bad arguments still raise."""
    try:
        plan = plan_linear(m, k, n, geometry, int8=int8, bias=bias, pool=pool)
    except PlanError:
        return math.inf
    cost = plan.cost(latency)
    return cost.busy_cycles + WORD_COST * cost.words


@dataclass(frozen=True)
class PatchLowering:
    """The patch lowering of ``pack`` groups of a convolution, one ``linear`` call (see the
    module docstring).

    Members
    -------
    shape : ConvShape
    pool : (int, int) or None
        Fused max-pooling (kernel, stride).
    block : (int, int)
        Units per block (ba, bb).
    pack : int
        Groups per call (divides ``shape.groups``; 1: a call per group).
    """
    shape: ConvShape
    pool: tuple[int, int] | None
    block: tuple[int, int]
    pack: int = 1

    def __post_init__(self):
        if not isinstance(self.pack, int) or self.pack < 1 or self.shape.groups % self.pack:
            raise ValueError(f"pack must be a positive divisor of groups ({self.shape.groups}), "
                             f"got {self.pack!r}")

    @property
    def calls(self):
        """``linear`` calls of the whole convolution: ``groups / pack``."""
        return self.shape.groups // self.pack

    @property
    def units(self):
        """Unit grid (pooled output size with ``pool``, else the convolution output)."""
        s, p = self.shape, self.pool
        if p is None:
            return s.ho, s.wo
        return (s.ho - p[0]) // p[1] + 1, (s.wo - p[0]) // p[1] + 1

    @property
    def blocks(self):
        (pu, qu), (ba, bb) = self.units, self.block
        return -(-pu // ba), -(-qu // bb)

    @property
    def offsets(self):
        """Window offsets per unit (rows per block): ``k`` per axis with a pool, else 1."""
        return 1 if self.pool is None else self.pool[0]

    @property
    def spacing(self):
        """Input distance between neighbouring units of a block, per axis."""
        step = 1 if self.pool is None else self.pool[1]
        return step * self.shape.stride[0], step * self.shape.stride[1]

    @property
    def patch(self):
        """(ph, pw): the input patch of one block."""
        s, (ba, bb), (uy, ux) = self.shape, self.block, self.spacing
        (kh, kw), (dy, dx) = s.kernel, s.dilation
        return (ba - 1) * uy + (kh - 1) * dy + 1, (bb - 1) * ux + (kw - 1) * dx + 1

    @property
    def gemm(self):
        """(m, k, n) of one ``linear`` call (``pack`` groups)."""
        s, (nbu, nbv), (ph, pw) = self.shape, self.blocks, self.patch
        cg, og = s.cin // s.groups, s.cout // s.groups
        return (s.n * nbu * nbv * self.offsets ** 2, self.pack * cg * ph * pw,
                self.pack * og * self.block[0] * self.block[1])

    def _origins(self, axis):
        """Top (axis 0) or left (axis 1) input coordinate of each [block, offset] patch."""
        nb, b = self.blocks[axis], self.block[axis]
        step = 1 if self.pool is None else self.pool[1]
        units = np.arange(nb)[:, None] * b * step + np.arange(self.offsets)[None, :]
        return units * self.shape.stride[axis]

    def rows(self, x, input_zero_point):
        """The ``linear`` input of one call: int8 [m, k] from ``x`` [N, pack * Cin/groups, H,
        W] (each group's patches in turn along K)."""
        if self.pack > 1:
            cg = self.shape.cin // self.shape.groups
            one = dataclasses.replace(self, pack=1)
            return np.concatenate([one.rows(x[:, i * cg:(i + 1) * cg], input_zero_point)
                                   for i in range(self.pack)], axis=1)
        s, (ph, pw) = self.shape, self.patch
        y0, x0 = self._origins(0), self._origins(1)
        need = y0.max() + ph, x0.max() + pw
        (py, px) = s.padding
        extra = (max(0, need[0] - s.h - 2 * py), max(0, need[1] - s.w - 2 * px))
        xp = np.pad(x, ((0, 0), (0, 0), (py, py + extra[0]), (px, px + extra[1])),
                    constant_values=input_zero_point)
        view = np.lib.stride_tricks.sliding_window_view(xp, (ph, pw), axis=(2, 3))
        p = view[:, :, y0[:, None, :, None], x0[None, :, None, :]]  # [N,C,bu,bv,a,b,ph,pw]
        return p.transpose(0, 2, 3, 4, 5, 1, 6, 7).reshape(self.gemm[0], -1)

    def weights(self, w):
        """The ``linear`` weights of one call: int8 [n, k] from ``w`` [pack * Cout/groups, ...]
        (block-diagonal: group i's in rows and columns of its own)."""
        if self.pack > 1:
            og = self.shape.cout // self.shape.groups
            one = dataclasses.replace(self, pack=1)
            blocks = [one.weights(w[i * og:(i + 1) * og]) for i in range(self.pack)]
            (n, k), out = blocks[0].shape, np.zeros(self.gemm[2:0:-1], dtype=np.int8)
            for i, blk in enumerate(blocks):
                out[i * n:(i + 1) * n, i * k:(i + 1) * k] = blk
            return out
        s, (ba, bb), (ph, pw), (uy, ux) = self.shape, self.block, self.patch, self.spacing
        (kh, kw), (dy, dx) = s.kernel, s.dilation
        out = np.zeros((ba, bb, w.shape[0], w.shape[1], ph, pw), dtype=np.int8)
        for i in range(ba):
            for j in range(bb):
                out[i, j, :, :, i * uy:i * uy + (kh - 1) * dy + 1:dy,
                    j * ux:j * ux + (kw - 1) * dx + 1:dx] = w
        return out.reshape(-1, w.shape[1] * ph * pw)

    def scatter(self, y):
        """``linear``'s [m / offsets**2, n] result as [N, pack * Cout/groups, units...]."""
        (nbu, nbv), (ba, bb), (pu, qu) = self.blocks, self.block, self.units
        og = self.pack * self.shape.cout // self.shape.groups
        y = y.reshape(self.shape.n, nbu, nbv, self.pack, ba, bb, og // self.pack)
        y = y.transpose(0, 3, 6, 1, 4, 2, 5)
        return y.reshape(self.shape.n, og, nbu * ba, nbv * bb)[:, :, :pu, :qu]

    def column_values(self, values, first_group):
        """A per-output-channel array (bias, scale: [Cout]) as this call's per-column one,
        from group ``first_group`` on (the columns' order: group, block unit, channel)."""
        og, units = self.shape.cout // self.shape.groups, self.block[0] * self.block[1]
        return np.concatenate([np.tile(values[g * og:(g + 1) * og], units)
                               for g in range(first_group, first_group + self.pack)])


def choose_block(shape, pool, geometry, latency, *, int8, bias, cost=None):
    """The :class:`PatchLowering` with the lowest ``cost`` (default :func:`estimate`) over
    blocks up to :data:`BLOCK_MAX` a side (ties: the smaller block). ValueError if none
    fits."""
    return rank_blocks(shape, pool, geometry, latency, int8=int8, bias=bias, cost=cost)[0]


def packings(shape, geometry):
    """The ``pack`` values worth trying for ``shape``: 1, and for a grouped convolution every
    divisor of ``groups`` whose packed outputs of one unit still fit the array's columns."""
    og = shape.cout // shape.groups
    return [p for p in range(1, shape.groups + 1)
            if shape.groups % p == 0 and (p == 1 or p * og <= geometry.cols)]


def rank_blocks(shape, pool, geometry, latency, *, int8, bias, cost=None, packs=(1,)):
    """Every :class:`PatchLowering` that fits, cheapest first by its calls times ``cost(geometry,
    latency, m, k, n, int8=, bias=, pool=)`` of one (default :func:`estimate`; ties: the
    smaller block first), for each of ``packs`` (groups per call; a packed call's outputs must
    fit the array's columns: its zero blocks would otherwise fill whole tiles). ValueError if
    none fits."""
    cost = estimate if cost is None else cost
    units = PatchLowering(shape, pool, (1, 1)).units
    og = shape.cout // shape.groups
    ranked = []
    for pack in packs:
        for ba in range(1, min(units[0], BLOCK_MAX) + 1):
            for bb in range(1, min(units[1], BLOCK_MAX) + 1):
                n = pack * og * ba * bb
                if (ba * bb > 1 and n > 4 * geometry.cols) or (pack > 1 and n > geometry.cols):
                    continue
                low = PatchLowering(shape, pool, (ba, bb), pack)
                c = cost(geometry, latency, *low.gemm, int8=int8, bias=bias,
                         pool=low.offsets ** 2)
                if c < math.inf:
                    ranked.append((c * low.calls, len(ranked), low))
    if not ranked:
        k = pool[0] if pool else 1
        raise ValueError(f"max_pool={k}: a pooling group of {k * k} rows does not fit the "
                         f"accumulators ({geometry.acc_depth}) / input buffer "
                         f"({geometry.in_depth})")
    return [low for _, _, low in sorted(ranked, key=lambda r: r[:2])]


def program_estimate(geometry, latency, m, k, n, *, int8, bias, pool=1):
    """Estimated cycles of ``linear`` as a program from memory: the array's busy cycles or the
    memory port's beats (every LOAD's and STORE's bytes, whole ACC or OUT rows, and 16 bytes
    an instruction), whichever is more. ``math.inf`` if the plan is impossible."""
    try:
        plan = plan_linear(m, k, n, geometry, int8=int8, bias=bias, pool=pool)
    except PlanError:
        return math.inf
    g = geometry
    unit_in = isa.unit_bytes(isa.Window.IN, g)
    unit_out = isa.unit_bytes(isa.Window.OUT if int8 else isa.Window.ACC, g)
    busy = moved = instructions = 0
    for s in plan.iter_steps():
        busy += timing.busy_cycles(s.count, latency, s.requant)
        instructions += 1 + bool(s.load_weights) + len(s.load_inputs) + bool(s.load_params)
        moved += len(s.load_inputs) * s.count * unit_in
        moved += s.cols * unit_in if s.load_weights else 0
        moved += 16 * s.cols if s.load_params else 0
        if s.read_back:
            instructions += 1
            moved += (s.out_rows if int8 else s.count) * unit_out
    return max(busy, (moved + isa.INSTR_BYTES * instructions) / g.mem_bytes)


def depthwise_limit(rows, cols, kernel=(3, 3), stride=1, dilation=1, side_max=16):
    """The best fraction of the array's R*C MACs a depthwise channel can use, patch lowering.

    A vector carries the patches of ``p`` channels (``p`` packed, 1 unpacked); each column
    computes one output of one channel, so ``p`` channels' ``a x b`` blocks of outputs cost
    ``ceil(p*ph*pw / R) * ceil(p*a*b / C)`` array cycles for ``p*a*b*kh*kw`` MACs::

        limit = max over (a, b, p) of p*a*b*kh*kw / (R*C * ceil(p*ph*pw / R) * ceil(p*a*b / C))

    with ``ph = (a-1)*stride + (kh-1)*dilation + 1`` (and pw alike), ``p = 1`` or ``p*a*b <= C``.
    16x16, 3x3, stride 1: 12 outputs (2x6 block, 4x8 = 32-value patch, one channel) per 2
    cycles: 108 / 512 = 21.1 % (packing does not beat it: 2 channels of 2x4 blocks, 48 values,
    reach 144 / 768).

    Returns
    -------
    (float, (int, int))
        The limit and the block that reaches it (unpacked when packing only ties).
    """
    (kh, kw), best = kernel, (0.0, (1, 1))
    for p in range(1, cols + 1):
        for a in range(1, side_max + 1):
            for b in range(1, side_max + 1):
                if p > 1 and p * a * b > cols:
                    continue
                ph = (a - 1) * stride + (kh - 1) * dilation + 1
                pw = (b - 1) * stride + (kw - 1) * dilation + 1
                cycles = -(-p * ph * pw // rows) * -(-p * a * b // cols)
                u = p * a * b * kh * kw / (rows * cols * cycles)
                if u > best[0] + 1e-12:
                    best = (u, (a, b))
    return best
