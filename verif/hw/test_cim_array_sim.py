# amaranth: UnusedElaboratable=no
"""hw.cim_array.CimArray in Amaranth's simulator against models.cim, every vector exact.

Each test writes random weights into every bank through the column port, then offers random
vectors with random gaps (``i.valid`` held until ``i.ready``), random banks, tags and windows
(``shift``), and checks cycle by cycle: a vector is taken only when ``i.ready``; ``o.valid``
rises exactly ``latency`` cycles after each taking and never otherwise, with ``y`` equal to
:func:`models.cim.cim_vmm` of that vector and its tag; ``active`` covers exactly those cycles;
vectors offered back to back are taken every ``8 / bits_per_cycle`` cycles; the counters equal
:func:`models.cim.counts` of the vectors taken.
"""

import numpy as np
import pytest

from hw.cim_array import CimArray
from hw.spec import timing
from models import cim
from models.cim import CimConfig
from verif.hw.sim_util import raw, rng, simulate

pytestmark = pytest.mark.unit

#: (rows, cols, banks, config, shifts offered)
SETTINGS = [
    (4, 3, 2, CimConfig(1, 2, 4), (0, 1, 3)),
    (8, 4, 2, CimConfig(2, 4, 6), (0, 2, 5, 31)),
    (5, 2, 3, CimConfig(4, 2, 5), (0, 4, 7)),       # a shorter last group
    (6, 3, 2, CimConfig(8, 6, 8), (0, 6, 9, 12)),   # one slice: a vector every cycle
    (16, 4, 2, CimConfig(1, 16, 12), (0,)),         # wide enough: exact
    (9, 2, 2, CimConfig(2, 3, 3, 8), (0, 1, 2, 3)),
    # weights sliced into cells of 1, 2 and 4 bits (offset encoding)
    (8, 4, 2, CimConfig(2, 4, 6, 2), (0, 1, 3, 6)),
    (6, 3, 3, CimConfig(1, 3, 3, 1), (0, 1, 2)),
    (7, 2, 2, CimConfig(4, 4, 7, 4), (0, 2, 5)),  # a shorter last group
    (8, 3, 2, CimConfig(8, 8, 5, 4), (0, 4, 9)),  # one input slice: signed codes only
    (16, 2, 2, CimConfig(2, 16, 9, 2), (0,)),     # wide enough: exact
]


def _ids():
    return [f"{r}x{c}x{b}-B{cfg.bits_per_cycle}G{cfg.group_rows}A{cfg.adc_bits}"
            + (f"C{cfg.cell_bits}" if cfg.sliced else "") for r, c, b, cfg, _ in SETTINGS]


def _pack(values, width):
    return sum((int(v) & ((1 << width) - 1)) << (width * k) for k, v in enumerate(values))


def _unpack(value, width, count):
    out = []
    for k in range(count):
        v = (value >> (width * k)) & ((1 << width) - 1)
        out.append(v - (1 << width) if v >> (width - 1) else v)
    return out


@pytest.mark.parametrize(("rows", "cols", "banks", "config", "shifts"), SETTINGS, ids=_ids())
def test_cim_array_equals_golden(rows, cols, banks, config, shifts):
    r = rng(rows * 100 + cols * 10 + config.bits_per_cycle)
    tag_width = 4
    dut = CimArray(rows, cols, banks, tag_width, config=config)
    assert dut.latency == timing.cim_array_latency(config.bits_per_cycle) \
        == config.input_slices + 2
    weights = [np.array([[r.randrange(-128, 128) for _ in range(rows)] for _ in range(cols)],
                        dtype=np.int8) for _ in range(banks)]
    taken = []  # (cycle, expected y, tag)
    counts = {"vectors": 0}

    async def tb(ctx):
        for b in range(banks):
            for c in range(cols):
                ctx.set(dut.wl_en, 1)
                ctx.set(dut.wl_bank, b)
                ctx.set(dut.wl_col, c)
                ctx.set(dut.wl_data, _pack(weights[b][c], 8))
                ctx.set(dut.wl_mask, (1 << rows) - 1)
                await ctx.tick()
        ctx.set(dut.wl_en, 0)
        ctx.set(dut.clear_counters, 1)
        await ctx.tick()
        ctx.set(dut.clear_counters, 0)
        offer = None
        last_take = None
        for cycle in range(60 * config.input_slices + 40):
            if offer is None and cycle < 50 * config.input_slices and r.random() < 0.7:
                x = np.array([r.randrange(-128, 128) for _ in range(rows)], dtype=np.int8)
                if r.random() < 0.1:
                    x[:] = r.choice((-128, 127))
                offer = (x, r.randrange(banks), r.randrange(1 << tag_width), r.choice(shifts))
            if offer is not None:
                x, bank, tag, shift = offer
                ctx.set(dut.i.valid, 1)
                ctx.set(raw(dut.i.payload.x), _pack(x, 8))
                ctx.set(dut.i.payload.bank, bank)
                ctx.set(dut.i.payload.tag, tag)
                ctx.set(dut.shift, shift)
            else:
                ctx.set(dut.i.valid, 0)
                ctx.set(dut.shift, r.choice(shifts))  # only taken with a vector
            take = offer is not None and ctx.get(dut.i.ready)
            if take:
                if last_take is not None:
                    assert cycle - last_take >= config.input_slices, \
                        f"cycle {cycle}: a vector taken {cycle - last_take} cycles after the last"
                expected = cim.cim_vmm(x[None], weights[bank], config, shift)[0]
                taken.append((cycle, expected, tag))
                last_take = cycle
                counts["vectors"] += 1
            inside = [t for t in taken if t[0] <= cycle < t[0] + dut.latency]
            assert ctx.get(dut.active) == bool(inside), f"cycle {cycle}: active"
            due = [t for t in taken if t[0] + dut.latency == cycle]
            assert ctx.get(dut.o.valid) == bool(due), f"cycle {cycle}: o.valid"
            if due:
                _, expected, tag = due[0]
                y = _unpack(ctx.get(raw(dut.o.payload.y)), 32, cols)
                np.testing.assert_array_equal(np.array(y), expected,
                                              err_msg=f"cycle {cycle}: y")
                assert ctx.get(dut.o.payload.tag) == tag
            if take:
                offer = None
            await ctx.tick()
        expected = cim.counts(counts["vectors"], rows, cols, config)
        assert ctx.get(dut.perf_adc) == expected["adc_conversions"]
        assert ctx.get(dut.perf_rows) == expected["row_activations"]

    simulate(dut, tb)
    assert len(taken) > 20


def test_back_to_back_vectors_every_slice_count():
    """Vectors always offered: one is taken every 8 / bits_per_cycle cycles exactly."""
    for b in (1, 2, 4, 8):
        dut = CimArray(4, 2, 2, 0, config=CimConfig(b, 4, 8))
        takes = []

        async def tb(ctx, dut=dut, takes=takes):
            ctx.set(dut.i.valid, 1)
            for cycle in range(40):
                if ctx.get(dut.i.ready):
                    takes.append(cycle)
                await ctx.tick()

        simulate(dut, tb)
        assert np.all(np.diff(takes) == 8 // b), (b, takes)


def test_bad_settings():
    with pytest.raises(TypeError, match="CimConfig"):
        CimArray(4, 4, 2, config=None)
