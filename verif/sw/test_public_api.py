"""The public API the issues promise: names and arguments stay as written there."""

import inspect

import numpy as np
import pytest

import models.conv
from sw import Accelerator

pytestmark = pytest.mark.nosim


@pytest.mark.parametrize("name, params", [
    ("linear", ["x", "w", "b", "scale", "zero_point", "relu", "input_zero_point"]),
    ("conv2d", ["x", "w", "b", "stride", "padding", "dilation", "groups", "scale", "zero_point",
                "relu", "max_pool", "input_zero_point"]),
    ("depthwise_conv2d", ["x", "w", "b"]),
    ("max_pool2d", ["x", "kernel_size", "stride", "padding"]),
    ("avg_pool2d", ["x", "kernel_size", "stride"]),
    ("add", ["a", "b", "scale_a", "scale_b", "zero_point", "relu"]),
])
def test_methods_and_arguments(name, params):
    signature = inspect.signature(getattr(Accelerator, name))
    assert set(params) <= set(signature.parameters), set(params) - set(signature.parameters)


def test_conv2d_method_runs_on_the_accelerator():
    rng = np.random.default_rng(5)
    print("seed=5")
    x = rng.integers(-128, 128, (2, 3, 7, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 3, 3, 3), dtype=np.int8)
    b = rng.integers(-999, 999, 4, dtype=np.int32)
    with Accelerator.open("regmodel", rows=8, cols=8) as acc:
        y = acc.conv2d(x, w, b, padding=1, scale=1 / 2048, zero_point=-2, relu=True, max_pool=2)
        expected = models.conv.conv2d(x, w, b, padding=1, scale=1 / 2048, zero_point=-2,
                                      relu=True, max_pool=2)
        np.testing.assert_array_equal(y, expected)
        assert acc.stats.macs > 0 and acc.mapping is not None
