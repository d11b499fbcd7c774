"""The main job: the seed's MNIST MLP inner loop (`AcceleratorVMM`) on the simulated accelerator.

``python -m sw.demo [--target icarus]`` runs a two-layer int8 MLP (784 -> 64 with ReLU,
requantized on the accelerator, then 64 -> 10 raw int32 logits) for a batch of synthetic
28x28 "images", checks every result bit for bit against the NumPy golden model and prints the
hardware's cycle counts and utilization. Every line but the last (wall-clock times) is the same
on every run; the README quotes them (``--readme README.md`` rewrites that quote, a test checks
it).
"""

import argparse
import time

import numpy as np

import models
from hw.spec.markdown import replace_section
from sw import Accelerator
from sw.targets import TARGET_NAMES

README_SECTION = ("demo output", "`python -m sw.demo --target icarus --readme README.md`")


#: fc1's requantization: int8 outputs with zero point -128 (real value ~ h + 128), ReLU
FC1 = dict(scale=1.0 / 4096, zero_point=-128, relu=True)


def network(batch=8, hidden=64, seed=2023):
    """The demo's inputs and (random) weights: (x, w1, b1, w2, b2)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 128, (batch, 784), dtype=np.int8)  # "pixels"
    w1 = rng.integers(-128, 128, (hidden, 784), dtype=np.int8)
    b1 = rng.integers(-20000, 20000, hidden, dtype=np.int32)
    w2 = rng.integers(-128, 128, (10, hidden), dtype=np.int8)
    b2 = rng.integers(-1000, 1000, 10, dtype=np.int32)
    return x, w1, b1, w2, b2


def run(target, batch=8, hidden=64, seed=2023):
    """Run the demo; returns (passed, lines printed except the wall-clock line)."""
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    say(f"seed={seed}")
    x, w1, b1, w2, b2 = network(batch, hidden, seed)
    wall = [("ready", time.perf_counter())]

    def check(name, got, expected, acc):
        same = np.array_equal(got, expected)
        say(f"{name}: {'exact' if same else 'MISMATCH'}; {acc.stats}")
        wall.append((name.split()[0], time.perf_counter()))
        return same

    start = time.perf_counter()
    with Accelerator.open(target) as acc:
        g = acc.geometry
        wall[0] = ("ready", time.perf_counter())
        say(f"{target}: {g.rows}x{g.cols} array, {g.banks} banks")
        h = acc.linear(x, w1, b1, **FC1)
        ok = check(f"fc1 784->{hidden} int8+ReLU", h, models.linear(x, w1, b1, **FC1), acc)
        # Layer 2 takes the hidden activations as they came off the accelerator: int8 with the
        # zero point -128 that fc1's requantization gave them (real value ~ h + 128).
        logits = acc.linear(h, w2, b2, input_zero_point=-128)
        ok &= check(f"fc2 {hidden}->10 int32", logits,
                    models.linear(h, w2, b2, input_zero_point=-128), acc)
    say(f"predicted classes: {logits.argmax(axis=1).tolist()}")
    say("PASS: every output equals the golden model" if ok else "FAIL")
    times, last = [], start
    for name, t in wall:
        times.append(f"{name} {t - last:.1f} s")
        last = t
    print("wall time: " + ", ".join(times))
    return ok, lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="icarus", choices=TARGET_NAMES)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--readme", help="rewrite the quoted demo output in this README")
    args = p.parse_args(argv)
    ok, lines = run(args.target, args.batch, args.hidden, args.seed)
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        body = "```\n" + "\n".join(lines) + "\n```"
        with open(args.readme, "w") as f:
            f.write(replace_section(text, *README_SECTION, body))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
