"""The cocotb testbench around the accelerator's top level (runs inside the simulator).

One ``TB`` per simulation: the clock (in C: ``Clock(..., impl="gpi")``), the reset, a
cocotbext-axi AXI4-Lite manager bound by the ``s_axil`` prefix and, when the top level is
``pimacc_sys`` (sw/targets/sim/system.py), the memory behind the accelerator's AXI4 port
(:class:`~sw.targets.sim.memory.SimMemory` on the ``mem_*`` ports). Used by the block tests in
verif/ and by the driver's simulator bridge.
"""

import logging
import random
import warnings

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, First, RisingEdge, Timer

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\..*")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotb_bus\..*")
# cocotbext-axi hands results over in Event.data, which cocotb 2.1 deprecates.
warnings.filterwarnings("ignore", message="The data field will be removed",
                        category=DeprecationWarning)

from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiProt, AxiResp  # noqa: E402
from cocotbext.axi.axil_master import AxiLiteWriteRespCmd  # noqa: E402

from .memory import SimMemory  # noqa: E402
from .system import MEM_PREFIX  # noqa: E402

CLOCK_NS = 10
#: the inputs of the accelerator's AXI4 manager port
M_AXI_INPUTS = ("awready", "wready", "bresp", "bvalid", "arready", "rdata", "rresp", "rlast",
                "rvalid")


class TB:
    """Members
    -------
    mem : SimMemory or None
        The memory behind the accelerator's AXI4 port, if the top level has one (``mem_*``
        ports); None on the plain ``pimacc`` top.
    """

    def __init__(self, dut):
        self.dut = dut
        # before the clock: SimMemory drives the RAM's control inputs to their defaults
        self.mem = SimMemory(dut, MEM_PREFIX) if hasattr(dut, MEM_PREFIX + "bulk_go") else None
        if self.mem is None and hasattr(dut, "m_axi_arready"):
            # the accelerator alone: no memory answers its manager port (its inputs held low,
            # not left undriven: X would reach the DMA engines' state)
            for name in M_AXI_INPUTS:
                getattr(dut, f"m_axi_{name}").value = 0
        # In reset from time 0 and the clock starting low: no edge meets undriven inputs or
        # not-yet-reset outputs (the C clock's first edge would come before any Python write).
        dut.rst.value = 1
        Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start(start_high=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        # cocotbext-axi logs every transaction at INFO, which costs ~30 % of the run time.
        for log in (self.axil.write_if.log, self.axil.read_if.log):
            log.setLevel(logging.WARNING)
        logging.getLogger(f"cocotb.{dut._name}.s_axil").setLevel(logging.WARNING)

    async def reset(self, cycles=2):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def set_backpressure(self, seed, prob=0.3):
        """Randomly stall every channel the manager drives (valid) or accepts (ready)."""
        rng = random.Random(seed)

        def pause():
            while True:
                yield rng.random() < prob

        self.axil.write_if.aw_channel.set_pause_generator(pause())
        self.axil.write_if.w_channel.set_pause_generator(pause())
        self.axil.write_if.b_channel.set_pause_generator(pause())
        self.axil.read_if.ar_channel.set_pause_generator(pause())
        self.axil.read_if.r_channel.set_pause_generator(pause())

    async def write_words(self, addr, words):
        """Write consecutive words, pipelined; return the list of AxiResp, one per word."""
        events = [self.axil.init_write(addr + 4 * i, int(w).to_bytes(4, "little"))
                  for i, w in enumerate(words)]
        results = []
        for ev in events:
            await ev.wait()
            results.append(ev.data.resp)
        return results

    async def read_words(self, addr, count):
        """Read consecutive words, pipelined; return (words, list of AxiResp)."""
        events = [self.axil.init_read(addr + 4 * i, 4) for i in range(count)]
        words, resps = [], []
        for ev in events:
            await ev.wait()
            words.append(int.from_bytes(ev.data.data, "little"))
            resps.append(ev.data.resp)
        return words, resps

    async def write(self, addr, value, strb=0xF):
        """One write of a word with byte strobes ``strb`` (0..15, any pattern, 0 included);
        returns the AxiResp."""
        if not 0 <= strb <= 0xF:
            raise ValueError(f"strb must be 0..15, got {strb}")
        lanes = [i for i in range(4) if strb >> i & 1]
        if lanes and lanes == list(range(lanes[0], lanes[-1] + 1)):  # the manager's own API
            data = int(value).to_bytes(4, "little")[lanes[0]:lanes[-1] + 1]
            return (await self.axil.write(addr + lanes[0], data)).resp
        return await self._write_raw(addr, value, strb)

    async def _write_raw(self, addr, value, strb):
        """A write whose strobes the manager's API cannot express (none, or not contiguous):
        the AW and W beats are sent on its channels, after everything it has in flight, and its
        response reader collects the B beat (cocotbext-axi 0.1.28 internals, pinned)."""
        wif = self.axil.write_if
        await wif.wait()
        event = Event()
        wif.in_flight_operations += 1
        wif._idle.clear()
        await wif.int_write_resp_command_queue.put(
            AxiLiteWriteRespCmd(addr, 4, 1, AxiProt.NONSECURE, event))
        aw = wif.aw_channel._transaction_obj()
        aw.awaddr, aw.awprot = addr & ~3, AxiProt.NONSECURE
        w = wif.w_channel._transaction_obj()
        w.wdata, w.wstrb = int(value), strb
        await wif.aw_channel.send(aw)
        await wif.w_channel.send(w)
        await event.wait()
        return event.data.resp

    async def read(self, addr):
        r = await self.axil.read(addr, 4)
        return int.from_bytes(r.data, "little"), r.resp

    async def wait_irq(self, max_cycles):
        """Wait for ``irq`` (True) or ``max_cycles`` cycles (then ``irq``'s value): one trigger,
        not one await per cycle. The timeout ends a step after the last edge, so an ``irq``
        raised by that edge counts."""
        if self.dut.irq.value:
            return True
        timeout = Timer(max_cycles * CLOCK_NS * 1000 + 1, "ps")
        await First(RisingEdge(self.dut.irq), timeout)
        return bool(self.dut.irq.value)


__all__ = ["TB", "AxiResp", "CLOCK_NS", "cocotb"]
