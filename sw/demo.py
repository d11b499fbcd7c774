"""The main job: a trained digit classifier on the simulated accelerator.

``python -m sw.demo [--target icarus] [--images 40] [--plot build/demo.png]`` runs the digits
CNN (:mod:`sw.nets.digits`: conv-ReLU-maxpool twice, then FC, int8 end to end) on test images
through the simulated hardware, checks every logit against the golden model, and prints the test
accuracy (float / int8 golden on the whole split, the accelerator on the images it ran), a
per-layer table from the hardware's counters, and a few digits with their predicted class.
``--example mlp`` runs the seed's C-style MNIST MLP inner loop (`AcceleratorVMM`) instead, on
random weights. Every printed line but the last (wall-clock time) is the same on every run; the
README quotes them (``--readme README.md`` rewrites the quote, a test checks it). The progress
bar goes to stderr.
"""

import argparse
import time

import numpy as np

import models
from hw.spec.markdown import replace_section
from sw import Accelerator, Stats
from sw.nets import digits
from sw.targets import TARGET_NAMES

README_SECTION = ("demo output", "`python -m sw.demo --target icarus --readme README.md`")
#: fc1's requantization in the MLP example: int8 outputs with zero point -128, ReLU
FC1 = dict(scale=1.0 / 4096, zero_point=-128, relu=True)
BATCH = 10  # images per accelerator pass (the progress bar's step)


def network(batch=8, hidden=64, seed=2023):
    """The MLP example's inputs and random weights: (x, w1, b1, w2, b2)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 128, (batch, 784), dtype=np.int8)  # "pixels"
    w1 = rng.integers(-128, 128, (hidden, 784), dtype=np.int8)
    b1 = rng.integers(-20000, 20000, hidden, dtype=np.int32)
    w2 = rng.integers(-128, 128, (10, hidden), dtype=np.int8)
    b2 = rng.integers(-1000, 1000, 10, dtype=np.int32)
    return x, w1, b1, w2, b2


def run_mlp(target, say, batch=8, hidden=64, seed=2023):
    """The seed's MLP inner loop on random weights; returns True if exact."""
    say(f"seed={seed}")
    x, w1, b1, w2, b2 = network(batch, hidden, seed)
    with Accelerator.open(target) as acc:
        g = acc.geometry
        say(f"{target}: {g.rows}x{g.cols} array, {g.banks} banks")
        h = acc.linear(x, w1, b1, **FC1)
        ok = np.array_equal(h, models.linear(x, w1, b1, **FC1))
        say(f"fc1 784->{hidden} int8+ReLU: {'exact' if ok else 'MISMATCH'}; {acc.stats}")
        # Layer 2 takes the hidden activations as they came off the accelerator: int8 with the
        # zero point -128 that fc1's requantization gave them (real value ~ h + 128).
        logits = acc.linear(h, w2, b2, input_zero_point=-128)
        same = np.array_equal(logits, models.linear(h, w2, b2, input_zero_point=-128))
        say(f"fc2 {hidden}->10 int32: {'exact' if same else 'MISMATCH'}; {acc.stats}")
    say(f"predicted classes: {logits.argmax(axis=1).tolist()}")
    return ok and same


def _digit(pixels):
    """8 text rows of an 8x8 digit (pixels 0..1)."""
    shades = " .:-=+*#%@"
    return ["".join(shades[min(9, int(p * 9.99))] for p in row) for row in pixels.reshape(8, 8)]


