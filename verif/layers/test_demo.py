"""`make demo` on Icarus: it passes, and the README quotes exactly what it prints."""

import pathlib
import re

import pytest

from sw import demo

pytestmark = pytest.mark.layer
README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_demo_passes_and_the_readme_quotes_its_output():
    ok, lines = demo.run("icarus")
    assert ok
    text = README.read_text()
    name = demo.README_SECTION[0]
    quoted = re.search(rf"<!-- {name}: .*?-->\n```\n(.*?)\n```\n<!-- end of {name} -->", text,
                       re.S)
    assert quoted, "README.md has no demo output section"
    assert quoted.group(1).split("\n") == lines, \
        "README.md quotes stale demo output: run `make docs`"
