# amaranth: UnusedElaboratable=no
"""Programs on the whole accelerator (hw.top.PimAccelerator) in amaranth.sim.

The memory is the protocol-checking Python AXI4 RAM of test_dma_sim (random stalls, error
ranges) behind ``m_axi``; registers are written over ``s_axil`` one access at a time. Small
geometries keep the Python simulator fast; the expected values are Python integers
(``expected_acc``) and the golden model's requantizer, independent of the hardware.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.axil import AxiResp
from hw.enums import BusError
from hw.spec import Command, ErrorCode, Geometry, Opcode, check, isa, regmap, timing
from hw.spec.isa import End, Fence, Load, Store, Vmm, Window
from hw.top import PimAccelerator
from models import quantize_multipliers, requantize
from verif.hw.sim_util import rng
from verif.hw.test_dma_sim import AxiRam, Pins

pytestmark = pytest.mark.unit

G = Geometry.default(rows=4, cols=4, banks=2, in_depth=16, acc_depth=16, out_depth=16,
                     mem_bits=64)
PROG = 0x0
DATA = 0x400
FLAGS = regmap.register("CMD_FLAGS")
REQUANT = FLAGS.pack(REQUANT=1)


class System:
    """The accelerator, its RAM and a register port, one cycle at a time."""

    def __init__(self, g, pressure=0.0, seed_salt=0, bad=(), array_pipeline=0):
        self.g = g
        self.dut = PimAccelerator(g, array_pipeline=array_pipeline)
        self.r = rng(seed_salt)
        self.ram = AxiRam(self.r, self.dut.m_axi, g.mem_bytes, max_burst=16,
                          max_outstanding=4, pressure=pressure, latency=2, bad=bad)
        self.ram.mem[:] = bytes(len(self.ram.mem))
        self.cycle = 0

    def run(self, testbench, *watchers):
        """Run ``testbench`` to its end, with the memory and ``watchers`` (more testbenches,
        in the background; the accelerator is elaborated when they start)."""
        sim = Simulator(self.dut)
        sim.add_clock(1e-6)

        async def memory(ctx):
            pins = Pins(ctx)
            while True:
                self.ram.drive(pins, self.cycle)
                self.ram.observe(ctx, self.cycle)
                await ctx.tick()
                self.cycle += 1

        sim.add_testbench(memory, background=True)
        for watcher in watchers:
            sim.add_testbench(watcher, background=True)
        sim.add_testbench(testbench)
        sim.run()


async def _axil_write(ctx, dut, addr, value):
    b = dut.s_axil
    ctx.set(b.awaddr, addr)
    ctx.set(b.wdata, value)
    ctx.set(b.wstrb, 0xF)
    ctx.set(b.awvalid, 1)
    ctx.set(b.wvalid, 1)
    ctx.set(b.bready, 1)
    for _ in range(100):
        taken = ctx.get(b.awready) and ctx.get(b.wready)
        await ctx.tick()
        if taken:
            break
    ctx.set(b.awvalid, 0)
    ctx.set(b.wvalid, 0)
    for _ in range(100):
        if ctx.get(b.bvalid):
            resp = ctx.get(b.bresp)
            await ctx.tick()
            ctx.set(b.bready, 0)
            return resp
        await ctx.tick()
    raise AssertionError("no B response")


async def _axil_read(ctx, dut, addr):
    b = dut.s_axil
    ctx.set(b.araddr, addr)
    ctx.set(b.arvalid, 1)
    ctx.set(b.rready, 1)
    for _ in range(100):
        taken = ctx.get(b.arready)
        await ctx.tick()
        if taken:
            break
    ctx.set(b.arvalid, 0)
    for _ in range(100):
        if ctx.get(b.rvalid):
            value, resp = ctx.get(b.rdata), ctx.get(b.rresp)
            await ctx.tick()
            ctx.set(b.rready, 0)
            return value, resp
        await ctx.tick()
    raise AssertionError("no R response")


def reg(name):
    return regmap.register(name).offset


async def run_program(ctx, sys, program, limit=20_000):
    """Write the program at PROG, ring the doorbell, wait for DONE; returns STATUS fields."""
    code = isa.to_bytes(program)
    sys.ram.mem[PROG:PROG + len(code)] = code
    dut = sys.dut
    await _axil_write(ctx, dut, reg("CTRL"), regmap.register("CTRL").pack(IRQ_EN=1))
    await _axil_write(ctx, dut, reg("PROG_ADDR"), PROG)
    await _axil_write(ctx, dut, reg("PROG_LEN"), len(program) + 4)
    await _axil_write(ctx, dut, reg("DOORBELL"), 1)
    for _ in range(limit):
        if ctx.get(dut.irq):
            break
        await ctx.tick()
    else:
        raise AssertionError(f"no interrupt within {limit} cycles")
    status, _ = await _axil_read(ctx, dut, reg("STATUS"))
    fields = regmap.register("STATUS").unpack(status)
    pc, _ = await _axil_read(ctx, dut, reg("PROG_PC"))
    return fields, pc


def layer(r, g, m):
    """Random operands of one VMM tile: x [m, R], w [C, R], bias, Q31 multipliers."""
    x = r.integers(-128, 128, (m, g.rows), dtype=np.int8)
    w = r.integers(-128, 128, (g.cols, g.rows), dtype=np.int8)
    b = r.integers(-5000, 5000, g.cols, dtype=np.int32)
    mult, shift = quantize_multipliers(np.full(g.cols, 1 / 300.0))
    return x, w, b, mult, shift


def images(g, x, w, b, mult, shift):
    """Memory images in the windows' unit layouts."""
    vec = 4 * g.row_words_p2
    xin = np.zeros((len(x), vec), np.int8)
    xin[:, :g.rows] = x
    wim = np.zeros((g.cols_p2, vec), np.int8)
    wim[:g.cols, :g.rows] = w
    par = np.zeros((g.cols, 4), np.int64)
    par[:, 0], par[:, 1], par[:, 2] = b, mult, shift
    return xin.tobytes(), wim.tobytes(), (par & 0xFFFF_FFFF).astype("<u4").tobytes()


def expected_acc(x, w, b):
    return [[int(b[c]) + sum(int(x[i][k]) * int(w[c][k]) for k in range(len(x[i])))
             for c in range(len(w))] for i in range(len(x))]


@pytest.mark.parametrize("bits", [64, 128, 256])
@pytest.mark.parametrize("pressure", [0.0, 0.5])
def test_a_layer_runs_from_memory(bits, pressure):
    g = G.replace(mem_bits=bits)
    sys = System(g, pressure, seed_salt=bits + int(10 * pressure))
    r = np.random.default_rng(sys.r.randrange(1 << 30))
    m = 8
    x, w, b, mult, shift = layer(r, g, m)
    xin, wim, par = images(g, x, w, b, mult, shift)
    a_x, a_w, a_p, a_out, a_acc = DATA, DATA + 0x100, DATA + 0x200, DATA + 0x300, DATA + 0x400
    for a, blob in ((a_x, xin), (a_w, wim), (a_p, par)):
        sys.ram.mem[a:a + len(blob)] = blob
    flags = FLAGS.pack(BIAS=1, REQUANT=1)
    program = [
        Load(Window.WEIGHT, g.cols_p2, g.cols_p2, a_w),     # bank 1
        Load(Window.IN, 0, m, a_x),
        Load(Window.PARAM, 0, 4 * g.cols, a_p),
        Vmm(bank=1, in_addr=0, acc_addr=2, out_addr=3, count=m, rows=g.rows, cols=g.cols,
            flags=flags, out_zp=-2),
        Store(Window.OUT, 3, m, a_out),
        Store(Window.ACC, 2, m, a_acc),
        End(),
    ]
    out = {}

    async def tb(ctx):
        out["status"], out["pc"] = await run_program(ctx, sys, program)

    sys.run(tb)
    assert out["status"]["ERROR"] == ErrorCode.NONE and out["status"]["DONE"] == 1
    assert out["pc"] == len(program) - 1
    acc_unit = 4 * g.cols_p2
    got_acc = np.frombuffer(bytes(sys.ram.mem[a_acc:a_acc + m * acc_unit]), "<i4")
    got_acc = got_acc.reshape(m, g.cols_p2)
    want = np.array(expected_acc(x, w, b), np.int64)
    assert (got_acc[:, :g.cols] == want).all() and (got_acc[:, g.cols:] == 0).all()
    out_unit = 4 * g.col_words_p2
    got = np.frombuffer(bytes(sys.ram.mem[a_out:a_out + m * out_unit]), np.int8)
    got = got.reshape(m, out_unit)
    want8 = requantize(want.astype(np.int32), mult, shift, zero_point=-2)
    assert (got[:, :g.cols] == want8).all() and (got[:, g.cols:] == 0).all()


