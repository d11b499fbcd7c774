"""The load and store units of the instruction stream: memory beats <-> window units.

Both move whole **units** of a window (:func:`hw.spec.isa.unit_bytes`: a power of two of bytes)
packed one after another in memory from a beat-aligned address; a beat is ``B = mem_bits / 8``
bytes. A unit of ``S <= B`` bytes is one of the ``B / S`` slots of a beat; a unit of ``S > B``
bytes spans ``S / B`` beats. Each unit moves one **piece** per cycle: a whole unit (``S <= B``)
or one beat of it (``S > B``), so at 16x16 with a 128-bit port a vector, a weight column or an
output row moves every cycle.
"""

from types import SimpleNamespace

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .pipeline import KEEP_APART
from .spec import Geometry
from .spec.isa import LOAD_WINDOWS, STORE_WINDOWS, Window, unit_bytes

__all__ = ["LoadUnit", "StoreUnit", "transfer_layout", "read_beat_layout", "write_beat_layout",
           "transfer_beats"]


def transfer_layout():
    """A DMA transfer: ``beats`` beats from byte address ``addr``."""
    return data.StructLayout({"addr": 32, "beats": 32})


def read_beat_layout(mem_bits):
    return data.StructLayout({"data": mem_bits, "last": 1, "err": 1})


