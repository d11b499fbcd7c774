"""The trained digits MLP (sw.nets.digits) on the gateware: Verilator on 120 test images, Icarus
on 16, equal to the golden model bit for bit."""

import numpy as np
import pytest

from sw import Accelerator
from sw.nets import digits

pytestmark = pytest.mark.layer


@pytest.mark.parametrize("target, images", [("verilator", 120), ("icarus", 16)])
def test_digits_mlp_on_the_gateware(target, images):
    x_train, x_test, y_train, y_test = digits.load()
    q = digits.QuantizedMLP.from_float(digits.load_mlp(), x_train)
    x, y = x_test[:images], y_test[:images]
    with Accelerator.open(target) as acc:
        logits = q(acc, x)
    np.testing.assert_array_equal(logits, q.golden(x))
    assert digits.accuracy(logits, y) >= 0.9


@pytest.mark.parametrize("target, images", [("verilator", 60), ("icarus", 6)])
def test_digits_cnn_on_the_gateware(target, images):
    x_train, x_test, _, y_test = digits.load()
    q = digits.QuantizedCNN.from_float(digits.load_cnn(), x_train)
    x = x_test[:images]
    with Accelerator.open(target) as acc:
        logits = q(acc, x)
    np.testing.assert_array_equal(logits, q.golden(x))
    assert digits.accuracy(logits, y_test[:images]) >= 0.9
