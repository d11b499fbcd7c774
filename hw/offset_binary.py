"""A column's sum of int8 products in logic, without multipliers: offset-binary distributed
arithmetic (the "logic columns" of :class:`~hw.vmm_array.VmmArray`).

``sum_r x[r] * w[r]`` is exact (int8 operands, no rounding, no saturation); golden twin
:func:`models.vmm`. Bit ``b`` of ``x`` is taken as a sign ``e_b = +1`` when it adds its weight
(bits 0..6 set, the sign bit 7 clear) and ``-1`` otherwise, which gives for every int8 ``x``::

    x = sum_{b=1..7} 2**(b-1) * e_b  -  (1 - x[0])

The rows are taken in pairs ``(x0, w0), (x1, w1)`` (a last odd row alone, as if ``w1 = 0``).
Per pair and bit plane ``b`` in 1..7, ``e0*w0 + e1*w1`` is ``+-s`` (``s = w0 + w1``, the
signs equal) or ``+-d`` (``d = w0 - w1``), the sign that of ``e0``: one LUT4 per bit, a
function of ``x0[b]``, ``x1[b]``, ``s[i]``, ``d[i]``, the negation taken as the bitwise
complement (``-t = ~t + 1``). Bit 0 gives ``-G``, ``G = (1 - x0[0])*w0 + (1 - x1[0])*w1`` (one of
``0, w0, w1, s``: two LUT4 a bit), again a complement. The ``+1`` of every complement is
collected in :func:`offset_term`, which depends on ``x`` only (one per array, not per column).

So a column of R rows is ``8 * ceil(R / 2) + 1`` terms of at most 9 bits, summed by a balanced
tree of ripple adders (ECP5 CCU2C carry chains, about one logic cell a bit), each as wide as
its value needs (:func:`add_shifted`), plus two 9-bit adders per pair for ``s`` and ``d``.
Measured with Yosys 0.68 for an ECP5 (one column of 16 rows, ``x`` and ``w`` registered, LUT4
plus two per CCU2C): 1,757 logic cells, 110 a row; 8x8 multiplies through Yosys's ``booth``
and an adder tree 3,178; bit planes of AND-gated weights 2,430; pairs selecting
``0, w0, w1, s`` 2,000.
"""

from amaranth import Cat, Const, Mux

__all__ = ["pair_sums", "column_terms", "offset_term", "add_shifted", "tree_level",
           "tree_levels"]


def pair_sums(w):
    """The weights' pair sums and differences, ``[(s, d), ...]`` per pair of rows
    (``s = w0 + w1``, ``d = w0 - w1``; a last odd row alone: ``s = d = w0``): what
    :func:`column_terms` selects from. A caller may register them beside the weights (they
    change only with the weights) and pass the registers as ``sums``."""
    return [(w[r] + w[r + 1], w[r] - w[r + 1]) if r + 1 < len(w) else (w[r], w[r])
            for r in range(0, len(w), 2)]


def _pairs(x, w, sums=None):
    """The rows in pairs: ``(x0, x1, w0, w1, s, d)``; a last odd row alone: ``x1`` and ``w1``
    None, ``s = d = w0``. ``sums``: :func:`pair_sums` of ``w`` (default: computed here)."""
    sums = pair_sums(w) if sums is None else sums
    if len(sums) != (len(w) + 1) // 2:
        raise ValueError(f"sums must hold one (s, d) per pair of the {len(w)} rows, "
                         f"not {len(sums)}")
    out = []
    for (s, d), r in zip(sums, range(0, len(x), 2), strict=True):
        if r + 1 < len(x):
            out.append((x[r], x[r + 1], w[r], w[r + 1], s, d))
        else:
            out.append((x[r], None, w[r], None, s, d))
    return out


def column_terms(x, w, sums=None):
    """The terms of ``sum_r x[r] * w[r]`` less :func:`offset_term` of ``x``: a list of
    ``(value, shift)`` (a signed value worth ``value << shift``), bit plane by bit plane
    (plane 0's terms first), so that a balanced tree adds terms of one plane first.

    ``x``, ``w``: sequences of R signed(8) values (R >= 1); ``sums``: :func:`pair_sums` of
    ``w``, registers of them say (default: computed from ``w`` here)."""
    pairs = _pairs(x, w, sums)
    terms = []
    for x0, x1, w0, w1, s, _ in pairs:
        # G: the rows whose bit 0 is clear
        g = Mux(x0[0], 0, w0) if x1 is None else \
            Mux(x0[0], Mux(x1[0], 0, w1), Mux(x1[0], w0, s))
        terms.append((~g, 0))
    for b in range(1, 8):
        for x0, x1, _, _, s, d in pairs:
            t = s if x1 is None else Mux(x0[b] ^ x1[b], d, s)
            negative = x0[b] if b == 7 else ~x0[b]     # e0 = -1
            terms.append((Mux(negative, ~t, t), b - 1))
    return terms


def offset_term(x):
    """The term ``(value, 0)`` that completes :func:`column_terms` of ``x``: the ``+1`` of each
    complement, ``sum`` over the pairs' first rows ``x0`` of ``1 + (bits 7..1 of x0 ^ 0x3F)``
    (bit 7 set and bits 1..6 clear are the planes whose ``e0`` is -1)."""
    parts = [x[r][1:8] ^ 0x3F for r in range(0, len(x), 2)]
    count = len(parts)
    while len(parts) > 1:
        parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return Cat(parts[0] + count, Const(0, 1)).as_signed(), 0


def add_shifted(a, b):
    """The sum of two terms ``(value, shift)``, a term at the lower of the two shifts: the
    lower term's bits below the other's shift pass by, the adder covers the rest only."""
    (a, sa), (b, sb) = sorted((a, b), key=lambda t: t[1])
    k = sb - sa
    if k == 0:
        if len(a) > 1 and len(b) > 1:
            # The operands trade their lowest bits (of one weight: the same sum), so neither
            # is another adder's whole output: Yosys's alumacc then keeps each adder a ripple
            # adder (a carry chain) instead of merging the tree into one $macc, which maccmap
            # builds from full adders in LUTs (about 1.5x the logic of the column).
            a, b = Cat(b[0], a[1:]).as_signed(), Cat(a[0], b[1:]).as_signed()
        return a + b, sa
    if len(a) <= k:     # a ends below b: its sign bit extended to one bit under b
        a = Cat(a, a[-1].replicate(k + 1 - len(a))).as_signed()
    return Cat(a[:k], a[k:].as_signed() + b).as_signed(), sa


def tree_level(terms):
    """One level of a balanced tree of terms: neighbours added in pairs
    (:func:`add_shifted`), an odd last term as it is."""
    return [add_shifted(terms[i], terms[i + 1]) if i + 1 < len(terms) else terms[i]
            for i in range(0, len(terms), 2)]


def tree_levels(n):
    """The levels of a balanced tree over ``n`` terms."""
    return (n - 1).bit_length()
