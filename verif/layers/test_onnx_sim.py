"""sw.onnx on the gateware: the digits CNN, quantized by ONNX Runtime, on Verilator (40 test
images) and Icarus (4), equal to the golden model and to ONNX Runtime."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

from sw import Accelerator
from sw.nets import digits
from sw.onnx import load
from verif.sw.test_onnx import graph, quantized

pytestmark = pytest.mark.layer


@pytest.mark.parametrize("target, images", [("verilator", 40), ("icarus", 4)])
def test_onnx_cnn_on_the_gateware(tmp_path, target, images):
    x_train, x_test, _, _ = digits.load()
    p = digits.load_cnn()
    nodes = [
        helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = {"c1w": p["conv1"][0], "c1b": p["conv1"][1], "c2w": p["conv2"][0],
             "c2b": p["conv2"][1], "fw": p["fc"][0], "fb": p["fc"][1]}
    path = quantized(graph(nodes, inits, ["N", 1, 8, 8], ["N", 10]),
                     x_train.reshape(-1, 1, 8, 8).astype(np.float32), tmp_path)
    x = x_test[:images].reshape(-1, 1, 8, 8).astype(np.float32)
    net = load(path)
    with Accelerator.open(target) as acc:
        y = net.run(acc, x)[0]
    np.testing.assert_array_equal(y, net.golden(x)[0])
    np.testing.assert_array_equal(y, ort.InferenceSession(str(path)).run(None, {"x": x})[0])
