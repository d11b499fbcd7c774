"""sw.nets.digits on the register model: a trained MLP, int8 within a point of float, the
accelerator equal to the golden model bit for bit on the whole test split."""

import numpy as np
import pytest

from sw import Accelerator
from sw.nets import digits

pytestmark = pytest.mark.nosim


@pytest.fixture(scope="module")
def trained():
    x_train, x_test, y_train, y_test = digits.load()
    layers = digits.train_mlp(x_train, y_train)
    return layers, digits.QuantizedMLP.from_float(layers, x_train), x_test, y_test


def test_split_is_seeded_and_stratified():
    x_train, x_test, y_train, y_test = digits.load()
    assert x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    assert np.array_equal(digits.load()[1], x_test)  # the same split every time
    per_class = np.bincount(np.concatenate([y_train, y_test]))
    assert np.all(np.abs(np.bincount(y_test) - per_class / 4) <= 1)  # stratified
    assert x_train.min() >= 0 and x_train.max() <= 1


def test_input_quantization_is_exact():
    x = np.arange(17)[None, :] / 16
    q = digits.QuantizedMLP.quantize_input(x)
    np.testing.assert_array_equal((q.astype(int) + 128) / 16, x)


def test_accuracy_float_int8_accelerator(trained):
    layers, q, x_test, y_test = trained
    acc_float = digits.accuracy(digits.float_forward(layers, x_test), y_test)
    golden = q.golden(x_test)
    with Accelerator.open("regmodel") as acc:
        logits = q(acc, x_test)
    print(f"float {acc_float:.4f}, int8 {digits.accuracy(golden, y_test):.4f}")
    np.testing.assert_array_equal(logits, golden)
    assert acc_float >= 0.95
    assert digits.accuracy(golden, y_test) >= acc_float - 0.01  # issue 10: within 1 point
    agree = np.mean(golden.argmax(1) == digits.float_forward(layers, x_test).argmax(1))
    assert agree >= 0.98, agree


def test_logits_are_close_to_float(trained):
    """The int8 network's logits track the float ones (an independent reference)."""
    layers, q, x_test, _ = trained
    ref, got = digits.float_forward(layers, x_test), q.golden(x_test)
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()
