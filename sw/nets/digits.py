"""Digit classifiers on scikit-learn's digits data set (1,797 8x8 images, shipped inside the
scikit-learn wheel: nothing is downloaded), trained by this module and run on the accelerator.

* The data: pixels 0..16, scaled to 0..1, split 75/25 with a fixed seed, stratified.
* :func:`train_mlp`: the seed's MNIST MLP shape scaled to 64 inputs, 64 -> 64 (ReLU) -> 10,
  fitted with scikit-learn's ``MLPClassifier`` (about a second on 2 cores); its weights are
  committed too (``digits_mlp.npz``), so the figures do not depend on a machine's float sums.
* :class:`QuantizedMLP`: post-training int8 quantization with calibration data, per output
  channel weight scales, and an int8 pipeline end to end: the input is quantized without loss
  (a pixel ``p/16`` is ``p - 128`` with scale 1/16 and zero point -128), each hidden layer's
  ReLU output is int8 with zero point -128 (all 256 levels for values >= 0) and feeds the next
  layer as it comes off the accelerator (``input_zero_point=-128``); the last layer returns
  int32 logits. Every product runs on ``acc.linear``; :meth:`QuantizedMLP.golden` runs the
  same on :func:`models.linear` and equals it bit for bit.

* :func:`train_cnn`: a small CNN, conv 3x3 (1 -> 8) + ReLU + 2x2 max-pool, conv 3x3 (8 -> 16)
  + ReLU + 2x2 max-pool, then FC 64 -> 10, trained with tinygrad (about 20 s on 2 cores; it
  needs Debian's clang, ``make train`` installs it). Its weights are committed
  (``digits_cnn.npz``, :data:`CNN_WEIGHTS`) with this seeded script, so running the network
  needs neither. :class:`QuantizedCNN` runs it int8 end to end: each convolution requantizes,
  applies ReLU and max-pools in the accelerator's post-processing.

``python -m sw.nets.digits [--target regmodel]`` trains the MLP, quantizes both networks and
prints the test accuracy of the float model, the int8 golden model and the accelerator;
``--train-cnn`` retrains the CNN and rewrites its weights file.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import warnings
from dataclasses import dataclass

import numpy as np

import models
import models.conv

__all__ = ["CNN_WEIGHTS", "MLP_WEIGHTS", "SPLIT_SEED", "QuantizedCNN", "QuantizedMLP", "accuracy",
           "cnn_forward", "load", "load_cnn", "load_mlp", "train_cnn", "train_mlp"]

#: the committed weights of the CNN (written by ``python -m sw.nets.digits --train-cnn``)
CNN_WEIGHTS = pathlib.Path(__file__).with_name("digits_cnn.npz")
CNN_LAYERS = ("conv1", "conv2", "fc")
#: the committed weights of the MLP (``--train-mlp``): the accuracy table stays the same on
#: machines whose floating-point sums differ in the last bits
MLP_WEIGHTS = pathlib.Path(__file__).with_name("digits_mlp.npz")

SPLIT_SEED = 0
#: a digits pixel is 0..16; its real value p/16 is the int8 p - 128 with this scale, exactly
INPUT_SCALE, INPUT_ZERO_POINT = 1 / 16, -128


def load(seed=SPLIT_SEED):
    """(x_train, x_test, y_train, y_test): x float64 [n, 64] in 0..1, y int 0..9."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    return train_test_split(d.data / 16.0, d.target, test_size=0.25, random_state=seed,
                            stratify=d.target)


