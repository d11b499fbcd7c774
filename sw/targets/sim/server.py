"""The simulator side of :class:`sw.targets.sim.client.SimTransport` (a cocotb test module).

It connects back to the driver over the socket named in ``PIMACC_SOCKET`` and serves its
requests with cocotbext-axi transactions until the driver says ``close``. While it waits for a
request the simulator does not advance, so simulated time (and PERF_CYCLES) only passes for
bus traffic and waits the driver asked for.
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
        tb.set_backpressure(int(os.environ["PIMACC_STALL_SEED"]))
    await tb.reset()
    conn = Client(os.environ["PIMACC_SOCKET"], family="AF_UNIX")
    conn.send(("ready", None))
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
            else:
                reply = ("fail", f"unknown request {op!r}")
        except Exception as e:  # report to the driver instead of killing the simulation
            reply = ("fail", f"{type(e).__name__}: {e}")
        conn.send(reply)