def run_cnn(target, say, images=40, plot=None, progress=True):
    """The trained CNN on the first ``images`` test images; returns True if every logit equals
    the golden model's."""
    from tqdm import tqdm
    x_train, x_test, _, y_test = digits.load()
    params = digits.load_cnn()
    q = digits.QuantizedCNN.from_float(params, x_train)
    golden_all = q.golden(x_test)
    say(f"digits CNN (sw/nets/digits.py): {len(x_test)} test images; float accuracy "
        f"{digits.accuracy(digits.cnn_forward(params, x_test), y_test):.4f}, int8 golden "
        f"{digits.accuracy(golden_all, y_test):.4f}")
    per_layer = {name: [] for name, _ in q.LAYERS}
    nominal = dict.fromkeys(per_layer, 0)
    logits = []
    with Accelerator.open(target) as acc:
        g = acc.geometry
        say(f"{target}: {g.rows}x{g.cols} array, {g.banks} banks; running {images} images")

        def after(name):
            per_layer[name].append(acc.stats)
            nominal[name] += acc.stats.macs if name == "fc" else acc.mapping.macs

        bar = tqdm(total=images, unit="image", disable=not progress, leave=False)
        for first in range(0, images, BATCH):
            logits.append(q(acc, x_test[first:first + BATCH][:images - first], after))
            bar.update(min(BATCH, images - first))
        bar.close()
    logits = np.concatenate(logits)
    same = np.array_equal(logits, golden_all[:images])
    total = Stats.total(s for stats in per_layer.values() for s in stats)
    say(f"accelerator: accuracy {digits.accuracy(logits, y_test[:images]):.4f} on {images} "
        f"images, every logit {'equal to' if same else 'DIFFERENT from'} the golden model; "
        f"{total.cycles // images} cycles per image")
    say("")
    say(f"{'layer':6} {'computes':34} {'MACs':>9} {'cycles':>8} {'util_c':>7} {'util_t':>7} "
        f"{'mem bytes':>9} {'bus words':>9}")
    rows = []
    for name, what in q.LAYERS:
        s = Stats.total(per_layer[name])
        util_c = nominal[name] / (s.cells * s.compute_cycles)
        util_t = nominal[name] / (s.cells * s.cycles)
        rows.append((name, s.cycles, util_c, util_t))
        say(f"{name:6} {what:34} {nominal[name]:>9} {s.cycles:>8} {util_c:>7.3f} "
            f"{util_t:>7.3f} {s.bytes_read + s.bytes_written:>9} "
            f"{s.bus_words_written + s.bus_words_read:>9}")
    say("")
    shown = range(min(4, images))
    drawn = [_digit(x_test[i]) for i in shown]
    labels = []
    for i in shown:
        guess = int(np.argmax(logits[i]))
        labels.append(f"-> {guess}" + ("" if guess == y_test[i] else f" (is {y_test[i]})"))
    say("   ".join(label.ljust(8) for label in labels))
    for r in range(8):
        say("   ".join(d[r].ljust(8) for d in drawn))
    if plot:
        _plot(rows, plot, target, images)
        say(f"wrote {plot}")
    return same


def _plot(rows, path, target, images):
    """A PNG of per-layer cycles and utilization."""
    import os

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [r[0] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.bar(names, [r[1] for r in rows], color="tab:blue")
    left.set_title(f"cycles, {images} images ({target})")
    width = 0.38
    xs = np.arange(len(rows))
    right.bar(xs - width / 2, [r[2] for r in rows], width, label="compute")
    right.bar(xs + width / 2, [r[3] for r in rows], width, label="total")
    right.set_xticks(xs, names)
    right.set_ylim(0, 1)
    right.set_title("utilization of the array")
    right.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(target, example="cnn", images=40, plot=None, progress=True):
    """Run the demo; returns (passed, lines printed except the wall-clock line)."""
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    if example == "mlp":
        ok = run_mlp(target, say)
    else:
        ok = run_cnn(target, say, images, plot, progress)
    say("PASS: every output equals the golden model" if ok else "FAIL")
    return ok, lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="icarus", choices=TARGET_NAMES)
    p.add_argument("--example", default="cnn", choices=("cnn", "mlp"),
                   help="the trained digits CNN, or the seed's MLP on random weights")
    p.add_argument("--images", type=int, default=40, help="test images run on the accelerator")
    p.add_argument("--plot", help="write a PNG of per-layer cycles and utilization here")
    p.add_argument("--readme", help="rewrite the quoted demo output in this README")
    args = p.parse_args(argv)
    start = time.perf_counter()
    ok, lines = run(args.target, args.example, args.images, args.plot)
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        body = "```\n" + "\n".join(lines) + "\n```"
        with open(args.readme, "w") as f:
            f.write(replace_section(text, *README_SECTION, body))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
