"""The cocotb side of the simulated memory (``axi4_ram.v``): bulk fill and read-back, stalls,
read latency and error injection (runs inside the simulator).

A fill or a read-back is one ``$readmemh`` / ``$writememh`` over a range of memory words,
started by an edge of the RAM's ``bulk_go`` input: two awaits (``ReadOnly`` and one time step)
whatever the size, no clock cycle. Python only formats and parses the hex file (NumPy).
Partial words at either end of a write are read first and merged (read-modify-write).
"""

from __future__ import annotations

import os

import numpy as np
from cocotb.triggers import ReadOnly, Timer

__all__ = ["ERROR_KINDS", "LOAD", "DUMP", "SimMemory"]

#: ``err_kind`` values, by name (AXI BRESP/RRESP codes)
ERROR_KINDS = {"SLVERR": 2, "DECERR": 3}
#: ``bulk_cmd`` values
LOAD, DUMP = 1, 2

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE = np.full(256, 0xFF, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _NIBBLE[ord(chr(_c).upper())] = _i


def to_hex(words: np.ndarray) -> bytes:
    """``$readmemh`` text of little-endian words (uint8 ``[n, bytes per word]``): one word a
    line, most significant digit first."""
    n, width = words.shape
    out = np.empty((n, 2 * width + 1), dtype=np.uint8)
    msb_first = words[:, ::-1]
    out[:, 0:2 * width:2] = _HEX[msb_first >> 4]
    out[:, 1:2 * width:2] = _HEX[msb_first & 0xF]
    out[:, -1] = ord("\n")
    return out.tobytes()


def from_hex(text: bytes, width: int, first: int = 0) -> np.ndarray:
    """The words (uint8 ``[n, width]``) of ``$writememh`` output; ``//`` comment and ``@``
    address lines are skipped. Raises ValueError on X/Z digits (undefined data written, or
    memory not zeroed) naming the byte address (``first``: index of the first word), or on
    malformed lines."""
    lines = [line for line in (raw.strip() for raw in text.splitlines())
             if line and not line.startswith((b"//", b"@"))]
    if not lines:
        return np.zeros((0, width), dtype=np.uint8)
    digits = np.frombuffer(b"".join(lines), dtype=np.uint8)
    if any(len(line) != 2 * width for line in lines):
        raise ValueError(f"$writememh lines are not {2 * width} hex digits each")
    nibbles = _NIBBLE[digits].reshape(len(lines), 2 * width)
    if (nibbles == 0xFF).any():
        row = int(np.nonzero((nibbles == 0xFF).any(axis=1))[0][0])
        raise ValueError(f"the memory word at byte 0x{(first + row) * width:X} holds X/Z bits "
                         f"(undefined data written there?): {lines[row].decode()}")
    return (nibbles[:, 0::2] << 4 | nibbles[:, 1::2])[:, ::-1]


class SimMemory:
    """The RAM behind the accelerator's memory port, seen from a cocotb test.

    Parameters
    ----------
    dut : cocotb handle
        The top level whose ports include the RAM's control ports (``<prefix>bulk_go`` ...).
    prefix : str
        Prefix of those ports: ``"mem_"`` on ``pimacc_sys``, ``""`` on the RAM alone.
    file : str
        The RAM's ``BULK_FILE`` parameter (relative to the simulator's working directory).

    Construction drives every control input to its default (no stalls, default latency, no
    error range), so make it before the clock starts or reset is released.

    Members
    -------
    size : int
        Bytes of memory (``MEM_BYTES``).
    word_bytes : int
        Bytes of one memory word (``DATA_BITS / 8``).
    """

    def __init__(self, dut, prefix: str = "mem_", file: str = "axi4_ram.hex"):
        def port(name):
            return getattr(dut, prefix + name)

        self._cmd, self._go, self._lo, self._hi = (port(n) for n in
                                                   ("bulk_cmd", "bulk_go", "bulk_lo", "bulk_hi"))
        self._seed, self._pressure, self._latency = (port(n) for n in
                                                     ("stall_seed", "stall_pressure", "rd_latency"))
        self._err_lo, self._err_hi, self._err_kind = (port(n) for n in
                                                      ("err_lo", "err_hi", "err_kind"))
        self._cfg_bytes, self._cfg_bits = port("cfg_bytes"), port("cfg_data_bits")
        self._violation = port("violation")
        self._file = file
        self._go_level = 0
        self._size = self._word_bytes = None
        self._cmd.value = 0
        self._go.value = 0
        self._lo.value = self._hi.value = 0
        self.set_stalls(0, 0)
        self.set_latency(0)
        self.clear_error()

    # --- the instance's geometry (constant outputs; read once they have settled) -------------

    def _config(self):
        if self._size is None:
            if not (self._cfg_bytes.value.is_resolvable and self._cfg_bits.value.is_resolvable):
                raise RuntimeError("the RAM's cfg_* outputs are not settled yet (await a clock "
                                   "edge or a Timer first)")
            self._size = int(self._cfg_bytes.value)
            self._word_bytes = int(self._cfg_bits.value) // 8
        return self._size, self._word_bytes

    @property
    def size(self) -> int:
        return self._config()[0]

    @property
    def word_bytes(self) -> int:
        return self._config()[1]

    @property
    def violation(self) -> int:
        """The RAM's sticky AXI4 protocol-violation bits (0: the manager has been legal)."""
        return int(self._violation.value)

    # --- knobs (take effect at the next clock edge) ------------------------------------------

    def set_stalls(self, seed: int, pressure: int):
        """Stall every channel at random: a channel stalls in a cycle with probability
        ``pressure / 256`` (0..255; 0 never), from the generator seeded by ``seed``."""
        if not 0 <= pressure <= 255:
            raise ValueError(f"pressure must be 0..255, got {pressure}")
        self._seed.value = int(seed) & 0xFFFF_FFFF
        self._pressure.value = int(pressure)

    def set_latency(self, cycles: int):
        """Cycles from an AR handshake to its first R beat (1..255; 0: the RAM's
        ``READ_LATENCY`` parameter)."""
        if not 0 <= cycles <= 255:
            raise ValueError(f"latency must be 0..255 cycles, got {cycles}")
        self._latency.value = int(cycles)

    def set_error(self, lo: int, hi: int, kind: str | int = "SLVERR"):
        """Every burst that touches bytes [lo, hi) answers ``kind`` ("SLVERR"/2 or
        "DECERR"/3) from now on (reads: every beat; writes: the B, memory unchanged)."""
        kind = ERROR_KINDS.get(kind, kind)
        if kind not in ERROR_KINDS.values():
            raise ValueError(f"kind must be one of {list(ERROR_KINDS)} or their codes 2, 3, "
                             f"got {kind!r}")
        if not 0 <= lo <= hi <= 0xFFFF_FFFF:
            raise ValueError(f"need 0 <= lo <= hi < 2**32, got lo=0x{lo:X} hi=0x{hi:X}")
        self._err_lo.value, self._err_hi.value, self._err_kind.value = lo, hi, kind

    def clear_error(self):
        self._err_lo.value = self._err_hi.value = 0
        self._err_kind.value = ERROR_KINDS["SLVERR"]

    # --- bulk access ---------------------------------------------------------------------------

    def _path(self):
        return os.path.join(os.getcwd(), self._file)  # the simulator's working directory

    async def _bulk(self, cmd, first, last):
        self._cmd.value = cmd
        self._lo.value, self._hi.value = first, last
        self._go_level ^= 1
        self._go.value = self._go_level
        await ReadOnly()      # the edge of bulk_go has run the $readmemh / $writememh
        await Timer(1, "step")  # out of the read-only phase: signals may be driven again

    def _check(self, addr, size):
        if addr < 0 or size < 0 or addr + size > self.size:
            raise ValueError(f"[0x{addr:X}, 0x{addr + size:X}) is outside the memory "
                             f"(0x{self.size:X} bytes)")

    async def _read_words(self, first, last) -> np.ndarray:
        """Words first..last (inclusive) as uint8 ``[n, word_bytes]``."""
        path = self._path()
        if os.path.exists(path):
            os.remove(path)
        await self._bulk(DUMP, first, last)
        with open(path, "rb") as f:
            words = from_hex(f.read(), self.word_bytes, first)
        if len(words) != last - first + 1:
            raise RuntimeError(f"$writememh gave {len(words)} words, expected "
                               f"{last - first + 1}")
        return words

    async def write(self, addr: int, data: bytes):
        """Write ``data`` at byte address ``addr`` (any alignment and length)."""
        data = bytes(data)
        self._check(addr, len(data))
        if not data:
            return
        wb = self.word_bytes
        first, last = addr // wb, (addr + len(data) - 1) // wb
        head, tail = addr - first * wb, (last + 1) * wb - (addr + len(data))
        buf = np.empty((last - first + 1) * wb, dtype=np.uint8)
        if head or tail:  # the covering words' other bytes stay as they are
            if last - first < 64:
                buf[:] = (await self._read_words(first, last)).ravel()
            else:
                if head:
                    buf[:wb] = (await self._read_words(first, first)).ravel()
                if tail:
                    buf[-wb:] = (await self._read_words(last, last)).ravel()
        buf[head:head + len(data)] = np.frombuffer(data, dtype=np.uint8)
        with open(self._path(), "wb") as f:
            f.write(to_hex(buf.reshape(-1, wb)))
        await self._bulk(LOAD, first, last)

    async def read(self, addr: int, size: int) -> bytes:
        """``size`` bytes from byte address ``addr`` (any alignment and length)."""
        self._check(addr, size)
        if not size:
            return b""
        wb = self.word_bytes
        first, last = addr // wb, (addr + size - 1) // wb
        words = await self._read_words(first, last)
        start = addr - first * wb
        return words.ravel()[start:start + size].tobytes()
