"""A network's layers in parallel (issue 11): each accelerator call of an inference runs on its
own simulated accelerator, from the golden model's input activations.

Given the golden model's activations, the calls of an inference do not depend on each other
(:meth:`sw.onnx.Network.calls` records each call's arguments and golden output). So they can run
at once, each in its own process with its own accelerator, and the per-call records assemble
into the same report as a serial run (:func:`sw.nets.zoo.report`):

* ``run_calls(calls, target)``: local processes (``concurrent.futures``, ``workers`` of them,
  default one per core);
* ``run_calls(calls, target, address="tcp://host:8786")``: a Dask cluster (``dask.distributed``,
  the ``cluster`` extra); its workers must see this repository (a shared file system or the same
  checkout) and have the target's simulator. A ``LocalCluster`` works the same.

Every worker checks its call's output against the golden output (``equal`` in the result). A
worker process keeps its accelerator between calls (``_ACCELERATORS``), so the harness is built
or loaded once per process, and each process makes its own plan choices.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = ["Result", "run_calls"]

#: per worker process: (target, geometry) -> open accelerator
_ACCELERATORS = {}


@dataclass(frozen=True)
class Result:
    """The parallel run: every call's :class:`sw.onnx.Layer` in order, whether each equals the
    golden output, the wall time of the whole run and how it ran."""
    layers: list
    equal: list
    wall_s: float
    engine: str

    @property
    def all_equal(self):
        return all(self.equal)


def _accelerator(target, geometry):
    key = (target, tuple(sorted(geometry.items())))
    if key not in _ACCELERATORS:
        from sw.accelerator import Accelerator
        _ACCELERATORS[key] = Accelerator.open(target, **geometry)
    return _ACCELERATORS[key]


def _run_one(call, target, geometry):
    """In a worker: ``call`` on its accelerator; (Layer, output equals the golden one)."""
    y, layer = call.run(_accelerator(target, geometry))
    return layer, bool(np.array_equal(y, call.golden))


def _run_many(calls, target, geometry):
    return [_run_one(c, target, geometry) for c in calls]


def _chunks(calls, n):
    """``calls`` in ``n`` contiguous groups of about equal predicted work (MACs)."""
    weight = [max(1, c.golden.size) if c.call != "conv2d" else
              max(1, int(np.prod(np.shape(c.golden))) * int(np.prod(np.shape(c.args[1])[1:])))
              for c in calls]
    total, groups, cur, acc = sum(weight), [], [], 0
    for c, w in zip(calls, weight, strict=True):
        cur.append(c)
        acc += w
        if acc >= total * (len(groups) + 1) / n and len(groups) < n - 1:
            groups.append(cur)
            cur = []
    return [g for g in groups + [cur] if g]


def run_calls(calls, target="regmodel", *, workers=None, address=None, geometry=None,
              progress=False):
    """Run ``calls`` (:meth:`sw.onnx.Network.calls`) on ``target`` in parallel; a
    :class:`Result` in the calls' order.

    Parameters
    ----------
    workers : int, optional
        Local processes (default: the machine's cores); ignored with ``address``.
    address : str, optional
        A Dask scheduler's address (``"tcp://..."``), or a ``dask.distributed.Client``: the
        calls run on that cluster, one task each.
    geometry : dict, optional
        Geometry overrides for ``Accelerator.open`` (e.g. ``{"banks": 16}``).
    progress : bool
        A progress bar over the finished calls (tqdm).
    """
    geometry = dict(geometry or {})
    calls = list(calls)
    start = time.perf_counter()
    if address is not None:
        from dask.distributed import Client, as_completed
        client = address if isinstance(address, Client) else Client(address)
        engine = f"dask at {client.scheduler.address}"
        try:
            futures = client.map(_run_one, calls, target=target, geometry=geometry,
                                 pure=False)
            done = as_completed(futures)
            if progress:
                from tqdm import tqdm
                done = tqdm(done, total=len(futures), unit="call", leave=False)
            for _ in done:
                pass
            pairs = client.gather(futures)
        finally:
            if client is not address:
                client.close()
    else:
        workers = workers or os.cpu_count() or 1
        groups = _chunks(calls, workers)
        with ProcessPoolExecutor(max_workers=len(groups)) as pool:
            futures = [pool.submit(_run_many, g, target, geometry) for g in groups]
            if progress:
                from concurrent.futures import as_completed as done_order

                from tqdm import tqdm
                for _ in tqdm(done_order(futures), total=len(futures), unit="group",
                              leave=False):
                    pass
            pairs = [p for f in futures for p in f.result()]
        engine = f"{len(groups)} local processes"
    wall = time.perf_counter() - start
    return Result([p[0] for p in pairs], [p[1] for p in pairs], wall, engine)
