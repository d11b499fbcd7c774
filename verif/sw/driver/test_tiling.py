"""The tiling planner, a pure function: every plan covers the layer exactly once, in order."""

import itertools

import pytest

from hw.spec import Geometry
from sw.driver.tiling import MAX_COUNT, plan_linear

pytestmark = pytest.mark.nosim

GEOMETRIES = [
    Geometry.default(),
    Geometry.default(rows=4, cols=4),
    Geometry.default(rows=8, cols=16, banks=3),
    Geometry.default(rows=16, cols=8, banks=1),
    Geometry.default(rows=8, cols=8, in_depth=8, acc_depth=4, out_depth=4),
    Geometry.default(rows=12, cols=6, in_depth=5, acc_depth=7, out_depth=3, banks=3),
]
SHAPES = [(1, 1, 1), (1, 16, 16), (5, 3, 2), (17, 33, 9), (40, 70, 20), (9, 100, 1), (3, 5, 40)]


def check_plan(p, m, k, n, g, int8, bias, relu):
    covered = {}
    assert p.k_tiles == -(-k // g.rows) and p.n_tiles == -(-n // g.cols)
    assert 1 <= p.m_chunk <= min(g.acc_depth, g.in_depth, MAX_COUNT)
    if int8:
        assert p.m_chunk <= g.out_depth
    assert p.resident_inputs == (p.m_chunk * p.k_tiles <= g.in_depth)
    loaded_in, loaded_w, loaded_param = {}, {}, None
    for i, s in enumerate(p.steps):
        assert s.index == i
        assert 1 <= s.count <= p.m_chunk and 1 <= s.rows <= g.rows and 1 <= s.cols <= g.cols
        assert s.k0 == s.kt * g.rows and s.rows == min(g.rows, k - s.k0)
        assert s.n0 == s.nt * g.cols and s.cols == min(g.cols, n - s.n0)
        assert 0 <= s.bank < g.banks
        key = (s.m0, s.nt, s.kt)
        assert key not in covered
        covered[key] = s
        # flags
        assert s.accumulate == (s.kt > 0)
        assert s.bias == (bias and s.kt == 0)
        last = s.kt == p.k_tiles - 1
        assert s.requant == (int8 and last) and s.relu == (relu and last)
        assert s.read_back == last
        if s.kt > 0:  # K tiles of one output tile run back to back, in order
            prev = p.steps[i - 1]
            assert (prev.m0, prev.nt, prev.kt) == (s.m0, s.nt, s.kt - 1)
        # inputs: the K tile this command reads is in the input buffer at in_addr
        for kt, vector in s.load_inputs:
            assert vector + s.count <= g.in_depth
            for v in list(loaded_in):
                if vector <= v < vector + s.count:
                    del loaded_in[v]
            loaded_in[vector] = (s.m0, kt)
        assert loaded_in.get(s.in_addr) == (s.m0, s.kt)
        assert s.in_addr + s.count <= g.in_depth
        # weights: the bank holds this tile
        if s.load_weights:
            loaded_w[s.bank] = (s.nt, s.kt)
        assert loaded_w.get(s.bank) == (s.nt, s.kt)
        # parameters: loaded for this N tile
        if s.load_params:
            loaded_param = s.nt
        if bias or int8:
            assert loaded_param == s.nt
        else:
            assert not s.load_params
        # consecutive commands use different banks whenever there is more than one
        if i and g.banks > 1 and s.load_weights:
            assert s.bank != p.steps[i - 1].bank
    chunks = sorted({(s.m0, s.count) for s in p.steps})
    assert chunks[0][0] == 0 and sum(c for _, c in chunks) == m
    assert all(a + c == b for (a, c), (b, _) in itertools.pairwise(chunks))
    assert len(covered) == len(chunks) * p.k_tiles * p.n_tiles
    assert p.macs == m * k * n


@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: f"{g.rows}x{g.cols}b{g.banks}i{g.in_depth}")
@pytest.mark.parametrize("mkn", SHAPES, ids=str)
@pytest.mark.parametrize("mode", ["raw", "bias", "int8", "int8_bias_relu"])
def test_plans_cover_the_layer(g, mkn, mode):
    int8, bias, relu = "int8" in mode, "bias" in mode, "relu" in mode
    p = plan_linear(*mkn, g, int8=int8, bias=bias, relu=relu)
    check_plan(p, *mkn, g, int8, bias, relu)


