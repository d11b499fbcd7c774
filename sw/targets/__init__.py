"""What the driver talks to: a :class:`Transport` to one accelerator.

* ``"regmodel"`` (alias ``"model"``): :class:`~sw.targets.regmodel.RegisterModel`, the
  register-level model in plain Python (no simulator; commands run on the golden model);
* ``"icarus"``, ``"verilator"``: :class:`~sw.targets.sim.client.SimTransport`, the gateware in a
  cocotb simulation (``sw/targets/sim``: the build, the client, and the server and testbench that
  run inside the simulator).
* ``"harness"``: :class:`~sw.targets.harness.HarnessTransport`, the Verilated gateware with
  its clock loop and memory in C++ and no cocotb (``sw/c/harness``; issue 12's host harness):
  the fastest way to run the RTL. Always with memory, no stalls of the register port.
"""

from __future__ import annotations

from hw.spec import Geometry

from .transport import RESPONSES, BusErrorResponse, Transport

__all__ = ["ALIASES", "RESPONSES", "TARGETS", "TARGET_NAMES", "BusErrorResponse", "Transport",
           "canonical", "open_transport"]

TARGETS = ("regmodel", "icarus", "verilator", "harness")
#: other names accepted for a target
ALIASES = {"model": "regmodel"}
#: every accepted name (command-line choices)
TARGET_NAMES = TARGETS + tuple(ALIASES)


def canonical(target):
    """The target's name in :data:`TARGETS` (resolving :data:`ALIASES`); ValueError if none."""
    name = ALIASES.get(target, target) if isinstance(target, str) else target
    if name not in TARGETS:
        names = ", ".join(map(repr, TARGETS + tuple(ALIASES)))
        raise ValueError(f"target must be one of {names}, got {target!r}")
    return name


def open_transport(target: str, geometry: Geometry, stall_seed=None, memory=True) -> Transport:
    """A transport to a new accelerator of ``geometry`` on ``target``; ``stall_seed`` (a
    simulator only) stalls its bus channels at random, and the simulated memory's channels too.
    ``memory``: the accelerator's memory port has memory behind it (the register model always
    has; a simulation then runs the system top level ``pimacc_sys``, else ``pimacc`` alone)."""
    target = canonical(target)
    if target == "regmodel":
        if stall_seed is not None:
            raise ValueError("stall_seed needs a simulator target (the register model has no "
                             "bus channels to stall)")
        from .regmodel import RegisterModel
        return RegisterModel(geometry)
    if target == "harness":
        if not memory:
            raise ValueError("the harness target always has memory behind the accelerator")
        from .harness import HarnessTransport
        return HarnessTransport(geometry, stall_seed=stall_seed)
    from .sim.client import SimTransport
    return SimTransport(simulator=target, geometry=geometry, stall_seed=stall_seed,
                        memory=memory)
