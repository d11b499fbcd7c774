"""Helpers for the amaranth.sim unit tests of the blocks (no Verilog, no external simulator).

Timing convention of the testbenches: inputs are set, outputs are read (combinational ones
already see those inputs), then ``await ctx.tick()`` is the clock edge that ends the cycle.
"""

import random

from amaranth import Value
from amaranth.sim import Simulator

from sw.knobs import seed as env_seed

__all__ = ["raw", "rng", "simulate"]


def simulate(dut, testbench, *, clock=True):
    """Run ``testbench(ctx)`` (an async function) against ``dut`` with a 1 MHz ``sync`` clock
    (none for purely combinational blocks)."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def raw(port):
    """The plain Value of a port (an enum- or layout-shaped port reads and writes as an int)."""
    return Value.cast(port)


def rng(salt=0):
    """A ``random.Random`` seeded by the SEED knob (plus ``salt``), the seed printed so a
    failure can be replayed with ``SEED=<n>``."""
    s = env_seed()
    print(f"seed={s} (salt {salt})")
    return random.Random(s * 1_000_003 + salt)
