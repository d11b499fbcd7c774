"""The DMA engines of the AXI4 memory port: :class:`ReadDma` (AR, R) and :class:`WriteDma`
(AW, W, B).

Both split a transfer (``beats`` beats of ``data_bits`` from the byte address ``addr``, a
multiple of ``data_bits // 8``) into INCR bursts and keep several bursts in flight, so that the
memory's latency is paid once per transfer, not once per burst. The read engine also takes the
next transfer as soon as the current one's bursts are all issued, so back-to-back transfers
pay it once in all.

The split is greedy: each burst is as long as it may be, ``min(beats left, max_burst, beats to
the next 4 KiB boundary)`` (AXI forbids a burst to cross one), so a transfer's bursts depend
only on its address and length.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.hdl import ResetInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .axi4 import Axi4ReadSignature, Axi4WriteSignature, AxiBurst
from .axil import AxiResp

__all__ = ["PAGE_BYTES", "request_layout", "ReadDma", "WriteDma"]

#: No burst crosses a boundary of this many bytes (AXI4).
PAGE_BYTES = 4096


def request_layout(addr_width=32):
    """A transfer: ``beats`` beats from the byte address ``addr``."""
    return data.StructLayout({"addr": addr_width, "beats": 32})


class _Dma(wiring.Component):
    """What both engines share: checked parameters, the request, and the address channel
    (AR or AW) that splits the request into bursts and issues them."""

    def __init__(self, bus, data_member, data_bits, addr_width, max_burst, max_outstanding):
        for name, value in (("max_burst", max_burst), ("max_outstanding", max_outstanding)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {value!r}")
        if not 1 <= max_burst <= 256:
            raise ValueError(f"max_burst must be in 1..256 (AXI4 INCR), not {max_burst}")
        if max_outstanding < 1:
            raise ValueError(f"max_outstanding must be >= 1, not {max_outstanding}")
        self.data_bits, self.addr_width = data_bits, addr_width
        self.max_burst, self.max_outstanding = max_burst, max_outstanding
        self.size = exact_log2(data_bits // 8)          # AxSIZE: log2(bytes per beat)
        super().__init__({
            **bus,
            "req": In(stream.Signature(request_layout(addr_width))),
            "data": data_member,
            "abort": In(1), "idle": Out(1),
            "err": Out(1), "err_addr": Out(addr_width),
        })

    def _issue(self, m, ax, prefix, done):
        """The address channel ``prefix`` (``ar``/``aw``) of ``ax``.

        A request is taken when ``req.ready`` (each engine drives it; ``left`` must be 0). One
        burst is loaded into the AxADDR/AxLEN registers per cycle while beats are left, the
        register is free (or being taken) and fewer than ``max_outstanding`` bursts are in
        flight; ``abort`` forgets the beats not yet issued (a burst already in the
        register stays valid until taken: AXI forbids withdrawing a valid). ``done``: a burst
        completed this cycle (its last R beat, or its B response).

        Returns ``(accept, left, inflight)``: the request handshake, the beats not yet issued,
        and the bursts loaded and not completed.
        """
        valid, ready = getattr(ax, f"{prefix}valid"), getattr(ax, f"{prefix}ready")
        addr, length = getattr(ax, f"{prefix}addr"), getattr(ax, f"{prefix}len")
        page_beats = PAGE_BYTES >> self.size

        accept = Signal()
        next_addr = Signal(self.addr_width)
        left = Signal(32)
        inflight = Signal(range(self.max_outstanding + 1))
        # The longest burst the address allows, min(beats to the 4 KiB boundary, max_burst),
        # is kept in a register (``limit``) beside ``to_page``, the beats to the boundary;
        # both are written with next_addr, so a burst's length is one compare of ``left`` with
        # a register. A burst shorter than ``limit`` (``last``: only ``left`` beats remain) is
        # the transfer's last: after it next_addr, to_page and limit are reloaded by the next
        # request before they are read again, so they advance by ``limit`` whatever the burst,
        # and no chain of compares and subtractions from to_page through the burst's length
        # back to to_page remains (8x8 accelerator, hw.depth: 13.5 ns).
        to_page = Signal(range(page_beats + 1), init=page_beats)
        cap = min(page_beats, self.max_burst)
        limit = Signal(range(cap + 1), init=cap)
        last = Signal()
        load = Signal()
        m.d.comb += [
            accept.eq(self.req.valid & self.req.ready),
            getattr(ax, f"{prefix}size").eq(self.size),
            getattr(ax, f"{prefix}burst").eq(AxiBurst.INCR),
            last.eq(left < limit),
            load.eq((left != 0) & (~valid | ready) & (inflight < self.max_outstanding)
                    & ~self.abort),
        ]
        with m.If(load):
            # A burst of ``limit`` beats reaches the boundary when to_page <= max_burst: the
            # next starts a page (``cap``); else max_burst beats nearer to it. Compares of
            # to_page with constants, no compare after a subtraction.
            at_end = to_page <= self.max_burst
            nearer = to_page - self.max_burst
            m.d.sync += [
                valid.eq(1), addr.eq(next_addr),
                length.eq(Mux(last, left - 1, limit - 1)),
                left.eq(Mux(last, 0, left - limit)),
                next_addr.eq(next_addr + (limit << self.size)),
                to_page.eq(Mux(at_end, page_beats, nearer)),
                limit.eq(Mux(at_end, cap, Mux(to_page < 2 * self.max_burst, nearer,
                                               self.max_burst))),
            ]
        with m.Elif(ready):
            m.d.sync += valid.eq(0)
        m.d.sync += inflight.eq(inflight + load - done)
        with m.If(accept):
            # first < max_burst is beat > page_beats - max_burst: a compare of the address
            # with a constant beside the subtraction, not after it
            beat = self.req.p.addr[self.size:12]
            first = page_beats - beat
            near = (beat > page_beats - self.max_burst if self.max_burst <= page_beats
                    else Const(1))
            m.d.sync += [next_addr.eq(self.req.p.addr), left.eq(self.req.p.beats),
                         to_page.eq(first), limit.eq(Mux(near, first, self.max_burst))]
        with m.If(self.abort):
            m.d.sync += left.eq(0)
        return accept, left, inflight

    @staticmethod
    def _is_error(resp):
        return (resp == AxiResp.SLVERR) | (resp == AxiResp.DECERR)


class ReadDma(_Dma):
    """Reads transfers of ``beats`` beats from memory through AXI4 (AR, R) and streams them out.

    A request on ``req`` is taken once every burst of the previous one is issued (its beats may
    still be arriving) and fewer than ``WAITING`` transfers wait behind the one receiving: so
    the next transfer's AR goes out while the current one's data streams, and consecutive transfers
    arrive back to back. Its bursts (greedy INCR,
    at most ``max_burst`` beats, never across a 4 KiB boundary; ARSIZE = log2(data_bits/8)) are
    issued one per cycle while fewer than ``max_outstanding`` are in flight, so the next AR goes
    out while earlier bursts' data is still arriving. R beats come back in order (no IDs) and
    leave on ``data`` through one output register: RREADY = ``~data.valid | data.ready``, so
    the consumer's back-pressure reaches the bus directly and an unstalled stream moves one
    beat per cycle. A beat taken on R is on ``data`` in the next cycle (``LATENCY`` = 1).

    ``err`` is sticky: set by the first SLVERR/DECERR beat (``err_addr`` is then the address of
    that beat's burst), cleared when a request is taken while no transfer is receiving (so an
    error is kept while a transfer taken behind it runs). The beats still arrive, in order, with
    ``data.p.err`` set; the transfer completes (no hang).

    ``abort`` (a pulse: the consumer is being reset) issues no further AR, forgets the rest of
    the transfer and empties the output register; an AR already on the bus stays valid until
    taken. Every issued burst must complete, so RREADY stays high and the beats of the bursts in
    flight are taken and dropped (never shown on ``data``; their errors still set ``err``) until
    none is outstanding; then ``idle`` rises. A beat handed over in the abort cycle itself (a
    ``data`` handshake) has been delivered.

    Combinational paths: ``data.ready`` -> ``rready`` (back-pressure, on purpose). Every valid
    and every payload is a register.

    Parameters
    ----------
    data_bits : int
        Width of a beat: 64, 128 or 256.
    addr_width : int
        Width of the byte addresses (ARADDR, ``req.p.addr``, ``err_addr``).
    max_burst : int
        Longest burst in beats, 1..256.
    max_outstanding : int
        Most bursts in flight (AR issued, last R beat not yet taken), >= 1.

    Members
    -------
    rd : ``Out(Axi4ReadSignature(addr_width, data_bits))``
    req : ``In(stream.Signature(StructLayout({"addr": addr_width, "beats": 32})))``
        One transfer; ``beats`` = 0 is taken and does nothing.
    data : ``Out(stream.Signature(StructLayout({"data": data_bits, "last": 1, "err": 1})))``
        The beats in order; ``last`` on the transfer's final one; ``err`` on a beat answered
        SLVERR or DECERR.
    abort : ``In(1)``
    idle : ``Out(1)``
        No transfer in progress or waiting (every beat delivered or dropped) and no burst
        outstanding.
    err : ``Out(1)``, err_addr : ``Out(addr_width)``
    """

    #: Cycles from a beat taken on R to that beat on ``data``.
    LATENCY = 1
    #: Transfers that may wait behind the one receiving.
    WAITING = 2

    def __init__(self, data_bits=128, addr_width=32, max_burst=16, max_outstanding=4):
        bus = Axi4ReadSignature(addr_width, data_bits)        # checks both
        beat = stream.Signature(data.StructLayout({"data": data_bits, "last": 1, "err": 1}))
        super().__init__({"rd": Out(bus)}, Out(beat),
                         data_bits, addr_width, max_burst, max_outstanding)
        # beats of the transfer still to take on R, and ``!= 0``, ``== 1`` registered beside
        # it (attributes: a test checks the flags against the count every cycle)
        self.rx_left = Signal(32, name="rx_left")
        self.rx_nz, self.rx_one = Signal(name="rx_nz"), Signal(name="rx_one")

    def elaborate(self, platform):
        m = Module()
        rd, out = self.rd, self.data
        beat_bytes = self.data_bits // 8

        r_take = Signal()
        m.d.comb += [
            rd.rready.eq(~out.valid | out.ready),
            r_take.eq(rd.rvalid & rd.rready),
        ]
        accept, left, inflight = self._issue(m, rd, "ar", done=r_take & rd.rlast)

        # The transfer receiving R beats (rx_*), and those taken behind it, in order (waiting).
        # ``rx_left != 0`` and ``rx_left == 1`` registered beside it (set_rx): R's handshake,
        # late (the consumer's ready), then meets two registers, not two 32-bit compares,
        # before the enables of rx_left and the output register (8.94 ns routed at 8x8)
        rx_left, rx_nz, rx_one = self.rx_left, self.rx_nz, self.rx_one

        def set_rx(value, nonzero, one):
            m.d.sync += [rx_left.eq(value), rx_nz.eq(nonzero), rx_one.eq(one)]
        beat_addr = Signal(self.addr_width)         # address of the next R beat
        burst_addr = Signal(self.addr_width)        # address of its burst
        waiting = SyncFIFO(width=32 + self.addr_width, depth=self.WAITING)
        m.submodules.waiting = ResetInserter(self.abort)(waiting)
        bad = Signal()
        ending = Signal()                           # the receiving transfer's last beat
        free = Signal()                             # nothing receives after this cycle
        m.d.comb += [
            bad.eq(self._is_error(rd.rresp)),
            ending.eq(r_take & rx_one),
            free.eq(~rx_nz | ending),
            self.idle.eq((left == 0) & (inflight == 0) & ~rx_nz & ~waiting.r_rdy
                         & ~out.valid),
            self.req.ready.eq((left == 0) & waiting.w_rdy),
            waiting.w_data.eq(Cat(self.req.p.beats, self.req.p.addr)),
        ]

        # Beats arriving while rx_left == 0 belong to an aborted transfer: dropped.
        with m.If(r_take & rx_nz):
            m.d.sync += [
                out.valid.eq(1), out.p.data.eq(rd.rdata), out.p.last.eq(rx_one),
                out.p.err.eq(bad),
            ]
            set_rx(rx_left - 1, ~rx_one, rx_left == 2)
        with m.Elif(out.ready):
            m.d.sync += out.valid.eq(0)
        with m.If(r_take):
            m.d.sync += beat_addr.eq(beat_addr + beat_bytes)
            with m.If(rd.rlast):
                m.d.sync += burst_addr.eq(beat_addr + beat_bytes)
            with m.If(bad & ~self.err):
                m.d.sync += [self.err.eq(1), self.err_addr.eq(burst_addr)]

        def receive(beats, addr):
            m.d.sync += [beat_addr.eq(addr), burst_addr.eq(addr)]
            set_rx(beats, beats != 0, beats == 1)

        with m.If(free & waiting.r_rdy):            # the oldest waiting transfer goes next
            receive(waiting.r_data[:32], waiting.r_data[32:])
            m.d.comb += waiting.r_en.eq(1)
        with m.Elif(free & accept):                 # nothing waits: straight in
            receive(self.req.p.beats, self.req.p.addr)
        m.d.comb += waiting.w_en.eq(accept & ~(free & ~waiting.r_rdy))
        with m.If(accept & ~rx_nz & ~waiting.r_rdy):
            m.d.sync += self.err.eq(0)
        with m.If(self.abort):
            m.d.sync += out.valid.eq(0)
            set_rx(0, 0, 0)
        return m


class WriteDma(_Dma):
    """Writes transfers of ``beats`` beats, supplied on ``data``, to memory through AXI4
    (AW, W, B).

    A request on ``req`` is taken only when the engine is ``idle``; the caller then supplies
    exactly ``beats`` beats on ``data``, in order. Bursts (greedy INCR, at most ``max_burst``
    beats, never across a 4 KiB boundary; AWSIZE = log2(data_bits/8)) are issued on AW one per
    cycle while fewer than ``max_outstanding`` bursts await their B response. A burst's W beats
    go out only after its AW handshake (so any subordinate works, even one that takes W only
    after AW); the AW of the next bursts may go while W streams. The engine sets WLAST on each
    burst's last beat. W is one output register: ``data.ready`` = a burst is open (its AW taken)
    and the register is free or being taken, so an unstalled stream moves one beat per cycle.
    BREADY is always high.

    ``err`` is sticky: set by the first SLVERR/DECERR B response of the transfer (``err_addr``
    is then the address of that burst), cleared when the next request is taken.

    ``idle``: no transfer in progress and every issued burst has its B response (a store is
    complete only once memory has it).

    ``abort`` (a pulse: the producer is being reset) issues no further AW (an AW already on the
    bus stays valid until taken). The bursts whose AW was issued still need their W beats: the
    engine sends the rest of them with WSTRB = 0 (memory unchanged) without waiting for
    ``data`` (``data.ready`` low meanwhile), collects every B response, then is ``idle``. A beat
    already taken from ``data`` (including in the abort cycle itself) is written as supplied.

    Combinational paths: ``wready`` -> ``data.ready`` (back-pressure, on purpose). Every valid
    and every payload is a register.

    Parameters
    ----------
    data_bits, addr_width, max_burst : int
        As for :class:`ReadDma`.
    max_outstanding : int
        Most bursts in flight (AW issued, B response not yet taken), >= 1.

    Members
    -------
    wr : ``Out(Axi4WriteSignature(addr_width, data_bits))``
    req : ``In(stream.Signature(StructLayout({"addr": addr_width, "beats": 32})))``
        One transfer; ``beats`` = 0 is taken and does nothing.
    data : ``In(stream.Signature(StructLayout({"data": data_bits, "strb": data_bits // 8})))``
        The beats with their byte strobes.
    abort : ``In(1)``
    idle : ``Out(1)``
    err : ``Out(1)``, err_addr : ``Out(addr_width)``
    """

    def __init__(self, data_bits=128, addr_width=32, max_burst=16, max_outstanding=4):
        bus = Axi4WriteSignature(addr_width, data_bits)       # checks both
        beat = stream.Signature(data.StructLayout({"data": data_bits, "strb": data_bits // 8}))
        super().__init__({"wr": Out(bus)}, In(beat),
                         data_bits, addr_width, max_burst, max_outstanding)

    def elaborate(self, platform):
        m = Module()
        wr, inp = self.wr, self.data

        b_take = Signal()
        m.d.comb += [wr.bready.eq(1), b_take.eq(wr.bvalid)]
        accept, left, inflight = self._issue(m, wr, "aw", done=b_take)
        m.d.comb += [
            self.idle.eq((left == 0) & (inflight == 0)),
            self.req.ready.eq(self.idle),
        ]
        with m.If(accept):
            m.d.sync += self.err.eq(0)

        # The lengths (AWLEN) of the bursts whose AW was taken: one queue for W (popped at the
        # burst's last W beat), one for B (popped at its response).
        m.submodules.w_bursts = w_bursts = SyncFIFO(width=8, depth=self.max_outstanding)
        m.submodules.b_bursts = b_bursts = SyncFIFO(width=8, depth=self.max_outstanding)
        aw_take = Signal()
        m.d.comb += [
            aw_take.eq(wr.awvalid & wr.awready),
            w_bursts.w_en.eq(aw_take), w_bursts.w_data.eq(wr.awlen),
            b_bursts.w_en.eq(aw_take), b_bursts.w_data.eq(wr.awlen),
        ]

        # W: one register, loaded from `data`, or with WSTRB = 0 after an abort.
        zeroing = Signal()
        beat = Signal(8)                            # index of the next W beat in its burst
        open_ = Signal()
        last = Signal()
        w_load = Signal()
        m.d.comb += [
            open_.eq(w_bursts.r_rdy & (~wr.wvalid | wr.wready)),
            last.eq(beat == w_bursts.r_data),
            inp.ready.eq(open_ & ~zeroing),
            w_load.eq(open_ & (zeroing | inp.valid)),
            w_bursts.r_en.eq(w_load & last),
        ]
        with m.If(w_load):
            m.d.sync += [
                wr.wvalid.eq(1), wr.wlast.eq(last), beat.eq(Mux(last, 0, beat + 1)),
                wr.wdata.eq(Mux(zeroing, 0, inp.p.data)),
                wr.wstrb.eq(Mux(zeroing, 0, inp.p.strb)),
            ]
        with m.Elif(wr.wready):
            m.d.sync += wr.wvalid.eq(0)

        # B: responses in order; b_addr is the address of the burst answering next.
        b_addr = Signal(self.addr_width)
        m.d.comb += b_bursts.r_en.eq(b_take)
        with m.If(b_take):
            m.d.sync += b_addr.eq(b_addr + ((b_bursts.r_data + 1) << self.size))
            with m.If(self._is_error(wr.bresp) & ~self.err):
                m.d.sync += [self.err.eq(1), self.err_addr.eq(b_addr)]
        with m.If(accept):
            m.d.sync += b_addr.eq(self.req.p.addr)

        with m.If(self.abort):
            m.d.sync += zeroing.eq(1)
        with m.Elif(self.idle):
            m.d.sync += zeroing.eq(0)
        return m
