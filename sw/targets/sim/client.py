"""Transport to the generated Verilog running in a simulator (Icarus or Verilator) via cocotb.

The simulator is a separate process (started by cocotb's runner in a background thread); it
runs :mod:`sw.targets.sim.server`, which connects back over a Unix socket and turns each request
into AXI4-Lite transactions with cocotbext-axi. The driver stays synchronous, so the same code works
from a script, a notebook and pytest.
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
from .build import SIMULATORS, build_accelerator

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
    """

    def __init__(self, simulator="icarus", geometry: Geometry | None = None, start_timeout=600.0,
                 stall_seed=None):
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {SIMULATORS}, "
                             f"got {simulator!r}")
        self.geometry = geometry or Geometry.default()
        self.simulator = simulator
        self._conn = None
        self._error = None
        build = build_accelerator(self.geometry, simulator)
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
        self._request(None)  # the bridge's "ready"

    def _failure(self, what):
        log = ""
        if self.log_file.exists():
            log = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
        return f"{self.simulator} simulation {what} ({self._error!r}); log {self.log_file}:\n{log}"

    def _request(self, message):
        if self._conn is None:
            raise SimulatorError("the simulator connection is closed")
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
