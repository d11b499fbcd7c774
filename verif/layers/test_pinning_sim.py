"""Pinned weight tiles (Driver.pin) on the gateware: the digits CNN at 8x8 on Icarus with 40
banks (its 36 tiles pinned, 2 streaming), exact, with the pinned tiles' LOADs gone and fewer
cycles than the same plans streamed, as the register model counts them."""

import numpy as np
import pytest

from sw import Accelerator
from sw.driver.stats import Stats
from sw.nets import digits

pytestmark = pytest.mark.layer

GEOMETRY = dict(rows=8, cols=8, banks=40)


def _infer(acc, net, x):
    stats = []
    y = net(acc, x, after=lambda _: stats.append(acc.stats))
    return y, Stats.total(stats)


def test_pinned_digits_cnn_on_icarus():
    x_train, x_test, _, _ = digits.load()
    cnn = digits.QuantizedCNN.from_float(digits.load_cnn(), x_train)
    x = x_test[:1]
    with Accelerator.open("icarus", **GEOMETRY) as rtl:
        report = rtl.pin(lambda: cnn(rtl, x))
        print(report)
        assert report.fits and report.pinned == 36 and report.first_bank == 2
        y_rtl, s_rtl = _infer(rtl, cnn, x_test[3:4])
    np.testing.assert_array_equal(y_rtl, cnn.golden(x_test[3:4]))
    # the register model, pinned the same way, counts the same bytes and instructions
    model = Accelerator.open("regmodel", **GEOMETRY)
    model.pin(lambda: cnn(model, x))
    _, s_model = _infer(model, cnn, x_test[3:4])
    assert (s_rtl.bytes_read, s_rtl.instructions) == (s_model.bytes_read, s_model.instructions)
    streamed = Accelerator.open("regmodel", **{**GEOMETRY, "banks": 2})
    _, s_streamed = _infer(streamed, cnn, x_test[3:4])
    print(f"cycles: streamed (model) {s_streamed.cycles}, pinned {s_rtl.cycles} (RTL), "
          f"{s_model.cycles} (model)")
    assert s_rtl.bytes_read < s_streamed.bytes_read
    assert abs(s_rtl.cycles - s_model.cycles) <= 0.05 * s_model.cycles
