"""Programs from the driver: the Program builder, Driver.run_program (results, stats, errors,
timeouts), the dma keyword and the choice of path, and the compiled order of a linear layer."""

import functools
import warnings

import numpy as np
import pytest

import models
from hw.spec import ErrorCode, Geometry, isa, register
from sw import Accelerator, AcceleratorError
from sw.driver import program as program_module
from sw.driver.driver import PROGRAM_ORDERS
from sw.driver.program import ALIGN, ORDERS, Program, compile_plan, explain
from sw.driver.tiling import plan_linear, plan_options
from sw.knobs import seed as env_seed
from sw.targets.regmodel import RegisterModel
from sw.targets.regmodel.program import predict_cycles

pytestmark = pytest.mark.nosim

W = isa.Window
G = Geometry.default(rows=6, cols=5, banks=2, in_depth=8, acc_depth=6, out_depth=4)


def small_program(g, x, w):
    """x @ w.T (int32) through LOAD, VMM, STORE; the output region is "acc"."""
    p = Program(g)
    pad = 4 * g.row_words_p2
    xi, wi = np.zeros((len(x), pad), np.int8), np.zeros((len(w), pad), np.int8)
    xi[:, :x.shape[1]], wi[:, :w.shape[1]] = x, w
    p.load(W.IN, 0, len(x), p.data("x", xi))
    p.load(W.WEIGHT, 0, len(w), p.data("w", wi))
    p.vmm(count=len(x), rows=x.shape[1], cols=len(w))
    p.store(W.ACC, 0, len(x), p.output("acc", len(x) * 4 * g.cols_p2))
    p.end_program()
    return p


def test_program_builder_layout():
    g = Geometry.default(mem_bits=256)
    p = Program(g, base=0x1000)
    assert p.align == max(ALIGN, 32)
    a = p.data("a", b"\x01" * 5)
    b = p.reserve("b", 70, fill=lambda: b"\x02" * 70)
    c = p.output("c", 3)
    assert (a, b, c) == (0x1000, 0x1040, 0x10C0) and p.code_addr == 0x1100
    p.load(W.IN, 0, 1, a)
    p.append((int(isa.Op.FENCE), 0, 0, 0))  # raw words
    p.end_program()
    assert len(p) == 3 and p.end == 0x1100 + 48 and p.size == 0x100 + 48
    assert p.to_bytes() == isa.to_bytes([isa.Load(W.IN, 0, 1, a), isa.Fence(), isa.End()])
    image = p.image()
    assert image[:5] == b"\x01" * 5 and image[0x40:0x40 + 70] == b"\x02" * 70
    assert image[0xC0:0xC3] == bytes(3) and image[0x100:] == p.to_bytes()
    assert p.decoded(1) == isa.Fence() and "3 instructions at 0x1100" in repr(p)
    with pytest.raises(ValueError, match="exists already"):
        p.output("c", 4)
    with pytest.raises(ValueError, match="instruction field COUNT"):
        p.load(W.IN, 0, 1 << 16, 0)
    with pytest.raises(ValueError, match="4 32-bit words"):
        p.append((1, 2, 3))
    with pytest.raises(ValueError, match="base must be"):
        Program(g, base=16)
    with pytest.raises(TypeError, match="geometry"):
        Program("16x16")


def test_run_program_returns_outputs_and_stats():
    s = env_seed() + 10
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    acc = Accelerator(RegisterModel(G))
    x = rng.integers(-128, 128, (4, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 6), dtype=np.int8)
    out = acc.run_program(small_program(G, x, w))
    got = np.frombuffer(out["acc"], "<i4").reshape(4, G.cols_p2)[:, :G.cols]
    np.testing.assert_array_equal(got, models.vmm(x, w))
    st = acc.stats
    assert st.commands == 1 and st.instructions == 5 and st.macs == 4 * 6 * 5
    assert st.vectors == 4 and st.load_cycles > 0 and st.store_cycles > 0
    assert st.bytes_written == 4 * 4 * G.cols_p2 and st.bytes_read > 0
    assert st.bus_words_written == 4 and st.bus_words_read == 1  # PROG_*, DONE; STATUS
    with pytest.raises(ValueError, match="the program is for"):
        acc.run_program(Program(Geometry.default()))
    with pytest.raises(TypeError, match="program must be a Program"):
        acc.run_program([isa.End()])