def test_bad_instruction_stops_with_its_index():
    sys = System(G)
    program = [Fence(), Load(Window.ACC, 0, 1, DATA), End()]
    out = {}

    async def tb(ctx):
        out["status"], out["pc"] = await run_program(ctx, sys, program)

    sys.run(tb)
    assert out["status"]["ERROR"] == ErrorCode.BAD_WINDOW and out["pc"] == 1


def run_one(g, program, *, bad=(), setup=None, pressure=0.0, salt=0, limit=20_000, **regs):
    """Run ``program`` on a fresh system; returns (STATUS fields, PROG_PC, MEM_ERROR_ADDR,
    the system)."""
    sys = System(g, pressure, seed_salt=salt, bad=bad)
    if setup:
        setup(sys)
    out = {}

    async def tb(ctx):
        for name, value in regs.items():
            await _axil_write(ctx, sys.dut, reg(name), value)
        if "PROG_LEN" in regs or "PROG_ADDR" in regs:   # ring with the given registers
            await _axil_write(ctx, sys.dut, reg("CTRL"), regmap.register("CTRL").pack(IRQ_EN=1))
            await _axil_write(ctx, sys.dut, reg("DOORBELL"), 1)
            for _ in range(limit):
                if ctx.get(sys.dut.irq):
                    break
                await ctx.tick()
            status, _ = await _axil_read(ctx, sys.dut, reg("STATUS"))
            out["status"] = regmap.register("STATUS").unpack(status)
            out["pc"], _ = await _axil_read(ctx, sys.dut, reg("PROG_PC"))
        else:
            out["status"], out["pc"] = await run_program(ctx, sys, program, limit)
        out["addr"], _ = await _axil_read(ctx, sys.dut, reg("MEM_ERROR_ADDR"))

    sys.run(tb)
    return out["status"], out["pc"], out["addr"], sys


@pytest.mark.parametrize("program, code, pc", [
    ([Load(Window.IN, 0, 0, DATA), End()], ErrorCode.WINDOW_RANGE, 0),
    ([Fence(), Store(Window.OUT, G.out_depth - 1, 2, DATA)], ErrorCode.WINDOW_RANGE, 1),
    ([Load(Window.OUT, 0, 1, DATA)], ErrorCode.BAD_WINDOW, 0),
    ([Store(Window.IN, 0, 1, DATA)], ErrorCode.BAD_WINDOW, 0),
    ([Load(Window.IN, 0, 1, DATA + 4)], ErrorCode.MEM_ALIGN, 0),
    # 2-D LOADs: every row inside the window, a beat-aligned pitch, inside 32-bit addresses
    ([Load(Window.IN, 1, 3, DATA, rows=4, skip=4), End()], ErrorCode.NONE, 1),
    ([Load(Window.IN, 1, 4, DATA, rows=4, skip=4)], ErrorCode.WINDOW_RANGE, 0),
    ([Load(Window.IN, 0, 1, DATA, rows=2, skip=1, pitch=4)], ErrorCode.MEM_ALIGN, 0),
    ([Load(Window.IN, 0, 1, 0xFFFF_FFF8, rows=2, skip=1, pitch=8)], ErrorCode.MEM_RANGE, 0),
    ([Store(Window.ACC, 0, 2, 0xFFFF_FFF0)], ErrorCode.MEM_RANGE, 0),
    ([Vmm(count=1, rows=4, cols=4, bank=G.banks)], ErrorCode.BAD_BANK, 0),
    ([Fence(), Fence(), Vmm(count=4, rows=4, cols=4, pool=3, flags=REQUANT)],
     ErrorCode.BAD_POOL, 2),
], ids=lambda v: str(v) if isinstance(v, (int, ErrorCode)) else None)
def test_a_bad_instruction_stops_the_program_at_it(program, code, pc):
    status, got_pc, _, _ = run_one(G, program)
    assert (ErrorCode(status["ERROR"]), got_pc, status["DONE"]) == (code, pc, 1)
    if code != ErrorCode.NONE:
        assert isa.check(isa.decode(isa.encode(program[pc])), G) == code  # the spec agrees


@pytest.mark.parametrize("pressure", [0.0, 0.4])
def test_a_2d_load_places_a_tile_with_its_own_pitch_and_skip(pressure):
    """A 2-D LOAD with pitch 0 zero-fills IN from one row of memory; another copies a 3x3
    tile of a 6x4 "image" of vectors (pitch: its row) into rows of 5 vectors from vector 1
    (skip 5); identity weights bring IN out through the array into ACC, exactly."""
    g = G
    unit = 4 * g.row_words_p2   # an IN vector in memory (4 bytes here: 2 per beat)
    r = np.random.default_rng(rng(9).randrange(1 << 30))
    image = r.integers(-128, 128, (6, 4, unit), dtype=np.int8)
    a_img, a_zero, a_w, a_acc = DATA, DATA + 0x200, DATA + 0x280, DATA + 0x400
    eye = np.zeros((g.cols_p2, unit), np.int8)
    eye[:g.cols, :g.rows] = np.eye(g.rows, g.cols, dtype=np.int8).T

    def setup(sys):
        sys.ram.mem[a_img:a_img + image.size] = image.tobytes()
        sys.ram.mem[a_w:a_w + eye.size] = eye.tobytes()

    row = 4 * unit
    program = [Load(Window.IN, 0, 4, a_zero, rows=4, skip=4, pitch=0),  # IN 0..15 := 0
               # image rows 1..3, vectors 2..4 -> IN 1..3, 6..8, 11..13
               Load(Window.IN, 1, 2, a_img + row + 2 * unit, rows=3, skip=5, pitch=row),
               Load(Window.WEIGHT, 0, g.cols_p2, a_w),
               Vmm(count=16, rows=g.rows, cols=g.cols),
               Store(Window.ACC, 0, 16, a_acc), End()]
    status, _, _, sys = run_one(g, program, setup=setup, pressure=pressure, salt=9)
    assert status["ERROR"] == ErrorCode.NONE
    want = np.zeros((16, g.rows), np.int64)
    for i in range(3):
        want[1 + 5 * i:3 + 5 * i] = image[1 + i, 2:4, :g.rows]
    acc = np.frombuffer(bytes(sys.ram.mem[a_acc:a_acc + 16 * 4 * g.cols_p2]), "<i4")
    np.testing.assert_array_equal(acc.reshape(16, g.cols_p2)[:, :g.cols], want[:, :g.cols])
    # the register model runs the same program to the same memory
    from sw.targets.regmodel import RegisterModel
    from verif.sw.targets.test_regmodel_program import run as model_run
    dev = RegisterModel(g)
    dev.mem_write(a_img, image.tobytes())
    dev.mem_write(a_w, eye.tobytes())
    assert model_run(dev, program, prog_addr=0)["ERROR"] == 0
    assert dev.mem_read(a_acc, acc.nbytes) == bytes(sys.ram.mem[a_acc:a_acc + acc.nbytes])


