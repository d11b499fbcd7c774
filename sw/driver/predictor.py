"""The cycle model's predictions in worker processes (opt in): a layer shape's first call
predicts its candidate programs side by side instead of one after another.

A prediction compiles a candidate without data and runs it on the register model's cycle model
(:func:`~sw.targets.regmodel.program.predict_cycles`); it needs nothing of the driver's state,
so a task is just (kind, plan, order, LUT or not, zero point, latency) and its answer (cycles,
the program's last byte). The driver keeps the answers as if it had predicted them itself, so
the choice is the same; only the wall time of a first call changes (and the work: a batch may
predict a candidate that the serial search would have skipped by its bound).

Enable it with ``Accelerator.open(..., predict_workers=2)`` or ``PIMACC_PREDICT_WORKERS=2``
(:mod:`sw.knobs`). Worker processes start (``spawn``) at the first batch and stop with
``acc.close()``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

__all__ = ["Predictor", "predict_task"]


def predict_task(task):
    """(cycles, program end) of one candidate: ``task`` = (kind, plan, order, lut, zero_point,
    latency), kind ``"linear"`` (:func:`~.program.compile_plan`) or ``"taps"``
    (:func:`~.taps.compile_taps`)."""
    import numpy as np

    from ..targets.regmodel.program import predict_cycles
    from .program import compile_plan
    from .taps import compile_taps
    kind, plan, order, lut, zero_point, latency = task
    table = np.zeros(256, np.int8) if lut else None
    compile_ = compile_plan if kind == "linear" else compile_taps
    program = compile_(plan, None, None, None, None, zero_point, table, order=order).program
    return predict_cycles(program, latency), program.end


class Predictor:
    """A pool of ``workers`` processes that predict candidates (:func:`predict_task`)."""

    def __init__(self, workers):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"predict_workers must be an int >= 1, got {workers!r}")
        self.workers = workers
        self._pool = None

    def map(self, tasks):
        """The answers of ``tasks``, in order."""
        tasks = list(tasks)
        if len(tasks) < 2:
            return [predict_task(t) for t in tasks]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context("spawn"))
        return list(self._pool.map(predict_task, tasks))

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
