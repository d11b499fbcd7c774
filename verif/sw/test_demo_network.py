"""Issue 8, defect 7: the demo computes the network it claims - layer 2 reads fc1's int8 output
with its zero point -128 (before the fix it read it as if the zero point were 0)."""

import re

import numpy as np
import pytest

from sw import demo

pytestmark = pytest.mark.nosim


def test_demo_logits_are_the_two_layer_mlp(capsys):
    ok, lines = demo.run("regmodel", example="mlp")
    assert ok
    x, w1, b1, w2, b2 = demo.network()
    # Independent of the driver: plain NumPy integers, fc1 rounded as the requantizer does.
    acc = x.astype(np.int64) @ w1.astype(np.int64).T + b1
    h = np.clip((acc * 2**-12 + 0.5) // 1 - 128, -128, 127)   # scale 1/4096 exactly, half up
    h = np.maximum(h, -128)                                   # ReLU at the zero point
    logits = (h + 128) @ w2.astype(np.int64).T + b2           # the real activation is h + 128
    predicted = re.search(r"predicted classes: \[(.*)\]", "\n".join(lines)).group(1)
    assert [int(c) for c in predicted.split(",")] == logits.argmax(axis=1).tolist()
