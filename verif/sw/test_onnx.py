"""sw.onnx: QDQ models quantized by ONNX Runtime, run on the register model, against ONNX
Runtime's own CPU execution of the same file. The float graphs are built here (onnx.helper) and
quantized here (onnxruntime.quantization.quantize_static, QDQ, per channel): nothing is
downloaded."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from sw import Accelerator
from sw.nets import digits
from sw.onnx import load, reference_session

pytestmark = pytest.mark.nosim
SEED = 4242


def graph(nodes, inits, in_shape, out_shape):
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model


def quantized(model, calibration, tmp_path):
    """The QDQ model ONNX Runtime's quantize_static makes (int8, per channel); its path."""
    src, dst = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save(model, src)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": calibration[i:i + 64]}
                                 for i in range(0, len(calibration), 64)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    return dst


def compare(path, x):
    """(pimacc's float outputs, ORT's, fraction exact and within one step, in int8 steps)."""
    net = load(path)
    ref = reference_session(path).run(None, {"x": x})[0]
    with Accelerator.open("regmodel") as acc:
        got = net.run(acc, x)[0]
    np.testing.assert_array_equal(got, net.golden(x)[0])
    q = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    out_q = next(n for n in q.graph.node if n.op_type == "QuantizeLinear" and
                 n.output[0] == next(d.input[0] for d in q.graph.node if d.output[0] == "y"))
    scale, zp = float(inits[out_q.input[1]]), int(inits[out_q.input[2]])
    steps = np.abs(np.rint(got / np.float32(scale)) - np.rint(ref / np.float32(scale)))
    print(f"{(steps == 0).mean():.5f} exact, {(steps <= 1).mean():.5f} within one step "
          f"(scale {scale:.4g}, zero point {zp})")
    return got, ref, (steps == 0).mean(), (steps <= 1).mean()


def digits_cnn_graph():
    """The digits CNN (committed weights) as a float ONNX graph."""
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
    return graph(nodes, inits, ["N", 1, 8, 8], ["N", 10])


def test_digits_cnn_against_onnx_runtime(tmp_path):
    x_train, x_test, _, y_test = digits.load()
    model = digits_cnn_graph()
    images = x_test.reshape(-1, 1, 8, 8).astype(np.float32)
    path = quantized(model, x_train.reshape(-1, 1, 8, 8).astype(np.float32), tmp_path)
    got, ref, exact, near = compare(path, images)
    assert exact >= 0.99 and near >= 0.999
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.995
    print(f"top-1 accuracy: pimacc {np.mean(got.argmax(1) == y_test):.4f}, ONNX Runtime "
          f"{np.mean(ref.argmax(1) == y_test):.4f}")
    assert np.mean(got.argmax(1) == y_test) >= 0.97


def test_digits_mlp_against_onnx_runtime(tmp_path):
    x_train, x_test, _, y_test = digits.load()
    (w1, b1), (w2, b2) = digits.load_mlp()
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    model = graph(nodes, {"w1": w1, "b1": b1, "w2": w2, "b2": b2}, ["N", 64], ["N", 10])
    path = quantized(model, x_train.astype(np.float32), tmp_path)
    got, ref, exact, near = compare(path, x_test.astype(np.float32))
    assert exact >= 0.99 and near >= 0.999
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.995


def test_matmul(tmp_path):
    rng = np.random.default_rng(SEED + 2)
    print(f"seed={SEED + 2}")
    model = graph([helper.make_node("MatMul", ["x", "w"], ["y"])],
                  {"w": rng.normal(0, 0.3, (20, 12))}, ["N", 20], ["N", 12])
    x = rng.normal(0, 1, (200, 20)).astype(np.float32)
    _, _, exact, near = compare(quantized(model, x[:64], tmp_path), x[64:])
    assert exact >= 0.99 and near >= 0.999


