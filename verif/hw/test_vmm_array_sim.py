# amaranth: UnusedElaboratable=no
"""hw.vmm_array.VmmArray in amaranth.sim: both weight stores against a naive model.

The ``"ff"`` and ``"ram"`` builds run side by side on the same inputs, every cycle: random
vectors (banks chosen at random, the bank being written that cycle included), random bus word
writes and column writes, random read-back addresses (out of range included). Each must equal a
plain model (a NumPy weight array and ``models.vmm`` at the documented latency), and the two
must equal each other in every output, cycle by cycle (``r_data`` one cycle later with
``"ram"``). The one documented difference, a bus write and a column write to two banks of one
column in one cycle, has its own test.
"""

import re

import numpy as np
import pytest
from amaranth import Module

from hw.spec import timing
from hw.synth import verilog_text
from hw.vmm_array import WEIGHT_STORES, VmmArray
from models import vmm
from verif.hw.sim_util import raw, rng, simulate

pytestmark = pytest.mark.unit

SHAPES = [(4, 4, 3), (5, 3, 2), (8, 2, 16)]
#: (rows, cols, banks, pipeline): the shapes as built by default, and pipelined builds
#: (``VmmArray(pipeline=)``: the same weights meet each vector, ``pipeline`` cycles later)
CASES = [(*s, 0) for s in SHAPES] + [(4, 4, 3, 1), (5, 3, 2, 2), (8, 2, 16, 1), (8, 2, 16, 2),
                                     (5, 3, 2, 3), (8, 2, 16, 3)]
#: (rows, cols, banks, pipeline, logic_columns): some or all columns summed in logic
#: (``VmmArray(logic_columns=)``), odd rows and a single row included
LOGIC_CASES = [(4, 4, 3, 0, 2), (5, 3, 2, 0, 3), (5, 3, 2, 2, 1), (8, 2, 16, 1, 2),
               (8, 2, 16, 2, 1), (16, 3, 2, 2, 2), (16, 2, 2, 0, 2), (1, 2, 2, 1, 1),
               (3, 2, 2, 2, 2), (17, 2, 2, 1, 1), (16, 3, 2, 3, 2), (1, 2, 2, 3, 1)]


def _int8(v):
    return v - 256 if v & 0x80 else v


class Model:
    """The weights as bytes, [bank][col][row]."""

    def __init__(self, rows, cols, banks):
        self.w = np.zeros((banks, cols, rows), dtype=np.int8)

    def bus_write(self, bank, col, word, data, strb):
        rows = self.w.shape[2]
        for lane in range(4):
            r = 4 * word + lane
            if strb >> lane & 1 and r < rows:
                self.w[bank, col, r] = _int8(data >> 8 * lane & 0xFF)

    def column_write(self, bank, col, data, mask):
        banks, cols, rows = self.w.shape
        if bank >= banks or col >= cols:
            return
        for r in range(rows):
            if mask >> r & 1:
                self.w[bank, col, r] = _int8(data >> 8 * r & 0xFF)

    def read(self, bank, col, word, w=None):
        """The word the bus reads (of ``w``: default the weights now)."""
        w = self.w if w is None else w
        banks, cols, rows = w.shape
        if bank >= banks or col >= cols or 4 * word >= rows:
            return 0
        return sum((int(w[bank, col, r]) & 0xFF) << 8 * (r - 4 * word)
                   for r in range(4 * word, min(4 * word + 4, rows)))


def _pair(rows, cols, banks, pipeline=0, logic_columns=0, shadow=False):
    m = Module()
    arrays = {s: VmmArray(rows, cols, banks, tag_width=4, weight_store=s, pipeline=pipeline,
                          logic_columns=logic_columns)
              for s in WEIGHT_STORES}
    if shadow:   # shared byte selects, the registers read back through their LUT-RAM copy
        arrays["shadow"] = VmmArray(rows, cols, banks, tag_width=4, pipeline=pipeline,
                                    logic_columns=logic_columns, exclusive_writes=True)
    for s, a in arrays.items():
        m.submodules[s] = a
    return m, arrays


@pytest.mark.parametrize(("rows", "cols", "banks", "pipeline", "logic_columns"),
                         [(*c, 0) for c in CASES] + LOGIC_CASES,
                         ids=[f"{r}x{c}x{b}" + (f"-p{p}" if p else "") + (f"-l{n}" if n else "")
                              for r, c, b, p, n in [(*c, 0) for c in CASES] + LOGIC_CASES])