def _error(acc, instr, pc=1):
    p = Program(acc.geometry)
    p.fence()
    p.append(instr)
    p.end_program()
    with pytest.raises(AcceleratorError) as e:
        acc.run_program(p)
    assert f"at PROG_PC = {pc}" in str(e.value)
    return str(e.value)


def test_program_errors_name_code_pc_instruction_and_what_is_allowed():
    dev = RegisterModel(G, mem_size=1 << 16)
    acc = Accelerator(dev)
    msg = _error(acc, isa.Load(W.IN, 7, 2, 0))
    assert "ErrorCode.WINDOW_RANGE" in msg and "LOAD IN FIRST=7 COUNT=2 MEM_ADDR=0x0" in msg
    assert "allowed: COUNT >= 1 and FIRST + (ROWS - 1) * SKIP + COUNT <= 8 (the units of IN)" \
        in msg
    msg = _error(acc, isa.Load(W.IN, 0, 1, 0xFFFF_FF00, rows=3, skip=1, pitch=0x100))
    assert "ErrorCode.MEM_RANGE" in msg and "ROWS=3 SKIP=1 PITCH=0x100" in msg
    assert "the 32-bit address space" in msg
    msg = _error(acc, (9, 0, 0, 0))
    assert "ErrorCode.BAD_INSTR" in msg and "not an instruction" in msg
    msg = _error(acc, isa.Store(W.IN, 0, 1, 0))
    assert "ErrorCode.BAD_WINDOW" in msg and "STORE from ACC or OUT" in msg
    msg = _error(acc, isa.Load(W.IN, 0, 1, 4))
    assert "ErrorCode.MEM_ALIGN" in msg and "multiples of 16 bytes" in msg
    msg = _error(acc, isa.Load(W.IN, 0, 1, 1 << 16))
    assert "ErrorCode.MEM_READ" in msg and "MEM_ERROR_ADDR = 0x10000" in msg
    assert "the memory holds 65536 bytes" in msg
    dev.inject_mem_error(0x100, 0x200)
    msg = _error(acc, isa.Store(W.ACC, 0, 1, 0x100))
    assert "ErrorCode.MEM_WRITE" in msg and "MEM_ERROR_ADDR = 0x100" in msg
    msg = _error(acc, isa.Vmm(bank=3, rows=1, cols=1))
    assert "ErrorCode.BAD_BANK" in msg and "VMM BANK=3" in msg and "BANK < 2" in msg
    p = Program(G)
    p.fence()
    with pytest.raises(AcceleratorError, match=r"ErrorCode.PROG_LEN at PROG_PC = 1 \(PROG_LEN = "
                       r"1 instructions ran without an END\).*an END within PROG_LEN"):
        acc.run_program(p)
    # the accelerator stays usable, STATUS.DONE cleared
    assert register("STATUS").unpack(acc.read_words(register("STATUS").offset, 1)[0])["DONE"] == 0
    acc.transport.clear_mem_errors()
    x, w = np.ones((2, 3), np.int8), np.ones((2, 3), np.int8)
    assert acc.run_program(small_program(G, x, w))["acc"][:4] == (3).to_bytes(4, "little")
    for code in ErrorCode:
        if code != ErrorCode.NONE:
            assert explain(code, isa.Load(W.IN, 0, 1, 0), G), code


def test_program_larger_than_the_memory():
    acc = Accelerator(RegisterModel(G, mem_size=256))
    x, w = np.ones((2, 3), np.int8), np.ones((2, 3), np.int8)
    with pytest.raises(AcceleratorError, match="needs memory up to byte .* holds 256 bytes"):
        acc.run_program(small_program(G, x, w))


def test_timeout_soft_resets():
    class Slow(RegisterModel):
        pass

    acc = Accelerator(Slow(G))
    x, w = np.ones((2, 3), np.int8), np.ones((2, 3), np.int8)
    with pytest.raises(AcceleratorError, match=r"did not finish within 10 cycles .*PROG_PC = "):
        acc.run_program(small_program(G, x, w), max_cycles=10)
    assert not acc.transport.busy
    assert acc.run_program(small_program(G, x, w))["acc"][:4] == (3).to_bytes(4, "little")


