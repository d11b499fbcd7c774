"""The layout of sw/ holds: importing sw needs no Amaranth, and imports point one way."""

import ast
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.nosim
ROOT = pathlib.Path(__file__).resolve().parents[2]

#: what each part of sw/ may import from this project (besides itself)
ALLOWED = {
    # (the "harness" target runs the gateware through the C harness's binding, sw/c)
    "sw/targets": {"hw.spec", "models", "sw.knobs", "sw.c"},
    "sw/driver": {"hw.spec", "models", "sw.targets", "sw.knobs"},
    "sw/layers": {"hw.spec", "models", "sw.driver"},
    "sw/bench": {"hw.spec", "models", "sw"},
    # (networks are applications: any public part of the host software, not the bench)
    "sw/nets": {"hw.spec", "models", "sw.accelerator", "sw.targets", "sw.onnx", "sw.nn",
                "sw.layers", "sw.driver"},
}
#: modules that run inside the simulator or build the gateware may import hw (lazily)
GATEWARE_USERS = {"sw/targets/sim/build.py"}


def test_import_sw_imports_no_amaranth():
    code = ("import sys, sw, sw.nn, sw.accelerator, sw.targets, sw.driver, sw.layers; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('amaranth', 'cocotb')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"importing sw imported {out}"


def _project_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = path.relative_to(ROOT).with_suffix("").parts[:-node.level]
                names = [".".join(base + ((node.module,) if node.module else ()))]
            else:
                names = [node.module]
        else:
            continue
        yield from (n for n in names if n.split(".")[0] in ("hw", "sw", "models"))


@pytest.mark.parametrize("part", list(ALLOWED))
def test_imports_point_one_way(part):
    allowed = ALLOWED[part] | {part.replace("/", ".")}
    bad = []
    for path in sorted((ROOT / part).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name in _project_imports(path):
            ok = any(name == a or name.startswith(a + ".") for a in allowed)
            if not ok and not (rel in GATEWARE_USERS and name.startswith("hw.")):
                bad.append(f"{rel} imports {name}")
    assert not bad, "\n".join(bad)