def test_both_weight_stores_equal_the_model(rows, cols, banks, pipeline, logic_columns):
    _equal_the_model(rows, cols, banks, pipeline, logic_columns)


#: (rows, cols, banks): the read-back's copy with odd rows, 1 and 16 banks, a single column
SHADOW_CASES = [(4, 4, 3), (5, 3, 2), (8, 2, 16), (17, 2, 2), (3, 1, 1), (16, 16, 2)]


@pytest.mark.parametrize(("rows", "cols", "banks"), SHADOW_CASES,
                         ids=[f"{r}x{c}x{b}" for r, c, b in SHADOW_CASES])
def test_exclusive_writes_equal_the_model(rows, cols, banks):
    """``exclusive_writes=True``: the registers load through byte selects shared by all, the
    bus reads their LUT-RAM copy, written a cycle after them; every cycle equal to the model
    (the read-back to the weights of a cycle before) and to the default build, the writes of
    the two ports never in one cycle (the promise: a cycle that draws both drops the bus
    write)."""
    _equal_the_model(rows, cols, banks, 0, 0, shadow=True)


def _equal_the_model(rows, cols, banks, pipeline, logic_columns, shadow=False):
    r = rng(rows * 1000 + cols * 10 + banks + 100_000 * pipeline + 1_000_000 * logic_columns
            + 10_000_000 * shadow)
    m, arrays = _pair(rows, cols, banks, pipeline, logic_columns, shadow)
    ff, ram = arrays["ff"], arrays["ram"]
    assert ff.latency == ram.latency == timing.array_latency(rows) + pipeline
    assert (ff.read_latency, ram.read_latency) == (0, 1)
    latency, words = ff.latency, ff.row_words
    model = Model(rows, cols, banks)
    bank_bits, col_bits = (banks - 1).bit_length(), (cols - 1).bit_length()
    word_bits = (words - 1).bit_length()

    def put(ctx, name, value):
        for a in arrays.values():
            ctx.set(raw(getattr(a, name)), value)

    async def tb(ctx):
        expected = {}       # cycle -> (y, tag) of the vector that leaves then
        read_back = None    # ram: what r_data shows this cycle
        behind = model.w.copy()   # the weights a cycle ago: what the shadow copy holds
        checked = {"vectors": 0, "reads": 0}
        for k in range(500):
            # Inputs of cycle k.
            load = r.random() < 0.3
            if load:
                wl = (r.randrange(banks + 1 if r.random() < 0.1 else banks),
                      r.randrange(cols + 1 if r.random() < 0.1 else cols),
                      r.getrandbits(32 * words), r.getrandbits(4 * words))
            bus = r.random() < 0.4 and not (shadow and load)
            if bus:
                wc = wl[1] if load and wl[1] < cols and r.random() < 0.5 else r.randrange(cols)
                wb = r.randrange(banks)
                if load and wc == wl[1] and wl[0] < banks:
                    wb = wl[0]   # one column in one cycle: one bank (the documented limit)
                w = (wb, wc, r.randrange(words), r.getrandbits(32), r.getrandbits(4))
            put(ctx, "w_en", bus)
            put(ctx, "w_bank", w[0] if bus else r.getrandbits(bank_bits))
            put(ctx, "w_col", w[1] if bus else r.getrandbits(col_bits))
            put(ctx, "w_word", w[2] if bus else r.getrandbits(word_bits))
            put(ctx, "w_data", w[3] if bus else r.getrandbits(32))
            put(ctx, "w_strb", w[4] if bus else r.getrandbits(4))
            put(ctx, "wl_en", load)
            put(ctx, "wl_bank", wl[0] if load else r.getrandbits(8))
            put(ctx, "wl_col", wl[1] if load else r.getrandbits(8))
            put(ctx, "wl_data", wl[2] if load else r.getrandbits(32 * words))
            put(ctx, "wl_mask", wl[3] if load else r.getrandbits(4 * words))
            valid = r.random() < 0.6
            x = [r.randrange(-128, 128) for _ in range(rows)]
            bank, tag = r.randrange(banks), r.getrandbits(4)
            for a in arrays.values():
                ctx.set(a.i.valid, valid)
                ctx.set(a.i.payload.x, x)
                ctx.set(a.i.payload.bank, bank)
                ctx.set(a.i.payload.tag, tag)
            rd = (r.getrandbits(bank_bits), r.getrandbits(col_bits), r.getrandbits(word_bits))
            r_en = r.random() < 0.7
            put(ctx, "r_en", r_en)
            put(ctx, "r_bank", rd[0])
            put(ctx, "r_col", rd[1])
            put(ctx, "r_word", rd[2])

            # Outputs of cycle k.
            assert ctx.get(ff.r_data) == model.read(*rd), f"cycle {k}: ff r_data of {rd}"
            if shadow:
                assert ctx.get(arrays["shadow"].r_data) == model.read(*rd, w=behind), \
                    f"cycle {k}: shadow r_data of {rd}"
                assert ctx.get(raw(arrays["shadow"].o.payload)) == ctx.get(raw(ff.o.payload))
            if read_back is not None:
                assert ctx.get(ram.r_data) == read_back, f"cycle {k}: ram r_data"
                checked["reads"] += 1
            assert ctx.get(ff.active) == ctx.get(ram.active), f"cycle {k}: active"
            for a in arrays.values():
                assert ctx.get(a.o.valid) == (k in expected), f"cycle {k}: {a.weight_store}"
            assert ctx.get(raw(ff.o.payload)) == ctx.get(raw(ram.o.payload)), f"cycle {k}"
            if k in expected:
                y, t = expected.pop(k)
                got = [ctx.get(ff.o.payload.y[c]) for c in range(cols)]
                np.testing.assert_array_equal(got, y, err_msg=f"cycle {k}")
                assert ctx.get(ff.o.payload.tag) == t
                checked["vectors"] += 1
            if r_en:
                read_back = model.read(*rd)   # the weights before this cycle's writes

            # The edge: the model takes the writes (the column port second: it wins).
            behind = model.w.copy()
            if bus:
                model.bus_write(*w)
            if load:
                model.column_write(*wl)
            if valid:   # the products see this cycle's writes, as the registers do
                y = vmm(np.array([x], dtype=np.int8), model.w[bank])[0]
                expected[k + latency] = (y, tag)
            await ctx.tick()
        assert checked["vectors"] > 100 and checked["reads"] > 100, checked
        print(checked)

    simulate(m, tb)


