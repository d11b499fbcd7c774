"""The host transport: how the driver reaches the accelerator's AXI4-Lite port.

One driver (:class:`sw.Accelerator`) runs unchanged on every implementation:
:class:`sw.targets.regmodel.RegisterModel` (the register-level model, no simulator) and
``sw.targets.sim.client.SimTransport`` (the Amaranth design in a cocotb simulation).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

__all__ = ["RESPONSES", "BusErrorResponse", "Transport"]

#: AXI response codes a transport can report.
RESPONSES = ("OKAY", "SLVERR", "DECERR")


class BusErrorResponse(Exception):
    """A bus access got an error response.

    Members
    -------
    addr : int
        Byte address of the first word that was refused.
    resp : str
        ``"SLVERR"`` (refused write: read only or busy) or ``"DECERR"`` (unmapped address).
    """

    def __init__(self, addr, resp, detail=""):
        if resp not in RESPONSES[1:]:
            raise ValueError(f"resp must be 'SLVERR' or 'DECERR', got {resp!r}")
        self.addr = addr
        self.resp = resp
        msg = f"{resp} at address 0x{addr:05X}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class Transport(abc.ABC):
    """Word access to the accelerator plus its interrupt line.

    Addresses are byte addresses of 32-bit words (multiples of 4). An access of several words
    touches consecutive words; every word is a separate bus transaction, and if any of them gets
    an error response the transport raises :class:`BusErrorResponse` (naming the first one)
    after the whole access.

    ``sim_seconds``: wall-clock seconds the host has waited for a simulator behind the
    transport (0 when there is none), for the bench's simulation speed.
    """

    sim_seconds = 0.0

    @abc.abstractmethod
    def read(self, addr: int, count: int = 1) -> list[int]:
        """Read ``count`` consecutive 32-bit words starting at byte address ``addr``."""

    @abc.abstractmethod
    def write(self, addr: int, words: Sequence[int]) -> None:
        """Write consecutive 32-bit words (all byte strobes) starting at byte address ``addr``."""

    @abc.abstractmethod
    def wait_irq(self, max_cycles: int) -> bool:
        """Advance the device until its ``irq`` output is high; False after ``max_cycles``."""

    # --- the memory behind the accelerator's AXI4 manager port (programs, issue 9) ----------------

    @property
    def mem_size(self) -> int:
        """Bytes of memory behind the accelerator's memory port (0: none, no programs)."""
        return 0

    def mem_write(self, addr: int, data: bytes) -> None:
        """Write ``data`` into the memory at byte address ``addr``, in bulk (not through the
        accelerator)."""
        raise NotImplementedError(f"{type(self).__name__} has no memory behind the accelerator")

    def mem_read(self, addr: int, size: int) -> bytes:
        """Read ``size`` bytes of the memory from byte address ``addr``, in bulk."""
        raise NotImplementedError(f"{type(self).__name__} has no memory behind the accelerator")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release the device (stop the simulator, ...). Idempotent."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
