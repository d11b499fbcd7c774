"""hw.spec.geometry: every Geometry that exists is valid; bad sizes get clear errors."""

import pytest

from hw.spec import LIMITS, Geometry, register, window

pytestmark = pytest.mark.nosim


def test_default_and_overrides():
    g = Geometry.default(rows=8, banks=3)
    assert (g.rows, g.cols, g.banks, g.in_depth) == (8, 16, 3, 1024)
    assert g.cells == 128 and g.replace(cols=4).cols == 4 and g.as_dict()["banks"] == 3
    with pytest.raises(TypeError, match="unknown geometry field.*rwos"):
        Geometry.default(rwos=8)


@pytest.mark.parametrize("name", list(LIMITS))
def test_each_size_is_checked(name):
    most = LIMITS[name]
    for bad in (0, most + 1):
        with pytest.raises(ValueError, match=rf"geometry {name} must be in 1\.\.{most}, got {bad}"):
            Geometry.default(**{name: bad})
    for bad in (2.5, "4", True, None):
        with pytest.raises(TypeError, match=f"geometry {name} must be an int"):
            Geometry.default(**{name: bad})


def test_limits_come_from_the_command_fields():
    width = register("CMD_ROWS").fields[0].width
    assert LIMITS["rows"] == LIMITS["cols"] == 255 == (1 << width) - 1
    assert LIMITS["in_depth"] == (1 << register("CMD_IN_ADDR").fields[0].width) - 1 == 65535


def test_buffers_must_fit_their_windows():
    with pytest.raises(ValueError, match="needs 524288 bytes of the ACC window, which has 262144"):
        Geometry.default(cols=255, acc_depth=512)
    g = Geometry.default(cols=255, acc_depth=256)  # exactly fills ACC: 256 rows x 256 words
    assert g.window_bytes()["ACC"] == window("ACC").size


def test_address_layout():
    g = Geometry.default(rows=12, cols=6, banks=3)
    assert (g.row_words, g.row_words_p2, g.cols_p2, g.col_words, g.col_words_p2) == (3, 4, 8, 2, 2)
    assert g.weight_addr(2, 5, 1) == window("WEIGHT").base + 4 * ((2 * 8 + 5) * 4 + 1)
    assert g.in_addr(7, 2) == window("IN").base + 4 * (7 * 4 + 2)
    assert g.acc_addr(3, 5) == window("ACC").base + 4 * (3 * 8 + 5)
    assert g.out_addr(9, 1) == window("OUT").base + 4 * (9 * 2 + 1)
    assert g.param_addr(5, "SHIFT") == window("PARAM").base + 16 * 5 + 8
