"""The simulator side of :class:`sw.targets.sim.client.SimTransport` (a cocotb test module).

It connects back to the driver over the socket named in ``PIMACC_SOCKET`` and serves its
requests with cocotbext-axi transactions until the driver says ``close``. While it waits for a
request the simulator does not advance, so simulated time (and PERF_CYCLES) only passes for
bus traffic and waits the driver asked for.

On the ``pimacc_sys`` top level it also serves the memory behind the accelerator
(:class:`~sw.targets.sim.memory.SimMemory`): ``mem_write``/``mem_read`` in bulk (no clock
cycle), and the RAM's knobs ``mem_stalls``, ``mem_latency``, ``mem_error`` and
``mem_violation``. Its ``ready`` message says how big the memory is (0: none).
"""

import os
from multiprocessing.connection import Client

import cocotb

from .testbench import TB, AxiResp


def _resp_name(resp):
    return {AxiResp.SLVERR: "SLVERR", AxiResp.DECERR: "DECERR"}.get(resp)


@cocotb.test()
async def serve(dut):
    tb = TB(dut)
    if "PIMACC_STALL_SEED" in os.environ:
        seed = int(os.environ["PIMACC_STALL_SEED"])
        tb.set_backpressure(seed)
        if tb.mem is not None:  # the memory's channels too (about 30 % of cycles)
            tb.mem.set_stalls(seed, 77)
    await tb.reset()
    conn = Client(os.environ["PIMACC_SOCKET"], family="AF_UNIX")
    conn.send(("ready", {"mem_size": tb.mem.size if tb.mem else 0}))
    while True:
        op, *args = conn.recv()
        if op == "close":
            conn.send(("ok", None))
            conn.close()
            return
        try:
            if op == "write":
                addr, words = args
                resps = await tb.write_words(addr, words)
                bad = [(i, r) for i, r in enumerate(resps) if r != AxiResp.OKAY]
                reply = ("err", addr + 4 * bad[0][0], _resp_name(bad[0][1])) if bad \
                    else ("ok", None)
            elif op == "read":
                addr, count = args
                words, resps = await tb.read_words(addr, count)
                bad = [(i, r) for i, r in enumerate(resps) if r != AxiResp.OKAY]
                reply = ("err", addr + 4 * bad[0][0], _resp_name(bad[0][1])) if bad \
                    else ("ok", words)
            elif op == "write32":
                addr, value, strb = args
                reply = ("ok", _resp_name(await tb.write(addr, value, strb)) or "OKAY")
            elif op == "read32":
                value, resp = await tb.read(args[0])
                reply = ("ok", (value, _resp_name(resp) or "OKAY"))
            elif op == "wait_irq":
                reply = ("ok", await tb.wait_irq(args[0]))
            elif op.startswith("mem_") and tb.mem is None:
                reply = ("fail", "this simulation has no memory behind the accelerator")
            elif op == "mem_write":
                await tb.mem.write(*args)
                reply = ("ok", None)
            elif op == "mem_read":
                reply = ("ok", await tb.mem.read(*args))
            elif op == "mem_stalls":
                tb.mem.set_stalls(*args)
                reply = ("ok", None)
            elif op == "mem_latency":
                tb.mem.set_latency(*args)
                reply = ("ok", None)
            elif op == "mem_error":
                if args[0] is None:
                    tb.mem.clear_error()
                else:
                    tb.mem.set_error(*args)
                reply = ("ok", None)
            elif op == "mem_violation":
                reply = ("ok", tb.mem.violation)
            else:
                reply = ("fail", f"unknown request {op!r}")
        except Exception as e:  # report to the driver instead of killing the simulation
            reply = ("fail", f"{type(e).__name__}: {e}")
        conn.send(reply)