def test_a_2d_load_after_one_stopped_in_its_rows_starts_at_its_first_row():
    """A 2-D LOAD of 8 rows stops at its third (a memory error there), part-way through them;
    the next program on the same accelerator loads a 2-D tile from its first row (the rows'
    count restarts with the units, a cycle after DOORBELL.RUN): every vector where the
    program puts it, exactly (identity weights bring IN out through the array into ACC)."""
    g = G
    unit = 4 * g.row_words_p2
    r = np.random.default_rng(rng(11).randrange(1 << 30))
    image = r.integers(-128, 128, (3, 2, unit), dtype=np.int8)
    a_img, a_w, a_acc, a_bad = DATA, DATA + 0x280, DATA + 0x400, DATA + 0x800
    eye = np.zeros((g.cols_p2, unit), np.int8)
    eye[:g.cols, :g.rows] = np.eye(g.rows, g.cols, dtype=np.int8).T
    sys = System(g, seed_salt=11, bad=[(a_bad + 0x40, a_bad + 0x80, 2)])
    sys.ram.mem[a_img:a_img + image.size] = image.tobytes()
    sys.ram.mem[a_w:a_w + eye.size] = eye.tobytes()
    stopped = [Load(Window.IN, 0, 2, a_bad, rows=8, skip=1, pitch=0x20), End()]
    tile = [Load(Window.IN, 0, 2, a_img, rows=3, skip=3, pitch=2 * unit),
            Load(Window.WEIGHT, 0, g.cols_p2, a_w), Vmm(count=9, rows=g.rows, cols=g.cols),
            Store(Window.ACC, 0, 9, a_acc), End()]
    out = {}

    async def tb(ctx):
        out["first"], out["first_pc"] = await run_program(ctx, sys, stopped)
        out["first_addr"], _ = await _axil_read(ctx, sys.dut, reg("MEM_ERROR_ADDR"))
        out["second"], _ = await run_program(ctx, sys, tile)

    sys.run(tb)
    assert (ErrorCode(out["first"]["ERROR"]), out["first_pc"], out["first_addr"]) == \
        (ErrorCode.MEM_READ, 0, a_bad + 0x40)
    assert out["second"]["ERROR"] == ErrorCode.NONE and sys.ram.quiet()
    want = np.zeros((9, g.rows), np.int64)
    for i in range(3):
        want[3 * i:3 * i + 2] = image[i, :, :g.rows]
    acc = np.frombuffer(bytes(sys.ram.mem[a_acc:a_acc + 9 * 4 * g.cols_p2]), "<i4")
    np.testing.assert_array_equal(acc.reshape(9, g.cols_p2)[:, :g.cols], want[:, :g.cols])


def test_bad_encodings_are_bad_instructions():
    def setup(sys):
        # (a STORE has no 2-D fields: PITCH's and ROWS's bits are reserved in it)
        words = [(0x07, 0, 0, 0), (int(isa.Op.END) | 1 << 8, 0, 0, 0),
                 (int(isa.Op.STORE) | int(Window.ACC) << 8 | 1 << 12, 1 << 16, DATA, 0),
                 (int(isa.Op.STORE) | int(Window.ACC) << 8, 1 << 16, DATA, 2),
                 (int(isa.Op.VMM), 0, 0, 1 << 24)]
        blob = b"".join(int(w).to_bytes(4, "little") for ws in words for w in ws)
        sys.ram.mem[0x800:0x800 + len(blob)] = blob

    for i in range(5):
        status, pc, _, _ = run_one(G, None, setup=setup, PROG_ADDR=0x800 + 16 * i, PROG_LEN=1)
        assert (ErrorCode(status["ERROR"]), pc) == (ErrorCode.BAD_INSTR, 0), i


def test_doorbell_checks_and_prog_len():
    status, pc, _, _ = run_one(G, None, PROG_ADDR=4, PROG_LEN=3)
    assert (ErrorCode(status["ERROR"]), pc) == (ErrorCode.MEM_ALIGN, 0)
    status, pc, _, _ = run_one(G, None, PROG_ADDR=0, PROG_LEN=0)
    assert (ErrorCode(status["ERROR"]), pc) == (ErrorCode.PROG_LEN, 0)

    def fences(sys):
        sys.ram.mem[0:16 * 6] = isa.to_bytes([Fence()] * 6)
    status, pc, _, _ = run_one(G, None, setup=fences, PROG_ADDR=0, PROG_LEN=5)
    assert (ErrorCode(status["ERROR"]), pc) == (ErrorCode.PROG_LEN, 5)


@pytest.mark.parametrize("resp", [AxiResp.SLVERR, AxiResp.DECERR])
def test_memory_errors_stop_the_program_cleanly(resp):
    bad = [(0x2000, 0x2100, resp)]
    # a load from the bad range
    status, pc, addr, sys = run_one(G, [Fence(), Load(Window.IN, 0, 4, 0x2000), End()], bad=bad)
    assert (ErrorCode(status["ERROR"]), pc, addr) == (ErrorCode.MEM_READ, 1, 0x2000)
    assert sys.ram.quiet()
    # a store into it: memory unchanged
    before = bytes(sys.ram.mem[0x2000:0x2100])
    status, pc, addr, sys = run_one(G, [Store(Window.OUT, 0, 2, 0x2040), End()], bad=bad)
    assert (ErrorCode(status["ERROR"]), pc, addr) == (ErrorCode.MEM_WRITE, 0, 0x2040)
    assert bytes(sys.ram.mem[0x2000:0x2100]) == before and sys.ram.quiet()
    # the program itself: fetched past its END harmlessly, but an instruction in the bad range
    def setup(sys):
        sys.ram.mem[0x2000 - 32:0x2000] = isa.to_bytes([Fence(), Fence()])
    status, pc, addr, _ = run_one(G, None, bad=bad, setup=setup, PROG_ADDR=0x2000 - 32,
                                  PROG_LEN=4)
    assert (ErrorCode(status["ERROR"]), pc, addr) == (ErrorCode.MEM_READ, 2, 0x2000)

    def ends(sys):
        sys.ram.mem[0x2000 - 32:0x2000] = isa.to_bytes([Fence(), End()])
    status, pc, _, _ = run_one(G, None, bad=bad, setup=ends, PROG_ADDR=0x2000 - 32, PROG_LEN=4)
    assert (ErrorCode(status["ERROR"]), pc, status["DONE"]) == (ErrorCode.NONE, 1, 1)


