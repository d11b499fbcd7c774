"""Import int8 QDQ ONNX models and run them on the accelerator.

>>> from sw.onnx import load
>>> net = load("model.onnx")   # checks every node: an unsupported op or attribute raises
>>> y = net.run(acc, x)        # float32 inputs in, float32 outputs as ONNX Runtime gives them

Supported: the QDQ format of ``onnxruntime.quantization.quantize_static(...,
quant_format=QuantFormat.QDQ, per_channel=True)`` with int8 activations and weights:
QuantizeLinear / DequantizeLinear around Conv (groups, strides, pads, dilations), Gemm and
MatMul, and Add (a residual add of two int8 tensors), with Relu and Clip(0, x) folded into
the layer before them; MaxPool (folded into the Conv before it when the Conv feeds it alone:
the accelerator's max-pooling stage); Flatten and Reshape. Every Conv/Gemm/MatMul/Add becomes one
accelerator call whose requantization (to the next QuantizeLinear's scale and zero point), ReLU
and clamp run in the post-processing; the activations stay int8 between layers.

Average pooling is where ONNX Runtime's float32 arithmetic decides: with an unchanged scale a
window's mean lands exactly on halves, and ORT (which runs int8 pooling in the uint8 domain)
rounds what its float32 sums and zero-point addition make of them. GlobalAveragePool therefore
takes its window sums from the accelerator (a depthwise convolution with a kernel of ones) and
requantizes them on the host as ORT's kernel does (float32 ``sum * (s_in / size / s_out) +
zp`` rounded half to even); AveragePool runs on the host, replicating ORT's float32 average of
dequantized values. Both are then exact against ORT.

Where the results can differ from ONNX Runtime: ORT requantizes in float32 and rounds half to
even; pimacc multiplies by a 31-bit fixed-point multiplier and rounds half up. A value that
lands within float32/Q31 precision of a half step can round the other way (one quantization
step); the next layer then sees an input one step off, which moves its outputs by at most
``|w| * s_in / s_out`` steps - usually less than one, so differences stay isolated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import models
import models.conv
from models.pool import ADD_RATIO_MAX

__all__ = ["Call", "Layer", "Network", "load", "reference_session"]

#: ops the importer maps onto the accelerator or the host
SUPPORTED = ("QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "MatMul", "Add", "Relu",
             "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape")


def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _fail(node, why):
    raise ValueError(f"ONNX node {node.name or '?'!r} ({node.op_type}): {why}")


@dataclass
class _Q:
    """An int8 activation: values, scale, zero point."""
    q: np.ndarray
    scale: float
    zp: int


@dataclass
class _Const:
    """A quantized initializer (weights, bias): integers, per-channel scales, zero points."""
    q: np.ndarray
    scale: np.ndarray
    zp: np.ndarray


@dataclass
class _Pending:
    """A Conv/Gemm/MatMul (``w`` the weights) or an Add (``w`` the second operand, an _Q) whose
    float output waits for its QuantizeLinear."""
    node: object
    x: _Q
    w: object
    b: _Const | None
    relu: bool = False
    clip_max: float | None = None


def _ort_round(value, zp):
    """int8 ``round_half_even(value + zp)`` in float32 as ONNX Runtime's uint8 pooling kernels
    do it (zero point shifted by 128, the result shifted back)."""
    shifted = (value.astype(np.float32) + np.float32(zp + 128)).astype(np.float32)
    return (np.clip(np.rint(shifted), 0, 255) - 128).astype(np.int8)


@dataclass(frozen=True)
class Layer:
    """One accelerator call of :meth:`Network.run` (``layers=``).

    Members
    -------
    name, op_type : str
        The ONNX node (its name, else its output) and its op.
    call : str
        The accelerator call: ``conv2d``, ``linear``, ``max_pool2d`` or ``add``.
    in_shape, out_shape : tuple
        The call's int8 input and output shapes.
    macs : int
        The layer's nominal MACs (a depthwise layer's, not the zero weights its lowering
        multiplies too).
    stats : sw.Stats
        The call's counters.
    wall_s : float
        Wall-clock seconds of the call.
    groups : int
        A convolution's groups (its input channels: depthwise).
    kernel, stride : tuple
        A convolution's kernel (kh, kw) and stride (sy, sx); () otherwise.
    """
    name: str
    op_type: str
    call: str
    in_shape: tuple
    out_shape: tuple
    macs: int
    stats: object
    wall_s: float
    groups: int = 1
    kernel: tuple = ()
    stride: tuple = ()

    @property
    def utilization_total(self):
        """Nominal MACs / (R*C*all cycles)."""
        s = self.stats
        return self.macs / (s.cells * s.cycles) if s.cells and s.cycles else 0.0

    @property
    def utilization_compute(self):
        """Nominal MACs / (R*C*cycles with a vector in the array)."""
        s = self.stats
        return self.macs / (s.cells * s.compute_cycles) if s.cells and s.compute_cycles else 0.0


def _golden_add(a, b, *, scale_a, scale_b, zero_point, relu, zero_point_a, zero_point_b,
                max_weight):
    return models.conv.add(a, b, scale_a, scale_b, zero_point, relu, zero_point_a,
                           zero_point_b, max_weight)


#: the accelerator calls a network makes, on the golden model
_GOLDEN = dict(conv2d=models.conv.conv2d, linear=models.linear,
               max_pool2d=models.conv.max_pool2d, add=_golden_add)


@dataclass(frozen=True)
class Call:
    """One accelerator call of an inference (:meth:`Network.calls`): the node, the call's
    arguments and its output on the golden model."""
    name: str
    op_type: str
    call: str
    args: tuple
    kwargs: dict
    golden: object

    def run(self, acc):
        """(output, :class:`Layer`) of this call on ``acc``; the output should equal
        :attr:`golden`."""
        start = time.perf_counter()
        y = getattr(acc, self.call)(*self.args, **self.kwargs)
        wall = time.perf_counter() - start
        mapping = getattr(acc, "mapping", None)
        macs = mapping.macs if self.call == "conv2d" and mapping is not None else acc.stats.macs
        conv = self.call == "conv2d"
        stride = self.kwargs.get("stride", 1) if conv else ()
        return y, Layer(self.name, self.op_type, self.call, tuple(np.shape(self.args[0])),
                        tuple(np.shape(y)), macs, acc.stats, wall, self.kwargs.get("groups", 1),
                        tuple(np.shape(self.args[1])[2:]) if conv else (),
                        (stride, stride) if isinstance(stride, int) else tuple(stride))


class Network:
    """A loaded QDQ model; :meth:`run` executes it on an accelerator, :meth:`golden` on the
    golden model (the same integers)."""

    def __init__(self, model):
        from onnx import numpy_helper
        self.model = model
        graph = model.graph
        self.initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.inputs = [i.name for i in graph.input if i.name not in self.initializers]
        self.outputs = [o.name for o in graph.output]
        for node in graph.node:
            self._check(node)
        self.consumers = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        #: MaxPool nodes folded into the Conv before them (by id), and their (kernel, stride)
        self.folded = {}

    def _check(self, node):
        if node.op_type not in SUPPORTED:
            _fail(node, f"unsupported op; pimacc imports {', '.join(SUPPORTED)}")
        a = _attrs(node)
        if node.op_type == "Conv" and a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            _fail(node, f"auto_pad={a['auto_pad']!r} is not supported (give pads)")
        if node.op_type == "Gemm" and (a.get("transA", 0) or a.get("alpha", 1.0) != 1.0
                                       or a.get("beta", 1.0) != 1.0):
            _fail(node, "only Gemm with transA=0, alpha=1, beta=1 is supported")
        if node.op_type == "MaxPool" and (a.get("ceil_mode", 0) or a.get("storage_order", 0)
                                          or any(d != 1 for d in a.get("dilations", [1]))):
            _fail(node, "MaxPool with ceil_mode, storage_order or dilations is not supported")
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zp_name = node.input[2] if len(node.input) > 2 else None
            zp = self.initializers.get(zp_name)
            if zp is not None and zp.dtype not in (np.int8, np.int32):
                _fail(node, f"zero point of type {zp.dtype} (pimacc needs int8 activations and "
                            "weights)")

    # --- execution --------------------------------------------------------------------------

    def run(self, acc, *inputs, layers=None, progress=False):
        """The model on ``acc`` (an :class:`sw.Accelerator`): float32 outputs (a list).

        ``layers``: a list that receives a :class:`Layer` per accelerator call (the node, the
        operation, its shapes, its MACs, the call's :class:`~sw.Stats` and wall time);
        ``progress``: a progress bar over the nodes (tqdm, on stderr)."""
        ops = dict(conv2d=acc.conv2d, linear=acc.linear, max_pool2d=acc.max_pool2d, add=acc.add)
        if layers is not None:
            ops = {name: self._recorded(acc, name, layers) for name in ops}
        return self._execute(inputs, **ops, progress=progress)

    def _recorded(self, acc, name, layers):
        """The accelerator call ``name``, appending its :class:`Layer` to ``layers``."""
        def call(*args, **kwargs):
            node = self._node
            y, layer = Call(node.name or node.output[0], node.op_type, name, args, kwargs,
                            None).run(acc)
            layers.append(layer)
            return y
        return call

    def golden(self, *inputs):
        """The same integers on the golden model (:mod:`models`)."""
        return self._execute(inputs, **_GOLDEN)

    def calls(self, *inputs, progress=False):
        """Every accelerator call of an inference, with the golden model's inputs and outputs:
        a list of :class:`Call` in order. Each can run on its own (:meth:`Call.run`), which is
        what runs a network's layers in parallel (:mod:`sw.nets.parallel`)."""
        out = []

        def recorded(name, fn):
            def call(*args, **kwargs):
                y = fn(*args, **kwargs)
                node = self._node
                out.append(Call(node.name or node.output[0], node.op_type, name, args, kwargs,
                                y))
                return y
            return call
        self._execute(inputs, **{n: recorded(n, fn) for n, fn in _GOLDEN.items()},
                      progress=progress)
        return out

    def _execute(self, inputs, conv2d, linear, max_pool2d, add, progress=False):
        if len(inputs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} input(s) "
                             f"({', '.join(self.inputs)}), got {len(inputs)}")
        env = dict(zip(self.inputs, (np.asarray(x, np.float32) for x in inputs), strict=True))
        ops = dict(conv2d=conv2d, linear=linear, max_pool2d=max_pool2d, add=add)
        nodes = self.model.graph.node
        if progress:
            from tqdm import tqdm
            nodes = tqdm(nodes, unit="node", leave=False)
        for node in nodes:
            self._node = node
            result = getattr(self, f"_op_{node.op_type}")(node, env, ops)
            env[node.output[0]] = result
        out = []
        for name in self.outputs:
            v = env[name]
            if isinstance(v, _Q):
                v = ((v.q.astype(np.float32) - v.zp) * np.float32(v.scale)).astype(np.float32)
            out.append(v)
        return out

    def _init(self, name, node):
        if name not in self.initializers:
            _fail(node, f"{name!r} must be an initializer")
        return self.initializers[name]

    def _op_DequantizeLinear(self, node, env, ops):
        scale = self._init(node.input[1], node)
        zp = self._init(node.input[2], node) if len(node.input) > 2 else np.zeros_like(scale,
                                                                                      np.int8)
        if node.input[0] in self.initializers:  # weights or bias
            return _Const(self.initializers[node.input[0]], scale, zp)
        v = env[node.input[0]]
        if not isinstance(v, _Q) or v.scale != float(scale) or v.zp != int(zp):
            _fail(node, "must dequantize the int8 tensor of the QuantizeLinear before it, with "
                        "its scale and zero point")
        return v  # a float view of the int8 tensor: the same values

    def _foldable_pool(self, q_node):
        """The MaxPool that alone reads this Conv's quantized output (through one
        DequantizeLinear) and that the accelerator's pooling stage can do, or None."""
        users = self.consumers.get(q_node.output[0], [])
        if len(users) != 1 or users[0].op_type != "DequantizeLinear" \
                or users[0].output[0] in self.outputs:
            return None
        pools = self.consumers.get(users[0].output[0], [])
        if len(pools) != 1 or pools[0].op_type != "MaxPool":
            return None
        a = _attrs(pools[0])
        k, s = a["kernel_shape"], a.get("strides", a["kernel_shape"])
        if len(k) != 2 or k[0] != k[1] or s[0] != s[1] or any(a.get("pads", [0])):
            return None
        return pools[0], (k[0], s[0])

    def _op_QuantizeLinear(self, node, env, ops):
        scale = float(self._init(node.input[1], node))
        zp = int(self._init(node.input[2], node)) if len(node.input) > 2 else 0
        v = env[node.input[0]]
        if isinstance(v, np.ndarray):  # a float graph input: as ONNX Runtime does it
            q = np.clip(np.rint(v / np.float32(scale)) + zp, -128, 127).astype(np.int8)
            return _Q(q, scale, zp)
        if isinstance(v, _Q):  # after a pooling or a reshape: scale and zero point unchanged
            if (v.scale, v.zp) != (scale, zp):
                _fail(node, "requantizing an activation outside a layer is not supported")
            return v
        pool = None
        if v.node.op_type == "Conv":
            fold = self._foldable_pool(node)
            if fold is not None:
                pool, self.folded[id(fold[0])] = fold[1], fold[1]
        return self._layer(v, scale, zp, ops, pool)

    def _layer(self, p, scale, zp, ops, pool=None):
        """Run the pending Conv/Gemm/MatMul/Add on the accelerator, requantized to (scale, zp)."""
        node, x, w, b = p.node, p.x, p.w, p.b
        self._node = node  # (the node a recorded call belongs to: Network.run(layers=))
        if p.clip_max is not None and (127 - zp) * scale > p.clip_max * (1 + 1e-6):
            _fail(node, f"Clip max {p.clip_max} below the output range "
                        f"{(127 - zp) * scale:.4g} is not supported")
        if node.op_type == "GlobalAveragePool":
            c, size = x.q.shape[1], x.q.shape[2] * x.q.shape[3]
            ones = np.ones((c, 1, *x.q.shape[2:]), np.int8)
            sums = ops["conv2d"](x.q, ones, None, groups=c, input_zero_point=x.zp)
            factor = np.float32(x.scale) / np.float32(size) / np.float32(scale)
            y = _ort_round(sums.astype(np.float32) * factor, zp)
            return _Q(np.maximum(y, zp) if p.relu else y, scale, zp)
        if node.op_type == "AveragePool":
            (kh, kw), (sh, sw) = w, b
            n, c, h, wd = x.q.shape
            deq = np.float32(x.scale) * (x.q.astype(np.int32) - x.zp).astype(np.float32)
            ho, wo = (h - kh) // sh + 1, (wd - kw) // sw + 1
            acc = np.zeros((n, c, ho, wo), np.float32)
            for i in range(kh):  # ORT's order: rows, then columns, in float32
                for j in range(kw):
                    acc = acc + deq[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            avg = acc / np.float32(kh * kw)
            y = _ort_round(avg / np.float32(scale), zp)
            return _Q(np.maximum(y, zp) if p.relu else y, scale, zp)
        if node.op_type == "Add":
            y = ops["add"](x.q, w.q, scale_a=x.scale / scale, scale_b=w.scale / scale,
                           zero_point=zp, relu=p.relu, zero_point_a=x.zp, zero_point_b=w.zp,
                           max_weight=ADD_RATIO_MAX)
            return _Q(y, scale, zp)
        if np.any(w.zp != 0):
            _fail(node, "weights must be symmetric (zero point 0)")
        s_w = np.asarray(w.scale, np.float64).reshape(-1)
        n_out = w.q.shape[0] if node.op_type != "MatMul" else w.q.shape[1]
        s_w = np.broadcast_to(s_w, (n_out,))
        bias = None
        if b is not None:
            expected = x.scale * s_w
            if not np.allclose(np.asarray(b.scale, np.float64).reshape(-1), expected,
                               rtol=1e-5):
                _fail(node, "the bias scale must be input scale * weight scale")
            bias = b.q.astype(np.int32)
        kw = dict(scale=x.scale * s_w / scale, zero_point=zp, relu=p.relu,
                  input_zero_point=x.zp)
        a = _attrs(node)
        if node.op_type == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            if pads[0] != pads[2] or pads[1] != pads[3]:
                _fail(node, f"asymmetric pads {pads} are not supported")
            y = ops["conv2d"](x.q, w.q, bias, stride=tuple(a.get("strides", [1, 1])),
                              padding=(pads[0], pads[1]), dilation=tuple(a.get("dilations",
                                                                              [1, 1])),
                              groups=a.get("group", 1), max_pool=pool, **kw)
        else:
            wq = w.q if node.op_type == "Gemm" and a.get("transB", 0) else w.q.T
            y = ops["linear"](x.q.reshape(-1, x.q.shape[-1]), np.ascontiguousarray(wq), bias,
                              **kw).reshape(*x.q.shape[:-1], -1)
        return _Q(y, scale, zp)

    def _compute(self, node, env, ops=None):
        x = env[node.input[0]]
        if not isinstance(x, _Q):
            _fail(node, "its input must come from a DequantizeLinear of int8 activations")
        w = env.get(node.input[1])
        if not isinstance(w, _Const):
            _fail(node, "its weights must come from a DequantizeLinear of an initializer")
        b = env.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if b is not None and not isinstance(b, _Const):
            _fail(node, "its bias must come from a DequantizeLinear of an initializer")
        return _Pending(node, x, w, b)

    _op_Conv = _op_Gemm = _op_MatMul = _compute

    def _op_Add(self, node, env, ops):
        a, b = env[node.input[0]], env[node.input[1]]
        if not (isinstance(a, _Q) and isinstance(b, _Q)):
            _fail(node, "Add needs two int8 activations (each after a DequantizeLinear)")
        if a.q.shape != b.q.shape:
            _fail(node, f"Add of shapes {a.q.shape} and {b.q.shape}: broadcasting is not "
                        "supported")
        return _Pending(node, a, b, None)

    def _op_Relu(self, node, env, ops):
        p = env[node.input[0]]
        if not isinstance(p, _Pending):
            _fail(node, "Relu must follow a Conv, Gemm, MatMul or Add (it is folded into it)")
        p.relu = True
        return p

    def _op_Clip(self, node, env, ops):
        p = env[node.input[0]]
        lo = float(self._init(node.input[1], node)) if len(node.input) > 1 and node.input[1] \
            else None
        hi = float(self._init(node.input[2], node)) if len(node.input) > 2 and node.input[2] \
            else None
        if not isinstance(p, _Pending) or lo != 0.0:
            _fail(node, "only Clip(0, max) after a Conv, Gemm or MatMul is supported")
        p.relu, p.clip_max = True, hi
        return p

    def _op_MaxPool(self, node, env, ops):
        x = env[node.input[0]]
        if id(node) in self.folded:  # done by the Conv before it, in the pooling stage
            return x
        if not isinstance(x, _Q):
            _fail(node, "MaxPool needs int8 activations (after a DequantizeLinear)")
        a = _attrs(node)
        k, s = a["kernel_shape"], a.get("strides", a["kernel_shape"])
        pads = a.get("pads", [0, 0, 0, 0])
        if k[0] != k[1] or s[0] != s[1] or len(set(pads)) > 1:
            _fail(node, "only square kernels, equal strides and equal pads are supported")
        return _Q(ops["max_pool2d"](x.q, k[0], s[0], pads[0]), x.scale, x.zp)

    def _op_AveragePool(self, node, env, ops):
        x = env[node.input[0]]
        if not isinstance(x, _Q) or x.q.ndim != 4:
            _fail(node, "AveragePool needs 4-D int8 activations (after a DequantizeLinear)")
        a = _attrs(node)
        if any(a.get("pads", [0])) or a.get("ceil_mode", 0) or len(a["kernel_shape"]) != 2:
            _fail(node, "only 2-D AveragePool without pads or ceil_mode is supported")
        k = tuple(a["kernel_shape"])
        return _Pending(node, x, k, tuple(a.get("strides", k)))

    def _op_GlobalAveragePool(self, node, env, ops):
        x = env[node.input[0]]
        if not isinstance(x, _Q) or x.q.ndim != 4:
            _fail(node, "GlobalAveragePool needs 4-D int8 activations")
        return _Pending(node, x, None, None)

    def _op_Flatten(self, node, env, ops):
        x = env[node.input[0]]
        axis = _attrs(node).get("axis", 1)
        return _Q(x.q.reshape(int(np.prod(x.q.shape[:axis])), -1), x.scale, x.zp)

    def _op_Reshape(self, node, env, ops):
        x = env[node.input[0]]
        shape = [int(d) for d in self._init(node.input[1], node)]
        shape = [x.q.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        return _Q(x.q.reshape(shape), x.scale, x.zp)


def reference_session(path):
    """ONNX Runtime's CPU session of the model file ``path``, in its exact int8 mode: the
    reference the tests and ``sw.nets.zoo`` compare with.

    On x86 processors without VNNI, ONNX Runtime's default int8 kernels (u8s8, AVX2) add two
    products in 16 bits and saturate there, so its results are not those of integer
    arithmetic (on an AVX2 machine without VNNI, 6 % of the outputs of verif/sw/test_onnx.py's
    MatMul differed from ours). ``session.x64quantprecision = 1`` selects its kernels without that
    shortcut; processors with VNNI give the same results either way."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(str(path), options)


def load(path_or_model):
    """Load a QDQ ONNX model (a path or an ``onnx.ModelProto``) and check every node: an
    unsupported op or attribute raises ValueError naming the node and the op."""
    import onnx
    model = path_or_model if isinstance(path_or_model, onnx.ModelProto) else \
        onnx.load(path_or_model)
    return Network(model)
