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

from hw.spec import ErrorCode, Geometry, isa, regmap
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

    def __init__(self, g, pressure=0.0, seed_salt=0, bad=()):
        self.g = g
        self.dut = PimAccelerator(g)
        self.r = rng(seed_salt)
        self.ram = AxiRam(self.r, self.dut.m_axi, g.mem_bytes, max_burst=16,
                          max_outstanding=4, pressure=pressure, latency=2, bad=bad)
        self.ram.mem[:] = bytes(len(self.ram.mem))
        self.cycle = 0

    def run(self, testbench):
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
