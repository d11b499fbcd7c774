"""SCALE-Sim 3.0's reference suite at 16x16 (issue 9): eight layers with int32 outputs, each a
record ``suite_<layer>``, and the suite's totals against the issue's goals.

Convolutions use 'same' padding so that the outputs have the stated size; the depthwise layer
goes through the driver's depthwise lowering. Every result is checked exactly against the
golden model.
"""

from __future__ import annotations

import numpy as np

import models
import models.conv as golden

from ..driver.stats import Stats
from .record import Record, Stopwatch

__all__ = ["LAYERS", "GOALS", "call", "records", "totals"]

#: name, op, shape: FC (M, K, N); conv (C_in, C_out, H=W of the output, kernel, groups)
LAYERS = [
    ("fc_64x256x256", "linear", (64, 256, 256)),
    ("fc_1x784x1000", "linear", (1, 784, 1000)),
    ("fc_16x64x32", "linear", (16, 64, 32)),
    ("fc_128x64x48", "linear", (128, 64, 48)),
    ("conv3x3_64to64_16x16", "conv2d", (64, 64, 16, 3, 1)),
    ("conv1x1_64to128_28x28", "conv2d", (64, 128, 28, 1, 1)),
    ("conv3x3_16to32_16x16", "conv2d", (16, 32, 16, 3, 1)),
    ("dwconv3x3_32ch_16x16", "depthwise_conv2d", (32, 32, 16, 3, 32)),
]
#: the issue's goals for the whole suite at 16x16 with a 128-bit port
GOALS = {"cycles": 152_000, "busy_cycles": 110_000}


def call(acc, rng, op, shape):
    """(run the layer on ``acc``, compute it on the golden model) for random int8 data of one
    of :data:`LAYERS`' shapes."""
    def i8(*s):
        return rng.integers(-128, 128, s, dtype=np.int8)

    if op == "linear":
        m, k, n = shape
        x, w = i8(m, k), i8(n, k)
        return (lambda: acc.linear(x, w)), (lambda: models.linear(x, w))
    cin, cout, size, kernel, groups = shape
    x = i8(1, cin, size, size)
    pad = kernel // 2
    if op == "depthwise_conv2d":
        w = i8(cin, 1, kernel, kernel)
        return (lambda: acc.depthwise_conv2d(x, w, padding=pad)), \
            (lambda: golden.depthwise_conv2d(x, w, padding=pad))
    w = i8(cout, cin // groups, kernel, kernel)
    return (lambda: acc.conv2d(x, w, padding=pad)), (lambda: golden.conv2d(x, w, padding=pad))


def records(acc, rng, target):
    """The suite's records on ``acc`` (AssertionError if a result differs from the golden
    model)."""
    out = []
    for name, op, shape in LAYERS:
        run, want = call(acc, rng, op, shape)
        watch = Stopwatch(acc)
        y = run()
        wall, sim = watch.stop()
        if not np.array_equal(y, want()):
            raise AssertionError(f"suite_{name}: result differs from the golden model")
        mapping = getattr(acc, "mapping", None)
        macs = mapping.macs if op != "linear" and mapping is not None else None
        out.append(Record(f"suite_{name}", target, op, acc.stats, wall, sim_s=sim, macs=macs,
                          mapping=acc.path if isinstance(getattr(acc, "path", None), str)
                          else "", extra={"shape": list(shape)}))
    return out


def totals(records):
    """The suite's summed cycles and busy cycles, with the goals."""
    s = Stats.total(r.stats for r in records if r.name.startswith("suite_"))
    return {"cycles": s.cycles, "busy_cycles": s.busy_cycles, "macs": s.macs,
            "goal_cycles": GOALS["cycles"], "goal_busy_cycles": GOALS["busy_cycles"]}
