"""hw.congestion: router2's heatmap files summed by block, listed by net and drawn."""

from __future__ import annotations

import pytest

from hw import congestion

pytestmark = pytest.mark.nosim


def _write(folder, n, nets, tiles, prefix="heat"):
    (folder / f"{prefix}_congestion_by_net_{n}.csv").write_text(
        "".join(f"{name},{count}\n" for name, count in nets.items()))
    (folder / f"{prefix}_congestion_by_coordinate_{n}.csv").write_text(
        "".join(",".join(str(v) for v in row) + ",\n" for row in tiles))


def test_the_last_iteration_by_block_and_by_net(tmp_path):
    """The last iteration's files are read (10 after 9, not 1..9 as strings); nets sort by
    overuse; a block is a dotted name's first part, the top module's own nets ``top``
    (``$PACKER_VCC_NET`` and an undotted ``accumulate``); the report names both."""
    _write(tmp_path, 9, {"array.valid_0": 500}, [[1, 2], [3, 4]])
    _write(tmp_path, 10, {"accum.mem.0.0_DOA0[2]": 7, "accumulate": 30,
                          "array.xb_c0[3]": 12, "$PACKER_VCC_NET": 2,
                          "seq.store.acc_part[1]": 20, "array.valid_1": 9},
           [[0, 5, 1], [2, 0, 0]])
    (tmp_path / "heat_utilisation_by_wiretype_10.csv").write_text("type,bound=0,\n")
    h = congestion.load(tmp_path)
    assert h.iteration == 10 and h.total == 8
    assert list(h.nets)[:3] == ["accumulate", "seq.store.acc_part[1]", "array.xb_c0[3]"]
    assert congestion.by_block(h) == {"top": 32, "array": 21, "seq": 20, "accum": 7}
    text = congestion.report(h, top=2)
    assert "router2 iteration 10: 8 overused wires over the tiles, 80 over 6 nets" in text
    assert "| top | 32 | 40 % |" in text and "| accum | 7 | 9 % |" in text
    assert "     30  accumulate\n     20  seq.store.acc_part[1]" in text
    assert "array.xb_c0" not in text.split("nets with most")[1]
    assert congestion.load(tmp_path, iteration=9).nets == {"array.valid_0": 500}


def test_a_folder_without_a_heatmap_says_how_to_get_one(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="--router2-heatmap heat"):
        congestion.load(tmp_path)
    _write(tmp_path, 3, {"a.b": 1}, [[1]])
    with pytest.raises(FileNotFoundError, match=r"no iteration 4 in .* \(it has 3..3\)"):
        congestion.load(tmp_path, iteration=4)
    with pytest.raises(SystemExit):
        congestion.main([str(tmp_path / "none")])
    assert "no router2 heatmap heat_congestion_by_net_N.csv" in capsys.readouterr().err


def test_the_picture_is_the_tiles_grid(tmp_path, capsys):
    """``-o``: a PNG of the tile grid (router2's lines are x: drawn across), as big as the
    grid says; the command prints the report too."""
    pytest.importorskip("matplotlib")
    _write(tmp_path, 1, {"post.requant.valid_0": 4}, [[0, 1, 2], [3, 4, 5]])
    png = tmp_path / "heat.png"
    congestion.main([str(tmp_path), "-o", str(png), "--top", "1", "--title", "a 2x3 grid"])
    out = capsys.readouterr().out
    assert "router2 iteration 1: 15 overused wires" in out and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    assert matplotlib.image.imread(png).shape[2] in (3, 4)
