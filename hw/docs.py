"""Documents generated from the code: ``python -m hw.docs`` (``make docs``).

* ``docs/registers.md``: the register map (:func:`hw.spec.regmap.markdown`) and the
  instruction format (:func:`hw.spec.isa.markdown`);
* the README's register map section;
* the block table (file, class, what it does, latency) in the README and in
  docs/architecture.md, found by walking ``hw/`` for ``wiring.Component`` classes.

Generated sections sit between markers (:mod:`hw.spec.markdown`); ``--check`` only compares
and exits 1 when something is stale (a test runs it).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pathlib
import pkgutil
import re
import sys

from amaranth.lib import wiring

from .spec import isa, regmap, timing
from .spec.markdown import has_section, replace_section

__all__ = ["blocks", "blocks_markdown", "expected_files", "generated", "main"]

ROOT = pathlib.Path(__file__).resolve().parent.parent


def blocks():
    """Every ``wiring.Component`` subclass defined in ``hw/``, in module order."""
    import hw
    found = []
    for info in sorted(pkgutil.walk_packages(hw.__path__, "hw."), key=lambda i: i.name):
        if info.name.startswith("hw.spec") or info.name in (__name__, "hw.gen"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, wiring.Component) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def _latency(cls):
    if cls.__name__ == "VmmArray":
        return f"`array_latency(R)`: {timing.array_latency(16)} at R = 16"
    if cls.__name__ == "CimArray":
        return f"`cim_array_latency(B)`: 8/B + 2, {timing.cim_array_latency(1)} at B = 1"
    latency = getattr(cls, "LATENCY", None)
    return "–" if latency is None else str(latency)


def _markdown(rst):
    """Inline reStructuredText of a docstring as Markdown: roles and double backticks."""
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", rst).replace("``", "`")


def blocks_markdown():
    """The block table: one row per block class."""
    rows = ["| file | block | what it does | latency (cycles) |", "|---|---|---|---|"]
    for cls in blocks():
        path = pathlib.Path(inspect.getsourcefile(cls)).relative_to(ROOT).as_posix()
        summary = _markdown((inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " "))
        rows.append(f"| `{path}` | `{cls.__name__}` | {summary} | {_latency(cls)} |")
    return "\n".join(rows)


def registers_markdown():
    """docs/registers.md: the register map, then the instruction format (hw/spec/isa.py)."""
    return regmap.markdown().rstrip("\n") + "\n\n" + isa.markdown()


def _register_section():
    body = registers_markdown().split("\n", 2)[2].strip()
    return body.replace("\n### ", "\n#### ").replace("\n## ", "\n### ")  # under README's ##


def generated():
    """{name: (source, text)} of every generated section."""
    return {
        "register map": ("hw/spec/regmap.py", _register_section()),
        "block table": ("hw/ (python -m hw.docs)", blocks_markdown()),
    }


def expected_files():
    """{path: the text it must have}."""
    files = {ROOT / "docs" / "registers.md": registers_markdown()}
    for path in (ROOT / "README.md", ROOT / "docs" / "architecture.md"):
        text = path.read_text()
        for name, (source, body) in generated().items():
            if has_section(text, name, source):
                text = replace_section(text, name, source, body)
        files[path] = text
    return files


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = p.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        if not path.exists() or path.read_text() != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.write_text(text)
    verb = "stale" if args.check else "rewrote"
    print(f"{verb}: {', '.join(stale)}" if stale else "docs are up to date")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
