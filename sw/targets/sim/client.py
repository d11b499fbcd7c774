"""Transport to the generated Verilog running in a simulator (Icarus or Verilator) via cocotb.

The simulator is a separate process (started by cocotb's runner in a background thread); it
runs :mod:`sw.targets.sim.server`, which connects back over a Unix socket and turns each request
into AXI4-Lite transactions with cocotbext-axi. The driver stays synchronous, so the same code works
from a script, a notebook and pytest.

With ``memory=True`` the simulation is ``pimacc_sys`` (sw/targets/sim/system.py): the accelerator
with a RAM on its AXI4 memory port, which :meth:`SimTransport.mem_write` and
:meth:`SimTransport.mem_read` fill and read in bulk.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from multiprocessing.connection import Connection

from hw.spec import Geometry

from ..transport import BusErrorResponse, Transport
from .build import SIMULATORS, SimBuild, build_accelerator
from .system import DEFAULT_MEM_BYTES, build_system

__all__ = ["SimTransport", "SimulatorError"]


class SimulatorError(RuntimeError):
    """The simulator could not be started, died, or failed a request."""


class SimTransport(Transport):
    """Parameters
    ----------
    simulator : str
        ``"icarus"`` or ``"verilator"``.
    geometry : Geometry
        The accelerator to build (cached under ``build/sim/``).
    start_timeout : float
        Seconds to wait for the build and the simulator to come up.
    stall_seed : int, optional
        Stall all five AXI4-Lite channels at random (cocotbext-axi pause generators, about 30 %
        of the cycles on each), from this seed: results must not change, only the cycles.
    memory : bool
        Simulate ``pimacc_sys``: the accelerator with ``mem_bytes`` of RAM on its AXI4 memory
        port (:attr:`mem_size`, :meth:`mem_write`, :meth:`mem_read` and the RAM's knobs
        :meth:`mem_stalls`, :meth:`mem_latency`, :meth:`mem_error`, :meth:`mem_violation`).
        Default False: the plain ``pimacc`` top level, no memory.
    mem_bytes : int
        Size of that RAM (default 16 MiB).
    build : SimBuild, optional
        A compiled simulation to run instead (e.g. ``build_system(...)`` with a stub
        accelerator); whether it has a memory is found out from its ports.
    """

    def __init__(self, simulator="icarus", geometry: Geometry | None = None, start_timeout=600.0,
                 stall_seed=None, *, memory=False, mem_bytes=DEFAULT_MEM_BYTES,
                 build: SimBuild | None = None):
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {SIMULATORS}, "
                             f"got {simulator!r}")
        self.geometry = geometry or Geometry.default()
        self.simulator = simulator
        self._conn = None
        self._error = None
        self._mem_size = 0
        if build is None:
            build = (build_system(self.geometry, simulator, mem_bytes) if memory
                     else build_accelerator(self.geometry, simulator))
        elif build.simulator != simulator:
            raise ValueError(f"build is for {build.simulator}, not {simulator}")
        self._tmp = tempfile.TemporaryDirectory(prefix="pimacc-")
        path = os.path.join(self._tmp.name, "sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        server.settimeout(1.0)
        test_dir = build.build_dir / f"run-{os.getpid()}-{id(self)}"
        self.log_file = test_dir / "sim.log"

        def run():
            try:
                env = {"PIMACC_SOCKET": path}
                if stall_seed is not None:
                    env["PIMACC_STALL_SEED"] = str(int(stall_seed))
                build.test("sw.targets.sim.server", test_dir=test_dir, log_file=self.log_file,
                           extra_env=env)
            except BaseException as e:  # noqa: BLE001 - reported through self._error
                self._error = e

        self._thread = threading.Thread(target=run, name="pimacc-sim", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + start_timeout
        try:
            while True:
                try:
                    sock, _ = server.accept()
                    break
                except TimeoutError:
                    if not self._thread.is_alive() or time.monotonic() > deadline:
                        raise SimulatorError(self._failure("did not start")) from None
        finally:
            server.close()
        sock.settimeout(None)
        self._conn = Connection(sock.detach())
        ready = self._request(None)  # the bridge's "ready"
        self._mem_size = int((ready or {}).get("mem_size", 0))

    def _failure(self, what):
        log = ""
        if self.log_file.exists():
            log = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
        return f"{self.simulator} simulation {what} ({self._error!r}); log {self.log_file}:\n{log}"

    def _request(self, message):
        if self._conn is None:
            raise SimulatorError("the simulator connection is closed")
        start = time.perf_counter()
        try:
            return self._exchange(message)
        finally:
            self.sim_seconds += time.perf_counter() - start

    def _exchange(self, message):
        try:
            if message is not None:
                self._conn.send(message)
            while not self._conn.poll(0.5):
                if not self._thread.is_alive():
                    raise SimulatorError(self._failure("died"))
            reply = self._conn.recv()
        except (EOFError, OSError) as e:
            raise SimulatorError(self._failure(f"connection lost: {e}")) from e
        status, *rest = reply
        if status == "err":
            raise BusErrorResponse(rest[0], rest[1])
        if status == "fail":
            raise SimulatorError(f"the simulator bridge failed: {rest[0]}")
        return rest[0]

    def read(self, addr, count=1):
        return self._request(("read", int(addr), int(count)))

    def write(self, addr, words):
        self._request(("write", int(addr), [int(w) & 0xFFFFFFFF for w in words]))

    def read32(self, addr):
        """Read one word: returns ``(value, resp)``, resp ``"OKAY"`` / ``"DECERR"`` (as
        :meth:`RegisterModel.read32 <sw.targets.regmodel.RegisterModel.read32>`)."""
        return tuple(self._request(("read32", int(addr))))

    def write32(self, addr, value, strb=0xF):
        """Write one word with byte strobes ``strb`` (any of 0..15): returns resp ``"OKAY"`` /
        ``"SLVERR"`` / ``"DECERR"``."""
        return self._request(("write32", int(addr), int(value), int(strb)))

    def wait_irq(self, max_cycles):
        return self._request(("wait_irq", int(max_cycles)))

    # --- the memory behind the accelerator (memory=True) ----------------------------------------

    @property
    def mem_size(self):
        return self._mem_size

    def _mem_check(self, addr, size):
        if not self._mem_size:
            raise NotImplementedError("this simulation has no memory behind the accelerator "
                                      "(open it with memory=True)")
        if addr < 0 or size < 0 or addr + size > self._mem_size:
            raise ValueError(f"[0x{addr:X}, 0x{addr + size:X}) is outside the memory "
                             f"(0x{self._mem_size:X} bytes)")

    def mem_write(self, addr, data):
        data = bytes(data)
        self._mem_check(int(addr), len(data))
        self._request(("mem_write", int(addr), data))

    def mem_read(self, addr, size):
        self._mem_check(int(addr), int(size))
        return self._request(("mem_read", int(addr), int(size)))

    def mem_stalls(self, seed, pressure):
        """Stall every channel of the RAM at random from now on: each channel in a cycle with
        probability ``pressure / 256`` (0..255, 0 never), from ``seed``."""
        self._mem_check(0, 0)
        self._request(("mem_stalls", int(seed), int(pressure)))

    def mem_latency(self, cycles):
        """Cycles from a read address to its first data (1..255; 0: the RAM's default, 4)."""
        self._mem_check(0, 0)
        self._request(("mem_latency", int(cycles)))

    def mem_error(self, lo=None, hi=None, kind="SLVERR"):
        """Every burst touching bytes [lo, hi) answers ``kind`` ("SLVERR"/"DECERR") from now
        on; without arguments, no more injected errors."""
        self._mem_check(0, 0)
        if lo is None:
            self._request(("mem_error", None))
        else:
            self._request(("mem_error", int(lo), int(hi), kind))

    def mem_violation(self):
        """The RAM's sticky AXI4 protocol-violation bits since reset (0: the accelerator's
        manager port has been legal; see axi4_ram.v)."""
        self._mem_check(0, 0)
        return self._request(("mem_violation",))

    def close(self):
        if self._conn is None:
            return
        try:
            self._request(("close",))
        finally:
            self._conn.close()
            self._conn = None
            self._thread.join(timeout=60)
            self._tmp.cleanup()