def train_mlp(x, y, hidden=64, seed=0):
    """Fit 64 -> ``hidden`` (ReLU) -> 10; returns [(w float [out, in], b float [out]), ...]."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    mlp = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", max_iter=400,
                        random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed budget, not convergence
        mlp.fit(x, y)
    return [(w.T.copy(), b.copy()) for w, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)]


def float_forward(layers, x):
    """The float network: ReLU between layers, logits out."""
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


def train_cnn(x, y, seed=0, epochs=30, batch=64):
    """Train the CNN with tinygrad (Adam, lr 3e-3, cross-entropy, ``epochs`` passes over
    shuffled batches, all seeded); returns {name: (w, b)} as float32 NumPy arrays."""
    os.environ.setdefault("DEV", "CPU")  # tinygrad's CPU backend (compiles with clang)
    from tinygrad import Tensor, TinyJit, nn
    from tinygrad.helpers import Context
    from tinygrad.nn.optim import Adam

    Tensor.manual_seed(seed)
    layers = {"conv1": nn.Conv2d(1, 8, 3, padding=1), "conv2": nn.Conv2d(8, 16, 3, padding=1),
              "fc": nn.Linear(64, 10)}

    def forward(t):
        t = layers["conv1"](t).relu().max_pool2d(2)
        t = layers["conv2"](t).relu().max_pool2d(2)
        return layers["fc"](t.flatten(1))

    params = [p for layer in layers.values() for p in (layer.weight, layer.bias)]
    opt = Adam(params, lr=3e-3)

    @TinyJit
    def step(xb, yb):
        opt.zero_grad()
        loss = forward(xb).sparse_categorical_crossentropy(yb).backward()
        opt.step()
        return loss

    images = np.asarray(x, np.float32).reshape(-1, 1, 8, 8)
    rng = np.random.default_rng(seed)
    with Context(TRAINING=1):
        for _ in range(epochs):
            order = rng.permutation(len(images))
            for i in range(0, len(images) - batch + 1, batch):
                idx = order[i:i + batch]
                step(Tensor(images[idx]), Tensor(np.asarray(y)[idx])).realize()
    return {name: (layer.weight.numpy(), layer.bias.numpy()) for name, layer in layers.items()}


def load_mlp(path=MLP_WEIGHTS):
    """The committed MLP weights: [(w, b), ...] float64."""
    with np.load(path) as f:
        return [(f[f"w{i}"], f[f"b{i}"]) for i in range(len(f.files) // 2)]


def save_mlp(layers, path=MLP_WEIGHTS):
    np.savez(path, **{f"{k}{i}": v for i, (w, b) in enumerate(layers)
                      for k, v in (("w", w), ("b", b))})


def load_cnn(path=CNN_WEIGHTS):
    """The committed CNN weights: {name: (w, b)} float32."""
    with np.load(path) as f:
        return {name: (f[f"{name}_w"], f[f"{name}_b"]) for name in CNN_LAYERS}


def save_cnn(params, path=CNN_WEIGHTS):
    np.savez(path, **{f"{n}_{k}": v for n, (w, b) in params.items()
                      for k, v in (("w", w), ("b", b))})


def _max_pool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _conv3x3(x, w, b):
    """A float 3x3 convolution with padding 1 (NCHW), by shifted windows."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out + b[None, :, None, None]


def cnn_forward(params, x, activations=False):
    """The float CNN on pixels ``x`` [n, 64] (in NumPy, float64): logits, or with
    ``activations`` also the two pooled ReLU outputs (for calibration)."""
    h1 = _max_pool2(np.maximum(_conv3x3(x.reshape(-1, 1, 8, 8), *params["conv1"]), 0))
    h2 = _max_pool2(np.maximum(_conv3x3(h1, *params["conv2"]), 0))
    w, b = params["fc"]
    logits = h2.reshape(len(h2), -1) @ w.T + b
    return (logits, h1, h2) if activations else logits


def accuracy(logits, y):
    return float(np.mean(np.argmax(logits, axis=1) == y))


@dataclass(frozen=True)
class QuantizedLayer:
    """``y = linear(x, w, b, input_zero_point, scale, zero_point, relu)``: int8 ``w`` [N, K],
    int32 ``b``; ``scale`` None for int32 output."""
    w: np.ndarray
    b: np.ndarray
    input_zero_point: int
    scale: np.ndarray | None
    zero_point: int
    relu: bool

    def kwargs(self):
        kw = dict(input_zero_point=self.input_zero_point)
        if self.scale is not None:
            kw.update(scale=self.scale, zero_point=self.zero_point, relu=self.relu)
        return kw


