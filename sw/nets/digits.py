"""Digit classifiers on scikit-learn's digits data set (1,797 8x8 images, shipped inside the
scikit-learn wheel: nothing is downloaded), trained by this module and run on the accelerator.

* The data: pixels 0..16, scaled to 0..1, split 75/25 with a fixed seed, stratified.
* :func:`train_mlp`: the seed's MNIST MLP shape scaled to 64 inputs, 64 -> 64 (ReLU) -> 10,
  fitted with scikit-learn's ``MLPClassifier`` (about a second on 2 cores).
* :class:`QuantizedMLP`: post-training int8 quantization with calibration data, per output
  channel weight scales, and an int8 pipeline end to end: the input is quantized without loss
  (a pixel ``p/16`` is ``p - 128`` with scale 1/16 and zero point -128), each hidden layer's
  ReLU output is int8 with zero point -128 (all 256 levels for values >= 0) and feeds the next
  layer as it comes off the accelerator (``input_zero_point=-128``); the last layer returns
  int32 logits. Every product runs on ``acc.linear``; :meth:`QuantizedMLP.golden` runs the
  same on :func:`models.linear` and equals it bit for bit.

``python -m sw.nets.digits [--target regmodel]`` trains, quantizes and prints the test accuracy
of the float model, the int8 golden model and the accelerator.
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass

import numpy as np

import models

__all__ = ["SPLIT_SEED", "QuantizedMLP", "accuracy", "load", "train_mlp"]

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


def main(argv=None):
    from sw import Accelerator
    from sw.targets import TARGET_NAMES
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="regmodel", choices=TARGET_NAMES)
    p.add_argument("--images", type=int, help="classify only the first N test images")
    args = p.parse_args(argv)
    x_train, x_test, y_train, y_test = load()
    if args.images:
        x_test, y_test = x_test[:args.images], y_test[:args.images]
    layers = train_mlp(x_train, y_train)
    q = QuantizedMLP.from_float(layers, x_train)
    print(f"digits: {len(x_train)} training, {len(x_test)} test images (split seed "
          f"{SPLIT_SEED}); MLP 64-64-10")
    golden = q.golden(x_test)
    with Accelerator.open(args.target) as acc:
        logits = q(acc, x_test)
    same = np.array_equal(logits, golden)
    print(f"test accuracy: float {accuracy(float_forward(layers, x_test), y_test):.4f}, "
          f"int8 golden {accuracy(golden, y_test):.4f}, accelerator ({args.target}) "
          f"{accuracy(logits, y_test):.4f}; accelerator {'==' if same else '!='} golden")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
