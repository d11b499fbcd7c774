"""sw.onnx on the gateware: the digits CNN, quantized by ONNX Runtime, on Verilator (40 test
images) and Icarus (4), equal to the golden model and to ONNX Runtime."""

import numpy as np
import pytest

from sw import Accelerator
from sw.nets import digits
from sw.onnx import load, reference_session
from verif.sw.test_onnx import digits_cnn_graph, quantized

pytestmark = pytest.mark.layer


@pytest.mark.parametrize("target, images", [("verilator", 40), ("icarus", 4)])
def test_onnx_cnn_on_the_gateware(tmp_path, target, images):
    x_train, x_test, _, _ = digits.load()
    path = quantized(digits_cnn_graph(), x_train.reshape(-1, 1, 8, 8).astype(np.float32),
                     tmp_path)
    x = x_test[:images].reshape(-1, 1, 8, 8).astype(np.float32)
    net = load(path)
    with Accelerator.open(target) as acc:
        y = net.run(acc, x)[0]
    np.testing.assert_array_equal(y, net.golden(x)[0])
    np.testing.assert_array_equal(y, reference_session(path).run(None, {"x": x})[0])
