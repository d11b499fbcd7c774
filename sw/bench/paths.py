"""The same layers through the registers and as programs from memory, in one run (issue 9):
the register path (the host writes every window word over AXI4-Lite and starts each command)
against the program path (the data and a program in memory, one doorbell per layer). Records
``<layer>_registers`` and ``<layer>_program``; the ratio of their cycles is the speed-up.
"""

from __future__ import annotations

import numpy as np

import models
import models.conv as golden

from .record import Record, Stopwatch

__all__ = ["LAYERS", "records", "speedups"]

LAYERS = ("fc_64x256x256_int8", "conv3x3_16to16_16x16_int8")


def _calls(acc, rng):
    x = rng.integers(-128, 128, (64, 256), dtype=np.int8)
    w = rng.integers(-128, 128, (256, 256), dtype=np.int8)
    b = rng.integers(-2**15, 2**15, 256, dtype=np.int32)
    q = dict(scale=1 / 2048, zero_point=0, relu=True)
    xc = rng.integers(-128, 128, (1, 16, 16, 16), dtype=np.int8)
    wc = rng.integers(-128, 128, (16, 16, 3, 3), dtype=np.int8)
    qc = dict(padding=1, scale=1 / 4096, zero_point=-128, relu=True)
    return {
        LAYERS[0]: (lambda a: a.linear(x, w, b, **q), lambda: models.linear(x, w, b, **q)),
        LAYERS[1]: (lambda a: a.conv2d(xc, wc, **qc), lambda: golden.conv2d(xc, wc, **qc)),
    }


def records(acc, rng, target, registers_acc):
    """Each layer on ``registers_acc`` (opened with ``dma=False``) and on ``acc`` (programs),
    exact against the golden model."""
    out = []
    for name, (run, want) in _calls(acc, rng).items():
        expected = want()
        for suffix, a in (("registers", registers_acc), ("program", acc)):
            watch = Stopwatch(a)
            y = run(a)
            wall, sim = watch.stop()
            if not np.array_equal(y, expected):
                raise AssertionError(f"{name}_{suffix}: result differs from the golden model")
            conv = "conv" in name
            # (a convolution counts its nominal MACs: per tap, the array also computes the
            # discarded columns past the image edge)
            out.append(Record(f"{name}_{suffix}", target, "conv2d" if conv else "linear",
                              a.stats, wall, sim_s=sim,
                              macs=a.mapping.macs if conv else None,
                              mapping=f"{a.path}, {a.mapping.name}" if conv else a.path))
    return out


def speedups(records):
    """{layer: register-path cycles / program-path cycles}."""
    cycles = {r.name: r.stats.cycles for r in records}
    return {n: round(cycles[f"{n}_registers"] / cycles[f"{n}_program"], 2) for n in LAYERS
            if f"{n}_registers" in cycles and f"{n}_program" in cycles}
