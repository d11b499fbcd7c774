"""Measured alternative to im2col: a 3x3 convolution by per-tap input offsets (bench only).

``sw/layers/conv.py`` lowers convolutions to im2col rows, which the driver writes 9x duplicated. The
alternative keeps the zero-padded image channels-last in the input buffer once and issues one
VMM command per kernel tap, whose CMD_IN_ADDR points at the tap's offset into "wide" rows of
``Wp`` pixels (the ``Wp - W`` columns past the image edge are computed and discarded); the taps
accumulate in hardware. This module measures it on the same reference layer as
:mod:`sw.bench.conv` so the two mappings are compared by the hardware's own counters. It is a
measurement, not a driver path: stride 1, one input-channel tile, int32 output, the padded
image must fit the input buffer.
"""

from __future__ import annotations

import numpy as np

import models.conv as golden
from hw.spec import register

from ..driver.packing import pack_int8
from .record import Record, Stopwatch

__all__ = ["conv3x3_per_tap", "records"]

_FLAGS = register("CMD_FLAGS")


def conv3x3_per_tap(acc, x, w):
    """int32 ``conv2d(x, w, padding=1)`` for x [1, R, H, W], w [C, R, 3, 3] by per-tap commands
    (through the driver's command interface). Returns (y int32 [1, C, H, W], Stats)."""
    g = acc.geometry
    _, cin, h, wd = x.shape
    cout = w.shape[0]
    if cin != g.rows or cout != g.cols:
        raise ValueError(f"the per-tap bench layer needs Cin = R = {g.rows} and Cout = C = "
                         f"{g.cols}, got {cin} and {cout}")
    hp, wp = h + 2, wd + 2
    if hp * wp > g.in_depth:
        raise ValueError(f"the padded image ({hp}x{wp}) must fit the input buffer "
                         f"({g.in_depth} vectors)")
    acc.begin_measure()
    image = np.zeros((hp, wp, cin), np.int8)
    image[1:-1, 1:-1] = x[0].transpose(1, 2, 0)
    for v, row in enumerate(pack_int8(image.reshape(-1, cin), g.row_words)):
        acc.write_words(g.in_addr(v), row)
    rows_per_chunk = max(1, (g.acc_depth + 2) // wp)
    y = np.empty((h, wd, cout), np.int64)
    bank, commands = 0, 0
    for r0 in range(0, h, rows_per_chunk):
        rows = min(rows_per_chunk, h - r0)
        count = rows * wp - 2  # the last wide row needs no junk tail
        for tap in range(9):
            i, j = divmod(tap, 3)
            for c, col in enumerate(pack_int8(w[:, :, i, j], g.row_words)):
                acc.write_words(g.weight_addr(bank, c), col)
            acc.start_command({"CMD_FLAGS": _FLAGS.pack(ACCUMULATE=int(tap > 0)),
                               "CMD_BANK": bank, "CMD_IN_ADDR": (r0 + i) * wp + j,
                               "CMD_COUNT": count, "CMD_ROWS": g.rows, "CMD_COLS": g.cols})
            acc.finish_command(count, f"per-tap command (tap {tap}, rows {r0}..)")
            commands += 1
            bank = (bank + 1) % g.banks
        acc_rows = np.array(acc.read_words(g.acc_addr(0), count * g.cols_p2), "<u4").view("<i4")
        acc_rows = acc_rows.reshape(count, g.cols_p2)[:, :cout]
        for oh in range(rows):
            y[r0 + oh] = acc_rows[oh * wp:oh * wp + wd]
    stats = acc.end_measure(commands)
    return y.transpose(2, 0, 1)[None].astype(np.int32), stats


def records(acc, rng, target):
    """One record: the 3x3 reference layer of :mod:`sw.bench.conv`, mapped per tap."""
    g = acc.geometry
    x = rng.integers(-128, 128, (1, g.rows, 16, 16), dtype=np.int8)
    w = rng.integers(-128, 128, (g.cols, g.rows, 3, 3), dtype=np.int8)
    watch = Stopwatch(acc)
    y, stats = conv3x3_per_tap(acc, x, w)
    wall, sim = watch.stop()
    if not np.array_equal(y, golden.conv2d(x, w, padding=1)):
        raise AssertionError("per-tap conv3x3 differs from the golden model")
    macs = int(np.prod(y.shape)) * g.rows * 9
    return [Record("conv3x3_per_tap_int32", target, "conv2d", stats, wall, sim_s=sim, macs=macs,
                   mapping="per-tap CMD_IN_ADDR offsets over a resident channels-last image "
                           "(measurement only; the driver uses im2col)")]
