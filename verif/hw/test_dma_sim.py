# amaranth: UnusedElaboratable=no
"""hw.dma.ReadDma and WriteDma in amaranth.sim, against a Python AXI4 subordinate RAM.

:class:`AxiRam` is the memory (a bytearray) behind a manager port, bound by member names, so it
serves an engine's ``rd``/``wr`` or a top level's whole ``m_axi`` alike. Every channel stalls at
random (``pressure``: ARREADY/AWREADY/WREADY low, gaps before RVALID, a random latency before a
burst's first R beat and before BVALID); reads of a configured bad range are answered SLVERR or
DECERR, as are write bursts touching one (not written). Everything the manager does is checked:
no burst crosses 4 KiB, AxLEN < max_burst, AxSIZE = log2(bytes per beat), INCR, aligned
addresses, a valid is never withdrawn and its payload is stable until taken, W beats only once
their AW was taken, WLAST exactly on each burst's last beat, at most ``max_outstanding`` bursts
in flight. The RAM also records the most bursts it ever saw in flight.

:class:`Tb` runs one cycle of the RAM, the requests, a consumer on ``ReadDma.data`` (random
back-pressure) and a producer on ``WriteDma.data`` (random gaps). The expected bursts are
:func:`bursts`, the greedy split written naively; the expected data are the RAM's bytes.
"""

from collections import deque

import pytest
from amaranth import Module, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.axi4 import (
    Axi4ReadSignature,
    Axi4Signature,
    Axi4WriteSignature,
    AxiBurst,
    connect_manager,
)
from hw.axil import AxiResp
from hw.dma import PAGE_BYTES, ReadDma, WriteDma
from hw.gen import to_verilog
from hw.spec.geometry import MEM_BITS
from verif.hw.sim_util import rng, simulate

pytestmark = pytest.mark.unit

MEM_BYTES = 1 << 16
BITS = MEM_BITS
PRESSURES = (0.0, 0.4, 0.8)
#: (max_burst, max_outstanding) per width: the defaults, a full-length burst, an odd one.
SHAPES = {64: (256, 2), 128: (16, 4), 256: (5, 3)}
TIMEOUT = 30_000


