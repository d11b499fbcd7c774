"""The accelerator's input buffer: one write port, the datapath's read port, the bus's."""

from amaranth import Module, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2

from .spec import timing

__all__ = ["InputBuffer"]


class InputBuffer(wiring.Component):
    """``depth`` input vectors of ``width`` bits: one write port, the datapath's read port and
    the bus's.

    The write port ``wp`` has byte enables (as :meth:`amaranth.lib.memory.Memory.write_port`
    with ``granularity=8``); the read ports, ``rp`` for the datapath and ``bus`` for the
    register bus, are synchronous (as :meth:`~amaranth.lib.memory.Memory.read_port`: the word
    a cycle after ``addr`` with ``en``, held without).

    Two copies, both written by ``wp``, one per read port (Yosys builds one block RAM set
    per read port anyway). A read of the vector being written in that cycle:

    * ``bus`` gives the old vector (Yosys builds logic for it: the block RAM's ports do not);
    * ``rp`` gives an unspecified vector: its copy is ``no_rw_check``, so Yosys builds no
      such logic (a delayed write, a bypass register per bit and an address compare on the
      controller's read address: on the 8x8 accelerator's estimated paths, 8.1 -> 6.5 ns).
      The accelerator never does it: the bus's writes of IN are refused while busy, and a
      LOAD into IN waits for a VMM that reads those vectors (:func:`hw.spec.isa.conflicts`;
      ``verif/hw/test_program_sim.py`` watches for it every cycle).
    """

    #: cycles from a read's address to its vector (:data:`hw.spec.timing.INPUT_READ_LATENCY`)
    LATENCY = timing.INPUT_READ_LATENCY

    def __init__(self, width, depth):
        self.width, self.depth = width, depth
        self._shape = unsigned(width)
        aw = ceil_log2(depth)   # as the memory's own ports
        super().__init__({
            "wp": Out(memory.WritePort.Signature(addr_width=aw, shape=self._shape,
                                                 granularity=8)),
            "rp": Out(memory.ReadPort.Signature(addr_width=aw, shape=self._shape)),
            "bus": Out(memory.ReadPort.Signature(addr_width=aw, shape=self._shape)),
        })

    def elaborate(self, platform):
        m = Module()
        for name, reader, attrs in (("datapath", self.rp, {"no_rw_check": 1}),
                                    ("bus", self.bus, {})):
            mem = memory.Memory(shape=self._shape, depth=self.depth, init=[], attrs=attrs)
            m.submodules[name] = mem
            wp, rp = mem.write_port(granularity=8), mem.read_port()
            m.d.comb += [wp.addr.eq(self.wp.addr), wp.data.eq(self.wp.data),
                         wp.en.eq(self.wp.en), rp.addr.eq(reader.addr), rp.en.eq(reader.en),
                         reader.data.eq(rp.data)]
        return m
