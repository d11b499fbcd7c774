"""The main job: the seed's MNIST MLP inner loop (`AcceleratorVMM`) on the simulated accelerator.

``python -m sw.demo [--target icarus]`` runs a two-layer int8 MLP (784 -> 64 with ReLU,
requantized on the accelerator, then 64 -> 10 raw int32 logits) for a batch of synthetic
28x28 "images", checks every result bit for bit against the NumPy golden model and prints the
hardware's cycle counts and utilization.
"""

import argparse
import time

import numpy as np

import models
from sw import Accelerator
from sw.targets import TARGET_NAMES


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="icarus", choices=TARGET_NAMES)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seed", type=int, default=2023)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"seed={args.seed}")
    x = rng.integers(0, 128, (args.batch, 784), dtype=np.int8)  # "pixels"
    w1 = rng.integers(-128, 128, (args.hidden, 784), dtype=np.int8)
    b1 = rng.integers(-20000, 20000, args.hidden, dtype=np.int32)
    w2 = rng.integers(-128, 128, (10, args.hidden), dtype=np.int8)
    b2 = rng.integers(-1000, 1000, 10, dtype=np.int32)

    def check(name, got, expected, acc, t):
        same = np.array_equal(got, expected)
        print(f"{name}: {'exact' if same else 'MISMATCH'}; {acc.stats}; "
              f"{time.perf_counter() - t:.1f} s wall")
        return same

    t0 = time.perf_counter()
    with Accelerator.open(args.target) as acc:
        g = acc.geometry
        print(f"{args.target}: {g.rows}x{g.cols} array, {g.banks} banks "
              f"(ready in {time.perf_counter() - t0:.1f} s)")
        requant = dict(scale=1.0 / 4096, zero_point=-128, relu=True)
        t = time.perf_counter()
        h = acc.linear(x, w1, b1, **requant)
        ok = check(f"fc1 784->{args.hidden} int8+ReLU", h, models.linear(x, w1, b1, **requant),
                   acc, t)
        # Layer 2 takes the hidden activations as they came off the accelerator.
        t = time.perf_counter()
        logits = acc.linear(h, w2, b2)
        ok &= check(f"fc2 {args.hidden}->10 int32", logits, models.linear(h, w2, b2), acc, t)
    print("predicted classes:", logits.argmax(axis=1).tolist())
    print("PASS: every output equals the golden model" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