def test_ram_drops_a_bus_write_to_another_bank_of_the_column_being_loaded():
    """The documented difference: one write port per column, the column port wins."""
    m, arrays = _pair(4, 2, 2)

    async def tb(ctx):
        for a in arrays.values():
            for name, value in (("w_en", 1), ("w_bank", 0), ("w_col", 1), ("w_word", 0),
                                ("w_data", 0x11223344), ("w_strb", 0xF), ("wl_en", 1),
                                ("wl_bank", 1), ("wl_col", 1), ("wl_data", 0x55667788),
                                ("wl_mask", 0xF)):
                ctx.set(getattr(a, name), value)
        await ctx.tick()
        got = {}
        for s, a in arrays.items():
            for name in ("w_en", "wl_en"):
                ctx.set(getattr(a, name), 0)
            got[s] = []
            for bank in (0, 1):
                ctx.set(a.r_en, 1)
                ctx.set(a.r_bank, bank)
                ctx.set(a.r_col, 1)
                ctx.set(a.r_word, 0)
                if a.read_latency:
                    await ctx.tick()
                    ctx.set(a.r_en, 0)
                got[s].append(ctx.get(a.r_data))
        assert got["ff"] == [0x11223344, 0x55667788]
        assert got["ram"] == [0, 0x55667788]

    simulate(m, tb)


#: (rows, cols, banks, pipeline, logic_columns) of the extreme-value test
EXTREME_CASES = [(16, 3, 2, 0, 2), (16, 3, 2, 1, 3), (16, 2, 2, 2, 1), (5, 2, 16, 2, 2),
                 (1, 1, 2, 0, 1), (4, 2, 2, 1, 2), (17, 2, 2, 2, 2), (5, 2, 16, 3, 2)]


@pytest.mark.parametrize(("rows", "cols", "banks", "pipeline", "logic_columns"), EXTREME_CASES,
                         ids=[f"{r}x{c}x{b}-p{p}-l{n}" for r, c, b, p, n in EXTREME_CASES])
