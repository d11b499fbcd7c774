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

from sw import Accelerator

from .record import Record, Stopwatch
from .suite import LAYERS as SUITE
from .suite import call

__all__ = ["LAYERS", "TARGET", "records"]

#: the simulator target measured here
TARGET = "harness"
#: name, op, shape as :data:`.suite.LAYERS` has them (four of the suite's layers)
LAYERS = [layer for layer in SUITE if layer[0] in (
    "fc_64x256x256", "fc_1x784x1000", "conv3x3_64to64_16x16", "conv1x1_64to128_28x28")]


def records(acc, rng, target):
    """The records of :data:`LAYERS` on the harness (on ``acc`` itself when ``target`` is the
    register model); AssertionError if a result differs from the golden model."""
    own = target == "regmodel"
    runner = acc if own else Accelerator.open(TARGET)
    out = []
    try:
        for name, op, shape in LAYERS:
            for when in ("first", "repeat"):
                run, want = call(runner, rng, op, shape)
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
