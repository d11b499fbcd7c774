"""The storage of :class:`~sw.targets.regmodel.RegisterModel`: the buffer windows in their bus
layout.

Every window is a flat array of 32-bit words laid out as ``hw/spec/regmap.py`` says, with the
mask of stored bits per word that the spec gives (``Geometry.word_mask``): 0 for the padding
words of the power-of-two strides (unmapped, DECERR), partial for bytes past R or C that the
hardware does not store. The command datapath sees the same words
through typed NumPy views.
"""

from __future__ import annotations

import functools

import numpy as np

from hw.spec import PARAM_STRIDE, Geometry, window

__all__ = ["Buffer", "ModelMemory"]

FULL = 0xFFFF_FFFF


@functools.lru_cache(maxsize=64)
def _mask(name, g: Geometry):
    """The bits each word of window ``name`` stores (read only: shared by every Buffer)."""
    words = g.window_bytes()[name] // 4
    mask = np.array([g.word_mask(name, i) for i in range(words)], dtype="<u4")
    mask.flags.writeable = False
    return mask


class Buffer:
    """One window of geometry ``g``: its words (``data``, uint32) and the bits each word stores
    (``mask``, from :meth:`hw.spec.Geometry.word_mask`; 0 for a hole)."""

    def __init__(self, name, g: Geometry):
        w = window(name)
        self.name, self.base, self.size, self.writable = w.name, w.base, w.size, w.writable
        self.mask = _mask(name, g)  # (shared: read only)
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
        self.lut, self.param, self.weight, self.inputs, self.acc, self.out = (
            Buffer(name, g) for name in ("LUT", "PARAM", "WEIGHT", "IN", "ACC", "OUT"))
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
