"""The per-tap convolution measurement computes the right numbers (register-level model)."""

import numpy as np
import pytest

import models.conv as golden
from sw import Accelerator
from sw.bench.conv_taps import conv3x3_per_tap, records

pytestmark = pytest.mark.nosim


@pytest.mark.parametrize("geometry", [dict(rows=4, cols=4), dict(rows=8, cols=8, acc_depth=40)])
def test_per_tap_conv_is_exact(geometry):
    rng = np.random.default_rng(17)
    print("seed=17")
    with Accelerator.open("regmodel", **geometry) as acc:
        g = acc.geometry
        x = rng.integers(-128, 128, (1, g.rows, 9, 7), dtype=np.int8)
        w = rng.integers(-128, 128, (g.cols, g.rows, 3, 3), dtype=np.int8)
        y, stats = conv3x3_per_tap(acc, x, w)
        np.testing.assert_array_equal(y, golden.conv2d(x, w, padding=1))
        assert stats.commands == 9 * -(-9 // ((g.acc_depth + 2) // 9))  # 9 taps per row chunk
        assert stats.macs == stats.vectors * g.rows * g.cols and stats.bus_words_written > 0
        (record,) = records(acc, rng, "regmodel")
        assert record.as_dict()["macs"] == 16 * 16 * g.rows * g.cols * 9


def test_per_tap_conv_refuses_what_it_cannot_map():
    with Accelerator.open("regmodel", rows=4, cols=4, in_depth=50) as acc:
        with pytest.raises(ValueError, match="must fit the input buffer"):
            conv3x3_per_tap(acc, np.zeros((1, 4, 9, 9), np.int8), np.zeros((4, 4, 3, 3), np.int8))
        with pytest.raises(ValueError, match="Cin = R = 4"):
            conv3x3_per_tap(acc, np.zeros((1, 3, 4, 4), np.int8), np.zeros((4, 3, 3, 3), np.int8))
