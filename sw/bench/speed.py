"""Simulation speed on the ``"harness"`` target (issue 9's goal: >= 100,000 simulated cycles per
wall second on Verilator at 16x16 for FC and conv layers).

The harness (``sw/c``) runs the Verilated gateware with its clock loop and its memory in C++,
no cocotb. Each layer runs twice on a fresh accelerator with new data: ``speed_<layer>_first``
(the driver's first call of that shape: it chooses a plan on the cycle model, then compiles)
and ``speed_<layer>_repeat`` (the same shape again: the choice is remembered, as in a network's
second inference). On the register model (the bench's cycle comparison) the same records come
from the model.
"""

from __future__ import annotations

import numpy as np

import models
import models.conv as golden
from sw import Accelerator

from .record import Record, Stopwatch

__all__ = ["LAYERS", "TARGET", "records"]

#: the simulator target measured here
TARGET = "harness"
#: name, op, shape: FC (M, K, N); conv (C_in, C_out, H=W, kernel)
LAYERS = [
    ("fc_64x256x256", "linear", (64, 256, 256)),
    ("fc_1x784x1000", "linear", (1, 784, 1000)),
    ("conv3x3_64to64_16x16", "conv2d", (64, 64, 16, 3)),
    ("conv1x1_64to128_28x28", "conv2d", (64, 128, 28, 1)),
]


def _call(acc, rng, op, shape):
    def i8(*s):
        return rng.integers(-128, 128, s, dtype=np.int8)

    if op == "linear":
        m, k, n = shape
        x, w = i8(m, k), i8(n, k)
        return (lambda: acc.linear(x, w)), (lambda: models.linear(x, w))
    cin, cout, size, kernel = shape
    x, w = i8(1, cin, size, size), i8(cout, cin, kernel, kernel)
    pad = kernel // 2
    return (lambda: acc.conv2d(x, w, padding=pad)), (lambda: golden.conv2d(x, w, padding=pad))


def records(acc, rng, target):
    """The records of :data:`LAYERS` on the harness (on ``acc`` itself when ``target`` is the
    register model); AssertionError if a result differs from the golden model."""
    own = target == "regmodel"
    runner = acc if own else Accelerator.open(TARGET)
    out = []
    try:
        for name, op, shape in LAYERS:
            for when in ("first", "repeat"):
                run, want = _call(runner, rng, op, shape)
                watch = Stopwatch(runner)
                y = run()
                wall, sim = watch.stop()
                if not np.array_equal(y, want()):
                    raise AssertionError(f"speed_{name}_{when}: result differs from the golden "
                                         "model")
                out.append(Record(f"speed_{name}_{when}", target if own else TARGET, op,
                                  runner.stats, wall, sim_s=sim,
                                  extra={"shape": list(shape)}))
    finally:
        if not own:
            runner.close()
    return out
