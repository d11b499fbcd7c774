"""Convolutions as programs by **per-tap offsets** over images kept on chip (on-chip reuse).

im2col (``sw/layers/mapping.py``) writes every input pixel ``kh * kw`` times: the host expands
the patches and the memory port reads each one. Here the zero-padded image stays in the input
buffer once, channels-last in *planes* of ``R`` channels (one IN unit per padded pixel), and a
VMM per kernel tap ``(dy, dx)`` reads its vectors from ``IN_ADDR = plane + dy * Wp + dx``: the
taps accumulate in ACC. Output pixel ``(oy, ox)`` is ACC row ``oy * Wp + ox`` of its band, so
rows ``ox >= Wo`` (the ``Wp - Wo`` columns past the edge) are computed and dropped: the price
is ``Wp / Wo`` more vectors, for ``kh * kw`` times fewer bytes read (``make bench`` compares
the two per layer, and the driver runs whichever the cycle model finds faster).

The image stays in memory as it is (channels-last planes of ``R`` channels, each row from a
beat): a 2-D LOAD brings a band's rows into IN at the padded row length ``Wp``, and LOADs with
PITCH 0 fill the border from one row of the pad value, so the host never writes a padded copy.
(Row by row, this costs 0.5-3 % more cycles than loading a padded copy in one piece, on the
bench's layers.)

A program (:func:`compile_taps`) covers a whole batch. Per *band* of ``rows`` output rows of one
image (``count = (rows - 1) * Wp + Wo`` ACC rows), per N tile of ``C`` output channels, per input
plane ``ct``, per tap: one VMM, its weight tile loaded before it into the other bank. The band's
input rows of each plane are loaded once per band when all planes fit the input buffer
(*resident*), else before each (N tile, plane). The last tap requantizes (int8) and the tile is
stored from OUT or ACC. Stride 1, dilation 1, one group, no fused pooling.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from hw.spec import Geometry, isa, register

from .packing import pack_int8
from .program import Program, _order, param_words
from .tiling import MAX_COUNT

__all__ = ["TapPlan", "CompiledTaps", "compile_taps", "tap_options"]

_FLAGS = register("CMD_FLAGS")


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class TapPlan:
    """The shape of a per-tap convolution program.

    Members
    -------
    geometry : Geometry
    n, cin, h, w, cout, kh, kw : int
        x [n, cin, h, w], weights [cout, cin, kh, kw].
    padding : (int, int)
    rows : int
        Output rows per band.
    resident : bool
        Every plane's band is loaded once per band (else once per N tile and plane).
    int8, bias, relu, lut : bool
        As for ``linear`` (bias: PARAM BIAS on the first tap).
    """
    geometry: Geometry
    n: int
    cin: int
    h: int
    w: int
    cout: int
    kh: int
    kw: int
    padding: tuple
    rows: int
    resident: bool
    int8: bool = False
    bias: bool = False
    relu: bool = False
    lut: bool = False
    per_row: bool = False

    @property
    def padded(self):
        """(Hp, Wp)."""
        return self.h + 2 * self.padding[0], self.w + 2 * self.padding[1]

    @property
    def out(self):
        """(Ho, Wo)."""
        hp, wp = self.padded
        return hp - self.kh + 1, wp - self.kw + 1

    def count(self, rows):
        """ACC rows of a band of ``rows`` output rows: wide rows (the columns past the edge
        computed and dropped), or with :attr:`per_row` dense ones (a VMM per output row)."""
        if self.per_row:
            return rows * self.out[1]
        return (rows - 1) * self.padded[1] + self.out[1]

    def band(self, rows):
        """IN units of one plane for a band of ``rows`` output rows, and the :attr:`lead`."""
        return (rows + self.kh - 1) * self.padded[1] + self.lead

    @property
    def lead(self):
        """IN units before each band: a LOAD starts at a beat, so a band that starts inside one
        brings the beat's earlier units along (when units are smaller than a beat)."""
        unit = isa.unit_bytes(isa.Window.IN, self.geometry)
        return max(0, self.geometry.mem_bytes // unit - 1)

    @property
    def planes(self):
        return _ceil_div(self.cin, self.geometry.rows)

    def lower_bound(self):
        """A lower bound of the cycles of this plan's program (:func:`compile_taps`, any order),
        without compiling it: its vectors, its weight LOADs' beats and the fetch of those LOADs
        and the VMMs (at most :meth:`Program.lower_bound` of the program; the driver skips
        compiling a plan whose bound exceeds the best prediction)."""
        g, ho = self.geometry, self.out[0]
        full, last = divmod(ho, self.rows)
        bands = [self.rows] * full + ([last] if last else [])
        steps = self.n * len(bands) * self.n_tiles * self.planes * self.kh * self.kw
        vectors = self.n * self.n_tiles * self.planes * self.kh * self.kw * sum(
            self.count(r) for r in bands)
        vmms = self.n * self.n_tiles * self.planes * self.kh * self.kw * ho if self.per_row \
            else steps
        unit = isa.unit_bytes(isa.Window.WEIGHT, g)
        cols = [min(g.cols, self.cout - nt * g.cols) for nt in range(self.n_tiles)]
        weights = sum(-(-c * unit // g.mem_bytes) for c in cols) * (steps // self.n_tiles)
        fetch = -(-(vmms + steps) * isa.INSTR_BYTES // g.mem_bytes)
        return max(vectors, weights + fetch)

    @property
    def n_tiles(self):
        return _ceil_div(self.cout, self.geometry.cols)


def _fits(shape, g, rows, int8):
    """The band of ``rows`` output rows fits ACC, OUT (int8), a VMM's COUNT and IN."""
    count = shape.count(rows)
    return (count <= min(g.acc_depth, MAX_COUNT) and (not int8 or count <= g.out_depth)
            and shape.band(rows) <= g.in_depth)


def tap_options(n, cin, h, w, cout, kh, kw, padding, geometry, *, int8=False, bias=False,
                relu=False, lut=False):
    """The per-tap plans worth trying (the driver predicts each one's cycles): the largest band,
    the largest whose planes are all resident, and the largest of each that leaves room for
    double buffering ACC (two bands). Empty when not even one output row fits."""
    g = geometry
    probe = TapPlan(g, n, cin, h, w, cout, kh, kw, tuple(padding), 1, False, int8, bias, relu,
                    lut)
    ho = probe.out[0]
    if ho < 1 or probe.out[1] < 1 or not _fits(probe, g, 1, int8):
        return []
    sizes = [r for r in range(1, ho + 1) if _fits(probe, g, r, int8)]
    largest = max(sizes)
    resident = [r for r in sizes if probe.planes * probe.band(r) <= g.in_depth]
    picks = {largest}
    if resident:
        picks.add(max(resident))
    for pool in (list(sizes), resident):
        halves = [r for r in pool if 2 * probe.count(r) <= g.acc_depth]
        if halves:
            picks.add(max(halves))
    out = []
    for r in sorted(picks, reverse=True):
        out.append(TapPlan(g, n, cin, h, w, cout, kh, kw, tuple(padding), r,
                           probe.planes * probe.band(r) <= g.in_depth, int8, bias, relu, lut))
    # a VMM per output row and tap: no discarded columns, Wp - Wo fewer vectors a row for one
    # more instruction and an idle cycle between VMMs (the same bands: ACC rows only shrink)
    # (with one output row a band, the two are the same program: the first is kept)
    return out + [dataclasses.replace(p, per_row=True) for p in out
                  if p.out[1] < p.padded[1] and p.rows > 1]


@dataclass(frozen=True)
class CompiledTaps:
    """A per-tap convolution as a program, and where its results land (region ``"y"``).

    ``tiles``: (image, oy0, rows, n0, cols, offset) of every stored band and N tile."""
    program: Program
    plan: TapPlan
    tiles: tuple
    #: the arrays and pad value the program's regions are filled from
    source: object = None

    def bind(self, x, w, b, params, pad_value=0):
        """Fill the program's regions from these from now on (a program compiled once, for
        timing, runs on any data of its shape); returns self."""
        src = self.source
        src.x, src.w, src.b, src.params, src.pad_value = x, w, b, params, pad_value
        return self

    def results(self, raw: bytes):
        """The convolution's result, [n, cout, Ho, Wo] (int8 or int32), from region ``"y"``."""
        plan, g = self.plan, self.plan.geometry
        (ho, wo), wp = plan.out, plan.padded[1]
        dtype = np.int8 if plan.int8 else np.int32
        y = np.empty((plan.n, plan.cout, ho, wo), dtype=dtype)
        window = isa.Window.OUT if plan.int8 else isa.Window.ACC
        unit = isa.unit_bytes(window, g)
        for img, oy0, rows, n0, cols, offset in self.tiles:
            count = plan.count(rows)
            block = np.frombuffer(raw, dtype=np.uint8, count=count * unit, offset=offset)
            block = block.view(dtype).reshape(count, -1)[:, :cols]
            if plan.per_row:
                y[img, n0:n0 + cols, oy0:oy0 + rows] = \
                    block.reshape(rows, wo, cols).transpose(2, 0, 1)
                continue
            wide = np.zeros((rows * wp, cols), dtype=dtype)
            wide[:count] = block
            y[img, n0:n0 + cols, oy0:oy0 + rows] = \
                wide.reshape(rows, wp, cols)[:, :wo].transpose(2, 0, 1)
        return y


def compile_taps(plan: TapPlan, x, w, b, params, zero_point, lut=None, *, pad_value=0,
                 base=0, double_buffer=True, order="late_store") -> CompiledTaps:
    """The program of a per-tap convolution: ``plan`` on ``x`` [n, cin, h, w] (int8), ``w``
    [cout, cin, kh, kw] (int8), ``b`` (int32 [cout] with any input zero point folded in, or
    None), ``params`` (MULT, SHIFT as uint32 [2, cout], or None), the output ``zero_point`` and
    ``lut`` (loaded first when not None). The padding holds ``pad_value`` (the input zero
    point). ``x`` and ``w`` may be None to compile for timing only (:func:`predict_cycles`).
    ``order``: as :func:`~.program.compile_plan`'s."""
    g = plan.geometry
    p = Program(g, base)
    R, C = g.rows, g.cols
    wp, (ho, wo) = plan.padded[1], plan.out
    py, px = plan.padding
    rwp2 = g.row_words_p2
    planes, nt_count, taps = plan.planes, plan.n_tiles, plan.kh * plan.kw
    span = plan.band(plan.rows)                     # IN units a plane's band occupies
    count_max = plan.count(plan.rows)
    in_used = planes * span if plan.resident else span
    halves = {
        "in": in_used if double_buffer and 2 * in_used <= g.in_depth else 0,
        "acc": count_max if double_buffer and 2 * count_max <= g.acc_depth else 0,
        "out": count_max if double_buffer and plan.int8 and 2 * count_max <= g.out_depth else 0,
    }
    unit_out = isa.unit_bytes(isa.Window.OUT if plan.int8 else isa.Window.ACC, g)
    head = []
    if lut is not None:
        head.append(isa.Load(isa.Window.LUT, 0, isa.units(isa.Window.LUT, g),
                             p.data("lut", np.ascontiguousarray(lut, dtype=np.int8))))

    unit_in = isa.unit_bytes(isa.Window.IN, g)
    # a plane in memory is the image itself, channels-last, unpadded: its rows start at beats
    pitch = _ceil_div(plan.w * unit_in, g.mem_bytes) * g.mem_bytes

    # the regions are filled from ``data`` when the image is made: CompiledTaps.bind rebinds it
    data = SimpleNamespace(x=x, w=w, b=b, params=params, pad_value=pad_value)

    def plane_image(img, ct):
        def fill():
            c0 = ct * R
            image = data.x[img, c0:c0 + R].transpose(1, 2, 0).reshape(plan.h * plan.w, -1)
            rows = pack_int8(image, rwp2)
            out = np.zeros((plan.h, pitch), np.uint8)
            out[:, :plan.w * unit_in] = np.ascontiguousarray(rows).view(np.uint8).reshape(
                plan.h, plan.w * unit_in)
            return out.tobytes()
        return fill

    def tap_image(nt, ct, dy, dx):
        return lambda: pack_int8(data.w[nt * C:(nt + 1) * C, ct * R:(ct + 1) * R, dy, dx],
                                 rwp2).tobytes()

    def param_image(n0, cols):
        return lambda: param_words(data.b, data.params, n0, cols)

    plane_addr = {(img, ct): p.reserve(f"x{img}.{ct}", plan.h * pitch,
                                       fill=plane_image(img, ct))
                  for img in range(plan.n) for ct in range(planes)}
    # one padded row of the pad value: 2-D LOADs with PITCH 0 fill the border from it
    pad_addr = p.reserve("pad", wp * unit_in, fill=lambda: pack_int8(
        np.full((wp, R), data.pad_value, np.int8), rwp2).tobytes()) if py or px else None

    def band_loads(base, img, ct, oy0, rows):
        """The LOADs of a plane's band (padded rows ``oy0 ..`` for ``rows`` output rows) into
        IN from unit ``base``: the image's rows by one 2-D LOAD, the border filled around
        them."""
        top, end = oy0, oy0 + rows + plan.kh - 1          # padded rows [top, end)
        a, b = max(top, py), min(end, py + plan.h)         # the image's rows among them
        out = []

        def fill(first, count, n):
            if n > 0 and count > 0:
                out.append(isa.Load(isa.Window.IN, base + first, count, pad_addr,
                                    rows=n, skip=wp, pitch=0))
        fill(0, wp, min(end, py) - top)                    # padding rows above the image
        if a < b:
            at = (a - top) * wp
            src = plane_addr[img, ct] + (a - py) * pitch
            if px == 0 and pitch == plan.w * unit_in:  # rows follow each other in both
                out.append(isa.Load(isa.Window.IN, base + at, (b - a) * plan.w, src))
            else:
                out.append(isa.Load(isa.Window.IN, base + at + px, plan.w, src,
                                    rows=b - a, skip=wp, pitch=pitch))
            fill(at, px, 1)                                # left of the first image row,
            fill(at + px + plan.w, 2 * px, b - a - 1)      # right of one and left of the next,
            fill((b - 1 - top) * wp + px + plan.w, px, 1)  # right of the last
        start = max(top, py + plan.h)
        fill((start - top) * wp, wp, end - start)          # padding rows below the image
        return out
    steps, stored, out_bytes, index, t = [], [], 0, 0, 0
    band_index = 0
    for img in range(plan.n):
        for oy0 in range(0, ho, plan.rows):
            rows = min(plan.rows, ho - oy0)
            count = plan.count(rows)
            in_half = (band_index % 2) * halves["in"]
            band_index += 1
            for nt in range(nt_count):
                n0, cols = nt * C, min(C, plan.cout - nt * C)
                acc_addr, out_addr = (t % 2) * halves["acc"], (t % 2) * halves["out"]
                t += 1
                for ct in range(planes):
                    first_in = in_half + (ct * span if plan.resident else 0)
                    if not plan.resident:
                        first_in = ((nt * planes + ct) % 2) * halves["in"]
                    c_rows = min(R, plan.cin - ct * R)
                    for tap in range(taps):
                        dy, dx = divmod(tap, plan.kw)
                        loads = []
                        if tap == 0 and (not plan.resident or nt == 0):
                            loads += band_loads(first_in + plan.lead, img, ct, oy0, rows)
                        name = f"w{nt}.{ct}.{tap}"
                        addr = p.regions[name].addr if name in p.regions else p.reserve(
                            name, cols * 4 * rwp2, fill=tap_image(nt, ct, dy, dx))
                        bank = index % g.banks
                        loads.append(isa.Load(isa.Window.WEIGHT, bank * g.cols_p2, cols, addr))
                        first = ct == 0 and tap == 0
                        last = ct == planes - 1 and tap == taps - 1
                        if first and (plan.bias or plan.int8):
                            name = f"p{nt}"
                            pa = p.regions[name].addr if name in p.regions else p.reserve(
                                name, 16 * cols, fill=param_image(n0, cols))
                            loads.append(isa.Load(isa.Window.PARAM, 0, 4 * cols, pa))
                        flags = _FLAGS.pack(ACCUMULATE=not first, BIAS=first and plan.bias,
                                            REQUANT=last and plan.int8,
                                            RELU=last and plan.relu, LUT=last and plan.lut)
                        tap_in = first_in + plan.lead + dy * wp + dx
                        # one VMM over the wide rows, or one per output row (per_row)
                        pieces = [(tap_in + oy * wp, oy * wo, wo) for oy in range(rows)] \
                            if plan.per_row else [(tap_in, 0, count)]
                        for k, (in_addr, row0, n_vec) in enumerate(pieces):
                            vmm = isa.Vmm(bank=bank, in_addr=in_addr, acc_addr=acc_addr + row0,
                                          out_addr=out_addr + row0, count=n_vec, rows=c_rows,
                                          cols=cols, pool=1, flags=flags, out_zp=zero_point)
                            store = None
                            if last and k == len(pieces) - 1:
                                window = isa.Window.OUT if plan.int8 else isa.Window.ACC
                                store = (window, out_addr if plan.int8 else acc_addr, count,
                                         out_bytes)
                                stored.append((img, oy0, rows, n0, cols, out_bytes))
                                out_bytes += -(-count * unit_out // p.align) * p.align
                            steps.append((loads if k == 0 else [], vmm, store))
                        index += 1
    y_addr = p.output("y", out_bytes)
    steps = [(loads, vmm, None if st is None else isa.Store(st[0], st[1], st[2], y_addr + st[3]))
             for loads, vmm, st in steps]
    for instr in head + _order(steps, order, g):
        p.append(instr)
    p.end_program()
    return CompiledTaps(p, plan, tuple(stored), data)