@dataclass(frozen=True)
class QuantizedMLP:
    """An int8 MLP for the accelerator (see the module docstring)."""
    layers: tuple[QuantizedLayer, ...]
    #: real value of one step of the int32 logits, per class
    logit_scale: np.ndarray

    @classmethod
    def from_float(cls, layers, calibration):
        """Quantize ``layers`` [(w, b), ...]: weights per output channel (symmetric, -127..127),
        each hidden activation's scale from its largest value on ``calibration`` (float [n, 64],
        pixels in 0..1)."""
        x = np.asarray(calibration, dtype=np.float64)
        s_in, zp_in = INPUT_SCALE, INPUT_ZERO_POINT
        out = []
        for i, (w, b) in enumerate(layers):
            s_w = np.abs(w).max(axis=1) / 127
            s_w = np.where(s_w > 0, s_w, 1.0)
            w_q = np.clip(np.rint(w / s_w[:, None]), -127, 127).astype(np.int8)
            acc_scale = s_in * s_w  # the real value of one step of the int32 accumulator
            b_q = np.rint(b / acc_scale).astype(np.int64).clip(-2**31, 2**31 - 1).astype(np.int32)
            x = x @ w.T + b
            if i == len(layers) - 1:
                out.append(QuantizedLayer(w_q, b_q, zp_in, None, 0, False))
                return cls(tuple(out), acc_scale)
            x = np.maximum(x, 0)
            s_out = max(float(x.max()), 1e-6) / 255  # 0..max onto -128..127
            out.append(QuantizedLayer(w_q, b_q, zp_in, acc_scale / s_out, -128, True))
            s_in, zp_in = s_out, -128
        raise ValueError("layers must not be empty")

    @staticmethod
    def quantize_input(x):
        """Pixels in 0..1 (multiples of 1/16) as int8: exact."""
        q = np.rint(np.asarray(x, dtype=np.float64) / INPUT_SCALE) + INPUT_ZERO_POINT
        return np.clip(q, -128, 127).astype(np.int8)

    def _run(self, linear, x):
        h = self.quantize_input(x)
        for layer in self.layers:
            h = linear(h, layer.w, layer.b, **layer.kwargs())
        return h.astype(np.float64) * self.logit_scale

    def __call__(self, acc, x):
        """Float logits [n, 10] for pixels ``x`` [n, 64], every product on ``acc``."""
        return self._run(acc.linear, x)

    def golden(self, x):
        """The same on :func:`models.linear` (equal to ``self(acc, x)`` bit for bit)."""
        return self._run(models.linear, x)


def _quantize_weights(w, in_scale):
    """Per output channel, symmetric -127..127: (int8 w, real value of one accumulator step)."""
    flat = w.reshape(len(w), -1)
    s_w = np.abs(flat).max(axis=1) / 127
    s_w = np.where(s_w > 0, s_w, 1.0)
    w_q = np.clip(np.rint(w / s_w.reshape(-1, *[1] * (w.ndim - 1))), -127, 127).astype(np.int8)
    return w_q, in_scale * s_w


def _quantize_bias(b, acc_scale):
    return np.rint(b / acc_scale).clip(-2**31, 2**31 - 1).astype(np.int32)


