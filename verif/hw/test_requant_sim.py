# amaranth: UnusedElaboratable=no
"""hw.pp.requant.Requantize in amaranth.sim against a reference written with Python integers
(and models.requantize): every shift, the corner multipliers, accumulators and zero points, and
at every shift the products right at each rounding half and each saturation boundary.

The boundary products are ``p = t * 2**(shift-1) + d`` (d in -1, 0, 1): where ``t`` is odd,
``p`` is a rounding half ``k * 2**shift + 2**(shift-1)`` plus d; the ``t`` chosen put
``q + zero_point`` right at 127/128 and -128/-129 for the zero points -128, 0 and 127, and
``t = 2p >> shift`` right at the edges of the block's 10-bit window. A product is
``acc * mult``: such a ``p`` is split into factors in range (:func:`as_product`); where it has
none (a prime, or no two factors below 2**31) the nearest product on the same side of the
boundary is taken instead (:func:`nearest_product`), which has the same ``t``: the block reads
no bit of ``p`` below ``shift - 1``, and the reference is still the judge of every case.
"""

import math

import numpy as np
import pytest

from hw.pp.requant import Requantize
from models import MULT_MAX, SHIFT_MAX, requantize
from verif.hw.sim_util import raw, rng, simulate

pytestmark = pytest.mark.unit

COLS, ADDR_WIDTH = 16, 4
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
P_LIMIT = 2**62                      # |acc * mult| < 2**62
ZERO_POINTS = (-128, 0, 127)
#: values of t = 2p >> shift (p = t * 2**(shift-1) + d): q = (t + 1) >> 1 near 0, +-128 and
#: +-256 (the clamp's boundaries for the zero points above) and t at the window's edges, +-512
T_EDGES = (*range(-516, -507), *range(-260, -251), *range(-4, 5), *range(252, 261),
           *range(506, 516), -1025, -1024, 1023, 1024)


def reference(acc, mult, shift, zero_point):
    """The requantization with Python integers (no NumPy): the datapath's specification."""
    p = acc * mult
    q = (p + (1 << (shift - 1))) >> shift if shift > 0 else p
    return min(127, max(-128, q + zero_point))


