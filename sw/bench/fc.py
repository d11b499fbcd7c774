"""Benchmark records of fully connected layers (int32 and requantized int8 outputs)."""

from __future__ import annotations

import numpy as np

import models

from .record import Record, Stopwatch

__all__ = ["LAYERS", "records"]

#: name, M, K, N, int8 output
LAYERS = [
    ("fc_64x256x256_int32", 64, 256, 256, False),
    ("fc_64x256x256_int8", 64, 256, 256, True),
    ("fc_128x128x128_int8", 128, 128, 128, True),
    ("mlp_784x64_int8", 16, 784, 64, True),
    ("gemv_1x256x256_int32", 1, 256, 256, False),
    ("fc_ragged_50x100x30_int8", 50, 100, 30, True),
]
MAPPING = "weight-stationary K x N tiles, x resident, K tiles accumulated in hw"


def records(acc, rng, target, only=None):
    """Run :data:`LAYERS` (those whose name contains ``only``) on ``acc``, each checked exactly
    against :func:`models.linear`; AssertionError if one differs."""
    out = []
    for name, m, k, n, int8 in LAYERS:
        if only and only not in name:
            continue
        x = rng.integers(-128, 128, (m, k), dtype=np.int8)
        w = rng.integers(-128, 128, (n, k), dtype=np.int8)
        b = rng.integers(-2**15, 2**15, n, dtype=np.int32)
        kw = dict(scale=1 / 2048, zero_point=0, relu=True) if int8 else {}
        watch = Stopwatch(acc)
        y = acc.linear(x, w, b, **kw)
        wall, sim = watch.stop()
        if not np.array_equal(y, models.linear(x, w, b, **kw)):
            raise AssertionError(f"{name}: result differs from the golden model")
        out.append(Record(name, target, "linear", acc.stats, wall, sim_s=sim, mapping=MAPPING,
                          extra={"shape": [m, k, n]}))
    return out
