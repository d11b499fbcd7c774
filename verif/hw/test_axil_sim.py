# amaranth: UnusedElaboratable=no
"""hw.axil.AxiLiteSlave in amaranth.sim: against a naive cycle model, and end to end.

A manager that keeps its channels busy gets one write and one read per cycle; under random
back-pressure (BREADY/RREADY low) the B and R channels hold their response (and RDATA) until
taken; a write waits while ``hold`` is high (reads do not); BusError.NONE answers OKAY,
UNMAPPED DECERR, any other error SLVERR. The test plays the decoder too: the error of an
access is a function of its address, answered combinationally.
"""

import pytest

from hw.axil import AxiLiteSlave, AxiResp
from hw.spec import BusError
from verif.hw.sim_util import raw, rng, simulate

pytestmark = pytest.mark.unit

ADDR_WIDTH = 12
RESP = {BusError.NONE: AxiResp.OKAY, BusError.UNMAPPED: AxiResp.DECERR,
        BusError.READ_ONLY: AxiResp.SLVERR, BusError.BUSY: AxiResp.SLVERR}


def error_of(addr):
    """The decoder the test plays: the error is chosen by address bits 3:2."""
    return list(BusError)[(addr >> 2) % len(BusError)]


def data_of(addr):
    return (addr * 0x9E3779B1) & 0xFFFFFFFF


@pytest.mark.parametrize("pressure", [0.0, 0.4, 0.8])
def test_axil_slave_equals_its_model(pressure):
    """``pressure``: how often the manager idles a channel or refuses a response (and, half
    as often, the slave's ``hold`` is high)."""
    r = rng(int(pressure * 10))
    dut = AxiLiteSlave(ADDR_WIDTH)
    bus = dut.bus
    stats = {"writes": 0, "reads": 0, "held": 0, "read_held": 0}

    async def tb(ctx):
        bvalid = rvalid = 0
        bresp = rresp = AxiResp.OKAY
        rd_data = 0
        aw = w = ar = None              # what the manager offers (held until taken)
        sent_w, sent_r, got_b, got_r = [], [], [], []
        for cycle in range(3000):
            if aw is None and r.random() >= pressure:
                aw = r.randrange(1 << ADDR_WIDTH)
                w = (r.getrandbits(32), r.randrange(16))
            if ar is None and r.random() >= pressure:
                ar = r.randrange(1 << ADDR_WIDTH)
            bready, rready = r.random() >= pressure, r.random() >= pressure
            hold = r.random() < pressure / 2
            rd_hold = r.random() < pressure / 2
            ctx.set(dut.hold, hold)
            ctx.set(dut.rd_hold, rd_hold)
            ctx.set(bus.awvalid, aw is not None)
            ctx.set(bus.wvalid, aw is not None)
            ctx.set(bus.awaddr, aw or 0)
            ctx.set(bus.wdata, w[0] if aw is not None else 0)
            ctx.set(bus.wstrb, w[1] if aw is not None else 0)
            ctx.set(bus.arvalid, ar is not None)
            ctx.set(bus.araddr, ar or 0)
            ctx.set(bus.bready, bready)
            ctx.set(bus.rready, rready)
            # The decoder: combinational errors from the addresses the slave passes on.
            ctx.set(raw(dut.wr_err), error_of(ctx.get(dut.wr_addr)))
            ctx.set(raw(dut.rd_err), error_of(ctx.get(dut.rd_addr)))
            ctx.set(dut.rd_data, rd_data)

            where = f"cycle {cycle}"
            wr_en = aw is not None and (not bvalid or bready) and not hold
            rd_en = ar is not None and (not rvalid or rready) and not rd_hold
            stats["held"] += aw is not None and (not bvalid or bready) and hold
            stats["read_held"] += ar is not None and (not rvalid or rready) and rd_hold
            assert ctx.get(dut.wr_en) == wr_en, where
            assert ctx.get(bus.awready) == wr_en and ctx.get(bus.wready) == wr_en, where
            assert ctx.get(bus.arready) == ((not rvalid or rready) and not rd_hold), where
            assert ctx.get(dut.rd_en) == rd_en, where
            if wr_en:
                assert (ctx.get(dut.wr_addr), ctx.get(dut.wr_data), ctx.get(dut.wr_strb)) \
                    == (aw, *w), where
            assert ctx.get(bus.bvalid) == bvalid and ctx.get(bus.rvalid) == rvalid, where
            if bvalid:
                assert ctx.get(bus.bresp) == bresp, where
            if rvalid:
                assert ctx.get(bus.rresp) == rresp, where
                assert ctx.get(bus.rdata) == rd_data, where
            # The manager's side: responses taken in this cycle.
            if bvalid and bready:
                got_b.append(ctx.get(bus.bresp))
            if rvalid and rready:
                got_r.append((ctx.get(bus.rresp), ctx.get(bus.rdata)))
            await ctx.tick()
            # The model's edge.
            if wr_en:
                bvalid, bresp = 1, RESP[error_of(aw)]
                sent_w.append(RESP[error_of(aw)])
                aw = w = None
                stats["writes"] += 1
            elif bready:
                bvalid = 0
            if rd_en:
                rvalid, rresp = 1, RESP[error_of(ar)]
                rd_data = data_of(ar)           # the decoder answers one cycle after rd_en
                sent_r.append((RESP[error_of(ar)], rd_data))
                ar = None
                stats["reads"] += 1
            elif rready:
                rvalid = 0
        # End to end: every response taken, in order, equals the one its access earned.
        assert got_b == sent_w[:len(got_b)] and len(sent_w) - len(got_b) <= 1
        assert got_r == sent_r[:len(got_r)] and len(sent_r) - len(got_r) <= 1
        if pressure == 0.0:   # one write and one read per cycle
            assert stats["writes"] == stats["reads"] == 3000
        assert set(RESP.values()) <= set(got_b)

    simulate(dut, tb)
    if pressure:   # the holds did hold writes and reads back
        assert stats["held"] > 0 and stats["read_held"] > 0
    print(stats)
