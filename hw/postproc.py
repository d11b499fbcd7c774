"""The post-processing chain between the accumulators and the output buffer."""

from amaranth import Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .ecp5 import check_cells
from .pipeline import delay
from .pp.lut import Lut
from .pp.maxpool import GroupMax
from .pp.relu import Relu
from .pp.requant import Requantize
from .spec import timing
from .streams import vector_stream

__all__ = ["PostProcess"]


class PostProcess(wiring.Component):
    """int32 accumulator rows in, int8 output rows out: Requantize -> Lut -> GroupMax -> Relu.

    The chain is a list of stream stages, each with a ``LATENCY``; a new stage is one more
    entry in :attr:`STAGES`, wired in :meth:`elaborate`. The row address that leaves is the
    row's index within its command divided by the pooling group. ReLU (``max(x, zero_point)``)
    comes after max-pooling: the max of a group's ReLUs is the ReLU of its max, and after
    GroupMax's output register ReLU's compare is the only logic before the output buffer
    (before max-pool it met max-pool's compare in one cycle).

    The controls (``zero_point``, ``lut``, ``relu``, ``pool``, and ``restart``, high with the
    first row of a command) are sampled with each row, in the cycle of its ``i.valid``, and
    travel with it to the stage that uses them; ``mult`` and ``shift`` are sampled by the
    requantizer with the row too. So rows of different commands may follow each other back to
    back.

    Parameters
    ----------
    cols : int
        Values per row.
    addr_width : int
        Width of the row index carried with each row.
    mult_cells : str
        The requantizer's multiplies (:class:`~hw.pp.requant.Requantize`): "inferred"
        (default) or "ecp5", MULT18X18D blocks with their registers; the same results and
        cycles.
    """

    #: the stages in stream order
    STAGES = (Requantize, Lut, GroupMax, Relu)

    def __init__(self, cols, addr_width, mult_cells="inferred"):
        self.cols, self.addr_width = cols, addr_width
        check_cells(mult_cells)
        self.mult_cells = mult_cells    # the requantizer's (Requantize)
        super().__init__({
            "i": In(vector_stream(signed(32), cols, addr_width)),
            "o": Out(vector_stream(signed(8), cols, addr_width)),
            "mult": In(data.ArrayLayout(unsigned(31), cols)),
            "shift": In(data.ArrayLayout(unsigned(6), cols)),
            "zero_point": In(signed(8)),
            "lut": In(1),
            "relu": In(1),
            "pool": In(8),
            "restart": In(1),
            "lut_w_en": In(1), "lut_w_word": In(range(Lut.WORDS)), "lut_w_data": In(32),
            "lut_w_strb": In(4), "lut_r_word": In(range(Lut.WORDS)), "lut_r_data": Out(32),
        })

    #: cycles from a row in to its row out (:data:`hw.spec.timing.POSTPROC_LATENCY`)
    LATENCY = sum(stage.LATENCY for stage in STAGES)

    def elaborate(self, platform):
        m = Module()
        m.submodules.requant = requant = Requantize(self.cols, self.addr_width,
                                                    self.mult_cells)
        # (``lut_stage``: the last elaboration's Lut, for a simulation to watch)
        m.submodules.lut = self.lut_stage = lut = Lut(self.cols, self.addr_width)
        m.submodules.relu = relu = Relu(self.cols, self.addr_width)
        m.submodules.pool = pool = GroupMax(self.cols, self.addr_width)
        def at(signal, cycles, name):
            """``signal`` as sampled with the row that is ``cycles`` cycles into the chain."""
            return delay(m, signal, cycles, name=name)[-1] if cycles else signal

        to_lut = Requantize.LATENCY
        to_pool = to_lut + Lut.LATENCY
        to_relu = to_pool + GroupMax.LATENCY   # (a group's last row: one command's controls)
        m.d.comb += [
            requant.mult.eq(self.mult), requant.shift.eq(self.shift),
            requant.zero_point.eq(at(self.zero_point, Requantize.ZERO_POINT_DELAY, "zp_rq")),
            lut.enable.eq(at(self.lut, to_lut, "lut_en")),
            lut.w_en.eq(self.lut_w_en), lut.w_word.eq(self.lut_w_word),
            lut.w_data.eq(self.lut_w_data), lut.w_strb.eq(self.lut_w_strb),
            lut.r_word.eq(self.lut_r_word), self.lut_r_data.eq(lut.r_data),
            relu.enable.eq(at(self.relu, to_relu, "relu_en")),
            relu.zero_point.eq(at(self.zero_point, to_relu, "zp_relu")),
            pool.group.eq(at(self.pool, to_pool, "pool_group")),
            pool.restart.eq(at(self.restart & self.i.valid, to_pool, "pool_restart")),
        ]
        wiring.connect(m, wiring.flipped(self.i), requant.i)
        wiring.connect(m, requant.o, lut.i)
        wiring.connect(m, lut.o, pool.i)
        wiring.connect(m, pool.o, relu.i)
        wiring.connect(m, relu.o, wiring.flipped(self.o))
        return m


# the chain is the one hw/spec/timing.py describes, stage for stage
assert [(s.__name__, s.LATENCY) for s in PostProcess.STAGES] == list(timing.POSTPROC_STAGES)
