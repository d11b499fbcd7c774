"""int8 <-> 32-bit word packing of the buffer windows (see ``hw/spec/regmap.py`` WINDOWS).

Four int8 values per little-endian word, element ``4w`` in bits 7:0 of word ``w``; the last word
of a row is zero padded.
"""

from __future__ import annotations

import numpy as np

from hw.spec import words_for

__all__ = ["pack_int8", "unpack_int8", "words_for"]

_WORD = np.dtype("<u4")


def pack_int8(a, words=None):
    """Pack each row of an int8 array [n, L] into ``words`` 32-bit words (uint32 [n, words]).

    ``words`` defaults to ``ceil(L / 4)``; extra bytes are zero.
    """
    a = np.asarray(a)
    if a.dtype != np.int8 or a.ndim != 2:
        raise ValueError(f"pack_int8 needs a 2-D int8 array, got {a.dtype} {a.shape}")
    words = words_for(a.shape[1]) if words is None else words
    if words * 4 < a.shape[1]:
        raise ValueError(f"{a.shape[1]} bytes do not fit in {words} words")
    buf = np.zeros((a.shape[0], words * 4), dtype=np.int8)
    buf[:, :a.shape[1]] = a
    return buf.view(_WORD)


def unpack_int8(words, elements):
    """Inverse of :func:`pack_int8`: uint32 [n, W] -> int8 [n, elements]."""
    w = np.ascontiguousarray(np.asarray(words, dtype=np.int64).astype(_WORD))
    if w.ndim != 2 or w.shape[1] * 4 < elements:
        raise ValueError(f"cannot unpack {elements} int8 from words of shape {w.shape}")
    return w.view(np.int8)[:, :elements].copy()
