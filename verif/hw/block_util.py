"""Small helpers for the cocotb block testbenches (run inside the simulator).

Timing convention of :class:`Cycles`: cycle ``k`` runs from rising edge ``k`` to rising edge
``k + 1``. :meth:`Cycles.step` drives the inputs of cycle ``k`` at its falling edge (they are
sampled by rising edge ``k + 1``) and then reads the outputs in the same cycle: registered
outputs show the state after rising edge ``k``, combinational ones also see cycle ``k``'s inputs.
So a block of latency ``L`` that takes a row in cycle ``k`` shows it in cycle ``k + L``.
"""

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from sw.knobs import seed as env_seed
from verif.cocotb_util import params

CLOCK_NS = 10
#: every block test: a hang becomes a failure (100,000 cycles, far beyond any test here)
TIMEOUT = dict(timeout_time=1, timeout_unit="ms")


def logged_seed(dut):
    """The seed of this run (params, else SEED), logged so a failure can be replayed."""
    s = int(params().get("seed", env_seed()))
    dut._log.info(f"seed={s}")
    return s


def pack(values, width):
    """Integers (any sign) -> one flat vector, element k in bits width*k + width-1 .. width*k."""
    mask = (1 << width) - 1
    out = 0
    for k, v in enumerate(values):
        out |= (int(v) & mask) << (width * k)
    return out


def unpack(value, width, count, signed=True):
    """The inverse of :func:`pack`: a list of ``count`` integers."""
    mask = (1 << width) - 1
    out = []
    for k in range(count):
        v = (value >> (width * k)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


def read(sig):
    """The value of a signal as an unsigned int, or None while it has X/Z bits."""
    v = sig.value
    return int(v) if v.is_resolvable else None


class Cycles:
    """Drives a block one clock cycle at a time (see the module docstring)."""

    def __init__(self, dut, outputs):
        self.dut = dut
        self.outputs = outputs
        self.cycle = -1

    async def start(self, inputs, reset_cycles=2):
        """Start the clock, hold reset with every input in ``inputs`` at 0, release it."""
        dut = self.dut
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        for name in inputs:
            getattr(dut, name).value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, reset_cycles)
        await FallingEdge(dut.clk)
        dut.rst.value = 0

    async def step(self, **inputs):
        """Drive ``inputs`` (others keep their value) for one cycle; return its outputs."""
        dut = self.dut
        await FallingEdge(dut.clk)
        for name, value in inputs.items():
            getattr(dut, name).value = int(value)
        await ReadOnly()
        self.cycle += 1
        return {name: read(getattr(dut, name)) for name in self.outputs}


def pop_issued(rows, k, latency, valid):
    """Check that ``valid`` is high in cycle ``k`` exactly when a row was issued ``latency``
    cycles earlier (``rows`` maps issue cycle -> expectation); pop and return that expectation,
    or None."""
    issued = k - latency
    assert valid == (issued in rows), \
        f"cycle {k}: valid={valid}, row issued in cycle {issued}: {issued in rows}"
    return rows.pop(issued) if issued in rows else None


def rng_for(dut):
    """A NumPy generator seeded (and logged) by :func:`logged_seed`."""
    return np.random.default_rng(logged_seed(dut))


def layout_fields(layout):
    """A StructLayout as JSON-able ``{field: [offset, width]}`` (computed outside the simulator,
    passed in the parameters: a stream payload is ONE flat Verilog port, fields at these
    offsets)."""
    return {name: [field.offset, field.width] for name, field in layout}


def stream_payloads(component, *names):
    """``{stream name: layout_fields(payload)}`` of the named stream members of a component."""
    members = component.signature.members
    return {n: layout_fields(members[n].signature.members["payload"].shape) for n in names}


def pack_fields(fields, **values):
    """Field values (ints, any sign) -> the flat payload, by ``{field: [offset, width]}``."""
    out = 0
    for name, value in values.items():
        offset, width = fields[name]
        out |= (int(value) & ((1 << width) - 1)) << offset
    return out


def field_of(fields, payload, name):
    """The raw (unsigned) bits of field ``name`` of a flat payload."""
    offset, width = fields[name]
    return (payload >> offset) & ((1 << width) - 1)