@pytest.mark.parametrize("m, pressure", [(6, 0.3), (1, 0.0), (2, 0.0)])
def test_dependencies_keep_program_order(m, pressure):
    """LOAD bank 0, VMM, LOAD bank 0 again, VMM, STOREs: the second load waits until the first
    VMM's vectors have passed the array (short VMMs without stalls: the tightest timing), the
    store of the first result waits for nothing it must not; results as sequential."""
    g = G.replace(mem_bits=128)
    r = np.random.default_rng(rng(5).randrange(1 << 30))
    x, w1, b, mult, shift = layer(r, g, m)
    w2 = r.integers(-128, 128, w1.shape, dtype=np.int8)
    xin, wim1, _ = images(g, x, w1, b, mult, shift)
    _, wim2, _ = images(g, x, w2, b, mult, shift)
    a_x, a_w1, a_w2, a_o1, a_o2 = DATA, DATA + 0x100, DATA + 0x200, DATA + 0x300, DATA + 0x500

    def setup(sys):
        for a, blob in ((a_x, xin), (a_w1, wim1), (a_w2, wim2)):
            sys.ram.mem[a:a + len(blob)] = blob

    vmm = dict(bank=0, in_addr=0, count=m, rows=g.rows, cols=g.cols)
    program = [Load(Window.IN, 0, m, a_x), Load(Window.WEIGHT, 0, g.cols_p2, a_w1),
               Vmm(acc_addr=0, **vmm), Load(Window.WEIGHT, 0, g.cols_p2, a_w2),
               Store(Window.ACC, 0, m, a_o1), Vmm(acc_addr=0, **vmm),
               Store(Window.ACC, 0, m, a_o2), End()]
    status, _, _, sys = run_one(g, program, setup=setup, pressure=pressure, salt=5)
    assert status["ERROR"] == ErrorCode.NONE
    unit = 4 * g.cols_p2
    for a, wt in ((a_o1, w1), (a_o2, w2)):
        got = np.frombuffer(bytes(sys.ram.mem[a:a + m * unit]), "<i4").reshape(m, -1)
        assert (got[:, :g.cols] == expected_acc(x, wt, np.zeros(g.cols, np.int32))).all()


@pytest.mark.parametrize("queued", [False, True])
@pytest.mark.parametrize("m, pressure", [(12, 0.0), (12, 0.5), (6, 0.5)])
def test_a_vmm_waits_for_the_load_of_its_input_vector(m, pressure, queued):
    """A VMM whose one input vector is the last unit of an IN LOAD still in the load unit
    (queued behind a WEIGHT LOAD, then moving): its range starts where the LOAD's ends minus
    one, the edge of the held range's ``end`` (first + count); the result is the new
    vector's, not the window's old zeros. ``queued``: the WEIGHT LOAD ahead is of a bank the
    VMM does not use (its own bank loaded before a FENCE), so only the IN LOAD in the load
    unit's queued slot holds the VMM back."""
    g = G
    r = np.random.default_rng(rng(13 if queued else 11).randrange(1 << 30))
    x, w, _, _, _ = layer(r, g, m)
    x[m - 1] = np.where(x[m - 1] == 0, 1, x[m - 1])  # a product the old zeros would not give
    xin, wim, _ = images(g, x, w, np.zeros(g.cols, np.int32), *quantize_multipliers([0.5]))
    a_x, a_w, a_acc = DATA, DATA + 0x100, DATA + 0x200

    def setup(sys):
        for a, blob in ((a_x, xin), (a_w, wim)):
            sys.ram.mem[a:a + len(blob)] = blob

    ahead = [Load(Window.WEIGHT, g.cols_p2, g.cols_p2, a_w)]   # bank 1
    if queued:
        ahead += [Fence(), Load(Window.WEIGHT, 0, g.cols_p2, a_w)]   # then bank 0: moving
    program = [*ahead, Load(Window.IN, 0, m, a_x),
               Vmm(bank=1, in_addr=m - 1, acc_addr=0, count=1, rows=g.rows, cols=g.cols),
               Store(Window.ACC, 0, 1, a_acc), End()]
    status, _, _, sys = run_one(g, program, setup=setup, pressure=pressure,
                                salt=m + 2 if queued else m)
    assert status["ERROR"] == ErrorCode.NONE
    got = np.frombuffer(bytes(sys.ram.mem[a_acc:a_acc + 4 * g.cols_p2]), "<i4")
    want = expected_acc(x[m - 1:], w, np.zeros(g.cols, np.int32))
    assert got[:g.cols].tolist() == want[0] and any(want[0])


@pytest.mark.parametrize("m, pressure", [(12, 0.0), (12, 0.5), (6, 0.5)])
def test_a_load_waits_for_the_vmm_that_reads_its_first_unit(m, pressure):
    """An IN LOAD into the last input vector of the VMM before it waits until the VMM has
    read it: the LOAD's range starts at the VMM's end minus one, the edge of the VMM's range
    end (its queue entry's, registered at dispatch); the VMM's last row is the old vector's
    product, not the new one's."""
    g = G
    r = np.random.default_rng(rng(12).randrange(1 << 30))
    x, w, _, _, _ = layer(r, g, m)
    x2 = r.integers(-128, 128, (1, g.rows), dtype=np.int8)
    x2[0] = np.where(x2[0] == x[m - 1], -x[m - 1] - 1, x2[0])  # differs in every row
    zeros = np.zeros(g.cols, np.int32)
    xin, wim, _ = images(g, x, w, zeros, *quantize_multipliers([0.5]))
    x2in, _, _ = images(g, x2, w, zeros, *quantize_multipliers([0.5]))
    a_x, a_x2, a_w, a_acc = DATA, DATA + 0x100, DATA + 0x180, DATA + 0x200

    def setup(sys):
        for a, blob in ((a_x, xin), (a_x2, x2in), (a_w, wim)):
            sys.ram.mem[a:a + len(blob)] = blob

    program = [Load(Window.WEIGHT, g.cols_p2, g.cols_p2, a_w),   # bank 1
               Load(Window.IN, 0, m, a_x),
               Vmm(bank=1, in_addr=0, acc_addr=0, count=m, rows=g.rows, cols=g.cols),
               Load(Window.IN, m - 1, 1, a_x2),
               Store(Window.ACC, 0, m, a_acc), End()]
    status, _, _, sys = run_one(g, program, setup=setup, pressure=pressure, salt=m + 1)
    assert status["ERROR"] == ErrorCode.NONE
    unit = 4 * g.cols_p2
    got = np.frombuffer(bytes(sys.ram.mem[a_acc:a_acc + m * unit]), "<i4").reshape(m, -1)
    assert got[:, :g.cols].tolist() == expected_acc(x, w, zeros)
    assert expected_acc(x[m - 1:], w, zeros) != expected_acc(x2, w, zeros)


