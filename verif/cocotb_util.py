"""Running cocotb test modules from pytest, and reading their parameters inside the simulator."""

import json
import os
import re

from cocotb_tools.runner import get_results

from sw.targets.sim.build import SimBuild

PARAMS_ENV = "PIMACC_PARAMS"


def run_cocotb(build: SimBuild, test_module: str, params: dict | None = None,
               testcase=None, timeout_s: int = 600):
    """Run ``test_module`` in ``build`` with ``params`` (JSON-able) and fail if any test failed."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    current = os.environ.get("PYTEST_CURRENT_TEST", test_module).split(" ")[0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", current)[-120:]
    test_dir = build.build_dir / f"t-{worker}" / name
    log = test_dir / "sim.log"
    env = {PARAMS_ENV: json.dumps(params or {})}
    try:
        results = build.test(test_module, test_dir=test_dir, testcase=testcase, extra_env=env,
                             log_file=log)
    except SystemExit:  # the runner exits when tests fail under pytest
        results = test_dir / "results.xml"
    tail = ""
    if log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
    print(tail)
    assert results.exists(), f"no results from {test_module}; log {log}:\n{tail}"
    total, failed = get_results(results)
    assert total > 0, f"{test_module} ran no test"
    assert failed == 0, f"{failed} of {total} cocotb tests failed in {test_module}; log {log}"


def params():
    """Inside the simulator: the parameters passed by :func:`run_cocotb`."""
    return json.loads(os.environ.get(PARAMS_ENV, "{}"))
