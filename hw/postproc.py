"""The post-processing chain between the accumulators and the output buffer."""

from amaranth import Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pp.relu import Relu
from .pp.requant import Requantize, vector_stream

__all__ = ["PostProcess"]


class PostProcess(wiring.Component):
    """int32 accumulator rows in, int8 output rows out: Requantize -> Relu.

    The chain is a list of stream stages, each with a ``LATENCY``; a new stage (pooling, a
    lookup-table activation, ...) is one more entry in :attr:`STAGES`, wired in :meth:`elaborate`.

    Parameters
    ----------
    cols : int
        Values per row.
    addr_width : int
        Width of the output-row address carried with each row.
    """

    def __init__(self, cols, addr_width):
        self.cols, self.addr_width = cols, addr_width
        super().__init__({
            "i": In(vector_stream(signed(32), cols, addr_width)),
            "o": Out(vector_stream(signed(8), cols, addr_width)),
            "mult": In(data.ArrayLayout(unsigned(31), cols)),
            "shift": In(data.ArrayLayout(unsigned(6), cols)),
            "zero_point": In(signed(8)),
            "relu": In(1),
        })

    #: the stages in stream order
    STAGES = (Requantize, Relu)

    @property
    def latency(self):
        return sum(stage.LATENCY for stage in self.STAGES)

    def elaborate(self, platform):
        m = Module()
        m.submodules.requant = requant = Requantize(self.cols, self.addr_width)
        m.submodules.relu = relu = Relu(self.cols, self.addr_width)
        m.d.comb += [
            requant.mult.eq(self.mult), requant.shift.eq(self.shift),
            requant.zero_point.eq(self.zero_point),
            relu.enable.eq(self.relu), relu.zero_point.eq(self.zero_point),
        ]
        wiring.connect(m, wiring.flipped(self.i), requant.i)
        wiring.connect(m, requant.o, relu.i)
        wiring.connect(m, relu.o, wiring.flipped(self.o))
        return m