def test_units_overlap():
    """A long VMM on bank 0 while the next weights load into bank 1 and the last results
    are stored: the program takes fewer cycles than its units' busy cycles added up."""
    g = G.replace(in_depth=64, acc_depth=64, out_depth=64, mem_bits=128)
    m = 48
    program = [Load(Window.IN, 0, m, DATA), Load(Window.WEIGHT, 0, g.cols_p2, DATA + 0x400),
               Vmm(bank=0, acc_addr=0, count=m, rows=g.rows, cols=g.cols),
               Load(Window.WEIGHT, g.cols_p2, g.cols_p2, DATA + 0x400),
               Vmm(bank=1, acc_addr=m // 2, count=m // 2, rows=g.rows, cols=g.cols),
               Store(Window.ACC, 0, m // 2, DATA + 0x800), End()]
    sys = System(g)
    out = {}

    async def tb(ctx):
        await _axil_write(ctx, sys.dut, reg("CTRL"), regmap.register("CTRL").pack(
            CLEAR_COUNTERS=1))
        start = sys.cycle
        out["status"], _ = await run_program(ctx, sys, program)
        out["cycles"] = sys.cycle - start
        for name in ("PERF_BUSY", "PERF_LOAD", "PERF_STORE", "PERF_INSTRS", "PERF_RD_BYTES",
                     "PERF_WR_BYTES"):
            out[name], _ = await _axil_read(ctx, sys.dut, reg(name))

    sys.run(tb)
    assert out["status"]["ERROR"] == ErrorCode.NONE
    busy = out["PERF_BUSY"] + out["PERF_LOAD"] + out["PERF_STORE"]
    print(out)
    assert out["cycles"] < busy, out
    assert out["PERF_INSTRS"] == len(program)
    assert out["PERF_WR_BYTES"] == m // 2 * 4 * g.cols_p2
    loads = (m * 4 * g.row_words_p2 + 2 * g.cols_p2 * 4 * g.row_words_p2)
    assert loads + 16 * len(program) <= out["PERF_RD_BYTES"] <= loads + 16 * (len(program) + 4)


def test_soft_reset_in_the_middle_of_a_program():
    """SOFT_RESET while loads run under heavy memory stalls: no hang, the memory sees every
    issued burst completed, and the next program runs correctly."""
    g = G.replace(mem_bits=64)
    sys = System(g, pressure=0.6, seed_salt=9)
    r = np.random.default_rng(9)
    x, w, b, mult, shift = layer(r, g, 8)
    xin, wim, _ = images(g, x, w, b, mult, shift)
    sys.ram.mem[DATA:DATA + len(xin)] = xin
    sys.ram.mem[DATA + 0x100:DATA + 0x100 + len(wim)] = wim
    long_program = [Load(Window.IN, 0, 8, DATA)] * 6 + [End()]
    program = [Load(Window.IN, 0, 8, DATA), Load(Window.WEIGHT, 0, g.cols_p2, DATA + 0x100),
               Vmm(count=8, rows=g.rows, cols=g.cols), Store(Window.ACC, 0, 8, DATA + 0x200),
               End()]
    out = {}

    async def tb(ctx):
        code = isa.to_bytes(long_program)
        sys.ram.mem[0x1000:0x1000 + len(code)] = code
        await _axil_write(ctx, sys.dut, reg("PROG_ADDR"), 0x1000)
        await _axil_write(ctx, sys.dut, reg("PROG_LEN"), 16)
        await _axil_write(ctx, sys.dut, reg("DOORBELL"), 1)
        for _ in range(40):
            await ctx.tick()
        busy, _ = await _axil_read(ctx, sys.dut, reg("STATUS"))
        out["busy_before"] = busy & 1
        await _axil_write(ctx, sys.dut, reg("CTRL"), regmap.register("CTRL").pack(SOFT_RESET=1))
        status, _ = await _axil_read(ctx, sys.dut, reg("STATUS"))
        out["busy_after"] = status & 1
        out["status"], out["pc"] = await run_program(ctx, sys, program)

    sys.run(tb)
    assert out["busy_before"] == 1 and out["busy_after"] == 0
    assert out["status"]["ERROR"] == ErrorCode.NONE and sys.ram.quiet()
    got = np.frombuffer(bytes(sys.ram.mem[DATA + 0x200:DATA + 0x200 + 8 * 4 * g.cols_p2]),
                        "<i4").reshape(8, -1)
    assert (got[:, :g.cols] == expected_acc(x, w, np.zeros(g.cols, np.int32))).all()


@pytest.mark.parametrize("pressure", [0.0, 0.5])
def test_back_to_back_vmms_each_keep_their_own_fields(pressure):
    """VMMs issue while the one before drains: a K-tile chain (overwrite with bias, then
    accumulate and requantize with ReLU), a one-vector command, a max-pooled command with
    another zero point: every result as if run one at a time, and PERF_BUSY shows the drains
    overlapped."""
    from hw.spec import timing
    from models import group_max
    g = G.replace(in_depth=64, acc_depth=32, out_depth=32, mem_bits=128)
    r = np.random.default_rng(rng(11).randrange(1 << 30))
    m, k = 8, 2 * g.rows
    x = r.integers(-128, 128, (m, k), dtype=np.int8)
    w = r.integers(-128, 128, (g.cols, k), dtype=np.int8)
    b = r.integers(-3000, 3000, g.cols, dtype=np.int32)
    mult, shift = quantize_multipliers(np.full(g.cols, 1 / 500.0))
    vec = 4 * g.row_words_p2
    xin = np.zeros((2 * m, vec), np.int8)
    xin[:m, :g.rows], xin[m:, :g.rows] = x[:, :g.rows], x[:, g.rows:]
    wim = np.zeros((2, g.cols_p2, vec), np.int8)
    wim[0, :g.cols, :g.rows], wim[1, :g.cols, :g.rows] = w[:, :g.rows], w[:, g.rows:]
    par = np.zeros((g.cols, 4), np.int64)
    par[:, 0], par[:, 1], par[:, 2] = b, mult, shift
    a_x, a_w, a_p = DATA, DATA + 0x400, DATA + 0x600
    a_acc, a_out = DATA + 0x800, DATA + 0xC00

    def setup(sys):
        for a, blob in ((a_x, xin.tobytes()), (a_w, wim.tobytes()),
                        (a_p, (par & 0xFFFF_FFFF).astype("<u4").tobytes())):
            sys.ram.mem[a:a + len(blob)] = blob

    full = dict(rows=g.rows, cols=g.cols)
    vmms = [Vmm(bank=0, in_addr=0, acc_addr=0, count=m, flags=FLAGS.pack(BIAS=1), **full),
            Vmm(bank=1, in_addr=m, acc_addr=0, out_addr=0, count=m, out_zp=3,
                flags=FLAGS.pack(ACCUMULATE=1, REQUANT=1, RELU=1), **full),
            Vmm(bank=0, in_addr=0, acc_addr=m, count=1, **full),
            Vmm(bank=0, in_addr=0, acc_addr=m + 1, out_addr=m, count=m, pool=2, out_zp=-7,
                flags=FLAGS.pack(REQUANT=1), **full)]
    program = [Load(Window.IN, 0, 2 * m, a_x), Load(Window.WEIGHT, 0, 2 * g.cols_p2, a_w),
               Load(Window.PARAM, 0, 4 * g.cols, a_p), *vmms,
               Store(Window.ACC, 0, 2 * m + 1, a_acc), Store(Window.OUT, 0, m + m // 2, a_out),
               End()]
    sys = System(g, pressure, seed_salt=11)
    setup(sys)
    out = {}

    async def tb(ctx):
        await _axil_write(ctx, sys.dut, reg("CTRL"), regmap.register("CTRL").pack(
            CLEAR_COUNTERS=1))
        out["status"], _ = await run_program(ctx, sys, program)
        out["busy"], _ = await _axil_read(ctx, sys.dut, reg("PERF_BUSY"))

    sys.run(tb)
    assert out["status"]["ERROR"] == ErrorCode.NONE
    zero = np.zeros(g.cols, np.int32)
    acc0 = np.array(expected_acc(x, w, b), np.int64)                       # K chain
    acc1 = np.array(expected_acc(x[:1, :g.rows], w[:, :g.rows], zero), np.int64)
    acc2 = np.array(expected_acc(x[:, :g.rows], w[:, :g.rows], zero), np.int64)
    got_acc = np.frombuffer(bytes(sys.ram.mem[a_acc:a_acc + (2 * m + 1) * 4 * g.cols_p2]),
                            "<i4").reshape(2 * m + 1, -1)[:, :g.cols]
    assert (got_acc[:m] == acc0).all() and (got_acc[m] == acc1[0]).all()
    assert (got_acc[m + 1:] == acc2).all()
    got_out = np.frombuffer(bytes(sys.ram.mem[a_out:a_out + (m + m // 2) * 4 * g.col_words_p2]),
                            np.int8).reshape(m + m // 2, -1)[:, :g.cols]
    want0 = requantize(acc0.astype(np.int32), mult, shift, zero_point=3, relu=True)
    want2 = group_max(requantize(acc2.astype(np.int32), mult, shift, zero_point=-7), 2)
    assert (got_out[:m] == want0).all() and (got_out[m:] == want2).all()
    latency = timing.array_latency(g.rows)
    one_at_a_time = sum(timing.busy_cycles(v.count, latency) for v in vmms)
    print(f"PERF_BUSY {out['busy']}, one at a time {one_at_a_time}")
    assert out["busy"] <= one_at_a_time - timing.drain(latency)


def _measure(g, program, array_pipeline=0):
    """Run ``program`` (at PROG) on the gateware: cycles from the DOORBELL write's response to
    the interrupt, and PERF_LOAD, PERF_STORE, PERF_BUSY, PERF_RD_BYTES."""
    sys = System(g, array_pipeline=array_pipeline)
    out = {}

    async def tb(ctx):
        code = isa.to_bytes(program)
        sys.ram.mem[PROG:PROG + len(code)] = code
        dut = sys.dut
        await _axil_write(ctx, dut, reg("CTRL"), regmap.register("CTRL").pack(
            IRQ_EN=1, CLEAR_COUNTERS=1))
        await _axil_write(ctx, dut, reg("PROG_ADDR"), PROG)
        await _axil_write(ctx, dut, reg("PROG_LEN"), len(program))
        await _axil_write(ctx, dut, reg("DOORBELL"), 1)
        start = sys.cycle
        for _ in range(20_000):
            if ctx.get(dut.irq):
                break
            await ctx.tick()
        out["cycles"] = sys.cycle - start
        status, _ = await _axil_read(ctx, dut, reg("STATUS"))
        assert regmap.register("STATUS").unpack(status)["ERROR"] == ErrorCode.NONE
        out["counters"] = []
        for name in ("PERF_LOAD", "PERF_STORE", "PERF_BUSY", "PERF_RD_BYTES"):
            value, _ = await _axil_read(ctx, dut, reg(name))
            out["counters"].append(value)

    sys.run(tb)
    return out["cycles"], tuple(out["counters"])


def _model_programs():
    from verif.sw.targets import test_regmodel_program as t
    return t.RTL_G, t.RTL_PROGRAMS


@pytest.mark.parametrize("bits", (128, 64))
@pytest.mark.parametrize("name", list(_model_programs()[1]))
def test_cycle_model_matches_the_gateware(bits, name):
    """The register model's ProgramTiming (with this RAM's read latency 2) predicts the
    gateware's cycles and counters within a cycle on each of the model's timing programs, and
    within 3.5 % (cycles) and 12 % (counters) on "mixed", where LOADs and a fetch block wait
    for the read port together (the model books them in another order than the hardware
    serves them)."""
    import dataclasses

    from sw.targets.regmodel import ProgramTiming, RegisterModel
    from verif.sw.targets.test_regmodel_program import run as model_run
    rtl_g, programs = _model_programs()
    g = rtl_g.replace(mem_bits=bits)
    cycles, counters = _measure(g, programs[name])
    timing_ = dataclasses.replace(ProgramTiming(), read_latency=2 + 2)  # + the DMA's 2
    dev = RegisterModel(g, program_timing=timing_)
    assert model_run(dev, programs[name], prog_addr=0)["ERROR"] == 0
    run_ = dev.last_program
    got = tuple(run_.counters[n] for n in ("PERF_LOAD", "PERF_STORE", "PERF_BUSY",
                                           "PERF_RD_BYTES"))
    print(name, bits, "rtl", cycles, counters, "model", run_.cycles, got)
    exact = name != "mixed"
    assert abs(run_.cycles - cycles) <= (1 if exact else 0.035 * cycles), (run_.cycles, cycles)
    assert all(abs(a - b) <= (1 if exact else max(1, 0.12 * b))
               for a, b in zip(got, counters, strict=True)), (got, counters)


@pytest.mark.parametrize("pipeline", timing.ARRAY_PIPELINES[1:])
@pytest.mark.parametrize("name", ["vmm_1x4", "vmm_store", "vmm_requant_then_plain"])
def test_cycle_model_matches_a_pipelined_array(name, pipeline):
    """A pipelined array (``PimAccelerator(array_pipeline=)``, its stages in CFG_LATENCY):
    the register model given that latency predicts the gateware's cycles and counters within a
    cycle, and each stage costs the program one cycle per drain it waits for, no more."""
    import dataclasses

    from sw.targets.regmodel import ProgramTiming, RegisterModel
    from verif.sw.targets.test_regmodel_program import run as model_run
    g, programs = _model_programs()
    latency = timing.array_latency(g.rows, pipeline)
    cycles, counters = _measure(g, programs[name], array_pipeline=pipeline)
    timing_ = dataclasses.replace(ProgramTiming(), read_latency=2 + 2)  # + the DMA's 2
    dev = RegisterModel(g, latency=latency, program_timing=timing_)
    assert dev.read(regmap.register("CFG_LATENCY").offset, 1) == [latency]
    assert model_run(dev, programs[name], prog_addr=0)["ERROR"] == 0
    run_ = dev.last_program
    got = tuple(run_.counters[n] for n in ("PERF_LOAD", "PERF_STORE", "PERF_BUSY",
                                           "PERF_RD_BYTES"))
    base, _ = _measure(g, programs[name])
    print(name, pipeline, "rtl", cycles, counters, "model", run_.cycles, got, "unpipelined",
          base)
    assert abs(run_.cycles - cycles) <= 1, (run_.cycles, cycles)
    assert all(abs(a - b) <= 1 for a, b in zip(got, counters, strict=True)), (got, counters)
    assert base < cycles <= base + pipeline * sum(isinstance(i, isa.Vmm)
                                                  for i in programs[name])


@pytest.mark.parametrize("pressure", [0.0, 0.5])
def test_no_buffer_is_written_as_the_datapath_reads_it(pressure):
    """The LUT's block RAM copies and the input buffer's datapath copy are ``no_rw_check``
    (hw.pp.lut.Lut, hw.buffers.InputBuffer): a read of the word being written gets an
    unspecified value. So, every cycle of a program that loads three tables and three
    blocks of input vectors between VMMs with and without the LUT flag (some LOADs may
    overlap a VMM, others must wait for it): no write reaches the Lut while a row with
    ``enable`` looks it up, none reaches the input buffer's vector the datapath reads in that
    cycle; and each VMM's rows come out of its own vectors and table (Python's sums and
    requantizer reference, then the table indexed in numpy)."""
    g = G
    sys = System(g, pressure, seed_salt=int(10 * pressure) + 31)
    r = np.random.default_rng(sys.r.randrange(1 << 30))
    m = 4
    x, w, b, mult, shift = layer(r, g, m)
    # blocks of m vectors: x0 at 0, x1 at m, xe at 2m, then x2 over xe
    xs = [x] + [r.integers(-128, 128, (m, g.rows), dtype=np.int8) for _ in range(3)]
    blobs = [images(g, xk, w, b, mult, shift)[0] for xk in xs]
    _, wim, par = images(g, x, w, b, mult, shift)
    tables = [r.integers(-128, 128, 256, dtype=np.int8) for _ in range(3)]
    a_w, a_p, a_out, a_out2 = DATA + 0x100, DATA + 0x200, DATA + 0x300, DATA + 0x380
    a_x = [DATA] + [DATA + 0x700 + 0x80 * k for k in range(3)]
    a_lut = [DATA + 0x400 + 0x100 * k for k in range(3)]
    for a, blob in ((a_w, wim), (a_p, par), *zip(a_x, blobs, strict=True),
                    *zip(a_lut, (t.tobytes() for t in tables), strict=True)):
        sys.ram.mem[a:a + len(blob)] = blob
    lut_flags = FLAGS.pack(BIAS=1, REQUANT=1, LUT=1)
    plain = FLAGS.pack(BIAS=1, REQUANT=1)

    def vmm(in_addr, out_addr, flags, count=m):
        return Vmm(bank=1, in_addr=in_addr, acc_addr=out_addr, out_addr=out_addr, count=count,
                   rows=g.rows, cols=g.cols, flags=flags, out_zp=3)
    lut_units = isa.units(Window.LUT, g)
    program = [
        Load(Window.WEIGHT, g.cols_p2, g.cols_p2, a_w), Load(Window.IN, 0, m, a_x[0]),
        Load(Window.IN, 2 * m, m, a_x[2]), Load(Window.PARAM, 0, 4 * g.cols, a_p),
        Load(Window.LUT, 0, lut_units, a_lut[0]),
        vmm(0, 0, lut_flags),
        Load(Window.LUT, 0, lut_units, a_lut[1]),     # waits for the VMM above
        Load(Window.IN, m, m, a_x[1]),                # vectors it does not read: need not
        vmm(m, m, lut_flags),
        Store(Window.OUT, 0, 2 * m, a_out),
        vmm(0, m, plain, count=3 * m),                # no table; reads all three blocks
        Load(Window.IN, 2 * m, m, a_x[3]),            # waits for it: it reads them last
        Load(Window.LUT, 0, lut_units, a_lut[2]),
        vmm(2 * m, 0, lut_flags),
        Store(Window.OUT, 0, 4 * m, a_out2),
        End(),
    ]
    # (output address, output row, vector blocks, table) of each VMM
    runs = [(a_out, 0, [0], 0), (a_out, m, [1], 1), (a_out2, m, [0, 1, 2], None),
            (a_out2, 0, [3], 2)]
    seen = dict.fromkeys(["looked_up", "lut_written", "lut_both", "read", "in_written",
                          "in_both"], 0)
    out = {}

    async def watch(ctx):
        lut, inbuf = sys.dut.post.lut_stage, sys.dut.inbuf   # (the accelerator's, elaborated)
        while True:
            await ctx.tick()
            valid, enable, written = (ctx.get(lut.i.valid), ctx.get(lut.enable),
                                      ctx.get(lut.w_en))
            seen["looked_up"] += valid and enable
            seen["lut_written"] += written
            seen["lut_both"] += valid and enable and written
            read, in_written = ctx.get(inbuf.rp.en), ctx.get(inbuf.wp.en) != 0
            seen["read"] += read
            seen["in_written"] += in_written
            seen["in_both"] += (read and in_written
                                and ctx.get(inbuf.rp.addr) == ctx.get(inbuf.wp.addr))

    async def tb(ctx):
        out["status"], _ = await run_program(ctx, sys, program)

    sys.run(tb, watch)
    print(seen)
    assert out["status"]["ERROR"] == ErrorCode.NONE and out["status"]["DONE"] == 1
    assert seen["lut_both"] == 0 and seen["in_both"] == 0, seen
    assert seen["looked_up"] == 3 * m and seen["lut_written"] == 3 * lut_units, seen
    assert seen["read"] >= 6 * m and seen["in_written"] >= 4 * m, seen
    out_unit = 4 * g.col_words_p2
    for k, (address, row, blocks, table) in enumerate(runs):
        vectors = np.concatenate([xs[i] for i in blocks])
        want = requantize(np.array(expected_acc(vectors, w, b), np.int64).astype(np.int32),
                          mult, shift, zero_point=3)
        expect = want if table is None else tables[table][want.astype(np.int64) + 128]
        start = address + row * out_unit
        got = np.frombuffer(bytes(sys.ram.mem[start:start + len(want) * out_unit]), np.int8)
        assert (got.reshape(len(want), out_unit)[:, :g.cols] == expect).all(), f"VMM {k}"


def test_weight_readback_after_a_program_and_refused_bus_writes():
    """The bus reads the weights back through the array's LUT-RAM copy, which holds only if
    the bus and the load unit never write in one cycle: bus writes of WEIGHT (either bank)
    are refused while the program's LOAD writes bank 1 through the column port. Afterwards
    every word reads back as loaded (bank 1) or as never written (bank 0), and a bus write
    then reads back too."""
    g = G.replace(rows=5, cols=3)   # a partial last word
    sys = System(g, 0.3, seed_salt=77)
    r = np.random.default_rng(sys.r.randrange(1 << 30))
    w = r.integers(-128, 128, (g.cols, g.rows), dtype=np.int8)
    _, wim, _ = images(g, np.zeros((1, g.rows), np.int8), w, np.zeros(g.cols, np.int32),
                       *quantize_multipliers(np.full(g.cols, 1 / 300.0)))
    a_w = DATA + 0x100
    sys.ram.mem[a_w:a_w + len(wim)] = wim
    program = [Load(Window.WEIGHT, g.cols_p2, g.cols_p2, a_w), End()]   # bank 1
    code = isa.to_bytes(program)
    sys.ram.mem[PROG:PROG + len(code)] = code
    refused = []
    late = {}   # the write that met the program's end, if the bus took it: (bank, col, wd) -> value

    def word(bank, col, wd):
        rows = range(4 * wd, min(4 * wd + 4, g.rows))
        if (bank, col, wd) in late:
            return late[bank, col, wd] & ((1 << 8 * len(rows)) - 1)
        if bank != 1:
            return 0
        return sum((int(w[col][k]) & 0xFF) << 8 * (k - 4 * wd) for k in rows)

    async def tb(ctx):
        dut = sys.dut
        await _axil_write(ctx, dut, reg("PROG_ADDR"), PROG)
        await _axil_write(ctx, dut, reg("PROG_LEN"), len(program) + 4)
        await _axil_write(ctx, dut, reg("DOORBELL"), 1)
        for k in range(400):   # bus writes of weights while the program runs, all refused
            where, value = (k % 2, k % g.cols, k % 2), 0x01020304 * (k + 1) & 0xFFFFFFFF
            resp = await _axil_write(ctx, dut, g.weight_addr(*where), value)
            status, _ = await _axil_read(ctx, dut, reg("STATUS"))
            fields = regmap.register("STATUS").unpack(status)
            if not fields["BUSY"]:  # (this write may have come after the program's end)
                if resp == AxiResp.OKAY:
                    late[where] = value
                break
            refused.append(resp)
        assert fields["DONE"] == 1 and fields["ERROR"] == ErrorCode.NONE, (k, fields)
        for bank in range(g.banks):
            for col in range(g.cols):   # (the columns past the array answer DECERR)
                for wd in range(g.row_words_p2):
                    value, resp = await _axil_read(ctx, dut, g.weight_addr(bank, col, wd))
                    assert (value, resp) == (word(bank, col, wd), AxiResp.OKAY), (bank, col, wd)
        assert await _axil_write(ctx, dut, g.weight_addr(0, 2, 1), 0xA1B2C3D4) == AxiResp.OKAY
        value, _ = await _axil_read(ctx, dut, g.weight_addr(0, 2, 1))
        assert value == 0xD4   # row 4 only: rows 5..7 of the word do not exist

    sys.run(tb)
    assert len(refused) >= 3 and set(refused) == {AxiResp.SLVERR}, refused


@pytest.mark.parametrize("delay", range(6))
def test_status_never_reads_idle_and_not_done(delay):
    """From DOORBELL.RUN until DONE, every read of STATUS has BUSY or DONE set (BUSY falls in
    the cycle DONE rises, not a cycle before it). The reads of STATUS start ``delay`` cycles
    after the doorbell, so over the delays they sample every phase of the bus's read period
    (the RAM answers without pressure: the same cycles every run)."""
    g = G
    sys = System(g)
    code = isa.to_bytes([Load(Window.IN, 0, 4, DATA), End()])
    sys.ram.mem[PROG:PROG + len(code)] = code
    reads = []

    async def tb(ctx):
        dut = sys.dut
        await _axil_write(ctx, dut, reg("PROG_ADDR"), PROG)
        await _axil_write(ctx, dut, reg("PROG_LEN"), 2)
        await _axil_write(ctx, dut, reg("DOORBELL"), 1)
        for _ in range(delay):
            await ctx.tick()
        for _ in range(200):
            status, _ = await _axil_read(ctx, dut, reg("STATUS"))
            fields = regmap.register("STATUS").unpack(status)
            reads.append((sys.cycle, fields["BUSY"], fields["DONE"]))
            if fields["DONE"]:
                break

    sys.run(tb)
    assert reads[-1][2] == 1, reads
    idle = [(c, b, d) for c, b, d in reads if not b and not d]
    assert not idle, f"delay {delay}: STATUS read idle and not done at {idle}"


async def _axil_burst(ctx, dut, accesses):
    """Make ``accesses`` (``("w", addr, value)`` or ``("r", addr)``) as a manager that offers
    the next one in the cycle after one is taken (its AW and W, or AR, valid at once; BREADY
    and RREADY high); returns the cycle (from the first offer) each was taken in, and the
    responses in the order they came (``("b", resp)``, ``("r", resp, data)``)."""
    b = dut.s_axil
    ctx.set(b.bready, 1)
    ctx.set(b.rready, 1)
    ctx.set(b.wstrb, 0xF)
    taken, responses, cycle = [], [], 0

    async def tick():
        nonlocal cycle
        if ctx.get(b.bvalid):
            responses.append(("b", AxiResp(ctx.get(b.bresp))))
        if ctx.get(b.rvalid):
            responses.append(("r", AxiResp(ctx.get(b.rresp)), ctx.get(b.rdata)))
        await ctx.tick()
        cycle += 1

    for kind, addr, *value in accesses:
        write = kind == "w"
        if write:
            ctx.set(b.awaddr, addr)
            ctx.set(b.wdata, value[0])
        else:
            ctx.set(b.araddr, addr)
        ctx.set(b.awvalid, write)
        ctx.set(b.wvalid, write)
        ctx.set(b.arvalid, not write)
        for _ in range(10):
            ok = (ctx.get(b.awready) and ctx.get(b.wready)) if write else ctx.get(b.arready)
            await tick()
            if ok:
                taken.append(cycle - 1)
                break
        else:
            raise AssertionError(f"access to {addr:#x} not taken in 10 cycles")
        ctx.set(b.awvalid, 0)
        ctx.set(b.wvalid, 0)
        ctx.set(b.arvalid, 0)
    for _ in range(2):   # the last responses
        await tick()
    return taken, responses


def test_an_access_right_after_a_refused_one_sees_it_recorded():
    """A manager that makes an access every cycle: BUS_ERROR records a refusal a cycle after
    it (a register after the refusal's decode), so a register read right after a refused
    access waits a cycle on the bus and then gives the refusal's code, and a write of
    BUS_ERROR (a clear) right after one clears it; a read of a window other than the
    registers, a write, and any access after one that was not refused go in the next
    cycle."""
    g = G
    sys = System(g)
    unmapped, read_only = 0x0FC, reg("CFG_ROWS")
    code = reg("BUS_ERROR")
    cases = [
        # (accesses, the cycles they are taken in, the responses expected)
        ([("r", unmapped), ("r", code)], [0, 2],
         [("r", AxiResp.DECERR, 0), ("r", AxiResp.OKAY, BusError.UNMAPPED.value)]),
        ([("w", read_only, 1), ("r", code)], [0, 2],
         [("b", AxiResp.SLVERR), ("r", AxiResp.OKAY, BusError.READ_ONLY.value)]),
        ([("r", unmapped), ("w", code, 0), ("r", code)], [0, 1, 2],
         [("r", AxiResp.DECERR, 0), ("b", AxiResp.OKAY), ("r", AxiResp.OKAY, BusError.NONE.value)]),
        ([("w", unmapped, 7), ("r", g.in_addr(1)), ("r", code)], [0, 1, 2],
         [("b", AxiResp.DECERR), ("r", AxiResp.OKAY, None), ("r", AxiResp.OKAY,
                                                           BusError.UNMAPPED.value)]),
        ([("r", reg("CFG_ROWS")), ("r", code)], [0, 1],
         [("r", AxiResp.OKAY, g.rows), ("r", AxiResp.OKAY, BusError.UNMAPPED.value)]),
    ]
    results = []

    async def tb(ctx):
        for accesses, _, _ in cases:
            results.append(await _axil_burst(ctx, sys.dut, accesses))

    sys.run(tb)
    for (accesses, cycles, expected), (taken, responses) in zip(cases, results, strict=True):
        got = [r if e[0] == "b" or e[2] is not None else r[:2]
               for r, e in zip(responses, expected, strict=True)]
        want = [e if e[0] == "b" or e[2] is not None else e[:2] for e in expected]
        assert got == want, (accesses, responses)
        assert taken == cycles, (accesses, taken)


def test_a_start_right_after_its_command_registers_gets_their_verdict():
    """A manager that writes every cycle: the CMD_* registers, then CTRL.START at once. The bus
    holds a CTRL write right after a CMD_* write back a cycle (the register-mode check's
    comparisons are registered from the registers: it must see them settled), and no other
    write, so every START gets the verdict of its own command, hw.spec.check (Python), never
    the one before's;
    the commands alternate between passing and failing at the last register written
    (CMD_COUNT or CMD_POOL), with failures from the plain and the pool checks."""
    g = G
    sys = System(g)
    start = regmap.register("CTRL").pack(START=1)
    base = dict(op=Opcode.VMM.value, bank=1, in_addr=2, acc_addr=3, out_addr=4, count=8,
                rows=g.rows, cols=g.cols, requant=True, pool=2)
    commands = [Command(**base),
                Command(**base | dict(count=0)),                # BAD_COUNT
                Command(**base | dict(count=4)),
                Command(**base | dict(pool=3)),                 # BAD_POOL: 4 % 3
                Command(**base | dict(pool=4, count=12)),       # passes
                Command(**base | dict(out_addr=10, pool=1)),     # OUT_RANGE: 10 + 8 > 16
                Command(**base | dict(count=6, pool=2))]        # passes
    results = []

    def registers(cmd):
        values = {"CMD_OP": cmd.op, "CMD_FLAGS": REQUANT if cmd.requant else 0,
                  "CMD_BANK": cmd.bank, "CMD_IN_ADDR": cmd.in_addr,
                  "CMD_ACC_ADDR": cmd.acc_addr, "CMD_OUT_ADDR": cmd.out_addr,
                  "CMD_ROWS": cmd.rows, "CMD_COLS": cmd.cols, "CMD_POOL": cmd.pool,
                  "CMD_COUNT": cmd.count}
        return [(reg(name), value) for name, value in values.items()]

    async def tb(ctx):
        dut = sys.dut
        for cmd in commands:
            taken, _ = await _axil_burst(ctx, dut, [("w", *r) for r in registers(cmd)]
                                         + [("w", reg("CTRL"), start)])
            for _ in range(200):
                status, _ = await _axil_read(ctx, dut, reg("STATUS"))
                fields = regmap.register("STATUS").unpack(status)
                if fields["DONE"]:
                    break
            results.append((cmd, taken, ErrorCode(fields["ERROR"])))

    sys.run(tb)
    for cmd, _, error in results:
        assert error == check(cmd, g), cmd
    for cmd, taken, _ in results:
        # a write every cycle, START a cycle after the last CMD_* register
        assert taken == list(range(len(taken) - 1)) + [len(taken)], (cmd, taken)
    codes = {error for _, _, error in results}
    assert {ErrorCode.NONE, ErrorCode.BAD_COUNT, ErrorCode.BAD_POOL,
            ErrorCode.OUT_RANGE} <= codes, codes