def _is_prime(n):
    if n < 2:
        return False
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):   # exact below 3.3e24
        if n % a == 0:
            return n == a
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _factor(n, budget=20_000):
    """The prime factors of ``n`` >= 1 (Pollard's rho), or None past ``budget`` steps."""
    if n == 1:
        return []
    if _is_prime(n):
        return [n]
    for small in (2, 3, 5, 7, 11, 13):
        if n % small == 0:
            rest = _factor(n // small, budget)
            return None if rest is None else [small, *rest]
    for c in range(1, 20):
        x = y = 2
        d = 1
        for _ in range(budget):
            x = (x * x + c) % n
            y = (y * y + c) % n
            y = (y * y + c) % n
            d = math.gcd(abs(x - y), n)
            if d != 1:
                break
        if d == 1:
            return None
        if d != n:
            a, b = _factor(d, budget), _factor(n // d, budget)
            return None if a is None or b is None else a + b
    return None


def as_product(p):
    """``(acc, mult)`` in range with ``acc * mult == p``, or None."""
    if INT32_MIN <= p <= INT32_MAX:
        return p, 1
    factors = _factor(abs(p))
    if factors is None:
        return None
    divisors = {1}
    for f in factors:
        divisors |= {d * f for d in divisors}
    for mult in sorted(divisors):
        acc = p // mult
        if mult <= MULT_MAX and INT32_MIN <= acc <= INT32_MAX:
            return acc, mult
    return None


def nearest_product(target, lo, hi, step, tries=16):
    """``(p, acc, mult)``: the product in ``lo .. hi`` nearest to ``target`` from the ``step``
    side, looking at ``tries`` values from ``target`` on, else a product ``acc * mult`` with
    ``mult`` near MULT_MAX (the block is wider than ``mult`` at the shifts where it comes to
    that); None if there is none below 2**62."""
    p = target
    for _ in range(tries):
        if not lo <= p <= hi or abs(p) >= P_LIMIT:
            return None
        factors = as_product(p)
        if factors:
            return (p, *factors)
        p += step
    found = []
    for mult in range(MULT_MAX, MULT_MAX - 64, -1):
        acc = -(-p // mult) if step > 0 else p // mult   # the first multiple from p on
        if INT32_MIN <= acc <= INT32_MAX and lo <= acc * mult <= hi:
            found.append((abs(acc * mult - target), acc * mult, acc, mult))
    return min(found)[1:] if found else None


def boundary_products(shift):
    """``(target, p, acc, mult)`` at the rounding halves and saturation boundaries of
    ``shift``: ``p`` is the ``target`` where that is a product in range, else the nearest
    product on the same side of the boundary (none if that side has none below 2**62)."""
    if shift == 0:   # q = p: every p around the clamp's boundaries
        return [(p, p, p, 1) for p in range(-520, 521)]
    unit = 1 << (shift - 1)   # t = 2p >> shift = p // unit
    out = []
    for t in T_EDGES:
        base = t * unit
        for d in (-1, 0, 1):
            # the p with the same t as base + d: below the boundary for d = -1, else above
            lo, hi = (base - unit, base - 1) if d < 0 else (base, base + unit - 1)
            p = nearest_product(base + d, lo, hi, -1 if d < 0 else 1)
            if p is not None:
                out.append((base + d, *p))
    return out


def cases(r):
    """(acc, mult, shift, zero_point) tuples, with the zero points of ZERO_POINTS and five
    random ones."""
    zero_points = ZERO_POINTS + tuple(r.randint(-128, 127) for _ in range(5))
    corners_acc = (0, 1, -1, INT32_MIN, INT32_MAX)
    corners_mult = (0, 1, MULT_MAX)
    out = []
    for shift in range(SHIFT_MAX + 1):
        for acc in corners_acc + tuple(r.randint(INT32_MIN, INT32_MAX) for _ in range(2)):
            for mult in corners_mult + (r.randint(0, MULT_MAX),):
                out += [(acc, mult, shift, zp) for zp in zero_points]
        for _target, _p, acc, mult in boundary_products(shift):
            out += [(acc, mult, shift, zp) for zp in ZERO_POINTS]
        for _ in range(64):   # random magnitudes: p of every size
            acc = r.randint(INT32_MIN, INT32_MAX) >> r.randrange(32)
            mult = r.randint(0, MULT_MAX) >> r.randrange(32)
            out.append((acc, mult, shift, r.choice(zero_points)))
    r.shuffle(out)
    return out


def run_block(rows, r):
    """Drive ``rows`` (lists of COLS cases, one zero point each) through the block, with random
    idle cycles between them, and return each row's (outputs, address) as it came out."""
    dut = Requantize(COLS, ADDR_WIDTH)
    latency, zp_delay = Requantize.LATENCY, Requantize.ZERO_POINT_DELAY
    data, mult, shift = raw(dut.i.payload.data), raw(dut.mult), raw(dut.shift)
    got = []

    def pack(values, width):
        return sum((v & ((1 << width) - 1)) << (width * k) for k, v in enumerate(values))

    async def tb(ctx):
        issued = []   # cycle -> row index or None
        pending = list(range(len(rows)))
        cycle = 0
        while pending or any(i is not None for i in issued[-latency:]):
            row = pending.pop(0) if pending and r.random() < 0.8 else None
            issued.append(row)
            ctx.set(dut.i.valid, row is not None)
            if row is None:   # an idle cycle: junk on the payload
                ctx.set(data, r.getrandbits(32 * COLS))
                ctx.set(mult, r.getrandbits(31 * COLS))
                ctx.set(shift, r.getrandbits(6 * COLS))
                ctx.set(dut.i.payload.addr, r.getrandbits(ADDR_WIDTH))
            else:
                accs, mults, shifts, _ = zip(*rows[row], strict=True)
                ctx.set(data, pack(accs, 32))
                ctx.set(mult, pack(mults, 31))
                ctx.set(shift, pack(shifts, 6))
                ctx.set(dut.i.payload.addr, row % (1 << ADDR_WIDTH))
            # the zero point of the row issued zp_delay cycles ago, junk if none
            zp_row = issued[cycle - zp_delay] if cycle >= zp_delay else None
            ctx.set(dut.zero_point, rows[zp_row][0][3] if zp_row is not None
                    else r.randint(-128, 127))
            out_row = issued[cycle - latency] if cycle >= latency else None
            assert ctx.get(dut.o.valid) == (out_row is not None), f"cycle {cycle}"
            if out_row is not None:
                word = ctx.get(raw(dut.o.payload.data))
                ys = [((word >> (8 * k)) & 0xFF) - ((word >> (8 * k) & 0x80) << 1)
                      for k in range(COLS)]
                got.append((out_row, ys, ctx.get(dut.o.payload.addr)))
            await ctx.tick()
            cycle += 1

    simulate(dut, tb)
    return got


def test_requantize_equals_the_integer_reference():
    r = rng(13)
    all_cases = cases(r)
    # one zero point per row: group the cases by it
    by_zp = {}
    for case in all_cases:
        by_zp.setdefault(case[3], []).append(case)
    rows = [group[i:i + COLS] for group in by_zp.values() for i in range(0, len(group), COLS)]
    rows = [row + [row[-1]] * (COLS - len(row)) for row in rows]
    print(f"{len(all_cases)} cases in {len(rows)} rows")

    # the golden model agrees with the reference on every case
    for zp, group in by_zp.items():
        acc, mult, shift, _ = (np.array(col, np.int64) for col in zip(*group, strict=True))
        np.testing.assert_array_equal(requantize(acc.astype(np.int32), mult, shift, zp),
                                      [reference(*case) for case in group])

    got = run_block(rows, r)
    assert sorted(row for row, _, _ in got) == list(range(len(rows)))
    for row, ys, addr in got:
        assert addr == row % (1 << ADDR_WIDTH), f"row {row}"
        for case, y in zip(rows[row], ys, strict=True):
            assert y == reference(*case), f"(acc, mult, shift, zero_point) = {case}"


@pytest.mark.parametrize("shift", [1, 2, 9, 10, 22, 23, 31, 32, 40, 52, 53, 54, 62, 63])
def test_boundary_products_are_on_the_aimed_side(shift):
    """The boundary products are products with the ``t`` aimed at, and the exact target
    wherever that fits in int32 (p = acc * 1)."""
    products = boundary_products(shift)
    unit = 1 << (shift - 1)
    assert products
    for target, p, acc, mult in products:
        assert acc * mult == p and p // unit == target // unit
        assert p == target or abs(target) > INT32_MAX
    exact = sum(target == p for target, p, _, _ in products)
    print(f"{exact} of {len(products)} exact")