def test_resident_inputs_written_once_per_chunk():
    g = Geometry.default()
    p = plan_linear(100, 64, 48, g)
    assert p.resident_inputs and p.k_tiles == 4 and p.n_tiles == 3 and p.m_chunk == 100
    assert [s.load_inputs for s in p.steps if s.load_inputs] == [((0, 0), (1, 100), (2, 200),
                                                                  (3, 300))]
    assert [s.in_addr for s in p.steps[:4]] == [0, 100, 200, 300]


def test_reload_mode_when_the_chunk_does_not_fit():
    g = Geometry.default(rows=4, cols=4, in_depth=8, acc_depth=8, out_depth=8)
    p = plan_linear(8, 20, 8, g)  # 5 K tiles of 8 vectors > 8
    assert not p.resident_inputs and p.m_chunk == 8
    assert all(s.load_inputs == ((s.kt, 0),) and s.in_addr == 0 for s in p.steps)


def test_m_chunks_limited_by_accumulators_and_outputs():
    g = Geometry.default(acc_depth=10, out_depth=4)
    assert plan_linear(25, 16, 16, g).m_chunk == 10
    assert plan_linear(25, 16, 16, g, int8=True).m_chunk == 4


def test_banks_alternate_and_weights_stay_resident():
    g = Geometry.default(rows=4, cols=4, banks=2)
    p = plan_linear(4, 12, 8, g)  # 6 tiles > 2 banks: alternate
    assert not p.resident_weights
    assert [s.bank for s in p.steps] == [0, 1, 0, 1, 0, 1]
    g = Geometry.default(rows=4, cols=4, banks=3, acc_depth=4)
    p = plan_linear(12, 12, 4, g)  # 3 tiles in 3 banks, 3 chunks: written once
    assert p.resident_weights
    assert [s.bank for s in p.steps] == [0, 1, 2] * 3
    assert [s.load_weights for s in p.steps] == [True] * 3 + [False] * 6


def test_params_once_when_one_n_tile():
    g = Geometry.default(acc_depth=4)
    p = plan_linear(12, 16, 16, g, int8=True)
    assert [s.load_params for s in p.steps] == [True, False, False]
    p = plan_linear(4, 16, 16, g)
    assert not any(s.load_params for s in p.steps)


def test_plan_errors():
    g = Geometry.default()
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        plan_linear(1, 0, 1, g)
    with pytest.raises(TypeError, match="geometry must be a Geometry"):
        plan_linear(1, 1, 1, (16, 16))
    with pytest.raises(ValueError, match="relu, lut and pool need int8"):
        plan_linear(1, 1, 1, g, relu=True)


@pytest.mark.parametrize("mkn, int8", [((64, 256, 256), True), ((50, 96, 30), False),
                                       ((300, 784, 33), False), ((3, 16, 200), True)])
def test_cost_model_matches_the_driver_on_the_register_model(mkn, int8):
    """Plan.cost is the driver's traffic: busy cycles exact; bus words an upper bound that is
    loose only by the CMD_* words the driver skips when they did not change."""
    import numpy as np

    from hw.spec import timing
    from sw import Accelerator
    m, k, n = mkn
    rng = np.random.default_rng(m + k + n)
    print(f"seed={m + k + n}")
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    b = rng.integers(-100, 100, n, dtype=np.int32)
    kw = dict(scale=1 / 1024) if int8 else {}
    with Accelerator.open("regmodel", dma=False) as acc:  # the register path's traffic
        acc.linear(x, w, b, **kw)
        plan = plan_linear(m, k, n, acc.geometry, int8=int8, bias=True)
        cost, s = plan.cost(acc.latency), acc.stats
    words = s.bus_words_written + s.bus_words_read
    skippable = (timing.COMMAND_WORDS - 3) * len(plan.steps)
    assert s.busy_cycles == cost.busy_cycles and s.commands == len(plan.steps)
    assert cost.words - skippable <= words <= cost.words, (words, cost)
