"""AXI4 memory-port signatures (full AXI4, INCR bursts, no IDs) and how the top level joins
the read and the write engine into one port."""

from amaranth import Value
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from .axil import AxiResp
from .spec.geometry import MEM_BITS

__all__ = [
    "AxiBurst", "Axi4ReadSignature", "Axi4WriteSignature", "Axi4Signature", "connect_manager",
]


class AxiBurst(enum.Enum, shape=2):
    """AxBURST encodings (the engines use INCR only)."""
    FIXED = 0
    INCR = 1
    WRAP = 2


def _check(addr_width, data_bits):
    for name, value in (("addr_width", addr_width), ("data_bits", data_bits)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {value!r}")
    if not 12 <= addr_width <= 64:
        raise ValueError(f"addr_width must be in 12..64 (a 4 KiB page at least), not {addr_width}")
    if data_bits not in MEM_BITS:
        raise ValueError(f"data_bits must be one of {MEM_BITS}, not {data_bits}")


def _read_members(addr_width, data_bits):
    return {
        "araddr": Out(addr_width), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2),
        "arvalid": Out(1), "arready": In(1),
        "rdata": In(data_bits), "rresp": In(AxiResp), "rlast": In(1), "rvalid": In(1),
        "rready": Out(1),
    }


def _write_members(addr_width, data_bits):
    return {
        "awaddr": Out(addr_width), "awlen": Out(8), "awsize": Out(3), "awburst": Out(2),
        "awvalid": Out(1), "awready": In(1),
        "wdata": Out(data_bits), "wstrb": Out(data_bits // 8), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        "bresp": In(AxiResp), "bvalid": In(1), "bready": Out(1),
    }


class Axi4ReadSignature(wiring.Signature):
    """The AR and R channels of AXI4, seen from the manager (a subordinate uses ``In(...)``).

    Parameters
    ----------
    addr_width : int
        Width of ARADDR (a byte address), 12..64.
    data_bits : int
        Width of RDATA: 64, 128 or 256.

    Members
    -------
    araddr, arlen (8), arsize (3), arburst (2), arvalid : Out
    arready : In
    rdata, rresp (:class:`~hw.axil.AxiResp`), rlast, rvalid : In
    rready : Out
    """

    def __init__(self, addr_width=32, data_bits=128):
        _check(addr_width, data_bits)
        self.addr_width, self.data_bits = addr_width, data_bits
        super().__init__(_read_members(addr_width, data_bits))


class Axi4WriteSignature(wiring.Signature):
    """The AW, W and B channels of AXI4, seen from the manager (a subordinate uses ``In(...)``).

    Parameters are those of :class:`Axi4ReadSignature`.

    Members
    -------
    awaddr, awlen (8), awsize (3), awburst (2), awvalid : Out
    awready : In
    wdata, wstrb (data_bits // 8), wlast, wvalid : Out
    wready : In
    bresp (:class:`~hw.axil.AxiResp`), bvalid : In
    bready : Out
    """

    def __init__(self, addr_width=32, data_bits=128):
        _check(addr_width, data_bits)
        self.addr_width, self.data_bits = addr_width, data_bits
        super().__init__(_write_members(addr_width, data_bits))


class Axi4Signature(wiring.Signature):
    """A whole AXI4 manager port: every member of :class:`Axi4WriteSignature` and of
    :class:`Axi4ReadSignature`, under the same names (``awaddr`` ... ``rready``), so that a top
    level's ``m_axi: Out(Axi4Signature(...))`` becomes ports ``m_axi_awaddr`` ... ``m_axi_rready``.
    IDs, AxCACHE/AxPROT/AxLOCK/AxQOS are left out: their constant defaults are the
    subordinate's (or the interconnect's) business.
    """

    def __init__(self, addr_width=32, data_bits=128):
        _check(addr_width, data_bits)
        self.addr_width, self.data_bits = addr_width, data_bits
        super().__init__({**_write_members(addr_width, data_bits),
                          **_read_members(addr_width, data_bits)})


def connect_manager(m, port, read, write):
    """Drive the AXI4 ``port`` of a component (its own ``Out(Axi4Signature)`` member) from a
    read engine's ``rd`` and a write engine's ``wr`` (both ``Out`` members of submodules), in both
    directions: the manager's outputs go out through ``port``, the subordinate's answers come
    back in. Widths must agree (a ValueError names the first member that does not)."""
    for sub in (read, write):
        for name, member in sub.signature.members.items():
            outer, inner = getattr(port, name), getattr(sub, name)
            if len(Value.cast(outer)) != len(Value.cast(inner)):
                raise ValueError(f"connect_manager: {name} is {len(Value.cast(outer))} bits on "
                                 f"the port and {len(Value.cast(inner))} bits on the engine")
            if member.flow == Out:
                m.d.comb += outer.eq(inner)
            else:
                m.d.comb += inner.eq(outer)
