"""Weights resident vs streamed (issue 11): the trained digits CNN, one inference of
:data:`IMAGES` images, on an accelerator with :data:`BANKS` weight banks.

* ``resident_digits_cnn_streamed``: every weight tile streams through the banks;
* ``resident_digits_cnn_pinned``: after ``acc.pin`` (:mod:`sw.driver.pinning`), every tile
  stays in a bank of its own and an inference moves only activations; the record names the
  tiles pinned and the weight LOADs saved.

Both results are checked against the golden model. MobileNet-v1's resident vs streamed figures
come from ``python -m sw.nets.zoo --pin --banks N`` (README, network runs).
"""

from __future__ import annotations

import numpy as np

from ..accelerator import Accelerator
from ..driver.stats import Stats
from .record import Record, Stopwatch

__all__ = ["BANKS", "IMAGES", "records"]

#: weight banks of the accelerator measured here (a build parameter; the CNN has 10 tiles)
BANKS = 16
#: images per inference
IMAGES = 4


def _infer(acc, cnn, x):
    stats = []
    watch = Stopwatch(acc)
    y = cnn(acc, x, after=lambda _: stats.append(acc.stats))
    wall, sim = watch.stop()
    return y, Stats.total(stats), wall, sim


def records(acc, rng, target):
    """The two records on ``target`` with :data:`BANKS` banks (``acc``'s geometry otherwise);
    AssertionError if a result differs from the golden model."""
    from ..nets import digits
    x_train, x_test, _, _ = digits.load()
    cnn = digits.QuantizedCNN.from_float(digits.load_cnn(), x_train)
    pick = rng.choice(len(x_test), IMAGES, replace=False)
    x = x_test[pick]
    want = cnn.golden(x)
    out = []
    with Accelerator.open(target, banks=BANKS) as dev:
        cnn(dev, x)  # (the first call of each shape chooses its plan: not measured)
        y, stats, wall, sim = _infer(dev, cnn, x)
        if not np.array_equal(y, want):
            raise AssertionError("resident_digits_cnn_streamed: differs from the golden model")
        out.append(Record("resident_digits_cnn_streamed", target, "digits_cnn", stats, wall,
                          sim_s=sim, extra={"images": IMAGES, "banks": BANKS}))
        report = dev.pin(lambda: cnn(dev, x))
        y, stats, wall, sim = _infer(dev, cnn, x)
        if not np.array_equal(y, want):
            raise AssertionError("resident_digits_cnn_pinned: differs from the golden model")
        out.append(Record("resident_digits_cnn_pinned", target, "digits_cnn", stats, wall,
                          sim_s=sim, extra={"images": IMAGES, "banks": BANKS,
                                            "tiles": report.tiles, "pinned": report.pinned,
                                            "loads_saved": report.loads_saved}))
    return out
