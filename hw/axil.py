"""AXI4-Lite slave front end."""

from amaranth import Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from .enums import BusError

__all__ = ["AxiResp", "AxiLiteSignature", "AxiLiteSlave"]


class AxiResp(enum.Enum, shape=2):
    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite, seen from the manager; a subordinate uses ``In(AxiLiteSignature(...))``."""

    def __init__(self, addr_width, data_width=32):
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(AxiResp), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(AxiResp), "rvalid": In(1), "rready": Out(1),
        })


class AxiLiteSlave(wiring.Component):
    """Turns AXI4-Lite into one-cycle local write and read strobes.

    A write is accepted when AW and W are both valid, the B channel is free (or being
    emptied) and ``hold`` is low, so a manager that keeps both channels busy gets one write
    per cycle while ``hold`` stays low (the accelerator raises it for a write to CTRL in the
    cycle after a write to a CMD_* register: :class:`hw.top.PimAccelerator`; ``hold`` may
    depend on the write's address, not on ``wr_en``). In that
    cycle ``wr_en`` is high with ``wr_addr/wr_data/wr_strb`` and the decoder answers ``wr_err``
    combinationally; BusError.UNMAPPED becomes DECERR, any other error SLVERR.

    A read is accepted when AR is valid, R is free (or being emptied) and ``rd_hold`` is low;
    ``rd_en`` is high in that cycle and the decoder answers ``rd_err`` at once and ``rd_data``
    one cycle later, holding it until the next ``rd_en`` (so ``rdata`` is stable while RVALID
    waits for RREADY). One read per cycle while ``rd_hold`` stays low (the accelerator raises
    it for a register read in the cycle after a refused access, while it records the refusal;
    ``rd_hold`` may depend on the read's address, not on ``rd_en``).
    """

    def __init__(self, addr_width):
        self.addr_width = addr_width
        super().__init__({
            "bus": In(AxiLiteSignature(addr_width)),
            "wr_en": Out(1), "wr_addr": Out(addr_width), "wr_data": Out(32), "wr_strb": Out(4),
            "wr_err": In(BusError), "hold": In(1),
            "rd_en": Out(1), "rd_addr": Out(addr_width), "rd_data": In(32),
            "rd_err": In(BusError), "rd_hold": In(1),
        })

    @staticmethod
    def _resp(err):
        return Mux(err == BusError.NONE, AxiResp.OKAY,
                   Mux(err == BusError.UNMAPPED, AxiResp.DECERR, AxiResp.SLVERR))

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        # Write channel.
        b_free = Signal()
        m.d.comb += [
            b_free.eq(~bus.bvalid | bus.bready),
            self.wr_en.eq(bus.awvalid & bus.wvalid & b_free & ~self.hold),
            bus.awready.eq(self.wr_en), bus.wready.eq(self.wr_en),
            self.wr_addr.eq(bus.awaddr), self.wr_data.eq(bus.wdata), self.wr_strb.eq(bus.wstrb),
        ]
        with m.If(self.wr_en):
            m.d.sync += [bus.bvalid.eq(1), bus.bresp.eq(self._resp(self.wr_err))]
        with m.Elif(bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        # Read channel.
        r_free = Signal()
        m.d.comb += [
            r_free.eq(~bus.rvalid | bus.rready),
            bus.arready.eq(r_free & ~self.rd_hold),
            self.rd_en.eq(bus.arvalid & r_free & ~self.rd_hold),
            self.rd_addr.eq(bus.araddr),
            bus.rdata.eq(self.rd_data),
        ]
        with m.If(self.rd_en):
            m.d.sync += [bus.rvalid.eq(1), bus.rresp.eq(self._resp(self.rd_err))]
        with m.Elif(bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        return m
