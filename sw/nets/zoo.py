"""The seed's networks as float ONNX graphs (issue 11): MobileNet-v1 as in the seed's table and
ResNet-18, at any input size and width, with **random weights** (there is no ImageNet here, so
no accuracy: the figures are cycles and agreement). Built with ``onnx.helper``, quantized by
ONNX Runtime (``quantize_static``, QDQ, per channel, int8, calibrated on random inputs),
imported with :func:`sw.onnx.load` and run on the accelerator layer by layer.

* :func:`mobilenet_v1`: the seed's table (the MobileNet-v1 paper's Table 1): a 3x3/s2 conv to
  ``32 * width`` channels, 13 depthwise-separable blocks (3x3 depthwise + ReLU6, 1x1 pointwise
  + ReLU6), global average pooling and an FC to the classes (the softmax is left out: argmax
  needs none). Batch norm is folded into each conv's weights and bias, as a deployed network
  has it. The table's second-to-last depthwise row says "s2" at 7x7 -- the paper's own typo; it
  keeps the 7x7 size, so stride 1 here. At 224x224 and width 1.0: 568.7M MACs (about 569M).
* :func:`resnet18`: a 7x7/s2 conv + ReLU, 3x3/s2 max-pool, four stages of two basic blocks (two
  3x3 convs and a residual add + ReLU; a 1x1/s2 projection where the shape changes), global
  average pooling, FC. At 224x224: 1.81G MACs.

``python -m sw.nets.zoo --net mobilenet_v1 --size 32 --width 0.25 --target regmodel
--plot build/mobilenet.png`` builds, quantizes and runs one image, checks it against the golden
model (exactly) and ONNX Runtime, and prints a per-layer report.
"""

from __future__ import annotations

import argparse
import logging
import math
import pathlib
import tempfile
import time

import numpy as np

__all__ = ["NETS", "MOBILENET_V1", "SECTION", "mobilenet_v1", "resnet18", "quantize",
           "calibration", "graph_macs", "output_scale", "report", "plot", "summary", "markdown",
           "main"]

#: MobileNet-v1's depthwise-separable blocks (the seed's table): (stride, output channels)
MOBILENET_V1 = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
                (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]


