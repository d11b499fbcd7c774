"""The cycle model's predictions kept on disk, so a later process chooses its plans at once.

The driver chooses each layer shape's program by predicting candidates on the register model's
cycle model (:meth:`Driver._fastest_linear <sw.driver.driver.Driver._fastest_linear>`), which
takes seconds for a large layer. A prediction depends only on the program (the plan, the order,
the geometry, the array's latency) and on the cycle model's code, never on the data. A
:class:`PlanCache` stores every prediction as one JSON line in a file, tagged with a hash of the
source files the predictions come from, so a change to the compiler or the cycle model makes
the old lines unused (they are skipped, not deleted).

Opt in with ``Accelerator.open(..., plan_cache="build/plan-cache.jsonl")`` or the environment
variable ``PIMACC_PLAN_CACHE`` (:mod:`sw.knobs`); several processes may share one file (each
appends whole lines).
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib

__all__ = ["PlanCache", "VERSION_SOURCES"]

_ROOT = pathlib.Path(__file__).resolve().parents[2]
#: the sources a prediction depends on (their hash tags every line)
VERSION_SOURCES = ("hw/spec/isa.py", "hw/spec/timing.py", "hw/spec/geometry.py",
                   "sw/driver/program.py", "sw/driver/taps.py", "sw/driver/tiling.py",
                   "sw/targets/regmodel/program.py", "sw/targets/regmodel/port_memory.py")


def _version():
    h = hashlib.sha256()
    for name in VERSION_SOURCES:
        h.update(name.encode())
        h.update((_ROOT / name).read_bytes())
    return h.hexdigest()[:16]


class PlanCache:
    """Predicted cycles by (program key, array latency), loaded from and appended to ``path``."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.version = _version()
        self._known = {}
        self.hits = 0
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # (a line cut short by a killed process)
                if entry.get("version") == self.version:
                    self._known[entry["key"]] = float(entry["cycles"]) \
                        if entry["cycles"] == "inf" else entry["cycles"]

    @staticmethod
    def _key(key, latency):
        return f"{latency}|{key!r}"

    def get(self, key, latency):
        """The cycles stored for ``key`` (a tuple of plans, orders, flags), or None."""
        got = self._known.get(self._key(key, latency))
        if got is not None:
            self.hits += 1
        return got

    def put(self, key, latency, cycles):
        k = self._key(key, latency)
        if k in self._known:
            return
        self._known[k] = cycles
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"version": self.version, "key": k,
                           "cycles": "inf" if cycles == math.inf else int(cycles)})
        with open(self.path, "a") as f:
            f.write(line + "\n")

    def __len__(self):
        return len(self._known)

    def __repr__(self):
        return f"PlanCache({str(self.path)!r}, {len(self)} predictions, version {self.version})"