def bursts(addr, beats, nbytes, max_burst):
    """The greedy split, naively: (address, beats) of each burst."""
    out = []
    while beats:
        n = min(beats, max_burst, (PAGE_BYTES - addr % PAGE_BYTES) // nbytes)
        out.append((addr, n))
        addr, beats = addr + n * nbytes, beats - n
    return out


class Pins:
    """``ctx.set`` only when a value changes (every set settles the design: that is the cost)."""

    def __init__(self, ctx):
        self.ctx, self.last = ctx, {}

    def set(self, sig, value):
        old = self.last.get(id(sig))
        if old is None or old[1] != value:
            self.ctx.set(sig, value)
            self.last[id(sig)] = (sig, value)


class AxiRam:
    """An AXI4 subordinate RAM with random stalls, error ranges and protocol checks.

    ``bad``: ``(lo, hi, resp)`` byte ranges. A read beat inside one is answered ``resp`` (RRESP
    is per beat: the first error may come mid-burst); a write burst touching one is answered
    ``resp`` in its B and writes nothing. ``latency``: cycles added before a burst's first R
    beat and before a B response, on top of the random ones.
    """

    def __init__(self, r, bus, nbytes, max_burst, max_outstanding, pressure=0.0, latency=0,
                 bad=()):
        self.r, self.bus, self.nb = r, bus, nbytes
        self.max_burst, self.max_outstanding = max_burst, max_outstanding
        self.pressure, self.latency, self.bad = pressure, latency, list(bad)
        self.mem = bytearray(r.randbytes(MEM_BYTES))
        self.reads, self.writes = hasattr(bus, "araddr"), hasattr(bus, "awaddr")
        self.ar_log, self.aw_log = [], []       # bursts taken: (addr, beats, cycle valid rose)
        self.w_log = []                         # W beats taken: (cycle, addr, data, strb)
        self.r_log = []                         # cycles in which an R beat was taken
        self.r_bursts = deque()                 # [due, addr, beats, beats sent]
        self.r_beat = None                      # the R beat on the bus: (data, resp, last)
        self.w_bursts = deque()                 # [addr, beats, resp, beats taken]
        self.b_due = deque()                    # [due, resp]
        self.b_resp = None                      # the B response on the bus
        self.in_flight = {"AR": 0, "AW": 0}
        self.most_in_flight = {"AR": 0, "AW": 0}
        self.held, self.rose = {}, {}           # channel -> payload not taken / cycle it rose

    def resp_of(self, addr, beats):
        for lo, hi, resp in self.bad:
            if addr < hi and lo < addr + beats * self.nb:
                return resp
        return AxiResp.OKAY

    def quiet(self):
        """Every burst taken has completed."""
        return not (self.in_flight["AR"] or self.in_flight["AW"] or self.r_bursts
                    or self.w_bursts or self.b_due or self.b_resp is not None)

    def _delay(self):
        return self.latency + self.r.randrange(int(12 * self.pressure) + 1)

    def drive(self, pins, cycle):
        """The subordinate's outputs for this cycle (a function of its own state only)."""
        b, p, r = self.bus, self.pressure, self.r
        if self.reads:
            self.arready = r.random() >= p
            pins.set(b.arready, self.arready)
            if (self.r_beat is None and self.r_bursts and self.r_bursts[0][0] <= cycle
                    and r.random() >= p):
                _, addr, beats, sent = self.r_bursts[0]
                a = addr + sent * self.nb
                self.r_beat = (int.from_bytes(self.mem[a:a + self.nb], "little"),
                               self.resp_of(a, 1),
                               sent == beats - 1)
            pins.set(b.rvalid, self.r_beat is not None)
            if self.r_beat is not None:
                pins.set(b.rdata, self.r_beat[0])
                pins.set(b.rresp, self.r_beat[1])
                pins.set(b.rlast, self.r_beat[2])
        if self.writes:
            self.awready, self.wready = r.random() >= p, r.random() >= p
            pins.set(b.awready, self.awready)
            pins.set(b.wready, self.wready)
            if (self.b_resp is None and self.b_due and self.b_due[0][0] <= cycle
                    and r.random() >= p):
                self.b_resp = self.b_due.popleft()[1]
            pins.set(b.bvalid, self.b_resp is not None)
            if self.b_resp is not None:
                pins.set(b.bresp, self.b_resp)

    def _offered(self, channel, valid, payload, taken, cycle):
        """A valid is never withdrawn and its payload is stable until taken."""
        if not valid:
            assert channel not in self.held, f"cycle {cycle}: {channel}VALID withdrawn"
            self.rose.pop(channel, None)
            return
        if channel in self.held:
            assert payload == self.held[channel], \
                f"cycle {cycle}: {channel} payload changed while waiting: " \
                f"{self.held[channel]} -> {payload}"
        self.rose.setdefault(channel, cycle)
        if taken:
            self.held.pop(channel, None)
        else:
            self.held[channel] = payload

    def _address(self, channel, ax, cycle):
        """Checks on a burst taken on AR or AW; returns (addr, beats, resp)."""
        addr, length, size, burst = ax
        beats = length + 1
        where = f"cycle {cycle}: {channel} {addr:#x} x{beats}"
        assert addr % self.nb == 0, f"{where}: unaligned"
        assert 1 << size == self.nb, f"{where}: size {size}"
        assert burst == AxiBurst.INCR.value, f"{where}: burst type {burst}"
        assert length <= self.max_burst - 1, f"{where}: longer than {self.max_burst}"
        assert addr % PAGE_BYTES + beats * self.nb <= PAGE_BYTES, f"{where}: crosses 4 KiB"
        self.in_flight[channel] += 1
        assert self.in_flight[channel] <= self.max_outstanding, \
            f"{where}: {self.in_flight[channel]} bursts in flight"
        self.most_in_flight[channel] = max(self.most_in_flight[channel], self.in_flight[channel])
        (self.ar_log if channel == "AR" else self.aw_log).append((addr, beats, self.rose[channel]))
        return addr, beats, self.resp_of(addr, beats)

    def observe(self, ctx, cycle):
        """The manager's outputs in this cycle (after every input is set): handshakes, checks."""
        b = self.bus
        if self.reads:
            valid = ctx.get(b.arvalid)
            ax = (ctx.get(b.araddr), ctx.get(b.arlen), ctx.get(b.arsize), ctx.get(b.arburst)) \
                if valid else None
            self._offered("AR", valid, ax, self.arready, cycle)
            if valid and self.arready:
                addr, beats, _ = self._address("AR", ax, cycle)
                self.r_bursts.append([cycle + 1 + self._delay(), addr, beats, 0])
            if self.r_beat is not None and ctx.get(b.rready):
                self.r_log.append(cycle)
                self.r_bursts[0][3] += 1
                if self.r_beat[2]:
                    self.r_bursts.popleft()
                    self.in_flight["AR"] -= 1
                self.r_beat = None
        if self.writes:
            # W before AW: a beat may only belong to a burst whose AW was taken earlier.
            valid = ctx.get(b.wvalid)
            w = (ctx.get(b.wdata), ctx.get(b.wstrb), ctx.get(b.wlast)) if valid else None
            assert not valid or self.w_bursts, f"cycle {cycle}: WVALID before its AW was taken"
            self._offered("W", valid, w, self.wready, cycle)
            if valid and self.wready:
                self._take_w(w, cycle)
            valid = ctx.get(b.awvalid)
            ax = (ctx.get(b.awaddr), ctx.get(b.awlen), ctx.get(b.awsize), ctx.get(b.awburst)) \
                if valid else None
            self._offered("AW", valid, ax, self.awready, cycle)
            if valid and self.awready:
                self.w_bursts.append([*self._address("AW", ax, cycle), 0])
            if self.b_resp is not None and ctx.get(b.bready):
                self.b_resp = None
                self.in_flight["AW"] -= 1

    def _take_w(self, w, cycle):
        data, strb, last = w
        burst = self.w_bursts[0]
        addr, beats, resp, taken = burst
        assert last == (taken == beats - 1), \
            f"cycle {cycle}: WLAST={last} on beat {taken} of a {beats}-beat burst at {addr:#x}"
        a = addr + taken * self.nb
        self.w_log.append((cycle, a, data, strb))
        if resp == AxiResp.OKAY:
            write_bytes(self.mem, a, data, strb, self.nb)
        burst[3] += 1
        if last:
            self.w_bursts.popleft()
            self.b_due.append([cycle + 1 + self._delay(), resp])


def write_bytes(mem, addr, data, strb, nbytes):
    for j in range(nbytes):
        if strb >> j & 1:
            mem[addr + j] = data >> (8 * j) & 0xFF


class Tb:
    """One cycle at a time: the RAM, the requests and aborts, a consumer on the ReadDma's data
    (``ready`` low with probability ``flow``), a producer on the WriteDma's data (gaps with
    probability ``flow``). Beats taken are in ``got`` (read) and ``supplied`` (write)."""

    def __init__(self, ctx, r, ram, reader=None, writer=None, flow=0.0):
        self.ctx, self.r, self.ram, self.flow = ctx, r, ram, flow
        self.reader, self.writer = reader, writer
        self.pins = Pins(ctx)
        self.cycle = 0
        self.req = {}                       # engine -> (addr, beats) offered
        self.accepted = {}                  # engine -> cycle its last request was taken
        self.abort = set()                  # engines to abort in the next cycle
        self.got = []                       # (data, last, err, cycle)
        self.source, self.offer, self.supplied = deque(), None, []     # (data, strb)
        self.data_valid_cycles, self.data_ready_cycles = [], []
        self._held, self._aborted = None, set()

    async def step(self):
        ctx, pins, r, c = self.ctx, self.pins, self.r, self.cycle
        self.ram.drive(pins, c)
        if self.reader is not None:
            ready = r.random() >= self.flow
            pins.set(self.reader.data.ready, ready)
        if self.writer is not None:
            if self.offer is None and self.source and r.random() >= self.flow:
                self.offer = self.source.popleft()
            pins.set(self.writer.data.valid, self.offer is not None)
            if self.offer is not None:
                pins.set(self.writer.data.payload, {"data": self.offer[0], "strb": self.offer[1]})
        for dma in (self.reader, self.writer):
            if dma is not None:
                req = self.req.get(dma)
                pins.set(dma.req.valid, req is not None)
                if req is not None:
                    pins.set(dma.req.payload, {"addr": req[0], "beats": req[1]})
                pins.set(dma.abort, dma in self.abort)

        self.ram.observe(ctx, c)
        if hasattr(self.reader, "rx_left"):     # the flags registered beside the beats left
            left = ctx.get(self.reader.rx_left)
            assert (ctx.get(self.reader.rx_nz), ctx.get(self.reader.rx_one)) == \
                (left != 0, left == 1), f"cycle {c}: rx_left {left}"
        for dma in (self.reader, self.writer):
            if dma is not None and self.req.get(dma) is not None and ctx.get(dma.req.ready):
                self.req[dma] = None
                self.accepted[dma] = c
        if self.reader is not None and ctx.get(self.reader.data.valid):
            self.data_valid_cycles.append(c)
            p = ctx.get(self.reader.data.payload)
            beat = (p.data, p.last, p.err)
            assert self._held is None or beat == self._held, f"cycle {c}: data changed"
            self._held = None if ready else beat
            if ready:
                self.got.append((*beat, c))
        elif self.reader is not None:
            assert self._held is None or self.reader in self._aborted, \
                f"cycle {c}: data.valid withdrawn"
            self._held = None
        if self.writer is not None and ctx.get(self.writer.data.ready):
            self.data_ready_cycles.append(c)
            if self.offer is not None:
                self.supplied.append((*self.offer, c))
                self.offer = None
        self._aborted, self.abort = self.abort, set()
        await ctx.tick()
        self.cycle += 1

    async def until(self, cond, what, limit=TIMEOUT):
        for _ in range(limit):
            if cond():
                return
            await self.step()
        raise AssertionError(f"{what}: not within {limit} cycles (cycle {self.cycle})")

    async def idle(self, dma, what="idle"):
        await self.until(lambda: self.ctx.get(dma.idle), what)

    async def request(self, dma, addr, beats):
        assert addr % self.ram.nb == 0, "the caller's promise: aligned addresses"
        self.req[dma] = (addr, beats)
        await self.until(lambda: self.req[dma] is None, f"request {addr:#x} x{beats} taken")

    async def read(self, addr, beats):
        """One read transfer to its end; returns its beats (data, last, err, cycle)."""
        start, bursts_before = len(self.got), len(self.ram.ar_log)
        await self.request(self.reader, addr, beats)
        await self.until(lambda: len(self.got) >= start + beats, f"read {addr:#x} x{beats}")
        await self.idle(self.reader, "idle after the read")
        nb, max_burst = self.ram.nb, self.reader.max_burst
        assert [a[:2] for a in self.ram.ar_log[bursts_before:]] == \
            bursts(addr, beats, nb, max_burst)
        return self.got[start:]

    async def write(self, addr, beats):
        """One write transfer of ``beats`` [(data, strb)] to its end (every B taken)."""
        start, bursts_before = len(self.supplied), len(self.ram.aw_log)
        self.source.extend(beats)
        await self.request(self.writer, addr, len(beats))
        await self.until(lambda: len(self.supplied) >= start + len(beats),
                         f"write {addr:#x} x{len(beats)}")
        await self.idle(self.writer, "idle after the write")
        assert self.ram.quiet()
        nb, max_burst = self.ram.nb, self.writer.max_burst
        assert [a[:2] for a in self.ram.aw_log[bursts_before:]] == \
            bursts(addr, len(beats), nb, max_burst)


def near_a_boundary(r, nbytes, beats):
    """An aligned address a few beats either side of a 4 KiB boundary (or anywhere, 1 in 4)."""
    if r.random() < 0.25:
        addr = r.randrange(MEM_BYTES - beats * nbytes) // nbytes * nbytes
    else:
        page = r.randrange(1, MEM_BYTES // PAGE_BYTES - 3)
        addr = page * PAGE_BYTES + r.randrange(-40, 40) * nbytes
    assert addr % nbytes == 0 and addr + beats * nbytes <= MEM_BYTES
    return addr


def random_beats(r, n, nbytes):
    full = (1 << nbytes) - 1
    return [(r.getrandbits(8 * nbytes), full if r.random() < 0.6 else r.getrandbits(nbytes))
            for _ in range(n)]


def expect_read(ram, addr, beats, got):
    nb = ram.nb
    want = [int.from_bytes(ram.mem[addr + i * nb:addr + (i + 1) * nb], "little")
            for i in range(beats)]
    assert [g[0] for g in got] == want, f"read {addr:#x} x{beats}: data differ"
    assert [g[1] for g in got] == [0] * (beats - 1) + [1], "last only on the final beat"


# --- interfaces -------------------------------------------------------------------------------

def test_signatures_and_argument_checks():
    rd, wr, both = Axi4ReadSignature(40, 64), Axi4WriteSignature(), Axi4Signature(32, 256)
    assert set(both.members) == set(rd.members) | set(wr.members)
    assert len(both.members) == 25 and not any(name.startswith("m_") for name in both.members)
    def width(sig, name):
        return Shape.cast(sig.members[name].shape).width

    assert width(rd, "araddr") == 40 and width(rd, "rdata") == 64
    assert width(wr, "wstrb") == 16 and width(both, "wdata") == 256
    assert width(rd, "arlen") == width(wr, "awlen") == 8 and width(wr, "awsize") == 3
    assert width(both, "arburst") == 2 and width(both, "rresp") == 2
    assert rd.members["rresp"].shape is AxiResp and wr.members["bresp"].shape is AxiResp
    outs = {n for n, m in both.members.items() if m.flow == Out}
    assert outs == {"awaddr", "awlen", "awsize", "awburst", "awvalid", "wdata", "wstrb",
                    "wlast", "wvalid", "bready", "araddr", "arlen", "arsize", "arburst",
                    "arvalid", "rready"}
    for bad, exc in [((32, 96), ValueError), ((32, "128"), TypeError), ((8, 128), ValueError),
                     ((True, 128), TypeError)]:
        with pytest.raises(exc):
            Axi4Signature(*bad)
    with pytest.raises(ValueError, match="rdata"):
        connect_manager(Module(), Axi4Signature(32, 128).create(), ReadDma(64).rd,
                        WriteDma(64).wr)
    for kwargs, exc in [({"max_burst": 0}, ValueError), ({"max_burst": 257}, ValueError),
                        ({"max_outstanding": 0}, ValueError), ({"max_burst": 4.0}, TypeError),
                        ({"data_bits": 32}, ValueError), ({"addr_width": 2.5}, TypeError)]:
        for cls in (ReadDma, WriteDma):
            with pytest.raises(exc):
                cls(**kwargs)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("cls", [ReadDma, WriteDma])
def test_converts_to_verilog(cls, bits):
    text = to_verilog(cls(bits, max_burst=SHAPES[bits][0]), "dma")
    prefix = "rd_ar" if cls is ReadDma else "wr_aw"
    assert f"output [7:0] {prefix}len;" in text and "module dma(" in text


# --- reads ------------------------------------------------------------------------------------

#: (bits, max_burst, max_outstanding) beyond SHAPES: bursts longer than a page (128 beats of
#: 32 bytes), so a page always limits the first burst
LONG_BURSTS = [(256, 200, 2)]


@pytest.mark.parametrize("pressure", PRESSURES)
@pytest.mark.parametrize(("bits", "max_burst", "max_outstanding"),
                         [(b, *SHAPES[b]) for b in BITS] + LONG_BURSTS,
                         ids=[f"{b}-{m}" for b, m, _ in [(b, *SHAPES[b]) for b in BITS]
                              + LONG_BURSTS])
def test_read_random_transfers(bits, max_burst, max_outstanding, pressure):
    r = rng(bits + int(pressure * 10))
    dut = ReadDma(bits, max_burst=max_burst, max_outstanding=max_outstanding)
    nb = bits // 8

    async def body(ctx):
        ram = AxiRam(r, dut.rd, nb, max_burst, max_outstanding, pressure)
        tb = Tb(ctx, r, ram, reader=dut, flow=pressure / 2)
        await tb.request(dut, 0x1000, 0)            # zero beats: taken, nothing happens
        await tb.step()
        assert ctx.get(dut.idle) and not ram.ar_log
        for size in [1, 300] + [r.randrange(1, 301) for _ in range(6)]:
            addr = near_a_boundary(r, nb, size)
            got = await tb.read(addr, size)
            expect_read(ram, addr, size, got)
            assert not any(g[2] for g in got) and not ctx.get(dut.err)
        assert ram.quiet()
        if pressure >= 0.8:     # a slow memory: the next AR went out before the data came back
            assert ram.most_in_flight["AR"] > 1
        print(f"{tb.cycle} cycles, {len(tb.got)} beats, at most {ram.most_in_flight['AR']} "
              "bursts in flight")

    simulate(dut, body)


@pytest.mark.parametrize("pressure", [0.0, 0.8])
def test_read_error_responses(pressure):
    """Beats in a bad range come back SLVERR/DECERR: they carry ``err``; ``err`` and
    ``err_addr`` name the first burst with such a beat (the first error beat is mid-burst); the
    transfer completes; the next one clears ``err``."""
    r = rng(20 + int(pressure * 10))
    nb = 16
    dut = ReadDma(128)
    bad = [(0x3140, 0x3150, AxiResp.SLVERR), (0x3470, 0x37C0, AxiResp.DECERR)]

    async def body(ctx):
        ram = AxiRam(r, dut.rd, nb, 16, 4, pressure, bad=bad)
        tb = Tb(ctx, r, ram, reader=dut, flow=pressure / 2)
        # (addr, beats, whether the first error beat is inside the first erring burst)
        for addr, beats, mid in [(0x3000, 160, True), (0x3480, 3, False), (0x3580, 100, False)]:
            got = await tb.read(addr, beats)
            plan = bursts(addr, beats, nb, 16)
            want = [ram.resp_of(addr + i * nb, 1) != AxiResp.OKAY for i in range(beats)]
            assert [g[2] for g in got] == want
            assert [g[1] for g in got] == [0] * (beats - 1) + [1]
            first_bad = next(a for a, n in plan if ram.resp_of(a, n) != AxiResp.OKAY)
            assert (want.index(True) > (first_bad - addr) // nb) == mid
            assert ctx.get(dut.err) and ctx.get(dut.err_addr) == first_bad
        got = await tb.read(0x2000, 20)               # a clean transfer clears err
        expect_read(ram, 0x2000, 20, got)
        assert not ctx.get(dut.err) and not any(g[2] for g in got)

    simulate(dut, body)


@pytest.mark.parametrize("pressure", PRESSURES)
def test_read_abort(pressure):
    """After ``abort`` no AR is loaded, nothing shows on ``data``, every burst issued completes,
    ``idle`` rises, and the engine then reads as if nothing had happened."""
    r = rng(30 + int(pressure * 10))
    nb = 16
    dut = ReadDma(128)

    async def body(ctx):
        ram = AxiRam(r, dut.rd, nb, 16, 4, pressure, latency=4)
        tb = Tb(ctx, r, ram, reader=dut, flow=pressure / 2)
        tb.abort.add(dut)                           # an abort while idle does nothing
        await tb.step()
        assert ctx.get(dut.idle) and ctx.get(dut.req.ready)
        dropped = 0
        for _ in range(4):
            addr, keep = near_a_boundary(r, nb, 300), r.randrange(0, 60)
            await tb.request(dut, addr, 300)
            start = len(tb.got)
            await tb.until(lambda n=start + keep: len(tb.got) >= n, "beats before the abort")
            tb.abort.add(dut)
            aborted_at = tb.cycle
            await tb.step()
            await tb.idle(dut, "idle after the abort")
            assert ram.quiet(), "a burst still outstanding at idle"
            for _ in range(20):             # and it stays so
                await tb.step()
            assert ram.quiet() and ctx.get(dut.idle) and ctx.get(dut.req.ready)
            assert not [c for c in tb.data_valid_cycles if c > aborted_at], "data after abort"
            assert all(rose <= aborted_at for _, _, rose in ram.ar_log), "AR after abort"
            issued = sum(n for _, n, _ in ram.ar_log)
            assert issued < 300, "the abort did not stop the transfer"
            got = tb.got[start:]
            want = [int.from_bytes(ram.mem[addr + i * nb:addr + (i + 1) * nb], "little")
                    for i in range(len(got))]
            assert [g[0] for g in got] == want and not any(g[1] for g in got)
            dropped += sum(c > aborted_at for c in ram.r_log)
            ram.ar_log.clear()
            ram.r_log.clear()
            size = r.randrange(1, 80)
            addr = near_a_boundary(r, nb, size)
            expect_read(ram, addr, size, await tb.read(addr, size))
            ram.ar_log.clear()
            ram.r_log.clear()
        assert dropped, "no abort found a burst in flight"
        print(f"{dropped} beats dropped")

    simulate(dut, body)


@pytest.mark.parametrize("max_outstanding", [4, 1])
def test_read_throughput(max_outstanding):
    """No stalls, a memory 8 cycles slow to answer: 4 bursts in flight deliver >= 0.9 beats
    per cycle; one at a time does not (what the outstanding bursts buy)."""
    r = rng(40)
    dut = ReadDma(128, max_outstanding=max_outstanding)
    beats = 1500

    async def body(ctx):
        ram = AxiRam(r, dut.rd, 16, 16, max_outstanding, latency=8)
        tb = Tb(ctx, r, ram, reader=dut)
        got = await tb.read(0x100, beats)
        expect_read(ram, 0x100, beats, got)
        assert got[0][3] == ram.r_log[0] + ReadDma.LATENCY
        rate = beats / (got[-1][3] - tb.accepted[dut] + 1)
        print(f"read: {rate:.3f} beats/cycle with {max_outstanding} outstanding "
              f"(at most {ram.most_in_flight['AR']} seen)")
        if max_outstanding > 1:
            assert rate >= 0.9 and ram.most_in_flight["AR"] > 1
        else:
            assert rate < 0.9

    simulate(dut, body)


# --- writes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("pressure", PRESSURES)
@pytest.mark.parametrize("bits", BITS)
def test_write_random_transfers(bits, pressure):
    r = rng(50 + bits + int(pressure * 10))
    max_burst, max_outstanding = SHAPES[bits]
    dut = WriteDma(bits, max_burst=max_burst, max_outstanding=max_outstanding)
    nb = bits // 8

    async def body(ctx):
        ram = AxiRam(r, dut.wr, nb, max_burst, max_outstanding, pressure)
        shadow = bytearray(ram.mem)
        tb = Tb(ctx, r, ram, writer=dut, flow=pressure / 2)
        await tb.request(dut, 0x1000, 0)            # zero beats: taken, nothing happens
        await tb.step()
        assert ctx.get(dut.idle) and not ram.aw_log
        for size in [1, 300] + [r.randrange(1, 301) for _ in range(6)]:
            addr = near_a_boundary(r, nb, size)
            beats = random_beats(r, size, nb)
            await tb.write(addr, beats)
            for i, (data, strb) in enumerate(beats):
                write_bytes(shadow, addr + i * nb, data, strb, nb)
            assert ram.mem == shadow, f"write {addr:#x} x{size}: memory differs"
            assert not ctx.get(dut.err)
        if pressure >= 0.8:
            assert ram.most_in_flight["AW"] > 1
        print(f"{tb.cycle} cycles, {len(tb.supplied)} beats, at most "
              f"{ram.most_in_flight['AW']} bursts in flight")

    simulate(dut, body)


@pytest.mark.parametrize("pressure", [0.0, 0.8])
def test_write_error_responses(pressure):
    r = rng(60 + int(pressure * 10))
    nb = 16
    dut = WriteDma(128)
    bad = [(0x5100, 0x5110, AxiResp.DECERR), (0x5400, 0x5800, AxiResp.SLVERR)]

    async def body(ctx):
        ram = AxiRam(r, dut.wr, nb, 16, 4, pressure, bad=bad)
        shadow = bytearray(ram.mem)
        tb = Tb(ctx, r, ram, writer=dut, flow=pressure / 2)
        for addr, size in [(0x5000, 160), (0x5480, 3), (0x5600 - 8 * nb, 100), (0x2000, 20)]:
            beats = random_beats(r, size, nb)
            await tb.write(addr, beats)
            plan = bursts(addr, size, nb, 16)
            i = 0
            for a, n in plan:
                if ram.resp_of(a, n) == AxiResp.OKAY:
                    for data, strb in beats[i:i + n]:
                        write_bytes(shadow, a, data, strb, nb)
                        a += nb
                i += n
            assert ram.mem == shadow
            bad_bursts = [a for a, n in plan if ram.resp_of(a, n) != AxiResp.OKAY]
            assert ctx.get(dut.err) == bool(bad_bursts)
            if bad_bursts:
                assert ctx.get(dut.err_addr) == bad_bursts[0]

    simulate(dut, body)


@pytest.mark.parametrize("pressure", PRESSURES)
def test_write_abort(pressure):
    """After ``abort``: no AW is loaded, ``data.ready`` stays low, the bursts already issued
    get their W beats with WSTRB = 0, every B is taken, ``idle`` rises; memory holds exactly
    the beats supplied up to the abort; the engine then writes normally."""
    r = rng(70 + int(pressure * 10))
    nb = 16
    dut = WriteDma(128)

    async def body(ctx):
        ram = AxiRam(r, dut.wr, nb, 16, 4, pressure, latency=4)
        shadow = bytearray(ram.mem)
        tb = Tb(ctx, r, ram, writer=dut, flow=pressure / 2)
        tb.abort.add(dut)                           # an abort while idle does nothing
        await tb.step()
        assert ctx.get(dut.idle) and ctx.get(dut.req.ready)
        blanks = 0
        for _ in range(4):
            addr, keep = near_a_boundary(r, nb, 300), r.randrange(0, 60)
            beats = random_beats(r, 300, nb)
            start, w_start = len(tb.supplied), len(ram.w_log)
            tb.source.extend(beats)
            await tb.request(dut, addr, 300)
            await tb.until(lambda n=start + keep: len(tb.supplied) >= n,
                           "beats before the abort")
            for _ in range(r.randrange(3)):           # the producer may have stalled by now
                await tb.step()
            tb.abort.add(dut)
            aborted_at = tb.cycle
            await tb.step()
            await tb.idle(dut, "idle after the abort")
            assert ram.quiet(), "a burst without its W beats or B response at idle"
            assert not [c for c in tb.data_ready_cycles if c > aborted_at], "data.ready"
            assert all(rose <= aborted_at for _, _, rose in ram.aw_log), "AW after abort"
            supplied = tb.supplied[start:]
            assert len(supplied) < 300, "the abort did not stop the transfer"
            for i, (data, strb, _) in enumerate(supplied):
                write_bytes(shadow, addr + i * nb, data, strb, nb)
            assert ram.mem == shadow, "memory changed beyond the beats supplied"
            sent = ram.w_log[w_start:]
            assert [w[2:] for w in sent[:len(supplied)]] == [b[:2] for b in supplied]
            assert all(w[3] == 0 for w in sent[len(supplied):]), "strobes after the abort"
            assert len(sent) == sum(n for _, n, _ in ram.aw_log), "a burst short of W beats"
            blanks += len(sent) - len(supplied)
            tb.source.clear()
            tb.offer = None
            ram.aw_log.clear()
            size = r.randrange(1, 80)
            addr = near_a_boundary(r, nb, size)
            beats = random_beats(r, size, nb)
            await tb.write(addr, beats)
            for i, (data, strb) in enumerate(beats):
                write_bytes(shadow, addr + i * nb, data, strb, nb)
            assert ram.mem == shadow
            ram.aw_log.clear()
        assert blanks, "no abort found a burst waiting for its W beats"
        print(f"{blanks} beats sent with WSTRB = 0")

    simulate(dut, body)


def test_write_throughput():
    """No stalls, B answered 8 cycles late: a long write takes >= 0.9 beats per cycle."""
    r = rng(80)
    dut = WriteDma(128)
    size = 1500

    async def body(ctx):
        ram = AxiRam(r, dut.wr, 16, 16, 4, latency=8)
        shadow = bytearray(ram.mem)
        tb = Tb(ctx, r, ram, writer=dut)
        beats = random_beats(r, size, 16)
        await tb.write(0x100, beats)
        for i, (data, strb) in enumerate(beats):
            write_bytes(shadow, 0x100 + i * 16, data, strb, 16)
        assert ram.mem == shadow
        rate = size / (tb.supplied[-1][2] - tb.accepted[dut] + 1)
        print(f"write: {rate:.3f} beats/cycle (at most {ram.most_in_flight['AW']} in flight)")
        assert rate >= 0.9 and ram.most_in_flight["AW"] > 1

    simulate(dut, body)


# --- one port for both ------------------------------------------------------------------------

class _Port(wiring.Component):
    """A top level in miniature: both engines behind one ``m_axi`` port."""

    def __init__(self, bits):
        self.reader, self.writer = ReadDma(bits), WriteDma(bits)
        super().__init__({
            "m_axi": Out(Axi4Signature(32, bits)),
            "rd_req": self.reader.signature.members["req"],
            "rd_data": self.reader.signature.members["data"],
            "wr_req": self.writer.signature.members["req"],
            "wr_data": self.writer.signature.members["data"],
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader, m.submodules.writer = self.reader, self.writer
        connect_manager(m, self.m_axi, self.reader.rd, self.writer.wr)
        wiring.connect(m, wiring.flipped(self.rd_req), self.reader.req)
        wiring.connect(m, wiring.flipped(self.rd_data), self.reader.data)
        wiring.connect(m, wiring.flipped(self.wr_req), self.writer.req)
        wiring.connect(m, wiring.flipped(self.wr_data), self.writer.data)
        return m


class _Through:
    """An engine's streams as the top level exposes them (what the Tb drives)."""

    def __init__(self, **members):
        self.__dict__.update(members)


def test_connect_manager_one_port_for_both():
    """Both engines through ``connect_manager``: a write and a read at once on the same RAM,
    then the written bytes read back; the Verilog has the ``m_axi_*`` port names."""
    r = rng(90)
    top = _Port(128)
    text = to_verilog(_Port(128), "port")
    header = text[text.index("module port("):text.index(");")]
    for name in Axi4Signature().members:
        assert f"m_axi_{name}" in header

    async def body(ctx):
        ram = AxiRam(r, top.m_axi, 16, 16, 4, 0.4)
        shadow = bytearray(ram.mem)
        reader = _Through(req=top.rd_req, data=top.rd_data, abort=top.reader.abort,
                          idle=top.reader.idle, max_burst=16)
        writer = _Through(req=top.wr_req, data=top.wr_data, abort=top.writer.abort,
                          idle=top.writer.idle, max_burst=16)
        tb = Tb(ctx, r, ram, reader=reader, writer=writer, flow=0.2)
        beats = random_beats(r, 90, 16)
        tb.source.extend(beats)
        tb.req[writer] = (0x0FC0, 90)
        got = await tb.read(0x8000, 70)           # while the write streams
        expect_read(ram, 0x8000, 70, got)
        await tb.idle(writer)
        assert ram.quiet()
        for i, (data, strb) in enumerate(beats):
            write_bytes(shadow, 0x0FC0 + i * 16, data, strb, 16)
        assert ram.mem == shadow
        ram.ar_log.clear()
        expect_read(ram, 0x0FC0, 90, await tb.read(0x0FC0, 90))

    simulate(top, body)
