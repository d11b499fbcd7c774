"""The register-level model: the accelerator's bus behaviour in Python, commands on the golden
model. Fast, simulator-free, and held equal to the gateware by tests."""

from .device import RegisterModel
from .memory import Buffer, ModelMemory

__all__ = ["Buffer", "ModelMemory", "RegisterModel"]
