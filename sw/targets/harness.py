"""The ``"harness"`` target: the host harness (``sw/c``) as a :class:`~.transport.Transport`:
the Python driver (``sw.Accelerator``) on the Verilated RTL with the C++ clock loop and memory,
no cocotb.

``Accelerator(HarnessTransport(geometry))`` runs every layer of the Python driver on the
harness of :mod:`sw.c.build` (programs from memory, like the ``"verilator"`` target, but with
the memory and the clock in C++ and register accesses through ctypes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hw.spec import Geometry
from sw.c.binding import Harness

from .transport import RESPONSES, BusErrorResponse, Transport

__all__ = ["HarnessTransport"]

_RESP = {0: "OKAY", 1: "OKAY", 2: "SLVERR", 3: "DECERR"}
assert set(_RESP.values()) <= set(RESPONSES)


class HarnessTransport(Transport):
    """Word access, interrupt and bulk memory of a :class:`~sw.c.binding.Harness`.

    Parameters
    ----------
    geometry : Geometry
    mem_bytes : int
        Memory behind the accelerator (a multiple of 4096).
    stall_seed : int, optional
        Stall the memory port at random (the register port is never stalled).
    """

    def __init__(self, geometry: Geometry, mem_bytes=16 << 20, stall_seed=None, **kwargs):
        self.harness = Harness(geometry, mem_bytes=mem_bytes, stall_seed=stall_seed, **kwargs)
        self._mem = self.harness.memory()

    def __repr__(self):
        return f"HarnessTransport({self.harness.build.geometry})"

    @property
    def sim_seconds(self):
        return self.harness.sim_seconds

    def _check(self, errors):
        if errors:
            addr, resp = errors[0]
            raise BusErrorResponse(addr, resp)

    def read(self, addr: int, count: int = 1) -> list[int]:
        words, errors = [], []
        for i in range(count):
            words.append(self.harness.read32(addr + 4 * i))
            resp = _RESP[self.harness.last_resp]
            if resp != "OKAY":
                errors.append((addr + 4 * i, resp))
        self._check(errors)
        return words

    def write(self, addr: int, words: Sequence[int]) -> None:
        errors = []
        for i, word in enumerate(words):
            self.harness.write32(addr + 4 * i, int(word))
            resp = _RESP[self.harness.last_resp]
            if resp != "OKAY":
                errors.append((addr + 4 * i, resp))
        self._check(errors)

    def wait_irq(self, max_cycles: int) -> bool:
        return self.harness.wait_irq(max_cycles)

    @property
    def mem_size(self) -> int:
        return self._mem.size

    def mem_write(self, addr: int, data: bytes) -> None:
        if addr < 0 or addr + len(data) > self._mem.size:
            raise ValueError(f"bytes [{addr}, {addr + len(data)}) are outside the memory "
                             f"({self._mem.size} bytes)")
        self._mem[addr:addr + len(data)] = np.frombuffer(bytes(data), np.uint8)

    def mem_read(self, addr: int, size: int) -> bytes:
        if addr < 0 or addr + size > self._mem.size:
            raise ValueError(f"bytes [{addr}, {addr + size}) are outside the memory "
                             f"({self._mem.size} bytes)")
        return self._mem[addr:addr + size].tobytes()

    def close(self) -> None:
        self.harness.close()