class _Builder:
    """Nodes and initializers of a float graph with folded batch norm (He-initialized convs)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], {}, 0

    def name(self, kind):
        self.n += 1
        return f"{kind}{self.n}"

    def conv(self, x, cin, cout, k, stride=1, groups=1, act="relu"):
        from onnx import helper
        name = self.name("conv")
        fan_in = cin // groups * k * k
        self.inits[name + ".w"] = self.rng.normal(0, math.sqrt(2 / fan_in),
                                                  (cout, cin // groups, k, k))
        self.inits[name + ".b"] = self.rng.normal(0, 0.05, cout)
        y = name
        self.nodes.append(helper.make_node("Conv", [x, name + ".w", name + ".b"], [y],
                                           name=name, kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[k // 2] * 4,
                                           group=groups))
        return self.act(y, act)

    def act(self, x, act):
        from onnx import helper
        if act == "relu":
            y = x + ".relu"
            self.nodes.append(helper.make_node("Relu", [x], [y], name=y))
            return y
        if act == "relu6":
            y = x + ".relu6"
            for bound, v in (("lo", 0.0), ("hi", 6.0)):
                self.inits.setdefault(f"clip.{bound}", np.float32(v))
            self.nodes.append(helper.make_node("Clip", [x, "clip.lo", "clip.hi"], [y], name=y))
            return y
        return x

    def head(self, x, channels, classes):
        """Global average pooling, flatten, FC (the logits: output ``y``)."""
        from onnx import helper
        self.nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"),
                       helper.make_node("Flatten", ["gap"], ["flat"], name="flat")]
        self.inits["fc.w"] = self.rng.normal(0, math.sqrt(1 / channels), (classes, channels))
        self.inits["fc.b"] = self.rng.normal(0, 0.05, classes)
        self.nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"], name="fc",
                                           transB=1))

    def model(self, name, size, classes):
        from onnx import TensorProto, checker, helper, numpy_helper
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", classes])],
            [numpy_helper.from_array(np.asarray(v, np.float32), k)
             for k, v in self.inits.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                  ir_version=9)
        checker.check_model(model)
        return model


def _width(channels, width):
    return max(8, int(channels * width))


def mobilenet_v1(size=224, width=1.0, classes=1000, seed=0):
    """MobileNet-v1 (the seed's table) as a float ONNX model with random weights."""
    if size % 32:
        raise ValueError(f"size must be a multiple of 32 (five stride-2 steps), got {size}")
    b = _Builder(seed)
    c = _width(32, width)
    x = b.conv("x", 3, c, 3, stride=2, act="relu6")
    for stride, cout in MOBILENET_V1:
        cout = _width(cout, width)
        x = b.conv(x, c, c, 3, stride=stride, groups=c, act="relu6")   # depthwise
        x = b.conv(x, c, cout, 1, act="relu6")                          # pointwise
        c = cout
    b.head(x, c, classes)
    return b.model("mobilenet_v1", size, classes)


def resnet18(size=224, width=1.0, classes=1000, seed=0):
    """ResNet-18 (basic blocks) as a float ONNX model with random weights."""
    from onnx import helper
    if size % 32:
        raise ValueError(f"size must be a multiple of 32 (five stride-2 steps), got {size}")
    b = _Builder(seed)
    c = _width(64, width)
    x = b.conv("x", 3, c, 7, stride=2)
    b.nodes.append(helper.make_node("MaxPool", [x], ["pool"], name="pool", kernel_shape=[3, 3],
                                    strides=[2, 2], pads=[1, 1, 1, 1]))
    x = "pool"
    for stage, channels in enumerate((64, 128, 256, 512)):
        cout = _width(channels, width)
        for block in range(2):
            stride = 2 if stage and not block else 1
            y = b.conv(x, c, cout, 3, stride=stride)
            y = b.conv(y, cout, cout, 3, act=None)
            skip = b.conv(x, c, cout, 1, stride=stride, act=None) if stride != 1 or c != cout \
                else x
            s = b.name("add")
            b.nodes.append(helper.make_node("Add", [y, skip], [s], name=s))
            x, c = b.act(s, "relu"), cout
    b.head(x, c, classes)
    return b.model("resnet18", size, classes)


#: network name -> builder
NETS = {"mobilenet_v1": mobilenet_v1, "resnet18": resnet18}


def calibration(size, n=16, seed=1):
    """``n`` random float32 images [n, 3, size, size] (normal(0, 1): a normalized image's
    statistics), for ONNX Runtime's calibration and as inputs."""
    return np.random.default_rng(seed).normal(0, 1, (n, 3, size, size)).astype(np.float32)


def quantize(model, data, path):
    """``model`` quantized by ONNX Runtime (QDQ, per channel, int8 activations and weights),
    calibrated on ``data``, written to ``path``; returns ``path``."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": data[i:i + 8]} for i in range(0, len(data), 8)])

        def get_next(self):
            return next(self.batches, None)

    path = pathlib.Path(path)
    logging.disable(logging.WARNING)  # (its advice to run ORT's pre-processing first)
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "float.onnx"
        onnx.save(model, src)
        try:
            quantize_static(str(src), str(path), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
    return path


def graph_macs(model, size):
    """The MACs of one image through a float model, from its own shapes (an independent count:
    ONNX shape inference, not the accelerator's counters)."""
    import onnx
    from onnx import numpy_helper
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    inits = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            cout, cin_g, kh, kw = inits[node.input[1]]
            _, _, ho, wo = shapes[node.output[0]]
            total += cout * cin_g * kh * kw * ho * wo
        elif node.op_type == "Gemm":
            total += int(np.prod(inits[node.input[1]]))
    return total


def output_scale(qdq):
    """The scale of a QDQ model's output ``y`` (its last QuantizeLinear's): one output step."""
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    producer = {n.output[0]: n for n in qdq.graph.node}
    dq = producer["y"]
    return float(inits[dq.input[1]])


def report(layers):
    """A per-layer table (op, shape, MACs, cycles, utilizations, bytes moved, wall time) and a
    total line, as text."""
    head = (f"{'layer':<18} {'op':<18} {'in shape':<16} {'MACs':>11} {'cycles':>9} "
            f"{'util_c':>6} {'util_t':>6} {'bytes':>9} {'wall s':>6}")
    out = [head]
    for la in layers:
        s = la.stats
        shape = "x".join(map(str, la.in_shape[1:]))
        out.append(f"{la.name[:18]:<18} {(la.op_type + '/' + la.call)[:18]:<18} {shape:<16} "
                   f"{la.macs:>11,} {s.cycles:>9,} {la.utilization_compute:>6.3f} "
                   f"{la.utilization_total:>6.3f} {s.bytes_read + s.bytes_written:>9,} "
                   f"{la.wall_s:>6.2f}")
    macs = sum(la.macs for la in layers)
    cycles = sum(la.stats.cycles for la in layers)
    cells = max((la.stats.cells for la in layers), default=0)
    util = macs / (cells * cycles) if cells and cycles else 0.0
    out.append(f"total: {len(layers)} accelerator calls, {macs:,} MACs, {cycles:,} cycles, "
               f"total utilization {util:.3f}, {sum(la.wall_s for la in layers):.1f} s")
    by_type = {}
    for la in layers:
        kind = _kind(la)
        m, c = by_type.get(kind, (0, 0))
        by_type[kind] = (m + la.macs, c + la.stats.cycles)
    out.append("by layer type: " + "; ".join(
        f"{k} {c:,} cycles, utilization {m / (cells * c) if cells and c else 0:.3f}"
        for k, (m, c) in sorted(by_type.items())))
    return "\n".join(out)


def _limit_cycles(layer, geometry):
    """The fewest compute cycles a depthwise layer's mapping allows on ``geometry`` (its MACs
    at :func:`sw.layers.mapping.depthwise_limit`), else 0."""
    if geometry is None or _kind(layer) != "depthwise" or not layer.kernel:
        return 0.0
    from sw.layers.mapping import depthwise_limit
    limit, _ = depthwise_limit(geometry.rows, geometry.cols, layer.kernel, layer.stride[0])
    return layer.macs / (geometry.cells * limit)


def _floor_cycles(layer, geometry):
    """The fewest cycles of the programs a layer ran, from its counters: a vector and a memory
    beat each way a cycle (:func:`sw.driver.program.floor_cycles`); 0 without ``geometry``."""
    if geometry is None:
        return 0
    from sw.driver.program import floor_cycles
    s = layer.stats
    return floor_cycles(geometry, s.vectors, s.bytes_read, s.bytes_written)


def _kind(layer):
    """The layer type a report sums by."""
    if layer.op_type == "Conv":
        return "depthwise" if layer.groups > 1 and layer.groups == layer.in_shape[1] else "conv"
    if layer.op_type == "GlobalAveragePool":
        return "pool"
    return {"linear": "fc", "add": "add", "max_pool2d": "pool"}.get(layer.call, layer.call)


def plot(layers, path, title):
    """A PNG of per-layer cycles (bars) and total utilization (dots)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(layers)), 3.8))
    x = np.arange(len(layers))
    ax.bar(x, [la.stats.cycles for la in layers], color="tab:blue")
    ax.set_ylabel("cycles", color="tab:blue")
    ax.set_xticks(x, [la.name for la in layers], rotation=90, fontsize=6)
    right = ax.twinx()
    right.plot(x, [la.utilization_total for la in layers], "o", color="tab:red", ms=3)
    right.set_ylabel("utilization (total)", color="tab:red")
    right.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: the README's generated section of network runs
SECTION = ("network runs", "docs/zoo.json (python -m sw.nets.zoo --markdown)")


def summary(layers, *, net, size, width, target, wall_s, golden_equal, top1_same, max_steps,
            network_macs, resident=None, geometry=None):
    """One run's figures as a JSON-able dict (``docs/zoo.json`` holds a list of them):
    ``network_macs`` are the graph's convolutions' and FC's (:func:`graph_macs`), ``macs`` those
    of every accelerator call (residual adds and average pooling too), which the utilizations
    count; with ``geometry`` (the accelerator's), depthwise layers also state their mapping's
    limit (:func:`sw.layers.mapping.depthwise_limit`) and ``data_bound``, the total utilization
    if their programs ran at one vector and one memory beat each way a cycle (from the
    counters: what data movement leaves of the limit). ``resident``: with pinned weights, the
    banks, tiles pinned of all, weight LOADs saved and the cycles of the same inference
    streamed."""
    macs = sum(la.macs for la in layers)
    cycles = sum(la.stats.cycles for la in layers)
    cells = max((la.stats.cells for la in layers), default=0)
    types = {}
    for la in layers:
        m, c, cc, limit_cycles, floor = types.get(_kind(la), (0, 0, 0, 0.0, 0))
        types[_kind(la)] = (m + la.macs, c + la.stats.cycles, cc + la.stats.compute_cycles,
                            limit_cycles + _limit_cycles(la, geometry),
                            floor + _floor_cycles(la, geometry))

    def by_type(m, c, cc, limit_cycles, floor):
        out = {"cycles": c, "utilization_total": round(m / (cells * c), 4),
               "utilization_compute": round(m / (cells * cc), 4) if cc else 0.0}
        if limit_cycles:  # the mapping's best compute utilization over these layers
            out["limit"] = round(m / (cells * limit_cycles), 4)
            # and the best total one their vectors and memory traffic allow
            out["data_bound"] = round(m / (cells * floor), 4)
        return out
    return {"net": net, "size": size, "width": width, "target": target,
            "network_macs": network_macs, "macs": macs,
            "cycles": cycles, "utilization_total": round(macs / (cells * cycles), 4),
            "by_type": {k: by_type(*v) for k, v in sorted(types.items())},
            "calls": len(layers), "wall_s": round(wall_s, 1), "golden_equal": golden_equal,
            "onnx_runtime_top1_same": top1_same, "onnx_runtime_max_steps": max_steps,
            **({"resident": resident} if resident else {})}


def markdown(runs):
    """The README's paragraph of network runs (from ``docs/zoo.json``)."""
    out = []
    for r in runs:
        types = ", ".join(
            f"{k} {v['utilization_total']:.3f}" + (
                f" (compute {v['utilization_compute']:.3f}, its mapping's limit "
                f"{v['limit']:.3f}" + (
                    f", its vectors and memory traffic at a beat a cycle {v['data_bound']:.3f}"
                    if "data_bound" in v else "") + ")" if "limit" in v else "")
            for k, v in r["by_type"].items())
        out.append(
            f"- {r['net']} at {r['size']}x{r['size']}, width {r['width']}, on `{r['target']}`: "
            f"{r['network_macs']:,} MACs of convolutions and FC ({r['macs']:,} in all "
            f"accelerator calls, the residual adds and average pooling included) in "
            f"{r['cycles']:,} cycles per inference; total utilization of the calls' MACs "
            f"{r['utilization_total']:.3f} (by layer type: {types}); {r['calls']} accelerator "
            f"calls in {r['wall_s']} s of wall time (the driver's plan choices included"
            f"{_choices_text(r)}); "
            f"{'equal to' if r['golden_equal'] else 'DIFFERENT from'} the golden model; ONNX "
            f"Runtime: top-1 {'the same' if r['onnx_runtime_top1_same'] else 'different'}, "
            f"logits within {r['onnx_runtime_max_steps']:.1f} output steps."
            + _resident_text(r) + _parallel_text(r))
    return "\n".join(out)


def _choices_text(r):
    if "predictions" not in r:
        return ""
    hits = r.get("plan_cache_hits")
    return (f": {r['predictions']} programs predicted on the cycle model"
            + (f", {hits} predictions from a warm plan cache" if hits else ""))


def _parallel_text(r):
    par = r.get("parallel")
    if not par:
        return ""
    return (f" Its calls in parallel ({par['engine']}, each from the golden model's activations): "
            f"{par['wall_s']} s ({r['wall_s'] / par['wall_s']:.2f}x), "
            f"{'every call equal to' if par['all_equal'] else 'NOT equal to'} the golden model.")


def _resident_text(r):
    res = r.get("resident")
    if not res:
        return ""
    return (f" **Weights resident** ({res['banks']} banks): {res['pinned']:,} of "
            f"{res['tiles']:,} weight tiles pinned, {res['loads_saved']:,} of {res['loads']:,} "
            f"weight loads saved per inference; {r['cycles']:,} cycles against "
            f"{res['streamed_cycles']:,} streamed ({r['cycles'] / res['streamed_cycles']:.3f}).")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", choices=sorted(NETS), default="mobilenet_v1")
    p.add_argument("--size", type=int, default=32, help="input height and width (224: full)")
    p.add_argument("--width", type=float, default=0.25, help="channel multiplier (1.0: full)")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--target", default="regmodel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--banks", type=int, help="weight banks of the accelerator (a build "
                   "parameter; default the target's)")
    p.add_argument("--pin", action="store_true", help="also run with the most loaded weight "
                   "tiles pinned in the banks (Driver.pin): cycles resident vs streamed")
    p.add_argument("--parallel", type=int, metavar="N", help="also run the inference's "
                   "accelerator calls in N local processes, from the golden model's activations "
                   "(sw.nets.parallel): serial vs parallel wall time")
    p.add_argument("--cluster", metavar="ADDRESS", help="run them on this Dask scheduler "
                   "instead (tcp://host:port)")
    p.add_argument("--plot", help="write a PNG of per-layer cycles and utilization here")
    p.add_argument("--json", help="add this run's figures to a JSON list (docs/zoo.json)")
    p.add_argument("--markdown", help="only rewrite the README's network runs from this JSON")
    p.add_argument("--readme", default="README.md", help="the README --markdown rewrites")
    args = p.parse_args(argv)
    if args.markdown:
        import json

        from hw.spec.markdown import rewrite_section
        rewrite_section(args.readme, *SECTION,
                        markdown(json.loads(pathlib.Path(args.markdown).read_text())))
        return 0

    from sw.accelerator import Accelerator
    from sw.onnx import load, reference_session

    print(f"{args.net}: {args.size}x{args.size} input, width {args.width}, {args.classes} "
          f"classes, random weights (seed {args.seed}; no ImageNet here)")
    model = NETS[args.net](args.size, args.width, args.classes, args.seed)
    data = calibration(args.size, 17, args.seed + 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = quantize(model, data[:16], pathlib.Path(tmp) / "qdq.onnx")
        net = load(path)
        x = data[16:]
        ref = reference_session(path).run(None, {"x": x})[0]
    print(f"{graph_macs(model, args.size):,} MACs per image (from the graph's shapes)")
    layers, resident = [], None
    start = time.perf_counter()
    with Accelerator.open(args.target, **({"banks": args.banks} if args.banks else {})) as acc:
        got = net.run(acc, x, layers=layers, progress=True)[0]
        wall = time.perf_counter() - start
        if args.pin:
            streamed = sum(la.stats.cycles for la in layers)
            print(report(layers))
            print(f"streamed: {streamed:,} cycles per inference; pinning ...")
            pinned = acc.pin(lambda: net.run(acc, x, progress=True))
            print(pinned)
            layers = []
            start = time.perf_counter()
            got = net.run(acc, x, layers=layers, progress=True)[0]
            wall = time.perf_counter() - start
            resident = {"banks": acc.geometry.banks, "tiles": pinned.tiles,
                        "pinned": pinned.pinned, "loads": pinned.loads,
                        "loads_saved": pinned.loads_saved, "streamed_cycles": streamed}
            cycles = sum(la.stats.cycles for la in layers)
            print(f"resident: {cycles:,} cycles per inference ({cycles / streamed:.3f} of "
                  "streamed)")
    print(report(layers))
    par = None
    if args.parallel or args.cluster:
        from .parallel import run_calls
        calls = net.calls(x)
        par = run_calls(calls, args.target, workers=args.parallel, address=args.cluster,
                        geometry={"banks": args.banks} if args.banks else None, progress=True)
        print(report(par.layers))
        print(f"parallel ({par.engine}): {par.wall_s:.1f} s against {wall:.1f} s serial "
              f"({wall / par.wall_s:.2f}x); every call "
              f"{'equal to' if par.all_equal else 'NOT equal to'} the golden model; "
              f"{sum(la.stats.cycles for la in par.layers):,} cycles")
    same = np.array_equal(got, net.golden(x)[0])
    steps = np.abs(got - ref) / output_scale(net.model)
    print(f"{args.target}: {wall:.1f} s; golden model: {'equal' if same else 'DIFFERENT'}; "
          f"ONNX Runtime: top-1 {'same' if got.argmax() == ref.argmax() else 'different'}, "
          f"largest difference {float(np.max(np.abs(got - ref))):.4g} "
          f"(~{float(np.max(steps)):.1f} output steps)")
    if args.plot:
        plot(layers, args.plot, f"{args.net} {args.size}x{args.size} width {args.width} on "
                                f"{args.target}")
        print(f"wrote {args.plot}")
    if args.json:
        import json
        path = pathlib.Path(args.json)
        runs = json.loads(path.read_text()) if path.exists() else []
        run = summary(layers, net=args.net, size=args.size, width=args.width,
                      target=args.target, wall_s=wall, golden_equal=bool(same),
                      top1_same=bool((got.argmax(1) == ref.argmax(1)).all()),
                      max_steps=round(float(np.max(steps)), 2),
                      network_macs=graph_macs(model, args.size), resident=resident,
                      geometry=acc.geometry)
        run["predictions"] = acc.predictions  # (the plan choices' cost: cycle model runs)
        if par is not None:
            run["parallel"] = {"engine": par.engine, "wall_s": round(par.wall_s, 1),
                               "all_equal": par.all_equal}
        if acc.plan_cache is not None:
            run["plan_cache_hits"] = acc.plan_cache.hits
        key = lambda r: (r["net"], r["size"], r["width"], r["target"],  # noqa: E731
                         r.get("resident") is not None, bool(r.get("plan_cache_hits")))
        runs = [r for r in runs if key(r) != key(run)] + [run]
        path.write_text(json.dumps(runs, indent=1) + "\n")
        print(f"wrote {path}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