@dataclass(frozen=True)
class QuantizedCNN:
    """The digits CNN in int8 for the accelerator: two ``conv2d`` calls (padding 1, requantized
    to int8 with zero point -128, ReLU and 2x2 max-pool in the post-processing) and one
    ``linear`` to int32 logits; :meth:`golden` runs the same on :mod:`models.conv`."""
    convs: tuple  # ((w int8, b int32, scale float [Cout]), ...)
    fc: QuantizedLayer
    logit_scale: np.ndarray

    @classmethod
    def from_float(cls, params, calibration):
        """Quantize ``params`` ({name: (w, b)}); activation scales from ``calibration``
        (pixels [n, 64]): each pooled ReLU output's maximum onto -128..127."""
        _, h1, h2 = cnn_forward(params, np.asarray(calibration, np.float64), activations=True)
        s_in, convs = INPUT_SCALE, []
        for name, h in (("conv1", h1), ("conv2", h2)):
            w, b = params[name]
            w_q, acc_scale = _quantize_weights(np.asarray(w, np.float64), s_in)
            s_out = max(float(h.max()), 1e-6) / 255
            convs.append((w_q, _quantize_bias(b, acc_scale), acc_scale / s_out))
            s_in = s_out
        w, b = params["fc"]
        w_q, acc_scale = _quantize_weights(np.asarray(w, np.float64), s_in)
        fc = QuantizedLayer(w_q, _quantize_bias(b, acc_scale), -128, None, 0, False)
        return cls(tuple(convs), fc, acc_scale)

    #: (name, what it computes) of the layers, in order
    LAYERS = (("conv1", "conv 3x3 1->8, ReLU, max-pool 2"), ("conv2", "conv 3x3 8->16, ReLU, "
              "max-pool 2"), ("fc", "linear 64->10, int32"))

    def _run(self, conv2d, linear, x, after=None):
        h = QuantizedMLP.quantize_input(x).reshape(-1, 1, 8, 8)
        for (name, _), (w, b, scale) in zip(self.LAYERS, self.convs, strict=False):
            h = conv2d(h, w, b, padding=1, input_zero_point=-128, scale=scale, zero_point=-128,
                       relu=True, max_pool=2)
            if after:
                after(name)
        logits = linear(h.reshape(len(h), -1), self.fc.w, self.fc.b, **self.fc.kwargs())
        if after:
            after("fc")
        return logits.astype(np.float64) * self.logit_scale

    def __call__(self, acc, x, after=None):
        """Float logits [n, 10] for pixels ``x`` [n, 64], every layer on ``acc``; ``after(name)``
        is called after each layer (``acc.stats`` then holds that layer's cost, and after a
        convolution ``acc.mapping`` its nominal MACs)."""
        return self._run(acc.conv2d, acc.linear, x, after)

    def golden(self, x):
        return self._run(models.conv.conv2d, models.linear, x)


README_SECTION = ("digits accuracy", "`python -m sw.nets.digits --readme README.md`")


def report(target="regmodel", images=None):
    """Train the MLP, load the CNN, quantize both, classify the test split on ``target``;
    returns (every accelerator result equal to golden, the lines of the report)."""
    from sw.accelerator import Accelerator
    x_train, x_test, y_train, y_test = load()
    if images:
        x_test, y_test = x_test[:images], y_test[:images]
    mlp, cnn = load_mlp(), load_cnn()
    nets = (("MLP 64-64-10", QuantizedMLP.from_float(mlp, x_train),
             float_forward(mlp, x_test)),
            ("CNN", QuantizedCNN.from_float(cnn, x_train), cnn_forward(cnn, x_test)))
    lines = [f"digits: {len(x_train)} training, {len(x_test)} test images (split seed "
             f"{SPLIT_SEED})", "| network | float | int8 golden | accelerator | equal |",
             "|---|---|---|---|---|"]
    ok = True
    with Accelerator.open(target) as acc:
        for name, q, float_logits in nets:
            golden, logits = q.golden(x_test), q(acc, x_test)
            same = np.array_equal(logits, golden)
            ok &= same
            lines.append(f"| {name} | {accuracy(float_logits, y_test):.4f} | "
                         f"{accuracy(golden, y_test):.4f} | {accuracy(logits, y_test):.4f} "
                         f"({target}) | {'bit for bit' if same else 'NO'} |")
    return ok, lines


def main(argv=None):
    from hw.spec.markdown import replace_section
    from sw.targets import TARGET_NAMES
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="regmodel", choices=TARGET_NAMES)
    p.add_argument("--images", type=int, help="classify only the first N test images")
    p.add_argument("--train-cnn", action="store_true",
                   help=f"retrain the CNN with tinygrad and rewrite {CNN_WEIGHTS.name}")
    p.add_argument("--train-mlp", action="store_true",
                   help=f"retrain the MLP with scikit-learn and rewrite {MLP_WEIGHTS.name}")
    p.add_argument("--readme", help="rewrite the accuracy table in this README")
    args = p.parse_args(argv)
    x_train, _, y_train, _ = load()
    if args.train_mlp:
        save_mlp(train_mlp(x_train, y_train))
        print(f"wrote {MLP_WEIGHTS}")
    if args.train_cnn:
        save_cnn(train_cnn(x_train, y_train))
        print(f"wrote {CNN_WEIGHTS}")
    ok, lines = report(args.target, args.images)
    print("\n".join(lines))
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        with open(args.readme, "w") as f:
            f.write(replace_section(text, *README_SECTION, "\n".join(lines)))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
