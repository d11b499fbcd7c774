"""The accelerator's geometry: its sizes, their limits, and the word layout of the windows.

A :class:`Geometry` is checked when it is made, so every one that exists can be built, decoded
and driven: each size is an int >= 1 and at most what its command field can address, and the
buffers fit their fixed address windows (:data:`~hw.spec.regmap.WINDOWS`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from .regmap import LUT_ENTRIES, PARAM_BITS, PARAM_FIELDS, PARAM_STRIDE, register, window

__all__ = ["CimGeometry", "Geometry", "LIMITS", "MEM_BITS", "build_key", "cim_of"]

#: the data widths the AXI4 memory port can be built with
MEM_BITS = (64, 128, 256)


def _field_max(name):
    return (1 << register(name).field("VALUE").width) - 1


#: the largest value of each size: the largest value of the command field that counts or
#: addresses it (so a size always fits in its field, as the CFG_* and CMD_* registers need)
LIMITS = {
    "rows": _field_max("CMD_ROWS"),
    "cols": _field_max("CMD_COLS"),
    "banks": _field_max("CMD_BANK"),
    "in_depth": _field_max("CMD_IN_ADDR"),
    "acc_depth": _field_max("CMD_ACC_ADDR"),
    "out_depth": _field_max("CMD_OUT_ADDR"),
}


def _pow2(n):
    return 1 << (n - 1).bit_length()


@dataclass(frozen=True)
class Geometry:
    """The accelerator's geometry (what the CFG_* registers report) and the word layout of the
    buffer windows that follows from it.

    Strides are rounded up to powers of two so the hardware decodes addresses by bit slicing;
    words that fall into the padding are unmapped (DECERR).

    Parameters
    ----------
    rows, cols : int
        R x C array (1..255 each).
    banks : int
        Resident weight banks (1..255).
    in_depth, acc_depth, out_depth : int
        Input buffer vectors, accumulator rows and output buffer rows (1..65535 each, and what
        the address windows hold).
    mem_bits : int
        Data width of the AXI4 memory port in bits: one of :data:`MEM_BITS` (default 128).

    Raises
    ------
    TypeError
        A size that is not an int.
    ValueError
        A size outside :data:`LIMITS`, or buffers that do not fit their windows.
    """
    rows: int
    cols: int
    banks: int
    in_depth: int
    acc_depth: int
    out_depth: int
    mem_bits: int = 128

    def __post_init__(self):
        for name, most in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"geometry {name} must be an int, got {value!r}")
            if not 1 <= value <= most:
                raise ValueError(f"geometry {name} must be in 1..{most}, got {value}")
        if self.mem_bits not in MEM_BITS or isinstance(self.mem_bits, bool):
            raise ValueError(f"geometry mem_bits must be one of {MEM_BITS}, got "
                             f"{self.mem_bits!r}")
        for name, need in self.window_bytes().items():
            if need > window(name).size:
                raise ValueError(f"geometry {self} needs {need} bytes of the {name} window, "
                                 f"which has {window(name).size}")

    @classmethod
    def default(cls, **overrides):
        """The default build: a 16x16 array, two banks (``overrides`` replace fields; a
        ``cim`` that is not None makes a :class:`CimGeometry`)."""
        values = dict(rows=16, cols=16, banks=2, in_depth=1024, acc_depth=256, out_depth=256,
                      mem_bits=128)
        cim = overrides.pop("cim", None)
        unknown = set(overrides) - set(values)
        if unknown:
            raise TypeError(f"unknown geometry field(s) {', '.join(sorted(unknown))}; "
                            f"the fields are {', '.join(values)} (and cim)")
        values.update(overrides)
        return cls(**values) if cim is None else CimGeometry(**values, cim=cim)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def as_dict(self):
        return dataclasses.asdict(self)

    @property
    def mem_bytes(self):
        """Bytes of one beat of the memory port (CFG_MEM_BYTES)."""
        return self.mem_bits // 8

    @property
    def cells(self):
        """R * C: the multiply-accumulates the array does per cycle."""
        return self.rows * self.cols

    @functools.cached_property  # (hot in the compilers; the geometry is frozen)
    def row_words(self):
        """32-bit words of one R-long int8 vector (or weight column)."""
        return words_for(self.rows)

    @functools.cached_property
    def col_words(self):
        """32-bit words of one C-wide int8 output row."""
        return words_for(self.cols)

    @functools.cached_property
    def row_words_p2(self):
        return _pow2(self.row_words)

    @functools.cached_property
    def cols_p2(self):
        return _pow2(self.cols)

    @functools.cached_property
    def col_words_p2(self):
        return _pow2(self.col_words)

    def window_bytes(self):
        """Bytes each window needs for this geometry (padding of the strides included)."""
        return {
            "LUT": LUT_ENTRIES,
            "PARAM": PARAM_STRIDE * self.cols,
            "WEIGHT": 4 * self.banks * self.cols_p2 * self.row_words_p2,
            "IN": 4 * self.in_depth * self.row_words_p2,
            "ACC": 4 * self.acc_depth * self.cols_p2,
            "OUT": 4 * self.out_depth * self.col_words_p2,
        }

    def word_mask(self, name, index):
        """The bits that word ``index`` of window ``name`` stores (0: a hole, which answers
        DECERR): whole words, or the bytes of the rows/columns that exist (WEIGHT and OUT keep
        no bytes past R or C; IN keeps whole words), or the width of a PARAM field."""
        full = 0xFFFF_FFFF

        def byte_mask(elements, word):
            return (1 << 8 * max(0, min(4, elements - 4 * word))) - 1

        if name == "LUT":
            return full if index < LUT_ENTRIES // 4 else 0
        if name == "PARAM":
            col, offset = divmod(4 * index, PARAM_STRIDE)
            bits = {PARAM_FIELDS[f]: b for f, b in PARAM_BITS.items()}.get(offset, 0)
            return (1 << bits) - 1 if col < self.cols else 0
        if name == "WEIGHT":
            rest, word = divmod(index, self.row_words_p2)
            bank, col = divmod(rest, self.cols_p2)
            ok = bank < self.banks and col < self.cols and word < self.row_words
            return byte_mask(self.rows, word) if ok else 0
        if name == "IN":
            vector, word = divmod(index, self.row_words_p2)
            return full if vector < self.in_depth and word < self.row_words else 0
        if name == "ACC":
            row, col = divmod(index, self.cols_p2)
            return full if row < self.acc_depth and col < self.cols else 0
        if name == "OUT":
            row, word = divmod(index, self.col_words_p2)
            return byte_mask(self.cols, word) if row < self.out_depth and word < self.col_words \
                else 0
        raise KeyError(f"no window {name!r}")

    def lut_addr(self, word=0):
        return window("LUT").base + 4 * word

    def param_addr(self, col, name):
        return window("PARAM").base + PARAM_STRIDE * col + PARAM_FIELDS[name]

    def weight_addr(self, bank, col, word=0):
        return window("WEIGHT").base + 4 * ((bank * self.cols_p2 + col) * self.row_words_p2 + word)

    def in_addr(self, vector, word=0):
        return window("IN").base + 4 * (vector * self.row_words_p2 + word)

    def acc_addr(self, row, col=0):
        return window("ACC").base + 4 * (row * self.cols_p2 + col)

    def out_addr(self, row, word=0):
        return window("OUT").base + 4 * (row * self.col_words_p2 + word)


@dataclass(frozen=True)
class CimGeometry(Geometry):
    """A build whose array computes in compute-in-memory mode (:mod:`models.cim`, the gateware
    ``hw.cim_array.CimArray``); the exact digital mode is :class:`Geometry` itself.

    Parameters
    ----------
    cim : models.cim.CimConfig
        Bits per cycle, rows per ADC group, ADC bits, bits per weight cell. ``group_rows``
        must divide ``rows``, so that the ADC groups of a layer
        whose K is tiled by R rows are runs of ``group_rows`` consecutive K from 0, as
        :func:`models.cim.cim_vmm` groups them.

    Raises
    ------
    TypeError, ValueError
        As :class:`Geometry`; ``cim`` not a CimConfig, or groups that do not divide the
        rows.
    """
    cim: object = None

    def __post_init__(self):
        super().__post_init__()
        from models.cim import CimConfig
        if not isinstance(self.cim, CimConfig):
            raise TypeError(f"geometry cim must be a models.cim.CimConfig, got {self.cim!r}")
        if self.rows % self.cim.group_rows:
            raise ValueError(f"geometry cim: group_rows ({self.cim.group_rows}) must divide "
                             f"rows ({self.rows})")

    @property
    def cim_word(self):
        """CFG_CIM: ``bits_per_cycle | group_rows << 8 | adc_bits << 16 | cell_bits << 24``."""
        c = self.cim
        return c.bits_per_cycle | c.group_rows << 8 | c.adc_bits << 16 | c.cell_bits << 24

    @staticmethod
    def cim_from_word(word):
        """The CimConfig a CFG_CIM word describes."""
        from models.cim import CimConfig
        return CimConfig(bits_per_cycle=word & 0xFF, group_rows=word >> 8 & 0xFF,
                         adc_bits=word >> 16 & 0xFF, cell_bits=word >> 24 & 0xFF)


def build_key(geometry, sep="_"):
    """The geometry's values joined by ``sep`` (a CimGeometry's CimConfig flattened in), for
    the names of cached builds."""
    def flat(values):
        for v in values:
            yield from (flat(v) if isinstance(v, tuple) else (v,))
    return sep.join(str(v) for v in flat(dataclasses.astuple(geometry)))


def cim_of(geometry):
    """The :class:`models.cim.CimConfig` of a geometry, or None (the exact digital mode)."""
    return getattr(geometry, "cim", None)


def words_for(elements):
    """Number of 32-bit words that hold ``elements`` int8 values (four to a word)."""
    return (elements + 3) // 4