def write_beat_layout(mem_bits):
    return data.StructLayout({"data": mem_bits, "strb": mem_bits // 8})


def transfer_beats(count, unit, beat):
    """Beats of ``count`` units of ``unit`` bytes on a port of ``beat`` bytes (logic)."""
    if unit >= beat:
        return count << exact_log2(unit // beat)
    slots = beat // unit
    return (count + (slots - 1)) >> exact_log2(slots)


class _Instr(wiring.Signature):
    """A LOAD or STORE as its unit receives it (``tag``: the instruction's index, for errors)."""

    def __init__(self):
        super().__init__({"start": Out(1), "window": Out(4), "first": Out(16), "count": Out(16),
                          "mem_addr": Out(32), "tag": Out(32)})


class _Held(wiring.Signature):
    """A LOAD the load unit holds: its window range, for the dispatcher's conflict checks.
    ``end`` is ``first + count``, registered with them (the comparisons that decide the
    dispatcher's pop then start at a register, with no adder before them)."""

    def __init__(self):
        super().__init__({"on": Out(1), "window": Out(4), "first": Out(16), "count": Out(16),
                          "end": Out(17)})


class LoadUnit(wiring.Component):
    """Copies ``count`` units from memory into a LUT, PARAM, WEIGHT or IN window.

    ``start`` (one cycle, while ``ready``) takes a checked LOAD; the unit asks for its read
    transfer on ``rd_req`` and writes the beats arriving on ``rd_data`` into the window, a
    piece per cycle, through the window's write port (``in_*``, ``w_*``, ``param_*``,
    ``lut_*``: registers, each piece written the cycle after it arrives, so the last one in
    the cycle after ``busy`` and the moving LOAD fall). Bytes past the window's storage
    (padding) are dropped.

    Two LOADs may be in the unit: one **moving** (its beats arriving) and one **queued** (taken,
    its transfer asked for or granted, waiting for its beats). So the next LOAD's request goes
    to the read port while the current one's data streams, and the memory's latency is paid
    once for back-to-back LOADs. ``ready``: a LOAD may start (nothing queued). ``moving`` and
    ``queued`` give the two LOADs' window ranges (conflict checks), ``first`` to ``end``;
    ``promote``: the queued LOAD becomes the moving one at the end of this cycle.

    A beat that came with a memory error is not written, nor any later beat of that LOAD;
    ``err`` rises then and stays until the unit is reset, with ``err_tag`` the failing LOAD's
    tag. A LOAD queued behind it still takes effect. ``busy``: some LOAD is in the unit.
    """

    def __init__(self, geometry: Geometry):
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        self.geometry = g = geometry
        rw = g.row_words
        super().__init__({
            "instr": In(_Instr()),
            "busy": Out(1), "ready": Out(1), "err": Out(1), "err_tag": Out(32),
            "moving": Out(_Held()), "queued": Out(_Held()), "promote": Out(1),
            "rd_req": Out(stream.Signature(transfer_layout())),
            "rd_data": In(stream.Signature(read_beat_layout(g.mem_bits))),
            "in_en": Out(1), "in_addr": Out(16), "in_data": Out(32 * rw), "in_mask": Out(4 * rw),
            "w_en": Out(1), "w_bank": Out(8), "w_col": Out(8), "w_data": Out(32 * rw),
            "w_mask": Out(4 * rw),
            "param_en": Out(1), "param_col": Out(8), "param_field": Out(2), "param_data": Out(32),
            "lut_en": Out(1), "lut_word": Out(6), "lut_data": Out(32),
        })
        self.left = Signal(16, name="left")
        self.left_nz = Signal(name="left_nz")
        self.left_le1 = Signal(name="left_le1", init=1)

    def elaborate(self, platform):
        m = Module()
        g, B = self.geometry, self.geometry.mem_bytes
        q, mv = self.queued, self.moving
        # the queued LOAD: its request is pending (asking) or granted (waiting for its beats)
        asking = Signal()
        q_addr, q_tag = Signal(32), Signal(32)
        # the moving LOAD's progress
        unit = Signal(16)     # the unit the next piece belongs to
        # units not written yet, and ``left != 0`` and ``left <= 1`` registered with it
        # (set_left): the beat's ready and the pieces' enables start at registers, not at a
        # 16-bit compare (the 8x8 accelerator's critical path ran from ``left`` through the
        # compare, the read DMA and the R channel's ready). Attributes, so that a test
        # checks the flags against ``left`` every cycle.
        left, left_nz, left_le1 = self.left, self.left_nz, self.left_le1

        def set_left(value, nonzero, at_most_one):
            m.d.sync += [left.eq(value), left_nz.eq(nonzero), left_le1.eq(at_most_one)]
        slot = Signal(range(max(1, B // 4)))   # unit within the beat (S <= B)
        part = Signal(range(max(1, 4 * g.row_words_p2 // B) + 1))  # beat within the unit
        drop = Signal()       # the moving LOAD met an error: no further piece is written
        mv_tag = Signal(32)
        beat = self.rd_data.payload

        m.d.comb += [
            self.busy.eq(q.on | mv.on), self.ready.eq(~q.on),
            self.rd_req.valid.eq(asking), self.rd_req.payload.addr.eq(q_addr),
        ]
        # the queued LOAD's beats, worked out as it starts: the request's payload is
        # registers (the read DMA compares the beats with 0 and 1 as it takes them)
        q_beats = Signal.like(self.rd_req.payload.beats, name="q_beats")
        m.d.comb += self.rd_req.payload.beats.eq(q_beats)

        ending = Signal()     # the moving LOAD's last beat is taken
        m.d.comb += ending.eq(mv.on & self.rd_data.valid & self.rd_data.ready & beat.last)
        granted = Signal()    # the queued LOAD's transfer was asked for
        m.d.sync += granted.eq(Mux(self.instr.start, 0, granted | (asking & self.rd_req.ready)))
        with m.If(asking & self.rd_req.ready):
            m.d.sync += asking.eq(0)

        piece_ok = Signal()   # this cycle writes a piece
        m.d.comb += piece_ok.eq(mv.on & self.rd_data.valid & ~beat.err & ~drop & left_nz)
        with m.If(mv.on & self.rd_data.valid & beat.err):
            m.d.sync += drop.eq(1)
            with m.If(~self.err):
                m.d.sync += [self.err.eq(1), self.err_tag.eq(mv_tag)]
        # the write ports, registered: each piece is written the cycle after it arrives
        # (the windows' enables fan out to hundreds of flip-flops, the parameters' and the
        # weights' clock enables, and started at the read port's valid and the unit's
        # state). Every reader of a window waits for its LOAD to end; the closest, a VMM's
        # first input-buffer read, comes two cycles after its LOAD's last piece arrives, so
        # one register fits and two do not (test_program_sim's
        # test_a_vmm_waits_for_the_load_of_its_input_vector fails with two).
        ports = self._write_ports()
        pieces = {name: Signal.like(port, name=f"piece_{name}") for name, port in ports.items()}
        for name, port in ports.items():
            if name.endswith("_en"):
                m.d.sync += port.eq(pieces[name])
            else:   # the data: no reset (read only with its enable, which has one)
                held = Signal.like(port, name=f"held_{name}", reset_less=True)
                with m.If(pieces[name[:name.index("_")] + "_en"]):
                    m.d.sync += held.eq(pieces[name])
                m.d.comb += port.eq(held)
        with m.If(mv.on):
            with m.Switch(mv.window):
                for w in LOAD_WINDOWS:
                    with m.Case(w):
                        self._move(m, w, beat, unit, left, slot, part, piece_ok,
                                   left_nz, left_le1, set_left, pieces)

        # (after the moving LOAD's updates: a LOAD that starts moving overrides them)
        def begin_moving(window, first, count, end, tag):
            m.d.sync += [mv.on.eq(1), mv.window.eq(window), mv.first.eq(first),
                         mv.count.eq(count), mv.end.eq(end), unit.eq(first),
                         slot.eq(0), part.eq(0), drop.eq(0), mv_tag.eq(tag)]
            set_left(count, count != 0, count <= 1)

        # the queued LOAD moves once its transfer is granted and the moving one has ended
        promote = self.promote
        m.d.comb += promote.eq(q.on & (granted | (asking & self.rd_req.ready))
                               & (~mv.on | ending))
        with m.If(promote):
            begin_moving(q.window, q.first, q.count, q.end, q_tag)
            m.d.sync += q.on.eq(0)
        with m.Elif(ending):
            m.d.sync += mv.on.eq(0)
        with m.If(self.instr.start):
            m.d.sync += [q.on.eq(1), asking.eq(1), q.window.eq(self.instr.window),
                         q.first.eq(self.instr.first), q.count.eq(self.instr.count),
                         q.end.eq(self.instr.first + self.instr.count),
                         q_addr.eq(self.instr.mem_addr), q_tag.eq(self.instr.tag)]
            with m.Switch(self.instr.window):
                for w in LOAD_WINDOWS:
                    with m.Case(w):
                        m.d.sync += q_beats.eq(transfer_beats(self.instr.count,
                                                              unit_bytes(w, g), B))

        return m

    def _write_ports(self):
        """The write ports by name (``in_en``, ``in_addr``, ..., ``lut_data``)."""
        names = ("in_en", "in_addr", "in_data", "in_mask", "w_en", "w_bank", "w_col", "w_data",
                 "w_mask", "param_en", "param_col", "param_field", "param_data", "lut_en",
                 "lut_word", "lut_data")
        return {name: getattr(self, name) for name in names}

    def _move(self, m, w, beat, unit, left, slot, part, piece_ok, left_nz, left_le1,
              set_left, pieces):
        """The pieces of window ``w``: which bytes of the beat, where they go (``pieces``,
        the write ports' inputs by name), and when the beat is taken (``left_nz``,
        ``left_le1``: ``left != 0``, ``left <= 1``, which ``set_left(value, nonzero,
        at_most_one)`` writes with ``left``)."""
        out = SimpleNamespace(**pieces)
        def count_down():    # one unit written: left - 1, and its flags from left's
            m.d.sync += unit.eq(unit + 1)
            set_left(left - 1, ~left_le1, left <= 2)
        g, B = self.geometry, self.geometry.mem_bytes
        S = unit_bytes(w, g)
        if S <= B:
            piece = beat.data.word_select(slot, 8 * S) if B > S else beat.data
            last_slot = (slot == B // S - 1) | left_le1
            m.d.comb += self.rd_data.ready.eq(last_slot)
            with m.If(self.rd_data.valid):
                m.d.sync += slot.eq(0 if B == S else slot + 1)
                with m.If(last_slot):
                    m.d.sync += slot.eq(0)
                with m.If(left_nz):
                    count_down()
            offset_mask = None
        else:
            parts = S // B
            piece = beat.data.replicate(parts)
            m.d.comb += self.rd_data.ready.eq(1)
            with m.If(self.rd_data.valid):
                m.d.sync += part.eq(part + 1)
                with m.If(part == parts - 1):
                    m.d.sync += part.eq(0)
                    with m.If(left_nz):
                        count_down()
            offset_mask = Const((1 << B) - 1, S) << (part * B)
        rw = g.row_words
        if w in (Window.IN, Window.WEIGHT):
            mask = (offset_mask if offset_mask is not None else Const((1 << S) - 1, S))[:4 * rw]
            row = piece[:32 * rw]
            if w == Window.IN:
                m.d.comb += [out.in_en.eq(piece_ok), out.in_addr.eq(unit),
                             out.in_data.eq(row), out.in_mask.eq(mask)]
            else:
                col_bits = exact_log2(g.cols_p2)
                m.d.comb += [out.w_en.eq(piece_ok), out.w_col.eq(unit[:col_bits]),
                             out.w_bank.eq(unit[col_bits:]), out.w_data.eq(row),
                             out.w_mask.eq(mask)]
        elif w == Window.PARAM:
            m.d.comb += [out.param_en.eq(piece_ok), out.param_col.eq(unit[2:]),
                         out.param_field.eq(unit[:2]), out.param_data.eq(piece[:32])]
        else:
            m.d.comb += [out.lut_en.eq(piece_ok), out.lut_word.eq(unit),
                         out.lut_data.eq(piece[:32])]


class StoreUnit(wiring.Component):
    """Copies ``count`` units of the ACC or OUT window into memory.

    ``start`` takes a checked STORE; the unit asks for one write transfer on ``wr_req``, reads
    the units through the window's read port (``acc_rd_*`` / ``out_rd_*``: data one cycle after
    ``en``, held until the next ``en``) and sends them as beats on ``wr_data``; bytes that hold
    no value are 0. It waits until the memory has answered every burst (``wr_idle``); ``err``
    then says whether it answered an error. ``busy`` from the cycle after ``start`` until then.

    A unit of a beat or more is registered as it leaves the read port (``*_held``), and its
    beats are chosen from that register: the port is a block RAM (the accumulator's; 4.26 ns
    clock to output on an ECP5), which then ends at a register, not in the beat's select and
    the write engine's W register after it. The first unit is read while the transfer is asked
    for, so its first beat still goes in the cycle after the request is taken. The next unit
    is read once the port's unit has moved into ``held``: a unit of two beats or more while
    the first of them go (the read enable then follows registers only, not the write engine's
    ready), a unit of one beat while the one before waits: a beat a cycle either way.
    """

    def __init__(self, geometry: Geometry):
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        self.geometry = g = geometry
        super().__init__({
            "instr": In(_Instr()),
            "busy": Out(1), "err": Out(1),
            "wr_req": Out(stream.Signature(transfer_layout())),
            "wr_data": Out(stream.Signature(write_beat_layout(g.mem_bits))),
            "wr_idle": In(1), "wr_err": In(1),
            "acc_rd_en": Out(1), "acc_rd_addr": Out(16), "acc_rd_data": In(32 * g.cols),
            "out_rd_en": Out(1), "out_rd_addr": Out(16), "out_rd_data": In(32 * g.col_words),
        })

    def elaborate(self, platform):
        m = Module()
        g, B = self.geometry, self.geometry.mem_bytes
        window = Signal(4)
        unit = Signal(16)      # the next unit to read
        to_read = Signal(16)   # units not read yet
        to_send = Signal(16)   # units not sent completely yet
        addr = Signal(32)
        requesting, moving = Signal(), Signal()
        # ``to_read != 0`` kept in a register beside ``to_read`` (the read enable of the
        # accumulator's block RAMs came after its 16-bit compare)
        to_read_nz = Signal(name="to_read_nz")
        m.d.comb += [self.wr_req.payload.addr.eq(addr),
                     self.wr_data.payload.strb.eq((1 << B) - 1)]
        with m.Switch(window):
            for w in STORE_WINDOWS:
                with m.Case(w):
                    m.d.comb += self.wr_req.payload.beats.eq(
                        transfer_beats(to_send, unit_bytes(w, g), B))
                    self._move(m, w, unit, to_read, to_read_nz, to_send, requesting, moving)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.instr.start):
                    m.d.sync += [window.eq(self.instr.window), unit.eq(self.instr.first),
                                 to_read.eq(self.instr.count), to_send.eq(self.instr.count),
                                 to_read_nz.eq(self.instr.count != 0),
                                 addr.eq(self.instr.mem_addr), self.busy.eq(1)]
                    m.next = "REQUEST"
            with m.State("REQUEST"):
                m.d.comb += [self.wr_req.valid.eq(1), requesting.eq(1)]
                with m.If(self.wr_req.ready):
                    m.next = "MOVE"
            with m.State("MOVE"):
                m.d.comb += moving.eq(1)
                with m.If(to_send == 0):
                    m.next = "FINISH"
            with m.State("FINISH"):  # every beat sent: wait for the memory's answers
                with m.If(self.wr_idle):
                    m.d.sync += [self.busy.eq(0), self.err.eq(self.wr_err)]
                    m.next = "IDLE"
        return m

    def _move(self, m, w, unit, to_read, to_read_nz, to_send, requesting, moving):
        """The window ``w``'s units: read in REQUEST (units of a beat or more) and MOVE, sent
        in MOVE (the write engine takes no beat before the transfer's request)."""
        g, B = self.geometry, self.geometry.mem_bytes
        S = unit_bytes(w, g)
        port = "acc" if w == Window.ACC else "out"
        rd_en, rd_addr = getattr(self, f"{port}_rd_en"), getattr(self, f"{port}_rd_addr")
        rd_data = getattr(self, f"{port}_rd_data")
        unit_data = Signal(8 * S, name=f"{port}_unit")
        m.d.comb += [unit_data.eq(rd_data), rd_addr.eq(unit)]
        read_now = Signal(name=f"{port}_read_now")
        m.d.comb += rd_en.eq(read_now)
        with m.If(read_now):
            m.d.sync += [unit.eq(unit + 1), to_read.eq(to_read - 1),
                         to_read_nz.eq(to_read != 1)]
        have = Signal(name=f"{port}_have")  # the port holds a unit read and not yet taken
        sent = self.wr_data.valid & self.wr_data.ready
        if S >= B:
            parts = S // B
            # the beat of ``held`` being sent: each 32-bit lane of the beat selects with its
            # own copy of the part count (one count had driven the 16x16's 4 x 128
            # multiplexers of the accumulator row, among its route's most congested nets)
            lane_bits = min(32, 8 * B)
            lanes = 8 * B // lane_bits
            part_copies = [Signal(range(parts), name=f"{port}_part_l{k}", attrs=KEEP_APART)
                           for k in range(lanes)]
            part = part_copies[0]
            done_unit = Signal(name=f"{port}_done_unit")
            # a unit at the port (``have``), then in ``held`` (``held_on``) while its beats go
            held = Signal(8 * S, name=f"{port}_held", reset_less=True)
            held_on = Signal(name=f"{port}_held_on")
            take = Signal(name=f"{port}_take")

            def lane(k):
                """Lane ``k`` of the beat ``part_copies[k]`` counts."""
                options = [held[8 * B * p + lane_bits * k:][:lane_bits] for p in range(parts)]
                return Cat(*options).word_select(part_copies[k], lane_bits)
            m.d.comb += [
                self.wr_data.valid.eq(moving & held_on),
                self.wr_data.payload.data.eq(Cat(*(lane(k) for k in range(lanes)))
                                             if parts > 1 else held),
                done_unit.eq(sent & (part == parts - 1)),
                take.eq(have & (~held_on | done_unit)),
                # A unit of two beats or more is read once the port's unit is taken (``have``
                # low, a register): the next read's data is there before ``held``'s last beat
                # goes, so the read enable does not wait for the write engine's ready
                read_now.eq((requesting | moving) & to_read_nz
                            & (~have if parts > 1 else ~have | take)),
            ]
            with m.If(take):
                m.d.sync += held.eq(unit_data)
            with m.If(sent):
                m.d.sync += [p.eq(0 if parts == 1 else p + 1) for p in part_copies]
            with m.If(done_unit):
                m.d.sync += [p.eq(0) for p in part_copies]
                m.d.sync += to_send.eq(to_send - 1)
            m.d.sync += [have.eq(read_now | (have & ~take)),
                         held_on.eq(take | (held_on & ~done_unit))]
        else:
            slots = B // S
            buf = Signal(8 * B, name=f"{port}_beat")
            slot = Signal(range(slots), name=f"{port}_slot")
            full = Signal(name=f"{port}_full")
            placed = Signal(16, name=f"{port}_placed")  # units in the beat being sent
            closes = Signal(name=f"{port}_closes")  # the unit in the port completes the beat
            m.d.comb += [
                closes.eq(have & ((slot == slots - 1) | ~to_read_nz)),
                read_now.eq(moving & to_read_nz & ~full & ~closes),
                self.wr_data.valid.eq(full),
                self.wr_data.payload.data.eq(buf),
            ]
            m.d.sync += have.eq(read_now)
            with m.If(have):
                m.d.sync += [buf.word_select(slot, 8 * S).eq(unit_data), slot.eq(slot + 1),
                             placed.eq(placed + 1)]
                with m.If(closes):
                    m.d.sync += [full.eq(1), slot.eq(0)]
            with m.If(sent):
                m.d.sync += [full.eq(0), buf.eq(0), to_send.eq(to_send - placed),
                             placed.eq(0)]