def test_depthwise_separable_block(tmp_path):
    rng = np.random.default_rng(SEED)
    print(f"seed={SEED}")
    nodes = [helper.make_node("Conv", ["x", "dw", "db"], ["d"], pads=[1, 1, 1, 1], group=8),
             helper.make_node("Clip", ["d", "lo", "hi"], ["r"]),
             helper.make_node("Conv", ["r", "pw", "pb"], ["p"]),
             helper.make_node("Relu", ["p"], ["y"])]
    inits = {"dw": rng.normal(0, 0.4, (8, 1, 3, 3)), "db": rng.normal(0, 0.1, 8),
             "pw": rng.normal(0, 0.3, (16, 8, 1, 1)), "pb": rng.normal(0, 0.1, 16),
             "lo": np.float32(0), "hi": np.float32(6)}
    model = graph(nodes, inits, ["N", 8, 6, 6], ["N", 16, 6, 6])
    x = rng.normal(0, 1, (96, 8, 6, 6)).astype(np.float32)
    path = quantized(model, x[:64], tmp_path)
    _, _, exact, near = compare(path, x[64:])
    assert exact >= 0.99 and near >= 0.999


def test_residual_block(tmp_path):
    rng = np.random.default_rng(SEED + 1)
    print(f"seed={SEED + 1}")
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "x"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    inits = {"w1": rng.normal(0, 0.2, (4, 4, 3, 3)), "b1": rng.normal(0, 0.1, 4),
             "w2": rng.normal(0, 0.2, (4, 4, 3, 3)), "b2": rng.normal(0, 0.1, 4)}
    model = graph(nodes, inits, ["N", 4, 5, 5], ["N", 4, 5, 5])
    x = rng.normal(0, 1, (96, 4, 5, 5)).astype(np.float32)
    path = quantized(model, x[:64], tmp_path)
    _, _, exact, near = compare(path, x[64:])
    assert exact >= 0.99 and near >= 0.999


@pytest.mark.parametrize("op", ["Sigmoid", "Softmax"])
def test_unsupported_ops_are_named(op):
    """An op the importer does not map raises at load time, naming the node and the op."""
    nodes = [helper.make_node(op, ["x"], ["y"], name="node0")]
    model = graph(nodes, {}, ["N", 4, 2, 2], ["N", 4, 2, 2])
    with pytest.raises(ValueError, match=rf"ONNX node 'node0' \({op}\): unsupported op"):
        load(model)


def test_average_pooling(tmp_path):
    """AveragePool keeps its scale, so its means land on exact halves: the importer follows ONNX
    Runtime's float32 rounding of them (module docstring); GlobalAveragePool requantizes."""
    rng = np.random.default_rng(SEED + 3)
    print(f"seed={SEED + 3}")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("AveragePool", ["r"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["a"], ["y"])]
    model = graph(nodes, {"w": rng.normal(0, 0.3, (4, 3, 3, 3)), "b": rng.normal(0, .1, 4)},
                  ["N", 3, 6, 6], ["N", 4, 1, 1])
    x = rng.normal(0, 1, (160, 3, 6, 6)).astype(np.float32)
    _, _, exact, near = compare(quantized(model, x[:64], tmp_path), x[64:])
    assert exact >= 0.99 and near >= 0.999


def test_maxpool_is_folded_into_the_conv(tmp_path):
    """The digits CNN's two MaxPools run in the Conv calls' pooling stage (no separate call)."""
    x_train, x_test, _, _ = digits.load()
    path = quantized(digits_cnn_graph(), x_train.reshape(-1, 1, 8, 8).astype(np.float32),
                     tmp_path)
    net = load(path)
    calls = []
    with Accelerator.open("regmodel") as acc:
        for name in ("conv2d", "linear", "max_pool2d"):
            original = getattr(acc, name)
            setattr(acc, name, lambda *a, _f=original, _n=name, **k: calls.append(
                (_n, k.get("max_pool"))) or _f(*a, **k))
        net.run(acc, x_test[:3].reshape(-1, 1, 8, 8).astype(np.float32))
    assert [c for c in calls if c[0] != "linear"] == [("conv2d", (2, 2)), ("conv2d", (2, 2))]
    assert len(net.folded) == 2
