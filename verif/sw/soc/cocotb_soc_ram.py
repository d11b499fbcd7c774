"""cocotb tests of hw/soc/soc_ram.v (run by test_soc_ram.py): the AXI4 port under
cocotbext-axi's AxiMaster (any alignment and length, narrow bursts, random stalls on every
channel) and the core's port, both against one bytearray model, each port reading what the
other wrote."""

import logging
import random
import warnings

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from verif.cocotb_util import params

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\..*")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotb_bus\..*")
warnings.filterwarnings("ignore", message="The data field will be removed",
                        category=DeprecationWarning)

from cocotbext.axi import AxiBus, AxiMaster, AxiResp  # noqa: E402

TIMEOUT = dict(timeout_time=50, timeout_unit="ms")
P = params()


def stall_generator(rng, pressure):
    """True (pause) with the chance pressure/256 each cycle."""
    while True:
        yield rng.randrange(256) < pressure


class TB:
    def __init__(self, dut):
        self.dut = dut
        self.rng = random.Random(int(P.get("seed", 1)))
        dut._log.info(f"seed={P.get('seed', 1)} pressure={P.get('pressure', 0)}")
        dut.rst.value = 1
        dut.mem_valid.value = 0
        dut.mem_wstrb.value = 0
        Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
        self.axi = AxiMaster(AxiBus.from_prefix(dut, "s_axi"), dut.clk, dut.rst)
        for log in (self.axi.write_if.log, self.axi.read_if.log):
            log.setLevel(logging.WARNING)
        pressure = int(P.get("pressure", 0))
        if pressure:
            for channel in (self.axi.write_if.aw_channel, self.axi.write_if.w_channel,
                            self.axi.write_if.b_channel, self.axi.read_if.ar_channel,
                            self.axi.read_if.r_channel):
                channel.set_pause_generator(stall_generator(random.Random(self.rng.random()),
                                                            pressure))
        self.size = int(P["ram_bytes"])
        self.model = bytearray(self.size)

    async def reset(self):
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def core_access(self, addr, wdata=0, wstrb=0):
        """One access on the core's port (as PicoRV32: valid held until ready); the read
        word."""
        dut = self.dut
        dut.mem_addr.value = addr
        dut.mem_wdata.value = wdata
        dut.mem_wstrb.value = wstrb
        dut.mem_valid.value = 1
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.mem_ready.value:
                break
        rdata = int(dut.mem_rdata.value)
        await RisingEdge(dut.clk)
        dut.mem_valid.value = 0
        return rdata


async def started(dut):
    """After reset, with the RAM filled over AXI4 (it starts undefined) and the model equal."""
    tb = TB(dut)
    await tb.reset()
    tb.model[:] = bytes(tb.rng.randrange(256) for _ in range(tb.size))
    await tb.axi.write(0, bytes(tb.model))
    return tb


@cocotb.test(**TIMEOUT)
async def axi_random_traffic(dut):
    """Random AxiMaster writes and reads (any alignment, 1..700 bytes) against the model."""
    tb = await started(dut)
    rng = tb.rng
    for _ in range(60):
        n = rng.randrange(1, 700)
        a = rng.randrange(0, tb.size - n)
        if rng.random() < 0.5:
            data = bytes(rng.randrange(256) for _ in range(n))
            resp = await tb.axi.write(a, data)
            assert resp.resp == AxiResp.OKAY
            tb.model[a:a + n] = data
        else:
            got = await tb.axi.read(a, n)
            assert got.resp == AxiResp.OKAY
            assert got.data == tb.model[a:a + n], (hex(a), n)
    assert (await tb.axi.read(0, tb.size)).data == tb.model


@cocotb.test(**TIMEOUT)
async def core_and_axi_share_the_bytes(dut):
    """Words the core writes (random strobes) are read over AXI4 and the other way round."""
    tb = await started(dut)
    rng = tb.rng
    for _ in range(40):
        a = rng.randrange(0, tb.size // 4) * 4
        word, strb = rng.getrandbits(32), rng.randrange(1, 16)
        await tb.core_access(a, word, strb)
        for i in range(4):
            if strb >> i & 1:
                tb.model[a + i] = word >> (8 * i) & 0xFF
        n = rng.randrange(1, 64)
        lo = max(0, a - rng.randrange(0, 32))
        got = await tb.axi.read(lo, min(n + a - lo, tb.size - lo))
        assert got.data == tb.model[lo:lo + len(got.data)], hex(a)
        # AXI4 writes, the core reads
        b = rng.randrange(0, tb.size - 16)
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        await tb.axi.write(b, data)
        tb.model[b:b + len(data)] = data
        w = b // 4 * 4
        assert await tb.core_access(w) == int.from_bytes(tb.model[w:w + 4], "little"), hex(b)
