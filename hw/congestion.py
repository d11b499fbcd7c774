"""Where nextpnr's router2 runs out of wires: ``python -m hw.congestion build/synth/X``.

A route that does not converge (the 16x16 accelerator's: README, "Synthesis") ends with
thousands of overused wires and no report. router2 can write, each iteration, how many of
its wires each net and each tile overuse (``--router2-heatmap PREFIX``; with :mod:`hw.synth`:
``--router router2 --nextpnr-flags "--router2-heatmap heat"``, into the build folder). This
reads the last iteration's files and tells which nets and which blocks the overuse is on
(:func:`by_block`: a net's block is the first part of its name, ``array`` of
``array.valid_0``) and where on the die, as a picture (:func:`plot`).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Heatmap", "load", "by_block", "report", "plot", "main"]

#: the files router2 writes per iteration ``N`` for a ``--router2-heatmap PREFIX``
NET_FILE = "{prefix}_congestion_by_net_{n}.csv"
TILE_FILE = "{prefix}_congestion_by_coordinate_{n}.csv"


@dataclass
class Heatmap:
    """One router2 iteration's overuse: ``nets`` (net name -> overused wires, most first)
    and ``tiles`` (rows of the die's tile grid, as router2 writes them: a row per x, a
    column per y)."""
    iteration: int
    nets: dict
    tiles: list

    @property
    def total(self):
        """The overused wires of every tile, summed."""
        return sum(sum(row) for row in self.tiles)


def _iterations(folder, prefix):
    pattern = re.compile(re.escape(prefix) + r"_congestion_by_net_(\d+)\.csv")
    return sorted(int(m[1]) for p in Path(folder).iterdir() if (m := pattern.fullmatch(p.name)))


def load(folder, prefix="heat", iteration=None):
    """The :class:`Heatmap` of router2's ``iteration`` (default: its last) in ``folder``.

    Raises
    ------
    FileNotFoundError
        ``folder`` holds no heatmap of that prefix (or not that iteration).
    """
    folder = Path(folder)
    found = _iterations(folder, prefix) if folder.is_dir() else []
    if not found:
        raise FileNotFoundError(
            f"no router2 heatmap {NET_FILE.format(prefix=prefix, n='N')} in {folder} (route "
            "with --router router2 --nextpnr-flags \"--router2-heatmap heat\")")
    n = found[-1] if iteration is None else iteration
    if n not in found:
        raise FileNotFoundError(f"no iteration {n} in {folder} (it has {found[0]}..{found[-1]})")
    nets = {}
    for line in (folder / NET_FILE.format(prefix=prefix, n=n)).read_text().splitlines():
        name, _, count = line.rpartition(",")
        if name and count.strip().isdigit():
            nets[name] = int(count)
    tiles = [[int(v) for v in line.split(",") if v.strip()]
             for line in (folder / TILE_FILE.format(prefix=prefix, n=n)).read_text().splitlines()
             if line.strip()]
    nets = dict(sorted(nets.items(), key=lambda kv: (-kv[1], kv[0])))
    return Heatmap(n, nets, tiles)


def block_of(net):
    """The block a net's name puts it in: the first part of a dotted name (``seq`` of
    ``seq.store.acc_part[1]``), ``top`` for the top module's own nets."""
    head, dot, _ = net.partition(".")
    return head if dot and not head.startswith("$") else "top"


def by_block(heatmap):
    """Overused wires per block (:func:`block_of`), most first."""
    counts = Counter()
    for net, n in heatmap.nets.items():
        counts[block_of(net)] += n
    return dict(counts.most_common())


def report(heatmap, top=20):
    """A Markdown summary: the overuse by block and the ``top`` nets with most of it."""
    nets_total = sum(heatmap.nets.values())
    lines = [f"router2 iteration {heatmap.iteration}: {heatmap.total:,} overused wires over "
             f"the tiles, {nets_total:,} over {len(heatmap.nets):,} nets", "",
             "| block | overused wires | share |", "|---|---:|---:|"]
    lines += [f"| {b} | {n:,} | {100 * n / nets_total:.0f} % |"
              for b, n in by_block(heatmap).items()] if nets_total else []
    lines += ["", f"the {top} nets with most (net: overused wires):"]
    lines += [f"  {n:5d}  {net}" for net, n in list(heatmap.nets.items())[:top]]
    return "\n".join(lines)


def plot(heatmap, path, title=None):
    """The overuse per tile as a PNG at ``path`` (x across, y down, as the die's grid)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    width = max(len(row) for row in heatmap.tiles)
    grid = np.array([row + [0] * (width - len(row)) for row in heatmap.tiles]).T
    fig, ax = plt.subplots(figsize=(7, 5))
    image = ax.imshow(grid, cmap="hot", interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=ax, label="overused wires")
    ax.set_xlabel("tile x")
    ax.set_ylabel("tile y")
    ax.set_title(title or f"router2 overuse, iteration {heatmap.iteration}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a build folder with router2's heatmap files")
    p.add_argument("--prefix", default="heat", help="the --router2-heatmap prefix (heat)")
    p.add_argument("--iteration", type=int, help="router2's iteration (default: the last)")
    p.add_argument("--top", type=int, default=20, help="nets to list (20)")
    p.add_argument("-o", "--png", help="also draw the overuse per tile into this PNG")
    p.add_argument("--title", help="the picture's title (default: router2 overuse, iteration N)")
    args = p.parse_args(argv)
    try:
        heatmap = load(args.folder, args.prefix, args.iteration)
    except FileNotFoundError as e:
        p.exit(1, f"{e}\n")
    print(report(heatmap, args.top))
    if args.png:
        print(f"wrote {plot(heatmap, args.png, args.title)}")


if __name__ == "__main__":
    main()
