"""The storage of :class:`~sw.targets.regmodel.RegisterModel`: the buffer windows in their bus
layout.

Every window is a flat array of 32-bit words laid out as ``hw/spec/regmap.py`` says, with a byte
mask per word: 0 for the padding words of the power-of-two strides (unmapped, DECERR), partial for
bytes past R or C that the hardware does not store. The command datapath sees the same words
through typed NumPy views.
"""

from __future__ import annotations

import numpy as np

from hw.spec import LUT_ENTRIES, PARAM_STRIDE, Geometry, window

__all__ = ["Buffer", "ModelMemory"]

FULL = 0xFFFF_FFFF
#: stored bits of a PARAM column: BIAS int32, MULT 0..2**31-1, SHIFT 0..63, padding (unmapped)
PARAM_MASKS = (FULL, 2**31 - 1, 63, 0)


def _row_masks(shape, used_bytes):
    """uint32 masks [..., words]: full words for the used bytes, a partial last word, 0 beyond."""
    mask = np.zeros(shape, dtype="<u4")
    full, rest = divmod(used_bytes, 4)
    mask[..., :full] = FULL
    if rest:
        mask[..., full] = (1 << (8 * rest)) - 1
    return mask


class Buffer:
    """One window: its words (``data``, uint32) and per-word byte masks (``mask``)."""

    def __init__(self, name, mask):
        w = window(name)
        self.name, self.base, self.size, self.writable = w.name, w.base, w.size, w.writable
        self.mask = np.ascontiguousarray(mask, dtype="<u4").ravel()
        self.data = np.zeros_like(self.mask)

    def contains(self, addr):
        return self.base <= addr < self.base + self.size

    def span(self, addr, count):
        """Word index of a fully mapped block [addr, addr + 4*count) in this window, else None."""
        i = (addr - self.base) // 4
        if i + count <= len(self.mask) and np.all(self.mask[i:i + count]):
            return i
        return None

    def rows(self, depth, dtype):
        """The words as [depth, stride] viewed as ``dtype`` (shares memory)."""
        return self.data.reshape(depth, -1).view(dtype)


class ModelMemory:
    """PARAM, WEIGHT, IN, ACC and OUT of an accelerator of geometry ``g``.

    Members
    -------
    buffers : tuple of Buffer
        In window order.
    """

    def __init__(self, g: Geometry):
        self.geometry = g
        rw = g.row_words_p2
        # The LUT window holds 256 int8 entries, four to a word.
        self.lut = Buffer("LUT", np.full(LUT_ENTRIES // 4, FULL, "<u4"))
        self.param = Buffer("PARAM", np.tile(np.array(PARAM_MASKS, "<u4"), g.cols))
        weight = _row_masks((g.banks, g.cols_p2, rw), g.rows)
        weight[:, g.cols:] = 0
        self.weight = Buffer("WEIGHT", weight)
        # The input buffer keeps whole words (as hw/top.py does): bytes past R read back.
        self.inputs = Buffer("IN", _row_masks((g.in_depth, rw), 4 * g.row_words))
        self.acc = Buffer("ACC", _row_masks((g.acc_depth, g.cols_p2), 4 * g.cols))
        self.out = Buffer("OUT", _row_masks((g.out_depth, g.col_words_p2), g.cols))
        self.buffers = (self.lut, self.param, self.weight, self.inputs, self.acc, self.out)

    def find(self, addr):
        """The buffer whose window holds ``addr``, or None."""
        return next((b for b in self.buffers if b.contains(addr)), None)

    # Typed views for the datapath (they share memory with the bus words).

    def weights(self, bank):
        """int8 [C, R]: W[bank][col][row]."""
        g = self.geometry
        w = self.weight.data.reshape(g.banks, g.cols_p2, -1).view(np.int8)
        return w[bank, :g.cols, :g.rows]

    def vectors(self, first, count):
        """int8 [count, R]: input vectors."""
        return self.inputs.rows(self.geometry.in_depth, np.int8)[first:first + count,
                                                                   :self.geometry.rows]

    def accumulators(self, first, count):
        """int32 [count, C]: accumulator rows (writable view)."""
        return self.acc.rows(self.geometry.acc_depth, "<i4")[first:first + count,
                                                             :self.geometry.cols]

    def outputs(self, first, count):
        """int8 [count, C]: output rows (writable view)."""
        return self.out.rows(self.geometry.out_depth, np.int8)[first:first + count,
                                                               :self.geometry.cols]

    def table(self):
        """int8 [256]: the lookup table (entry i is for input i - 128)."""
        return self.lut.data.view(np.int8)

    def params(self):
        """(bias int32 [C], mult [C], shift [C])."""
        p = self.param.data.reshape(self.geometry.cols, PARAM_STRIDE // 4)
        return p[:, 0].view("<i4"), p[:, 1], p[:, 2]
