"""sw.nets.zoo: the seed's MobileNet-v1 and ResNet-18 (issue 11), small variants end to end on
the register model against the golden model (exactly) and ONNX Runtime; the full-size graphs'
MACs against the papers' figures (an independent count)."""

import numpy as np
import pytest

from sw import Accelerator
from sw.nets import zoo
from sw.onnx import load, reference_session

pytestmark = pytest.mark.nosim


@pytest.mark.parametrize("net, macs, tolerance", [
    ("mobilenet_v1", 569e6, 0.005),   # MobileNet-v1 paper, Table 1 and 8: 569M Mult-Adds
    ("resnet18", 1.8e9, 0.02),        # ResNet paper, Table 1: 1.8 x 10^9 FLOPs (mult-adds)
])
def test_full_size_graphs_have_the_papers_macs(net, macs, tolerance):
    model = zoo.NETS[net](224, 1.0, 1000, seed=0)
    got = zoo.graph_macs(model, 224)
    print(f"{net}: {got:,} MACs")
    assert abs(got / macs - 1) <= tolerance


@pytest.mark.parametrize("net", sorted(zoo.NETS))
def test_small_variant_runs_exactly_and_agrees_with_onnx_runtime(net, tmp_path):
    seed = 11
    print(f"seed={seed}")
    model = zoo.NETS[net](32, 0.25, 100, seed=seed)
    data = zoo.calibration(32, 18, seed + 1)
    path = zoo.quantize(model, data[:16], tmp_path / "qdq.onnx")
    x = data[16:]
    net_ = load(path)
    ref = reference_session(path).run(None, {"x": x})[0]
    layers = []
    with Accelerator.open("regmodel") as acc:
        got = net_.run(acc, x, layers=layers)[0]
    np.testing.assert_array_equal(got, net_.golden(x)[0])
    assert (got.argmax(1) == ref.argmax(1)).all()
    step = np.abs(ref[ref != 0]).min()  # (a logit step: the output's scale, up to zero point)
    within = np.mean(np.abs(got - ref) <= step * 1.001)
    print(f"{within:.4f} of the logits within one step of ONNX Runtime")
    assert within >= 0.98
    # one record per accelerator call, and the convolutions' and FC's MACs are the graph's
    computes = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert sorted(la.name for la in layers if la.op_type in ("Conv", "Gemm")) == \
        sorted(n.name for n in computes)  # (ONNX Runtime may reorder independent nodes)
    assert sum(la.macs for la in layers if la.op_type in ("Conv", "Gemm")) == \
        len(x) * zoo.graph_macs(model, 32)
    assert all(la.stats.cycles > 0 for la in layers)
    text = zoo.report(layers)
    assert f"{len(layers)} accelerator calls" in text and "by layer type" in text
    kinds = {"mobilenet_v1": {"conv", "depthwise", "pool", "fc"},
             "resnet18": {"conv", "add", "pool", "fc"}}[net]
    assert {zoo._kind(la) for la in layers} == kinds
    run = zoo.summary(layers, net=net, size=32, width=0.25, target="regmodel", wall_s=1.0,
                      golden_equal=True, top1_same=True, max_steps=0.0,
                      network_macs=zoo.graph_macs(model, 32), geometry=acc.geometry)
    if net == "mobilenet_v1":  # depthwise: within the limit its mapping states
        dw = run["by_type"]["depthwise"]
        print("depthwise", dw)
        assert 0 < dw["utilization_total"] <= dw["utilization_compute"] <= dw["limit"] < 0.25
        assert dw["utilization_total"] <= dw["data_bound"] <= dw["limit"]
    assert "its mapping's limit" in zoo.markdown([run]) or net != "mobilenet_v1"
    zoo.plot(layers, tmp_path / "layers.png", net)
    assert (tmp_path / "layers.png").stat().st_size > 1000


def test_readme_lists_the_runs_of_docs_zoo_json():
    """The README's network runs are generated from docs/zoo.json (``make docs``); every
    recorded run equalled the golden model."""
    import json
    import pathlib

    from hw.spec.markdown import replace_section
    root = pathlib.Path(__file__).resolve().parents[3]
    runs = json.loads((root / "docs" / "zoo.json").read_text())
    assert runs and all(r["golden_equal"] for r in runs)
    readme = (root / "README.md").read_text()
    assert replace_section(readme, *zoo.SECTION, zoo.markdown(runs)) == readme, \
        "README.md's network runs are stale: run `make docs`"
