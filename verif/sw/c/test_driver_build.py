"""The C driver builds as freestanding C99 (what a bare-metal core has): strict warnings, no
header beyond stdint/stddef/stdbool, no symbol it needs from a C library but the two GCC may
emit on its own (memcpy, memset); and for a 32-bit RISC-V core when that compiler is here."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from sw.c.build import CFLAGS, HERE

pytestmark = pytest.mark.nosim

SOURCE = HERE / "pimacc.c"
FREESTANDING = {"stdint.h", "stddef.h", "stdbool.h"}


def test_driver_includes_only_freestanding_headers():
    included = set()
    for path in (SOURCE, HERE / "pimacc.h", HERE / "pimacc_regs.h"):
        included |= set(re.findall(r'^#include [<"]([^>"]+)[>"]', path.read_text(), re.M))
    assert included - {"pimacc.h", "pimacc_regs.h"} <= FREESTANDING, included


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_driver_compiles_freestanding_without_libc(tmp_path):
    obj = tmp_path / "pimacc.o"
    subprocess.run(["gcc", *CFLAGS, "-nostdlib", "-c", str(SOURCE), "-o", str(obj)],
                   check=True, capture_output=True, text=True)
    undefined = subprocess.run(["nm", "-u", str(obj)], check=True, capture_output=True,
                               text=True).stdout.split()
    assert set(undefined) - {"U"} <= {"memcpy", "memset"}, undefined


RISCV = next((c for c in ("riscv64-unknown-elf-gcc", "riscv32-unknown-elf-gcc")
              if shutil.which(c)), None)


@pytest.mark.skipif(RISCV is None, reason="needs gcc-riscv64-unknown-elf")
def test_driver_compiles_for_rv32im(tmp_path):
    flags = [f for f in CFLAGS if f != "-fPIC"]
    subprocess.run([RISCV, *flags, "-march=rv32im", "-mabi=ilp32", "-c", str(SOURCE), "-o",
                    str(tmp_path / "pimacc.o")], check=True, capture_output=True, text=True)


def test_a_build_whose_tools_exit_0_without_output_fails(tmp_path, monkeypatch):
    """Every tool "succeeds" but makes nothing (as make once did when its parent was killed):
    the build raises instead of leaving a harness directory without a program."""
    from sw.c import build

    calls = []
    monkeypatch.setattr(build, "_run", lambda cmd, cwd, log, env=None: calls.append(cmd))
    with pytest.raises(RuntimeError, match="pimacc_harness, libpimacc_harness.so"):
        build._compile_pass(tmp_path, 1, tmp_path / "build.log", [])
    assert calls, "no tool was called"
    for name in ("pimacc_harness", "libpimacc_harness.so"):
        (tmp_path / name).write_bytes(b"")
    build._compile_pass(tmp_path, 1, tmp_path / "build.log", [])
