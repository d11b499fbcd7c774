"""int8 word packing: little-endian, element 4w in bits 7:0, zero padded."""

import numpy as np
import pytest

from hw.spec import words_for
from sw.driver.packing import pack_int8, unpack_int8

pytestmark = pytest.mark.nosim


def test_pack_by_hand():
    a = np.array([[1, -1, 2, -128, 127]], dtype=np.int8)
    np.testing.assert_array_equal(pack_int8(a), np.array([[0x80_02_FF_01, 0x7F]], dtype=np.uint32))
    np.testing.assert_array_equal(pack_int8(a, 3), np.array([[0x8002FF01, 0x7F, 0]], np.uint32))


def test_round_trip():
    seed = 5
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    for length in range(1, 20):
        a = rng.integers(-128, 128, (3, length), dtype=np.int8)
        words = pack_int8(a)
        assert words.shape == (3, words_for(length)) and words.dtype == np.uint32
        np.testing.assert_array_equal(unpack_int8(words, length), a)
        np.testing.assert_array_equal(unpack_int8(words.tolist(), length), a)


def test_errors():
    with pytest.raises(ValueError, match="2-D int8"):
        pack_int8(np.zeros((2, 2), np.int16))
    with pytest.raises(ValueError, match="do not fit"):
        pack_int8(np.zeros((1, 9), np.int8), 2)
    with pytest.raises(ValueError, match="cannot unpack"):
        unpack_int8(np.zeros((1, 1), np.uint32), 5)