def test_logic_columns_at_the_extremes(rows, cols, banks, pipeline, logic_columns):
    """-128 * -128 in every row (the sign bit's plane of x and of w), the other corners, and
    vectors and weights drawn from {-128, -127, -1, 0, 1, 127}: the logic columns and the
    product columns equal the model, every vector back to back."""
    r = rng(rows * 100 + pipeline * 10 + logic_columns)
    array = VmmArray(rows, cols, banks, tag_width=4, pipeline=pipeline,
                     logic_columns=logic_columns)
    corners = [-128, -127, -1, 0, 1, 127]
    weights = np.array([[[r.choice(corners) for _ in range(rows)] for _ in range(cols)]
                        for _ in range(banks)], dtype=np.int8)
    weights[0] = -128                       # bank 0: every weight -128
    if banks > 1:
        weights[1, :, :] = 127
    vectors = [([-128] * rows, 0), ([-128] * rows, min(1, banks - 1)), ([127] * rows, 0),
               ([-128 if i % 2 else 127 for i in range(rows)], 0)]
    vectors += [([r.choice(corners) for _ in range(rows)], r.randrange(banks))
                for _ in range(40)]

    async def tb(ctx):
        for b in range(banks):          # the weights through the column port
            for c in range(cols):
                ctx.set(array.wl_en, 1)
                ctx.set(array.wl_bank, b)
                ctx.set(array.wl_col, c)
                ctx.set(array.wl_data, sum((int(v) & 0xFF) << 8 * i
                                           for i, v in enumerate(weights[b, c])))
                ctx.set(array.wl_mask, (1 << rows) - 1)
                await ctx.tick()
        ctx.set(array.wl_en, 0)
        expected = {}
        for k in range(len(vectors) + array.latency + 1):
            if k < len(vectors):
                x, bank = vectors[k]
                ctx.set(array.i.valid, 1)
                ctx.set(array.i.payload.x, x)
                ctx.set(array.i.payload.bank, bank)
                expected[k + array.latency] = vmm(np.array([x], dtype=np.int8),
                                                  weights[bank])[0]
            else:
                ctx.set(array.i.valid, 0)
            assert ctx.get(array.o.valid) == (k in expected), f"cycle {k}"
            if k in expected:
                got = [ctx.get(array.o.payload.y[c]) for c in range(cols)]
                np.testing.assert_array_equal(got, expected.pop(k), err_msg=f"cycle {k}")
            await ctx.tick()
        assert not expected

    simulate(array, tb)


@pytest.mark.parametrize(("value", "error"), [(-1, ValueError), (4, ValueError),
                                              (1.0, TypeError), (True, TypeError),
                                              ("2", TypeError)])
def test_logic_columns_argument_is_checked(value, error):
    with pytest.raises(error, match="logic_columns"):
        VmmArray(4, 3, 2, logic_columns=value)


def test_logic_columns_keep_the_other_columns_products():
    """The product columns keep their named products (a synthesis flow selects them by name);
    the logic columns have none."""
    text = verilog_text(VmmArray(4, 3, 2, pipeline=2, logic_columns=2))
    products = re.findall(r"assign (\w+) = \$signed\(\w+\[[\d:]+\]\) \* ", text)
    assert products == [f"p_r{r}_c0" for r in range(4)]
    assert text.count(" * ") == 4 and not re.search(r"\bp_r\d+_c[12]\b", text)


def test_logic_columns_register_their_pair_sums_beside_their_weights():
    """With the broadcast registered (``pipeline`` >= 1) each logic column registers its
    weights' pair sums and differences (``sb_c<c>_<k>``, ``db_c<c>_<k>``: 9 bits, a pair of
    rows each, an odd last row its own), so the sums' adders sit before that register and
    not between it and the terms; without the broadcast register there are none (the
    results, every cycle, are the tests above). ``column_terms`` refuses sums that do not
    match the rows."""
    from hw.offset_binary import column_terms, pair_sums
    text = verilog_text(VmmArray(5, 3, 2, pipeline=1, logic_columns=2))
    for c in (1, 2):
        assert {f"sb_c{c}_{k}" for k in range(3)} | {f"db_c{c}_{k}" for k in range(3)} <= \
            set(re.findall(r"reg \[8:0\] (\w+) =", text))
    assert not re.search(r"\b[sd]b_c0_", text)
    assert not re.search(r"\b[sd]b_c\d", verilog_text(VmmArray(5, 3, 2, logic_columns=2)))
    w = list(range(1, 6))
    with pytest.raises(ValueError, match="sums must hold one .s, d. per pair of the 5 rows, "
                       "not 2"):
        column_terms(w, w, pair_sums(w)[:2])
    assert pair_sums([3, -4, 7]) == [(-1, 7), (7, 7)]
