"""The bus address decoder, derived from the register map and the geometry."""

from amaranth import Module, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .spec import (
    ADDR_WIDTH,
    LUT_ENTRIES,
    PARAM_FIELDS,
    PARAM_STRIDE,
    REGISTER_SPACE,
    WINDOWS,
    Geometry,
    cim_of,
    regmap,
    words_for,
)

__all__ = ["AddressDecoder", "Region", "SPACES", "word_fields"]

#: the register space and the buffer windows, in the order of :class:`Region`
SPACES = (REGISTER_SPACE, *WINDOWS)

def _region_enum():
    shape = range(len(SPACES) + 1)
    namespace = enum.EnumMeta.__prepare__("Region", (enum.Enum,), shape=shape)
    for i, space in enumerate(SPACES):
        namespace[space.name] = i
    namespace["NONE"] = len(SPACES)
    namespace["__module__"] = __name__
    namespace["__doc__"] = "The address space a byte address falls into; NONE: a hole."
    return enum.EnumMeta("Region", (enum.Enum,), namespace, shape=shape)


Region = _region_enum()


def word_fields(g: Geometry):
    """The word-address fields of every space: ``{space: ((field, bits, limit), ...)}``.

    A space's word index (the byte address inside it, divided by 4) is cut into fields from the
    least significant bit up; ``bits`` of None takes what is left of the space, and the word
    exists (is *mapped*) when every field is below its ``limit`` (None: any value; a set: one
    of its values). The strides are those of ``Geometry.*_addr`` (powers of two)."""
    log2 = exact_log2
    return {
        "REG": (("word", None, {r.offset // 4 for r in regmap.registers(cim_of(g) is not None)}),),
        "LUT": (("word", None, words_for(LUT_ENTRIES)),),
        "PARAM": (("field", log2(PARAM_STRIDE // 4), {v // 4 for v in PARAM_FIELDS.values()}),
                  ("col", None, g.cols)),
        "WEIGHT": (("word", log2(g.row_words_p2), g.row_words), ("col", log2(g.cols_p2), g.cols),
                   ("bank", None, g.banks)),
        "IN": (("word", log2(g.row_words_p2), g.row_words), ("vector", None, g.in_depth)),
        "ACC": (("col", log2(g.cols_p2), g.cols), ("row", None, g.acc_depth)),
        "OUT": (("word", log2(g.col_words_p2), g.col_words), ("row", None, g.out_depth)),
    }


def _resolved(g):
    """``{space: [(field, lsb, width, limit)]}`` with every width known; lsb within the word."""
    out = {}
    for space in SPACES:
        left = exact_log2(space.size) - 2
        lsb, fields = 0, []
        for name, bits, limit in word_fields(g)[space.name]:
            width = left - lsb if bits is None else bits
            if width < 0 or lsb + width > left:
                raise ValueError(f"the {space.name} fields {word_fields(g)[space.name]} do not "
                                 f"fit its {left} word-address bits")
            fields.append((name, lsb, width, limit))
            lsb += width
        out[space.name] = fields
    return out


class AddressDecoder(wiring.Component):
    """Turns a byte address into the space it selects, whether that word exists, and its fields.

    Derived from :data:`~hw.spec.regmap.REGISTER_SPACE`, :data:`~hw.spec.regmap.WINDOWS` (each an
    aligned power of two: the space is chosen by the address bits above its size) and the
    :class:`~hw.spec.Geometry` (the word layout of each window, :func:`word_fields`), so no
    window base or stride is typed again. Purely combinational; the two low address bits (the
    byte within the word) are ignored.

    Parameters
    ----------
    geometry : Geometry
    addr_width : int
        Byte address bits (default :data:`~hw.spec.regmap.ADDR_WIDTH`; every space must fit).

    Members
    -------
    addr : In(addr_width)
        Byte address.
    select : Out(StructLayout)
        One bit per space (``select.REG``, ``select.LUT``, ...): the address lies in it. At most
        one is high.
    region : Out(Region)
        The same as an enum; ``Region.NONE`` for an address in no space.
    mapped : Out(1)
        The address lies in a space and its word exists there (a register at that offset, a
        table entry, a column < COLS...).
    fields : Out(StructLayout)
        The word fields of every space (``fields.WEIGHT.bank``, ``fields.IN.vector``...), all
        decoded from the same address; only those of the selected space mean anything.
    """

    def __init__(self, geometry: Geometry, addr_width: int = ADDR_WIDTH):
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        if not isinstance(addr_width, int) or addr_width < 2:
            raise TypeError(f"addr_width must be an int >= 2, not {addr_width!r}")
        for space in SPACES:
            if space.base + space.size > 1 << addr_width:
                raise ValueError(f"the {space.name} space does not fit {addr_width} address bits")
        self.geometry, self.addr_width = geometry, addr_width
        self._fields = _resolved(geometry)
        layout = data.StructLayout({
            name: data.StructLayout({f: unsigned(width) for f, _, width, _ in fields})
            for name, fields in self._fields.items()})
        super().__init__({
            "addr": In(addr_width),
            "select": Out(data.StructLayout({s.name: 1 for s in SPACES})),
            "region": Out(Region),
            "mapped": Out(1),
            "fields": Out(layout),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.region.eq(Region.NONE)
        for space in SPACES:
            size_bits = exact_log2(space.size)
            word = self.addr[2:size_bits]
            hit = self.addr[size_bits:] == space.base >> size_bits
            exists = 1
            for name, lsb, width, limit in self._fields[space.name]:
                value = word[lsb:lsb + width]
                m.d.comb += self.fields[space.name][name].eq(value)
                if isinstance(limit, set):
                    exists = exists & value.matches(*sorted(limit))
                elif limit is not None and limit < 1 << width:
                    exists = exists & (value < limit)
            m.d.comb += self.select[space.name].eq(hit)
            with m.If(hit):
                m.d.comb += [self.region.eq(Region[space.name]), self.mapped.eq(exists)]
        return m
