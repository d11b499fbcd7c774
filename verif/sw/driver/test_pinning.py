"""Weights resident in the array (Driver.pin, sw/driver/pinning.py) on the register model: the
results stay exact, the pinned tiles' LOADs disappear (bytes and instructions counted against
an accelerator that streams them), the most loaded tiles are the ones kept when they do not all
fit, and bad requests get clear errors."""

import warnings

import numpy as np
import pytest

import models
from sw import Accelerator, AcceleratorError
from sw.driver.stats import Stats
from sw.knobs import seed as env_seed
from sw.nets import digits

pytestmark = pytest.mark.nosim


def _cnn():
    x_train, x_test, _, _ = digits.load()
    return digits.QuantizedCNN.from_float(digits.load_cnn(), x_train), x_test


def _infer(acc, net, x):
    stats = []
    y = net(acc, x, after=lambda _: stats.append(acc.stats))
    return y, Stats.total(stats)


def test_digits_cnn_pinned_moves_only_activations():
    cnn, x_test = _cnn()
    x = x_test[:2]
    pinned = Accelerator.open("regmodel", banks=16)
    report = pinned.pin(lambda: cnn(pinned, x))
    print(report)
    assert report.fits and report.pinned == report.tiles > 0
    assert report.first_bank == 2 and pinned.plan_geometry.banks == 2
    assert report.loads_saved == report.loads
    # the same plans streamed: an accelerator with only the two streaming banks
    streamed = Accelerator.open("regmodel", banks=2)
    for x in (x_test[:2], x_test[7:9]):  # the pinned tiles serve every input
        y_p, s_p = _infer(pinned, cnn, x)
        y_s, s_s = _infer(streamed, cnn, x)
        np.testing.assert_array_equal(y_p, cnn.golden(x))
        np.testing.assert_array_equal(y_s, y_p)
        print(f"cycles streamed {s_s.cycles}, pinned {s_p.cycles}")
        # (each LOAD's bytes and its 16-byte instruction's fetch)
        assert s_s.bytes_read - s_p.bytes_read == report.bytes_saved + 16 * report.loads_saved
        assert s_s.instructions - s_p.instructions == report.loads_saved
        assert s_p.cycles < s_s.cycles
    pinned.unpin()
    assert pinned.pinned is None and pinned.plan_geometry == pinned.geometry
    np.testing.assert_array_equal(cnn(pinned, x_test[:1]), cnn.golden(x_test[:1]))


def test_tiles_that_do_not_fit_stream_and_the_report_says_so():
    # 5 linear layers of one 16x16 tile each, the last loaded 3 times a run: of 2 pinned banks
    # it gets one, the first of the rest (by order) the other; the others stream
    s = env_seed() + 41
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    ws = [rng.integers(-128, 128, (16, 16), dtype=np.int8) for _ in range(5)]
    xs = [rng.integers(-128, 128, (8, 16), dtype=np.int8) for _ in range(5)]
    acc = Accelerator.open("regmodel", banks=4)

    def run():
        for x, w in zip(xs, ws, strict=True):
            acc.linear(x, w)
        for _ in range(2):
            acc.linear(xs[0], ws[4])
    with pytest.warns(UserWarning, match="3 tiles do not fit and stream on every run"):
        report = acc.pin(run)
    assert (report.tiles, report.pinned, report.loads, report.loads_saved) == (5, 2, 7, 4)
    assert "2 of 5 weight tiles resident (banks 2..3 of 4)" in str(report)
    for x, w in zip(xs, ws, strict=True):
        np.testing.assert_array_equal(acc.linear(x, w), models.linear(x, w))
    # ws[4] (loaded most) and ws[0] (first of the rest) are pinned: their layers load no
    # weights; ws[1] streams: one LOAD more, its 256 bytes and its fetch
    acc.linear(xs[1], ws[1])
    streamed = acc.stats
    for w in (ws[4], ws[0]):
        acc.linear(xs[1], w)
        assert acc.stats.instructions == streamed.instructions - 1
        assert acc.stats.bytes_read == streamed.bytes_read - 256 - 16


def test_pin_errors_say_what_is_allowed():
    acc = Accelerator.open("regmodel")  # 2 banks: nothing to pin into
    with pytest.raises(ValueError, match=r"banks must be an int in \[1, 0\].*2 weight banks.*"
                                         r"banks=16"):
        acc.pin(lambda: None)
    acc = Accelerator.open("regmodel", banks=6)
    for bad in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match=r"banks must be an int in \[1, 4\]"):
            acc.pin(lambda: None, banks=bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regs = Accelerator.open("regmodel", banks=6, dma=False)
    with pytest.raises(AcceleratorError, match="pin needs programs"):
        regs.pin(lambda: None)
    report = acc.pin(lambda: None, banks=3)  # nothing loaded: nothing pinned, all fits
    assert (report.tiles, report.pinned, report.first_bank) == (0, 0, 3)
    assert acc.plan_geometry.banks == 3
