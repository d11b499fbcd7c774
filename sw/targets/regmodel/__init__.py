"""The register-level model: the accelerator's bus behaviour in Python, commands on the golden
model, programs on an event model of the hardware's units. Fast, simulator-free, and held equal
to the gateware by tests."""

from .device import RegisterModel
from .memory import Buffer, ModelMemory
from .port_memory import DEFAULT_MEM_SIZE, PortMemory
from .program import ProgramEngine, ProgramRun, ProgramTiming

__all__ = ["DEFAULT_MEM_SIZE", "Buffer", "ModelMemory", "PortMemory", "ProgramEngine",
           "ProgramRun", "ProgramTiming", "RegisterModel"]