# --- the dma keyword and the path -----------------------------------------------------------

def test_dma_keyword_chooses_the_path():
    s = env_seed() + 11
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    x = rng.integers(-128, 128, (30, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (20, 40), dtype=np.int8)
    ref = models.linear(x, w, scale=0.01)
    results = {}
    for dma in (None, False, True):
        with Accelerator.open("regmodel", dma=dma, rows=8, cols=8) as acc:
            results[dma] = acc.linear(x, w, scale=0.01)
            np.testing.assert_array_equal(results[dma], ref)
            assert acc.path == ("registers (dma=False)" if dma is False else "program")
            assert (acc.stats.instructions > 0) == (dma is not False)
            assert acc.stats.commands == (1 if dma is not False else len(plan_linear(
                30, 40, 20, acc.geometry, int8=True).steps))
    with pytest.raises(AcceleratorError, match="dma=True needs memory"):
        Accelerator(RegisterModel(G, mem_size=0), dma=True)
    with pytest.raises(TypeError, match="dma must be None, False or True"):
        Accelerator(RegisterModel(G), dma="yes")
    acc = Accelerator(RegisterModel(G, mem_size=0))
    acc.linear(x[:, :6], w[:5, :6])
    assert acc.path == "registers (no memory behind the accelerator)"


def test_layer_too_large_for_the_memory():
    x = np.ones((40, 60), np.int8)
    w = np.ones((30, 60), np.int8)
    acc = Accelerator(RegisterModel(G, mem_size=4096))
    with pytest.warns(UserWarning, match="linear runs through the registers: the layer's "
                      "program needs \\d+ bytes of memory, the target has 4096"):
        y = acc.linear(x, w)
    np.testing.assert_array_equal(y, models.linear(x, w))
    assert acc.path.startswith("registers (the layer's program needs")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        acc.linear(x[:2, :6], w[:2, :6])  # a small one fits: no warning
    assert acc.path == "program"
    acc = Accelerator(RegisterModel(G, mem_size=4096), dma=True)
    with pytest.raises(AcceleratorError, match="dma=True: the layer's program needs"):
        acc.linear(x, w)


def test_lut_is_loaded_by_the_first_program_only():
    with Accelerator.open("regmodel", rows=4, cols=4) as acc:
        x, w = np.ones((2, 4), np.int8), np.ones((4, 4), np.int8)
        lut = np.arange(256, dtype=np.int16).astype(np.int8)
        loads = []
        for table in (lut, lut, -lut):
            acc.linear(x, w, scale=1.0, lut=table)
            loads.append(sum(isinstance(i, isa.Load) and i.window == W.LUT
                             for _, i, _, _ in acc.transport.last_program.schedule))
        assert loads == [1, 0, 1]
        y = acc.linear(x, w, scale=1.0, lut=-lut)
        np.testing.assert_array_equal(y, models.linear(x, w, scale=1.0, lut=-lut))


# --- the compiled order ---------------------------------------------------------------------

LAYERS = {  # name -> (m, k, n, int8, bias, pool)
    "fc 64x256x256 int8": (64, 256, 256, True, True, 1),
    "fc 64x256x256 int32": (64, 256, 256, False, False, 1),
    "fc 50x96x30 int32 bias": (50, 96, 30, False, True, 1),
    "conv-like 256x144x16 int8": (256, 144, 16, True, True, 1),
    "gemv 1x256x256": (1, 256, 256, False, False, 1),
    "pooled 64x48x20": (64, 48, 20, True, True, 4),
}


@pytest.mark.parametrize("name", LAYERS)
def test_default_order_is_the_fastest_and_every_order_is_exact(name):
    m, k, n, int8, bias, pool = LAYERS[name]
    s = env_seed() + m + k + n
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    b = rng.integers(-1000, 1000, n, dtype=np.int32) if bias else None
    kw = dict(scale=0.001, relu=True, pool=pool) if int8 else {}
    ref = models.linear(x, w, b, **kw)
    cycles = {}
    real = program_module.compile_plan
    for order in ORDERS:
        for double in (False, True):
            acc = Accelerator.open("regmodel")
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr("sw.driver.driver.PROGRAM_ORDERS", (order,))
                mp.setattr("sw.driver.driver.compile_plan",
                           functools.partial(real, double_buffer=double))
                np.testing.assert_array_equal(acc.linear(x, w, b, **kw), ref)
            cycles[order, double] = acc.stats.cycles
    acc = Accelerator.open("regmodel")
    acc.linear(x, w, b, **kw)
    print(name, cycles, "default", acc.stats.cycles)
    # the driver tries its PROGRAM_ORDERS, double-buffered, and runs the fastest
    assert acc.stats.cycles == min(cycles[o, True] for o in PROGRAM_ORDERS)
    assert acc.stats.cycles <= min(cycles.values()) * 1.002


def test_compile_plan_double_buffers_and_prefetches():
    g = Geometry.default()
    plan = plan_linear(64, 64, 32, g)
    x, w = np.ones((64, 64), np.int8), np.ones((32, 64), np.int8)
    prog = compile_plan(plan, x, w, None, None, 0).program
    instrs = prog.instructions
    vmms = [i for i in instrs if isinstance(i, isa.Vmm)]
    assert [v.acc_addr for v in vmms] == [0] * 4 + [64] * 4  # tiles alternate ACC halves
    assert [v.bank for v in vmms] == [0, 1] * 4
    first = instrs.index(vmms[0])
    assert isinstance(instrs[first + 1], isa.Load) and instrs[first + 1].window == W.WEIGHT
    stores = [i for i in instrs if isinstance(i, isa.Store)]
    assert [s.first for s in stores] == [0, 64]
    # the first tile's STORE comes after the second tile's first VMM (late store)
    assert instrs.index(stores[0]) > instrs.index(vmms[4])
    assert isinstance(instrs[-1], isa.End)
    with pytest.raises(ValueError, match="order must be one of"):
        compile_plan(plan, x, w, None, None, 0, order="fastest")


def test_predict_cycles_is_the_register_models_count():
    g = Geometry.default()
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (100, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (40, 40), dtype=np.int8)
    for plan in plan_options(100, 40, 40, g):
        prog = compile_plan(plan, x, w, None, None, 0).program
        dev = RegisterModel(g)
        Accelerator(dev).run_program(prog)
        assert predict_cycles(prog, dev.latency) == dev.last_program.cycles
    with pytest.raises(ValueError, match="BAD_INSTR at instruction 0"):
        bad = Program(g)
        bad.append((0xFF, 0, 0, 0))
        predict_cycles(bad)


def test_linear_picks_the_fastest_plan_on_the_cycle_model():
    # 784x64x128 int32 (SCALE-Sim's pointwise layer): a whole chunk of 256 rows fills ACC, so
    # each tile's STORE waits for its VMMs and the next tile's VMMs for the STORE; chunks of 128
    # let the store of one tile overlap the compute of the next
    g = Geometry.default()
    s = env_seed() + 784
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    x = rng.integers(-128, 128, (784, 64), dtype=np.int8)
    w = rng.integers(-128, 128, (128, 64), dtype=np.int8)
    options = plan_options(784, 64, 128, g)
    assert [p.m_chunk for p in options] == [256, 128]
    assert plan_linear(784, 64, 128, g).m_chunk == 256  # (the fewest bus words)
    dev = RegisterModel(g)
    acc = Accelerator(dev)
    np.testing.assert_array_equal(acc.linear(x, w), models.linear(x, w))
    predicted = [predict_cycles(compile_plan(p, x, w, None, None, 0).program, acc.latency)
                 for p in options]
    print("predicted", predicted, "ran", acc.stats)
    assert acc.plan.m_chunk == 128 and dev.last_program.cycles == min(predicted)
    assert predicted[1] < 0.6 * predicted[0]
    st = acc.stats
    assert st.cycles < 0.6 * (st.compute_cycles + st.store_cycles)  # they overlap


def test_linear_batch_is_one_program_and_exact():
    """Several calls as one program (the convolution family's groups): exact, one doorbell,
    fewer cycles than one program per call; mixed keywords; the fallbacks."""
    s = env_seed() + 31
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    lut = rng.integers(-128, 128, 256, dtype=np.int8)
    calls = []
    for i in range(5):
        m, k, n = 20 + 7 * i, 9 + i, 3 + 2 * i
        x = rng.integers(-128, 128, (m, k), dtype=np.int8)
        w = rng.integers(-128, 128, (n, k), dtype=np.int8)
        b = rng.integers(-500, 500, n, dtype=np.int32)
        kw = [{}, dict(scale=0.002, relu=True, input_zero_point=3),
              dict(scale=0.003, zero_point=-5, lut=lut), dict(scale=0.001, pool=2 if m % 2 == 0
                                                              else 1), {}][i]
        calls.append((x, w, b if i % 2 else None, kw))
    want = [models.linear(x, w, b, **kw) for x, w, b, kw in calls]
    acc = Accelerator.open("regmodel")
    got = acc.linear_batch(calls)
    for g_, w_ in zip(got, want, strict=True):
        np.testing.assert_array_equal(g_, w_)
    assert acc.path == "program" and acc.stats.commands == 1
    batch = acc.stats
    single = Accelerator.open("regmodel")
    single_cycles = 0
    for x, w, b, kw in calls:
        single.linear(x, w, b, **kw)
        single_cycles += single.stats.cycles
    print("batch", batch.cycles, "one by one", single_cycles)
    assert batch.cycles < single_cycles and batch.macs > 0
    # two different tables: one call at a time
    other = dict(scale=0.003, lut=lut[::-1].copy())
    calls2 = calls[:2] + [(calls[2][0], calls[2][1], None, other)] + calls[2:3]
    got = acc.linear_batch(calls2)
    assert acc.stats.commands == len(calls2)
    np.testing.assert_array_equal(got[2], models.linear(calls[2][0], calls[2][1], **other))
    # through the registers
    regs = Accelerator.open("regmodel", dma=False)
    for g_, w_ in zip(regs.linear_batch(calls), want, strict=True):
        np.testing.assert_array_equal(g_, w_)
    assert regs.path.startswith("registers")
    with pytest.raises(TypeError, match="unexpected keywords"):
        acc.linear_batch([(calls[0][0], calls[0][1], None, dict(sclae=1))] * 2)


def _random_linear_shapes(rng, count, geometry):
    for _ in range(count):
        m, k, n = (int(v) for v in rng.integers(1, 12 * geometry.rows, 3))
        int8, bias, lut, pooled = (bool(v) for v in rng.integers(0, 2, 4))
        pool = 4 if int8 and pooled else 1  # (a pooled layer's rows come in groups of POOL)
        yield -(-m // pool) * pool, k, n, int8, bias, lut and int8, pool


@pytest.mark.parametrize("geometry", [Geometry.default(), Geometry.default(rows=4, cols=4),
                                      Geometry.default(rows=8, cols=8, banks=4, mem_bits=64)],
                         ids=["16x16", "4x4", "8x8-64bit"])
def test_lower_bound_of_a_plan_is_its_programs_and_below_the_cycle_model(geometry):
    # the pruned plan search (Driver._fastest_linear) relies on: plan_lower_bound(plan) ==
    # Program.lower_bound() of its program in every order <= predict_cycles of that program
    s = env_seed() + 17
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    tight = 0.0
    for m, k, n, int8, bias, lut, pool in _random_linear_shapes(rng, 12, geometry):
        table = np.zeros(256, np.int8) if lut else None
        for plan in plan_options(m, k, n, geometry, int8=int8, bias=bias, lut=lut, pool=pool):
            bound = program_module.plan_lower_bound(plan, lut)
            for order in ORDERS:
                prog = compile_plan(plan, None, None, None, None, 0, table, order=order).program
                cycles = predict_cycles(prog)
                assert prog.lower_bound() == bound, (plan, order)
                assert bound <= cycles, (plan, order, bound, cycles)
                tight = max(tight, bound / cycles)
    print(f"largest bound / cycles: {tight:.3f}")
    assert tight > 0.5  # a bound that prunes nothing would be useless


@pytest.mark.parametrize("geometry", [Geometry.default(rows=8, cols=8),
                                      Geometry.default(rows=4, cols=4, mem_bits=64)],
                         ids=["8x8", "4x4-64bit"])
def test_per_tap_lower_bounds_are_below_the_cycle_model(geometry):
    # TapPlan.lower_bound (before compiling) <= the program's <= the cycle model's count
    from sw.driver.taps import compile_taps, tap_options
    for n, cin, cout, h, pad in ((1, 8, 8, 12, 1), (2, 20, 12, 9, 0), (1, 3, 16, 16, 1),
                                 (2, 17, 40, 11, 1)):
        for plan in tap_options(n, cin, h, h, cout, 3, 3, (pad, pad), geometry, int8=True):
            for order in PROGRAM_ORDERS:
                prog = compile_taps(plan, None, None, None, None, 0, order=order).program
                assert 0 < plan.lower_bound() <= prog.lower_bound() <= predict_cycles(prog), \
                    (plan, order)


def test_pruned_plan_search_chooses_as_the_exhaustive_one():
    # the driver predicts candidates in the order of their lower bound and skips one once its
    # bound exceeds the best prediction: the same (plan, order) as predicting every one, the
    # first on a tie, with fewer predictions
    g = Geometry.default()
    s = env_seed() + 23
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    acc = Accelerator.open("regmodel")
    skipped = 0
    shapes = [(392, 576, 64, True, False, False, 1), (784, 64, 128, False, False, False, 1),
              *_random_linear_shapes(rng, 10, g)]
    for m, k, n, int8, bias, lut, pool in shapes:
        plans = plan_options(m, k, n, g, int8=int8, bias=bias, lut=lut, pool=pool)
        table = np.zeros(256, np.int8) if lut else None
        cycles = [predict_cycles(compile_plan(p, None, None, None, None, 0, table,
                                              order=o).program, acc.latency)
                  for p in plans for o in PROGRAM_ORDERS]
        before = acc.predictions
        best, i = acc._fastest_linear(plans, table)
        skipped += len(cycles) - (acc.predictions - before)
        assert (best, i) == (min(cycles), cycles.index(min(cycles))), (m, k, n)
        # with a limit below the best: nothing (inf); at the best: exact
        assert acc._fastest_linear(plans, table, limit=best - 1) == (np.inf, None)
        assert acc._fastest_linear(plans, table, limit=best)[0] == best
    print(f"predictions skipped: {skipped}")
    assert skipped > 0


def test_a_shapes_program_is_compiled_once_and_runs_on_each_calls_data(monkeypatch):
    # the program compiled for the prediction runs the first call; later calls of the shape
    # bind their own data to it (linear, linear_batch and per-tap convolutions), and the
    # cache drops the least recently used programs past PROGRAM_CACHE instructions
    from sw.driver import driver as driver_module
    s = env_seed() + 31
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    compiles = []
    for module, name in ((driver_module, "compile_plan"), (driver_module, "compile_plans"),
                         (driver_module, "compile_taps")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _n=name, **k:
                            compiles.append(_n) or _real(*a, **k))
    acc = Accelerator.open("regmodel")
    i8 = functools.partial(rng.integers, -128, 128, dtype=np.int8)
    for _ in range(3):
        x, w = i8((70, 40)), i8((24, 40))
        np.testing.assert_array_equal(acc.linear(x, w, scale=1 / 512, zero_point=3),
                                      models.linear(x, w, scale=1 / 512, zero_point=3))
    assert compiles.count("compile_plan") == acc.predictions  # none for the runs
    for _ in range(2):
        x, w = i8((1, 16, 9, 9)), i8((16, 16, 3, 3))
        y = acc.conv2d(x, w, padding=1, scale=1 / 1024, input_zero_point=-5)
        np.testing.assert_array_equal(
            y, models.conv.conv2d(x, w, padding=1, scale=1 / 1024, input_zero_point=-5))
        assert acc.path == "program"
    batch = [(i8((10, 9)), i8((5, 9)), None, {}) for _ in range(3)]
    for _ in range(2):
        for y, (x, w, _, _) in zip(acc.linear_batch(batch), batch, strict=True):
            np.testing.assert_array_equal(y, models.linear(x, w))
        batch = [(i8((10, 9)), i8((5, 9)), None, {}) for _ in range(3)]
    print("compiles", compiles, "predictions", acc.predictions)
    assert len(compiles) == acc.predictions
    monkeypatch.setattr(driver_module, "PROGRAM_CACHE", 1)
    acc.linear(i8((3, 4)), i8((2, 4)))
    assert len(acc._programs) == 1  # (the one just used)


def test_plan_cache_keeps_predictions_between_processes(tmp_path, monkeypatch):
    # a second driver (as a new process would) with the same cache file predicts nothing and
    # chooses the same programs; a change to the cycle model's sources retires the old lines
    from sw.driver import plancache
    s = env_seed() + 37
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    i8 = functools.partial(rng.integers, -128, 128, dtype=np.int8)
    x, w, img, k = i8((300, 70)), i8((40, 70)), i8((1, 16, 10, 10)), i8((16, 16, 3, 3))
    path = tmp_path / "plans.jsonl"
    runs = []
    for _ in range(2):
        acc = Accelerator.open("regmodel", plan_cache=path)
        y = acc.linear(x, w, scale=1 / 1024)
        z = acc.conv2d(img, k, padding=1, scale=1 / 2048)
        runs.append((acc.predictions, acc.plan_cache.hits, acc.stats.cycles))
        np.testing.assert_array_equal(y, models.linear(x, w, scale=1 / 1024))
        np.testing.assert_array_equal(z, models.conv.conv2d(img, k, padding=1, scale=1 / 2048))
    print(runs, acc.plan_cache)
    (first, hits0, cycles0), (second, hits1, cycles1) = runs
    assert first > 0 and hits0 == 0 and second == 0 and hits1 > 0 and cycles1 == cycles0
    lines = path.read_text().splitlines()
    assert len(lines) == first  # one line per prediction
    monkeypatch.setattr(plancache, "_version", lambda: "changed")
    acc = Accelerator.open("regmodel", plan_cache=path)
    acc.linear(x, w, scale=1 / 1024)
    assert acc.predictions > 0 and acc.plan_cache.hits == 0
    monkeypatch.setenv("PIMACC_PLAN_CACHE", str(tmp_path / "env.jsonl"))
    assert Accelerator.open("regmodel").plan_cache.path == tmp_path / "env.jsonl"


def test_predictions_in_worker_processes_choose_the_same_programs():
    # predict_workers=2: a first call's candidates are predicted side by side in two processes;
    # the driver chooses the same programs (the same cycles, call by call) as predicting them
    # one after another here
    s = env_seed() + 43
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    i8 = functools.partial(rng.integers, -128, 128, dtype=np.int8)
    calls = [("linear", (i8((300, 70)), i8((40, 70))), dict(scale=1 / 1024)),
             ("linear", (i8((77, 200)), i8((50, 200))), {}),
             ("conv2d", (i8((1, 16, 12, 12)), i8((32, 16, 3, 3))),
              dict(padding=1, scale=1 / 2048, zero_point=4)),
             ("conv2d", (i8((1, 8, 9, 9)), i8((8, 1, 3, 3))), dict(padding=1, groups=8))]
    runs = []
    for workers in (None, 2):
        with Accelerator.open("regmodel", predict_workers=workers) as acc:
            assert (acc.predictor is None) == (workers is None)
            cycles = []
            for op, args, kw in calls:
                y = getattr(acc, op)(*args, **kw)
                want = getattr(models if op == "linear" else models.conv, op)(*args, **kw)
                np.testing.assert_array_equal(y, want)
                cycles.append(acc.stats.cycles)
            runs.append((cycles, acc.predictions))
    print(runs)
    assert runs[0][0] == runs[1][0]
    assert runs[1][1] >= runs[0][1] > 0  # (a batch may predict one the bound would skip)
    with pytest.raises(ValueError, match="predict_workers must be an int >= 1"):
        from sw.driver.predictor import Predictor
        Predictor(0)
