"""Golden model of the LUT and max-pooling stages and of the input zero point."""

import numpy as np
import pytest

import models

pytestmark = pytest.mark.nosim


def test_apply_lut_indexes_by_value_plus_128():
    table = np.arange(256, dtype=np.int16).astype(np.int8)[::-1].copy()  # entry i = 255 - i
    y = np.array([[-128, -1, 0, 127]], dtype=np.int8)
    # entry i holds (255 - i) as int8; input v reads entry v + 128
    expected = np.array([[255 - 0, 255 - 127, 255 - 128, 255 - 255]]).astype(np.int8)
    np.testing.assert_array_equal(models.apply_lut(y, table), expected)
    with pytest.raises(ValueError, match="lut must be int8 of shape"):
        models.apply_lut(y, np.zeros(255, np.int8))


def test_group_max_by_hand():
    y = np.array([[1, -5], [3, -7], [-128, 127], [-128, 126]], dtype=np.int8)
    np.testing.assert_array_equal(models.group_max(y, 2), [[3, -5], [-128, 127]])
    np.testing.assert_array_equal(models.group_max(y, 4), [[3, 127]])
    np.testing.assert_array_equal(models.group_max(y, 1), y)
    with pytest.raises(ValueError, match="divide"):
        models.group_max(y, 3)


def test_input_zero_point_is_a_shift_of_the_input():
    seed = 11
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-100, 100, (5, 7), dtype=np.int8)
    w = rng.integers(-128, 128, (3, 7), dtype=np.int8)
    b = rng.integers(-1000, 1000, 3, dtype=np.int32)
    zp = 13
    by_hand = (x.astype(np.int64) - zp) @ w.astype(np.int64).T + b
    np.testing.assert_array_equal(models.linear(x, w, b, input_zero_point=zp), by_hand)


def test_linear_stage_order_requant_lut_relu_pool():
    x = np.array([[10], [20], [-30], [-40]], dtype=np.int8)
    w = np.array([[1], [-1]], dtype=np.int8)
    table = np.zeros(256, dtype=np.int8)
    table[128 + 10], table[128 - 10] = -50, 50      # lut(10) = -50, lut(-10) = 50
    table[128 + 20], table[128 - 20] = 60, -60
    table[128 - 30], table[128 + 30] = 5, -5
    table[128 - 40], table[128 + 40] = 4, -4
    # scale 1: y = [[10,-10],[20,-20],[-30,30],[-40,40]] -> lut -> relu at zp 0 -> max of pairs
    y = models.linear(x, w, scale=1.0, lut=table, relu=True, pool=2)
    np.testing.assert_array_equal(y, [[60, 50], [5, 0]])
