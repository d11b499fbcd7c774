"""The memory behind the accelerator's AXI4 memory port, as :class:`RegisterModel` sees it.

A flat byte array of ``size`` bytes from address 0. The host reaches it in bulk
(:meth:`PortMemory.write`, :meth:`PortMemory.read`: not through the accelerator, no cycles);
a running program reaches it in AXI4 bursts. A burst that touches a byte past ``size``, or a byte
of an injected error range (:meth:`PortMemory.inject_error`, the register model's twin of the
RTL RAM model's ``err_lo``/``err_hi``), is answered with an error as a whole (like DECERR from
an interconnect), and the program stops with MEM_READ or MEM_WRITE and MEM_ERROR_ADDR = the
burst's first byte address.

Bursts are cut as the hardware cuts them: at most :data:`MAX_BURST_BEATS` beats, never across a
:data:`BURST_BOUNDARY` (4 KiB) boundary (AXI4), from the transfer's start address on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BURST_BOUNDARY", "DEFAULT_MEM_SIZE", "MAX_BURST_BEATS", "PortMemory", "bursts"]

#: bytes of memory behind the port unless the model is made with another ``mem_size``
DEFAULT_MEM_SIZE = 16 << 20
#: the longest burst the accelerator issues, in beats
MAX_BURST_BEATS = 16
#: AXI4: a burst never crosses a 4 KiB boundary
BURST_BOUNDARY = 4096


def bursts(addr, nbytes, beat_bytes):
    """The bursts ``(address, bytes)`` that move ``nbytes`` (whole beats) from ``addr`` (a
    multiple of ``beat_bytes``): at most :data:`MAX_BURST_BEATS` beats, none across 4 KiB."""
    end, out = addr + nbytes, []
    while addr < end:
        stop = min(addr + MAX_BURST_BEATS * beat_bytes, (addr // BURST_BOUNDARY + 1)
                   * BURST_BOUNDARY, end)
        out.append((addr, stop - addr))
        addr = stop
    return out


class PortMemory:
    """``size`` bytes of memory (zeroed) with optional error ranges.

    Members
    -------
    size : int
    data : ndarray of uint8 [size]
    errors : list of (lo, hi, read, write)
        Byte ranges [lo, hi) answered with an error on reads and/or writes by a program.
    """

    def __init__(self, size=DEFAULT_MEM_SIZE):
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"mem_size must be an int >= 0 (bytes), got {size!r}")
        self.size = size
        self.data = np.zeros(size, dtype=np.uint8)
        self.errors = []

    def _check(self, addr, nbytes, what):
        if not isinstance(addr, int | np.integer) or addr < 0 or addr + nbytes > self.size:
            raise ValueError(f"{what} of {nbytes} bytes at address {addr!r} is outside the "
                             f"memory (mem_size = {self.size} bytes)")

    def write(self, addr, data):
        """Host access: copy ``data`` (bytes-like or a NumPy array's bytes) to ``addr``."""
        raw = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray)
                            else np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
        self._check(addr, raw.size, "mem_write")
        self.data[addr:addr + raw.size] = raw

    def read(self, addr, nbytes):
        """Host access: ``nbytes`` bytes from ``addr``."""
        self._check(addr, nbytes, "mem_read")
        return self.data[addr:addr + nbytes].tobytes()

    def inject_error(self, lo, hi, *, read=True, write=True):
        """Answer a program's bursts that touch [lo, hi) with an error (reads, writes or both)."""
        if not 0 <= lo < hi:
            raise ValueError(f"an error range needs 0 <= lo < hi, got [{lo}, {hi})")
        self.errors.append((lo, hi, bool(read), bool(write)))

    def clear_errors(self):
        self.errors.clear()

    def refuses(self, start, length, write):
        """Whether the memory answers the burst [start, start + length) with an error (past
        ``size``, or in an error range for this direction)."""
        return start + length > self.size or any(
            lo < start + length and start < hi and (wr if write else rd)
            for lo, hi, rd, wr in self.errors)

    def failing_bursts(self, addr, nbytes, beat_bytes, write):
        """The bursts ``(address, bytes)`` of a program's transfer that the memory refuses."""
        return [(a, n) for a, n in bursts(addr, nbytes, beat_bytes)
                if self.refuses(a, n, write)]

    def failing_burst(self, addr, nbytes, beat_bytes, write):
        """The address of the first burst of a program's transfer that the memory refuses, or
        None if all succeed."""
        failed = self.failing_bursts(addr, nbytes, beat_bytes, write)
        return failed[0][0] if failed else None
