"""The instruction stream: fetch, dispatch, and the load, compute and store units.

See :mod:`hw.spec.isa` for what a program means; this is how the hardware runs it.
"""

from amaranth import Cat, Const, Elaboratable, Module, Mux, Shape, Signal, signed
from amaranth.hdl import ResetInserter
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .controller import POOL_INVERSES, late_command_check, rom
from .ecp5 import check_cells, mult18x18d
from .enums import ErrorCode, Opcode
from .load_store import (
    LoadUnit,
    StoreUnit,
    read_beat_layout,
    transfer_layout,
    write_beat_layout,
)
from .pipeline import counters as perf_counters
from .spec import Geometry, isa, regmap, timing
from .spec.isa import INSTR_BYTES, LOAD_WINDOWS, STORE_WINDOWS, Op, Window, unit_bytes, units

__all__ = ["InstructionCheck", "InstructionQueue", "LoadRows", "Sequencer", "VmmFields"]

_FLAGS = regmap.register("CMD_FLAGS")
#: cycles from a VMM's last issue until that vector has passed the array's multipliers (the
#: input buffer's read, the array's input register, the products): its weights and inputs
#: are free from then on
FRONT = timing.INPUT_READ_LATENCY + 2
#: instructions the fetch unit asks for at once, and its queue's depth
FETCH_BLOCK = 4
QUEUE_DEPTH = 8
#: an instruction's range ends, as :class:`InstructionCheck` gives them with its verdict
ENDS = data.StructLayout({"end": 17, "acc": 17, "out": 17})


class VmmFields(data.Struct):
    """The fields of a VMM instruction, as the compute unit hands them to the datapath."""
    flags: 8
    bank: 8
    out_zp: signed(8)
    in_addr: 16
    acc_addr: 16
    out_addr: 16
    count: 16
    rows: 8
    cols: 8
    pool: 8


def _flag(flags, name):
    return flags[_FLAGS.field(name).lsb]


def _decoder(instr):
    """An instruction's (its ``8 * INSTR_BYTES`` bits) opcode, a function ``fld(op, name)``
    giving the field ``name`` of an ``op`` instruction as hw/spec/isa.py lays it out, and a
    function ``reserved(op)``: some bit outside the fields of an ``op`` instruction is set."""
    w = [instr[32 * i:32 * i + 32] for i in range(4)]

    def fld(instr_op, name):
        f = isa.field(instr_op, name)
        return w[f.word][f.lsb:f.lsb + f.width]

    def reserved(instr_op):
        return Cat(*((w[i] & isa.reserved_mask(instr_op, i)) != 0 for i in range(4))).any()

    return w[0][:8], fld, reserved


#: the byte rooms' width in beats: signed, for ``2**32 / B + pitch`` down to ``-(2**32 / B +
#: 2**16 * S / B)`` (beats of 4 bytes or more; Geometry's ports have 8 or more)
ROOM_WIDTH = 33


def _below(m, name, limit, value):
    """``value > limit`` (``limit`` signed, ``value`` unsigned) as the sign of ``limit -
    value`` in a width where it cannot overflow: the carry chain's top sum bit is the
    verdict. Yosys's ``>`` of a signed and an unsigned operand had put two LUTs after the
    chain (the sign and overflow terms; the 8x8's routed critical path at 4752a47, seed 4,
    8.08 ns)."""
    diff = Signal(signed(max(len(limit), len(value) + 1) + 1), name=name)
    m.d.comb += diff.eq(limit - value)
    return diff[-1]


def _minus_two(m, name, plus, a, f, nz, width):
    """``plus - a - f - nz`` in ``width`` bits, signed (``nz`` one bit): one carry chain after
    a carry-save layer. With ``-x = ~x + 1``: ``plus + ~a + ~f`` is ``s + 2c`` (their bitwise
    sum and majority), so the result is ``s + (2c + 1 - nz) + 1``, where ``2c + 1 - nz`` is
    ``c`` shifted up with ``~nz`` in its free bit 0."""
    ops = []
    for x in (plus, a, f):
        w = Signal(width, name=f"{name}_op{len(ops)}")
        m.d.comb += w.eq(x)
        ops.append(w)
    p, na, nf = ops[0], ~ops[1], ~ops[2]
    total = Signal(signed(width), name=name)
    m.d.comb += total.eq((p ^ na ^ nf) + Cat(~nz, ((p & na) | (p & nf) | (na & nf))[:-1]) + 1)
    return total


def _overlap(a0, a_end, b0, b_end):
    """Ranges [a0, a_end) and [b0, b_end) share a unit (logic)."""
    return (a0 < b_end) & (b0 < a_end)


class InstructionQueue(Elaboratable):
    """Amaranth's ``SyncFIFOBuffered`` (the same ports, levels and latency: an entry written
    to an empty queue is at ``r_data`` two cycles later) whose entries have a late part:
    ``late`` is the late part of the entry written in the cycle before (``w_en``), stored
    with it then. An entry can reach ``r_data`` no earlier than two cycles after its write, so
    the late part makes it in time (its memory's read port is transparent to its write).
    ``r_data`` is the entry, then its late part. The sequencer's late part is its check's
    failed bit and range ends (:class:`InstructionCheck`, a cycle after the instruction).
    ``depth`` >= 2.

    ``registered_late``: the late part's low bits that pass a register before their memory
    (written a cycle after the rest of the late part), so whatever computes them ends at a
    flip-flop, not at a memory's write data and its write-through into ``r_data``. An entry
    read in the cycle its late part is written (an empty queue) shows them from that register
    in the next cycle (one 2:1 select of flip-flops before ``r_data``'s bits), and keeps them
    in a head register of their own; an entry read a cycle later takes them through the
    memory's write-through from the register.
    """

    def __init__(self, *, width, late_width, depth, registered_late=0):
        if depth < 2:
            raise ValueError(f"depth must be >= 2, not {depth!r}")
        if not 0 <= registered_late <= late_width:
            raise ValueError(f"registered_late must be 0..{late_width} (late_width), not "
                             f"{registered_late!r}")
        self.width, self.late_width, self.depth = width, late_width, depth
        self.registered_late = registered_late
        self.w_en, self.w_rdy = Signal(), Signal()
        self.w_data, self.late = Signal(width), Signal(late_width)
        self.r_en, self.r_rdy = Signal(), Signal()
        self.r_data = Signal(width + late_width)
        self.level = Signal(range(depth + 1))

    def elaborate(self, platform):
        m = Module()
        inner_depth = self.depth - 1   # the memory; r_data is the last entry's register
        inner_level = Signal(range(inner_depth + 1))
        inner_r_rdy = Signal()
        do_write = Signal()
        m.d.comb += [self.w_rdy.eq(inner_level != inner_depth), inner_r_rdy.eq(inner_level != 0),
                     do_write.eq(self.w_rdy & self.w_en)]
        do_inner_read = inner_r_rdy & (~self.r_rdy | self.r_en)
        m.submodules.storage = storage = memory.Memory(shape=self.width, depth=inner_depth,
                                                       init=[])
        w_port, r_port = storage.write_port(), storage.read_port(domain="sync")
        produce, consume = Signal(range(inner_depth)), Signal(range(inner_depth))
        late_addr, late_en = Signal(range(inner_depth)), Signal()
        k = self.registered_late
        head_late = []    # the late part at r_data: the registered bits, then the others
        if k:
            head_late.append(self._registered_late(m, inner_depth, late_addr, late_en,
                                                   consume, do_inner_read))
        if k < self.late_width:
            m.submodules.late_storage = late = memory.Memory(shape=self.late_width - k,
                                                             depth=inner_depth, init=[])
            late_w = late.write_port()
            late_r = late.read_port(domain="sync", transparent_for=(late_w,))
            m.d.comb += [late_w.addr.eq(late_addr), late_w.data.eq(self.late[k:]),
                         late_w.en.eq(late_en),
                         late_r.addr.eq(consume), late_r.en.eq(do_inner_read)]
            head_late.append(late_r.data)

        def incr(v):
            return Mux(v == inner_depth - 1, 0, v + 1)
        m.d.comb += [w_port.addr.eq(produce), w_port.data.eq(self.w_data),
                     w_port.en.eq(do_write),
                     r_port.addr.eq(consume), r_port.en.eq(do_inner_read),
                     self.r_data.eq(Cat(r_port.data, *head_late)),
                     self.level.eq(inner_level + self.r_rdy)]
        m.d.sync += [late_addr.eq(produce), late_en.eq(do_write)]
        with m.If(do_write):
            m.d.sync += produce.eq(incr(produce))
        with m.If(do_inner_read):
            m.d.sync += consume.eq(incr(consume))
        with m.If(do_write & ~do_inner_read):
            m.d.sync += inner_level.eq(inner_level + 1)
        with m.If(do_inner_read & ~do_write):
            m.d.sync += inner_level.eq(inner_level - 1)
        with m.If(do_inner_read):
            m.d.sync += self.r_rdy.eq(1)
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        return m

    def _registered_late(self, m, inner_depth, late_addr, late_en, consume, do_inner_read):
        """The ``registered_late`` bits: registered (``late_q``), written to their memory a
        cycle after the rest of the late part, read combinationally into a head register;
        returns their value at ``r_data``."""
        k = self.registered_late
        m.submodules.late_reg_storage = mem = memory.Memory(shape=k, depth=inner_depth,
                                                            init=[])
        wp, rp = mem.write_port(), mem.read_port(domain="comb")
        late_q, q_en = Signal(k, name="late_q"), Signal(name="late_q_en")
        q_addr = Signal.like(late_addr, name="late_q_addr")
        m.d.sync += [late_q.eq(self.late[:k]), q_addr.eq(late_addr), q_en.eq(late_en)]
        m.d.comb += [wp.addr.eq(q_addr), wp.data.eq(late_q), wp.en.eq(q_en),
                     rp.addr.eq(consume)]
        # ``fresh``: r_data's entry was read as its late part came (its bits are in late_q now)
        fresh, held = Signal(name="late_fresh"), Signal(k, name="late_held")
        m.d.sync += fresh.eq(do_inner_read & late_en & (late_addr == consume))
        with m.If(do_inner_read):   # the memory, or its write in this cycle (late_q)
            m.d.sync += held.eq(Mux(q_en & (q_addr == consume), late_q, rp.data))
        with m.Elif(fresh):
            m.d.sync += held.eq(late_q)
        return Mux(fresh, late_q, held)


class LoadRows(Elaboratable):
    """The rows of the queue's head as the dispatcher hands them out: a 2-D LOAD runs as
    one-row LOADs, one per ``step``; every other instruction is one row.

    The head's fields (``is_load``, ``rows``, ``first``, ``count``, ``addr``, ``skip``,
    ``pitch``, and, computed before the queue, ``head_end``: ``first + count``, and
    ``one_row``: ``rows <= 1``) may change only
    while the row count is 0 (the sequencer pops its head with its
    last row). Outputs, combinational: the current row's ``first`` unit, its ``end``
    (``first + count``), its ``mem_addr``, and ``last``: it is the instruction's last row
    (``~is_load | (row + 1 >= rows)``). ``step`` goes to the next row (to row 0 after the
    last); ``restart`` to row 0. The same values as counting the rows in ``row`` and
    comparing it (``row == 0`` choosing between the head's fields and the next row's
    registers), but ``row == 0`` and the next row's ``last`` and ``end`` are registers of
    their own, set as a row is handed out: the dispatcher's verdict (which pops the queue)
    starts at flip-flops and the head's fields, not at a 16-bit compare and an adder after
    the row count.
    """

    def __init__(self):
        self.is_load, self.rows, self.one_row = Signal(), Signal(16), Signal()
        self.head_first, self.count, self.skip = Signal(16), Signal(16), Signal(16)
        self.head_end = Signal(17)
        self.head_addr, self.pitch = Signal(32), Signal(20)
        self.step, self.restart = Signal(), Signal()
        self.first, self.end = Signal(16), Signal(17)
        self.mem_addr, self.last = Signal(32), Signal()

    def elaborate(self, platform):
        m = Module()
        # the row count plus two (the next row's ``last`` is a comparison with ``rows``
        # alone, no adder before it)
        row2 = Signal(17, init=2, name="load_row2")
        zero = Signal(init=1, name="load_row_zero")     # row == 0
        next_last = Signal(name="load_next_last")       # row + 1 >= rows (row != 0)
        row_first, row_addr = Signal(16, name="row_first"), Signal(32, name="row_addr")
        row_end = Signal(17, name="row_end")            # row_first + count
        step_first = Signal(16)
        m.d.comb += [
            self.first.eq(Mux(zero, self.head_first, row_first)),
            self.end.eq(Mux(zero, self.head_end, row_end)),
            self.mem_addr.eq(Mux(zero, self.head_addr, row_addr)),
            self.last.eq(~self.is_load | Mux(zero, self.one_row, next_last)),
            step_first.eq(self.first + self.skip),
        ]
        with m.If(self.restart):
            m.d.sync += [row2.eq(2), zero.eq(1)]
        with m.Elif(self.step):
            m.d.sync += [row2.eq(Mux(self.last, 2, row2 + 1)), zero.eq(self.last),
                         next_last.eq(row2 >= self.rows),
                         row_first.eq(step_first), row_end.eq(step_first + self.count),
                         row_addr.eq(self.mem_addr + self.pitch)]
        return m


class InstructionCheck(Elaboratable):
    """The check of each instruction as it enters the sequencer's queue
    (:func:`hw.spec.isa.check`, the checks of the whole instruction: a 2-D LOAD's every row):
    ``failed`` is the verdict on the ``instr`` given :data:`LATENCY` cycles before, fetched
    with read error ``err`` (whether it fails), and ``code`` its error code, a cycle later
    (:data:`CODE_LATENCY`; NONE if it passes). With ``failed`` come the
    instruction's range ends (:data:`ENDS`), whatever its opcode: ``ends.end`` is a LOAD's or
    STORE's ``FIRST + COUNT`` and a VMM's ``IN_ADDR + COUNT``, ``ends.acc`` and ``ends.out`` a
    VMM's ``ACC_ADDR + COUNT`` and ``OUT_ADDR + COUNT``: stored with the verdict, they spare
    the dispatcher the adders before its conflict comparisons.

    Steps with a register between each (``LATENCY = 2`` to ``failed``; at most a table
    look-up, a multiply or an adder and a comparison between two registers):

    1. the table look-ups (the pool's inverse, the window's size, a row's bytes in memory),
       a LOAD's or STORE's room after its first row (in the window, below 2**32), the same
       plus a row's step, the multiplies over its rows (``rows * skip``, ``rows *
       pitch``), and a VMM's input and accumulator ends;
    2. the VMM's conditions and pool multiplies (:func:`~hw.controller.late_command_check`,
       from the registered inverse), a LOAD's or STORE's comparisons of its rows with its room
       and its other conditions, the range ends;
    3. the verdict: the VMM's pool comparisons, and ``failed``: the OR of the failing
       conditions, chosen by opcode;
    4. (``code``) the error code from step 3's inputs registered: the first failing
       condition of a LOAD or STORE, the VMM's from its pool comparisons registered, the
       choice by opcode.

    The sequencer stores ``failed`` as its queue entry's late part, so the dispatcher, which
    pops the queue, starts at a stored bit, not at the check, and ``code``, of the first
    failing instruction, in a register of its own (it needs the code only as a program
    stops). ``failed`` is the OR of the failing conditions (for a VMM,
    :func:`~hw.controller.late_command_check`'s ``failed``), not a comparison of ``code``.

    ``mult_cells`` (:data:`hw.ecp5.MULT_CELLS`): how step 1's two multiplies and step 2's
    two pool multiplies (:func:`~hw.controller.late_command_check`) are built, ``"inferred"``
    (default: ``*`` and a register) or ``"ecp5"``, each a MULT18X18D block whose own output
    register is the product's register (:func:`hw.ecp5.mult18x18d`, operands
    unregistered): the cycle ends inside the block, not after a route from it to a slice.
    The same verdicts in the same cycles.
    """
    LATENCY = 2
    CODE_LATENCY = 3

    def __init__(self, geometry: Geometry, mult_cells: str = "inferred"):
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        check_cells(mult_cells)
        self.geometry = geometry
        self.mult_cells = mult_cells
        self.instr, self.err = Signal(8 * INSTR_BYTES), Signal()
        self.code, self.failed = Signal(ErrorCode), Signal()
        self.ends = Signal(ENDS)

    def elaborate(self, platform):
        m = Module()
        g, B = self.geometry, self.geometry.mem_bytes

        def reg(value, name):
            r = Signal.like(value, name=name, reset_less=True)
            m.d.sync += r.eq(value)
            return r

        # --- 1: look-ups and the rows' multiplies ---------------------------------------------
        _, fld, _ = _decoder(self.instr)
        window, count = fld(Op.LOAD, "WINDOW"), fld(Op.LOAD, "COUNT")
        rows, skip, pitch = fld(Op.LOAD, "ROWS"), fld(Op.LOAD, "SKIP"), fld(Op.LOAD, "PITCH")
        size = Signal(17, name="terms_size")
        with m.Switch(window):
            for win in Window:
                with m.Case(win):
                    m.d.comb += size.eq(units(win, g))
        instr1, err1 = reg(self.instr, "check_instr"), reg(self.err, "check_err")
        # a VMM's input and accumulator ends (``IN_ADDR + COUNT``, ``ACC_ADDR + COUNT``),
        # registered: step 2's range comparisons come without an adder before them
        vmm_count = fld(Op.VMM, "COUNT")
        in_end1 = reg(fld(Op.VMM, "IN_ADDR") + vmm_count, "check_in_end")
        acc_end1 = reg(fld(Op.VMM, "ACC_ADDR") + vmm_count, "check_acc_end")
        inverse1 = rom(m, POOL_INVERSES, fld(Op.VMM, "POOL"), "check_pool_inverse")
        # The rows after the first must fit in the room left after the first row: in the
        # window (``size - (first + count)``) and below 2**32 (``2**32 - mem_addr - row
        # bytes``), negative when the first row is past the end already. Without a
        # ``rows - 1`` before the multiplies (its carry chain came first): for 1 row or more,
        # ``rows * skip`` against the room plus a row's step, the same for the pitch; for
        # ROWS 0 (one row), whether the room is negative. The pitch in whole beats (one
        # 16-bit multiply, no adder after it): a pitch with low bits fails MEM_ALIGN, which
        # comes before MEM_RANGE.
        beat_bits = exact_log2(B)
        pitch_beats = pitch[beat_bits:]
        first, addr = fld(Op.LOAD, "FIRST"), fld(Op.LOAD, "MEM_ADDR")
        unit_room = Signal(signed(19), name="terms_unit_room")
        unit_room1 = Signal(signed(19), name="terms_unit_room1")
        byte_room = Signal(signed(ROOM_WIDTH), name="terms_byte_room")
        byte_room1 = Signal(signed(ROOM_WIDTH), name="terms_byte_room1")
        m.d.comb += [unit_room.eq(size - (first + count)),
                     unit_room1.eq((size + skip) - (first + count))]
        # The byte rooms in beats (a MEM_RANGE verdict only counts for an aligned address,
        # MEM_ALIGN coming first): ``2**32 / B - addr / B - row`` and the same plus the pitch,
        # where a row is ``floor + nz`` beats (``COUNT`` units: its beats rounded down, and
        # whether there is a part beat), per unit size, chosen by the window after the sums.
        # Each sum is one carry chain after a carry-save layer of LUTs (:func:`_minus_two`;
        # ``2**32 / B + pitch`` is an OR: the pitch is below 2**32 / B): a subtraction then
        # another had been two chains, the 8x8 accelerator's deepest check path (8.54 ns
        # estimated, 8.25 routed).
        top = Const(1 << (32 - beat_bits), 33 - beat_bits)
        addr_beats = addr[beat_bits:]
        by_size = {}
        for win in Window:
            S = unit_bytes(win, g)
            if S not in by_size:
                if S >= B:
                    floor, nz = count << exact_log2(S // B), Const(0)
                else:
                    k = exact_log2(B // S)     # units a beat: 2**k
                    floor, nz = count[k:], count[:k].any()
                by_size[S] = (
                    _minus_two(m, f"terms_byte_room_{S}", top, addr_beats, floor, nz,
                               ROOM_WIDTH),
                    _minus_two(m, f"terms_byte_room1_{S}", top | pitch_beats, addr_beats,
                               floor, nz, ROOM_WIDTH))
        with m.Switch(window):
            for win in Window:
                with m.Case(win):
                    room, room1 = by_size[unit_bytes(win, g)]
                    m.d.comb += [byte_room.eq(room), byte_room1.eq(room1)]
        t1 = {name: reg(value, f"terms_{name}_q") for name, value in {
            "rows_zero": rows == 0, "count_zero": count == 0, "unit_room": unit_room,
            "byte_room": byte_room, "unit_room1": unit_room1, "byte_room1": byte_room1}.items()}
        for name, a, b in (("unit_rows", rows, skip), ("byte_rows", rows, pitch_beats)):
            if self.mult_cells == "ecp5":
                t1[name] = Signal(len(a) + len(b), name=f"terms_{name}_q")
                mult18x18d(m, a, b, t1[name], None, Const(1), name=f"check_{name}_mult",
                           signed_operands=False)
            else:
                t1[name] = reg(a * b, f"terms_{name}_q")

        # --- 2: the conditions ----------------------------------------------------------------
        op, fld, reserved = _decoder(instr1)
        window, count = fld(Op.LOAD, "WINDOW"), fld(Op.LOAD, "COUNT")
        addr, pitch = fld(Op.LOAD, "MEM_ADDR"), fld(Op.LOAD, "PITCH")
        vmm = Signal(VmmFields, name="check_vmm")
        m.d.comb += [getattr(vmm, f.attr).eq(fld(Op.VMM, f.name)) for f in isa.FIELDS[Op.VMM]]
        vmm_err, vmm_failed = late_command_check(
            m, g, op=Opcode.VMM, bank=vmm.bank, in_addr=vmm.in_addr, acc_addr=vmm.acc_addr,
            out_addr=vmm.out_addr, count=vmm.count, rows=vmm.rows, cols=vmm.cols,
            requant=_flag(vmm.flags, "REQUANT"), pool=vmm.pool, pool_inverse=inverse1,
            mult_cells=self.mult_cells, in_end=in_end1, acc_end=acc_end1, error_latency=2)
        is_load = op == Op.LOAD
        # The rows against their room: the product after its multiply block is compared
        # with a limit chosen among registers before the carry chain, nothing after it. For
        # ROWS 0 (one row) the product is 0, and ``0 > room`` is "the first row is past the
        # end"; for COUNT 0 the limit is -1, which every product exceeds (the choice after
        # the comparison had put two LUTs and their routes after the chain: the 8x8's routed
        # critical path at 81be960, seeds 2 and 3, 8.28-8.30 ns).
        unit_limit = Signal(signed(20), name="check_unit_limit")
        byte_limit = Signal(signed(ROOM_WIDTH), name="check_byte_limit")
        m.d.comb += [unit_limit.eq(Mux(t1["count_zero"], -1,
                                       Mux(t1["rows_zero"], t1["unit_room"],
                                           t1["unit_room1"]))),
                     byte_limit.eq(Mux(t1["rows_zero"], t1["byte_room"], t1["byte_room1"]))]
        # a LOAD's or STORE's conditions, in ErrorCode order
        ls = {
            "bad_fields": Mux(is_load, reserved(Op.LOAD), reserved(Op.STORE)),
            "window": ~Mux(is_load, window.matches(*LOAD_WINDOWS),
                           window.matches(*STORE_WINDOWS)),
            "empty": _below(m, "check_unit_diff", unit_limit, t1["unit_rows"]),
            "unaligned": (addr[:exact_log2(B)] != 0) | (pitch[:exact_log2(B)] != 0),
            "byte_range": _below(m, "check_byte_diff", byte_limit, t1["byte_rows"]),
        }
        ls_codes = {"bad_fields": ErrorCode.BAD_INSTR, "window": ErrorCode.BAD_WINDOW,
                    "empty": ErrorCode.WINDOW_RANGE, "unaligned": ErrorCode.MEM_ALIGN,
                    "byte_range": ErrorCode.MEM_RANGE}
        t2 = {name: reg(value, f"check_{name}_q") for name, value in {
            "err": err1, "end_fence": op.matches(Op.END, Op.FENCE), "load_store":
            op.matches(Op.LOAD, Op.STORE), "vmm": op == Op.VMM, "reserved_end":
            reserved(Op.END), "reserved_vmm": reserved(Op.VMM)}.items()}
        # the conditions themselves are registered, their priority comes in step 3 (after the
        # rows' comparison it came last in the routed 8x8's critical path at cffbbae, seed 2)
        ls = {name: reg(cond, f"check_ls_{name}_q") for name, cond in ls.items()}
        ends = Signal(ENDS, name="check_ends")
        m.d.comb += [
            ends.end.eq(Mux(op == Op.VMM, in_end1, fld(Op.LOAD, "FIRST") + fld(Op.LOAD, "COUNT"))),
            ends.acc.eq(acc_end1),
            ends.out.eq(fld(Op.VMM, "OUT_ADDR") + fld(Op.VMM, "COUNT")),
        ]
        m.d.sync += self.ends.eq(ends)

        # --- 3: the verdict (failed), then, a cycle later, its error code -------------------
        with m.If(t2["err"]):
            m.d.comb += self.failed.eq(1)
        with m.Elif(t2["end_fence"]):
            m.d.comb += self.failed.eq(t2["reserved_end"])
        with m.Elif(t2["load_store"]):
            m.d.comb += self.failed.eq(Cat(*ls.values()).any())
        with m.Elif(t2["vmm"]):
            m.d.comb += self.failed.eq(t2["reserved_vmm"] | vmm_failed)
        with m.Else():
            m.d.comb += self.failed.eq(1)
        # the code from the same conditions registered once more (the VMM's from
        # late_command_check's error_latency 2: its pool comparisons registered), so no
        # multiply block's output reaches the priority order in its cycle
        t3 = {name: reg(value, f"code_{name}_q") for name, value in t2.items()}
        ls3 = {name: reg(value, f"code_ls_{name}_q") for name, value in ls.items()}
        ls_code = Signal(ErrorCode, name="check_ls_code")
        for i, (name, cond) in enumerate(ls3.items()):
            with (m.If if i == 0 else m.Elif)(cond):
                m.d.comb += ls_code.eq(ls_codes[name])
        with m.If(t3["err"]):
            m.d.comb += self.code.eq(ErrorCode.MEM_READ)
        with m.Elif(t3["end_fence"]):
            with m.If(t3["reserved_end"]):
                m.d.comb += self.code.eq(ErrorCode.BAD_INSTR)
        with m.Elif(t3["load_store"]):
            m.d.comb += self.code.eq(ls_code)
        with m.Elif(t3["vmm"]):
            with m.If(t3["reserved_vmm"]):
                m.d.comb += self.code.eq(ErrorCode.BAD_INSTR)
            with m.Else():
                m.d.comb += self.code.eq(vmm_err)
        with m.Else():
            m.d.comb += self.code.eq(ErrorCode.BAD_INSTR)
        return m


class Sequencer(wiring.Component):
    """Runs a program from memory: see :mod:`hw.spec.isa`.

    ``run`` (DOORBELL.RUN) starts the program at ``prog_addr`` of at most ``prog_len``
    instructions. The fetch unit reads blocks of :data:`FETCH_BLOCK` instructions ahead into a
    queue, checking each as it enters (:class:`InstructionCheck`: :func:`hw.spec.isa.check`;
    the verdict is carried with it); the dispatcher takes the queue's head, stops on a bad one
    and
    hands it to its unit once the unit is free and no running instruction conflicts with it
    (:func:`hw.spec.isa.conflicts`). The units: :class:`LoadUnit`, :class:`StoreUnit`, and the
    compute unit, which hands a VMM's fields to the datapath on ``vmm`` (pulsing ``vmm_start``)
    when the controller is ``ctl_ready``: in its last issue cycle, so consecutive VMMs issue with
    one idle cycle between them, not a pipeline drain. At most two VMMs are in flight (one
    issuing, one draining); each counts until its ``ctl_done`` (they finish in order).
    ``done`` pulses when the program ended (END, or an error once every unit is idle), with
    ``error`` and ``pc``; ``busy`` is high meanwhile.

    The read port (``rd_*``) is shared by fetch and the load unit (the load unit first): one
    transfer receiving and one taken behind it, so a transfer's request overlaps the previous
    one's data; the write port (``wr_*``) belongs to the store unit.

    ``mult_cells`` is the instruction check's (:class:`InstructionCheck`): ``"ecp5"`` builds
    its two multiplies as MULT18X18D blocks; the same cycles.
    """

    def __init__(self, geometry: Geometry, mult_cells: str = "inferred"):
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        self.geometry = g = geometry
        self.check = InstructionCheck(g, mult_cells)
        self.load = LoadUnit(g)
        self.store = StoreUnit(g)
        super().__init__({
            "run": In(1), "prog_addr": In(32), "prog_len": In(32), "clear_counters": In(1),
            "busy": Out(1), "done": Out(1), "error": Out(ErrorCode),
            "pc": Out(32), "mem_error_addr": Out(32),
            "rd_req": Out(stream.Signature(transfer_layout())),
            "rd_data": In(stream.Signature(read_beat_layout(g.mem_bits))),
            "rd_idle": In(1), "rd_err_addr": In(32),
            "wr_req": Out(stream.Signature(transfer_layout())),
            "wr_data": Out(stream.Signature(write_beat_layout(g.mem_bits))),
            "wr_idle": In(1), "wr_err": In(1), "wr_err_addr": In(32),
            "vmm_start": Out(1), "vmm": Out(VmmFields), "ctl_done": In(1), "ctl_ready": In(1),
            "ctl_last_issue": In(1),
            "perf_load": Out(32), "perf_store": Out(32), "perf_rd_bytes": Out(32),
            "perf_wr_bytes": Out(32), "perf_instrs": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        g, B = self.geometry, self.geometry.mem_bytes
        load, store = self.load, self.store
        flush = Signal()  # DOORBELL.RUN: a new program (every unit is idle)
        # The units and the queue are reset a cycle after it, in the first WAKE cycle (no
        # fetch before its end): a register drives their hundreds of synchronous resets, not
        # the bus's write decode (10.2 ns routed at f7e9deb, seed 1).
        reset_units = Signal(name="reset_units")
        m.d.sync += reset_units.eq(flush)
        m.submodules.load = ResetInserter(reset_units)(load)
        m.submodules.store = ResetInserter(reset_units)(store)
        # an entry: the instruction, its read error, whether it is one row (a LOAD's ROWS <= 1,
        # compared before the queue: LoadRows' ``last`` pops it) and, a cycle later, the check's
        # failed bit and the instruction's range ends (the check's error code is kept apart:
        # ``first_code`` below)
        queue = InstructionQueue(width=8 * INSTR_BYTES + 2,
                                 late_width=1 + Shape.cast(ENDS).width,
                                 depth=QUEUE_DEPTH, registered_late=1)
        m.submodules.queue = ResetInserter(reset_units)(queue)

        # --- the read port: fetch or load; the transfer receiving and two taken behind it ----
        # (fetch has one transfer in flight at most, the load unit two: none ever waits for a
        # slot)
        owner = Signal(range(3), name="owner")     # receiving: 0 none, 1 fetch, 2 load
        behind = [Signal(range(3), name=f"behind{i}") for i in range(2)]
        f_req = stream.Signature(transfer_layout()).create(path=("fetch_req",))
        m.d.comb += self.rd_req.valid.eq((behind[1] == 0) & (load.rd_req.valid | f_req.valid))
        with m.If(load.rd_req.valid):
            m.d.comb += [self.rd_req.payload.eq(load.rd_req.payload),
                         load.rd_req.ready.eq((behind[1] == 0) & self.rd_req.ready)]
        with m.Else():
            m.d.comb += [self.rd_req.payload.eq(f_req.payload),
                         f_req.ready.eq((behind[1] == 0) & self.rd_req.ready)]
        f_ready = Signal()
        m.d.comb += [load.rd_data.payload.eq(self.rd_data.payload),
                     load.rd_data.valid.eq(self.rd_data.valid & (owner == 2))]
        m.d.comb += self.rd_data.ready.eq(Mux(owner == 2, load.rd_data.ready,
                                              Mux(owner == 1, f_ready, 0)))
        last = self.rd_data.valid & self.rd_data.ready & self.rd_data.payload.last
        # after the receiving transfer's last beat the queue moves up; a granted one joins it
        slots = [Mux(last, behind[0], owner), Mux(last, behind[1], behind[0]),
                 Mux(last, 0, behind[1])]
        taker = Mux(load.rd_req.valid, 2, 1)
        m.d.sync += [owner.eq(slots[0]), behind[0].eq(slots[1]), behind[1].eq(slots[2])]
        with m.If(self.rd_req.valid & self.rd_req.ready):
            with m.If(slots[0] == 0):
                m.d.sync += owner.eq(taker)
            with m.Elif(slots[1] == 0):
                m.d.sync += behind[0].eq(taker)
            with m.Else():
                m.d.sync += behind[1].eq(taker)

        # --- the write port: the store unit's ----------------------------------------------
        wiring.connect(m, wiring.flipped(self.wr_req), store.wr_req)
        wiring.connect(m, wiring.flipped(self.wr_data), store.wr_data)
        m.d.comb += [store.wr_idle.eq(self.wr_idle), store.wr_err.eq(self.wr_err)]

        # --- fetch ---------------------------------------------------------------------------
        fetching = Signal()        # the program may fetch further
        # instructions not yet asked for: PROG_LEN at the start, counted down (PROG_LEN is
        # locked while the program runs), so no subtraction precedes the fetch request
        remaining = Signal(32)
        push_q = Signal()          # an instruction came a cycle ago: the queue's entry now
        # the queue's slots not asked for: QUEUE_DEPTH at the start, less each block asked for,
        # one more a cycle after each entry leaves (a register, so the request's valid starts
        # at no sum of the queue's level)
        free = Signal(range(QUEUE_DEPTH + 1), init=QUEUE_DEPTH)
        left_q = Signal()          # an entry left the queue a cycle ago
        in_flight = Signal(range(FETCH_BLOCK + 1))  # asked for, not in the queue yet
        fetch_addr = Signal(32)
        # the next request's instructions, min(remaining, FETCH_BLOCK), kept in a register
        # (``block_of(remaining)`` a cycle late, set at the start with ``remaining``), so the
        # request's valid starts at no 32-bit comparison. The cycle after a request it still
        # holds the block just asked for, but then ``in_flight`` is that block (not 0): no
        # request can use it (the count down, its 32-bit compare and the next block's in one
        # cycle were 8.84 ns routed at 8x8)
        block = Signal(range(FETCH_BLOCK + 1))

        def block_of(n):
            return Mux(n < FETCH_BLOCK, n, FETCH_BLOCK)
        # (no fetch is asked for while instructions are in flight: the queue's level alone
        # says whether a block fits)
        m.d.comb += [
            f_req.valid.eq(fetching & (block != 0) & (in_flight == 0) & (free >= block)),
            f_req.payload.addr.eq(fetch_addr),
            f_req.payload.beats.eq(self._instr_beats(block)),
        ]
        m.d.sync += [free.eq(free + left_q - Mux(f_req.valid & f_req.ready, block, 0)),
                     block.eq(block_of(remaining))]
        with m.If(f_req.valid & f_req.ready):
            m.d.sync += [remaining.eq(remaining - block), in_flight.eq(block),
                         fetch_addr.eq(fetch_addr + INSTR_BYTES * block)]
        # beats -> instructions
        beat = self.rd_data.payload
        got = self.rd_data.valid & (owner == 1)
        instr = Signal(8 * INSTR_BYTES)
        instr_err = Signal()
        push = Signal()
        fetch_err_addr = Signal(32)
        seen_err = Signal()
        if B < INSTR_BYTES:     # several beats per instruction
            beats = INSTR_BYTES // B
            low = Signal(8 * (INSTR_BYTES - B))
            low_err = Signal()
            k = Signal(range(beats))
            m.d.comb += [f_ready.eq(1), instr.eq(Cat(low, beat.data)),
                         instr_err.eq(low_err | beat.err), push.eq(got & (k == beats - 1))]
            with m.If(got):
                m.d.sync += k.eq(k + 1)
                with m.If(k == beats - 1):
                    m.d.sync += [k.eq(0), low_err.eq(0)]
                with m.Else():
                    m.d.sync += [low.eq(Cat(low[8 * B:], beat.data)),
                                 low_err.eq(low_err | beat.err)]
        else:                   # one or more instructions per beat
            per_beat = B // INSTR_BYTES
            k = Signal(range(per_beat))
            m.d.comb += [instr.eq(beat.data.word_select(k, 8 * INSTR_BYTES) if per_beat > 1
                                  else beat.data),
                         instr_err.eq(beat.err), push.eq(got)]
            last_of_beat = (k == per_beat - 1) | (in_flight == 1)
            m.d.comb += f_ready.eq(last_of_beat)
            with m.If(got):
                m.d.sync += k.eq(Mux(last_of_beat, 0, k + 1))
        # The check (isa.check; computed at the queue's head, it and the pop it decides were
        # the clock's limit) runs as the instruction enters the queue: its verdict joins the
        # entry a cycle later, as its late part.
        # The check takes two cycles, the queue's late part comes a cycle after its entry: the
        # entry is written a cycle after the instruction came (``push_q``).
        m.submodules.check = checker = self.check
        assert checker.LATENCY == 2
        entry_q = Signal(8 * INSTR_BYTES + 2, reset_less=True)
        m.d.sync += [push_q.eq(push & ~flush),
                     entry_q.eq(Cat(instr, instr_err,
                                    _decoder(instr)[1](Op.LOAD, "ROWS") <= 1))]
        m.d.comb += [checker.instr.eq(instr), checker.err.eq(instr_err),
                     queue.w_en.eq(push_q), queue.w_data.eq(entry_q),
                     queue.late.eq(Cat(checker.failed, checker.ends))]
        # The error code of the program's first failing instruction, kept in a register, not
        # in the queue: the dispatcher stops at the first entry that failed, and every entry
        # before it passed, so its code is the first failing code of the run (instructions
        # are checked in program order; those past the one it stops at are never run). The
        # code then goes from the check into one register, not through the queue's memory and
        # its write-through into the head (with it: 8.6 ns estimated, the 8x8's deepest path).
        # ``code_due``: an entry of this run gets its code (two cycles after its write, a
        # cycle after its failed bit, ``failed_q``: InstructionCheck.CODE_LATENCY). A stop at
        # a failed entry takes the code in its first STOP cycle (``code_stop``): the entry
        # reaches the head a cycle after its failed bit at the earliest, so the code is there.
        assert checker.CODE_LATENCY == checker.LATENCY + 1
        verdict_due, code_due = Signal(name="verdict_due"), Signal(name="code_due")
        failed_q, failed_seen = Signal(name="check_failed_q"), Signal(name="failed_seen")
        first_code = Signal(ErrorCode, name="first_code")
        m.d.sync += [verdict_due.eq(push_q & ~flush), code_due.eq(verdict_due & ~flush),
                     failed_q.eq(checker.failed)]
        with m.If(reset_units):   # (a cycle after DOORBELL.RUN: no code is due then)
            m.d.sync += failed_seen.eq(0)
        with m.Elif(code_due & ~failed_seen):
            m.d.sync += [first_code.eq(checker.code), failed_seen.eq(failed_q)]
        with m.If(push):
            m.d.sync += in_flight.eq(in_flight - 1)
        with m.If(got & beat.err & ~seen_err):
            m.d.sync += [seen_err.eq(1), fetch_err_addr.eq(self.rd_err_addr)]

        # --- decode the queue's head (its check's verdict came with it) --------------------
        head = queue.r_data[:8 * INSTR_BYTES]
        head_err, head_one_row = queue.r_data[8 * INSTR_BYTES], queue.r_data[8 * INSTR_BYTES + 1]
        late = queue.r_data[8 * INSTR_BYTES + 2:]
        failed = late[0]
        head_ends = ENDS(late[1:])
        op, fld, _ = _decoder(head)
        window, head_first = fld(Op.LOAD, "WINDOW"), fld(Op.LOAD, "FIRST")
        count, head_addr = fld(Op.LOAD, "COUNT"), fld(Op.LOAD, "MEM_ADDR")
        assert all(isa.field(Op.LOAD, f.name) == f for f in isa.FIELDS[Op.STORE])
        # A 2-D LOAD runs as one-row LOADs, one per dispatch (STOREs and other LOADs: one
        # row, the instruction's own fields): ``first``, ``end`` (first + count) and
        # ``mem_addr`` are the current row's.
        m.submodules.head_rows = rows = LoadRows()
        # restarted with the units, a cycle after DOORBELL.RUN (the queue is empty then: no
        # row steps), from a register, not from the bus's write decode (8.31 ns routed at
        # dabda11, seed 1: the write handshake, the doorbell, the rows' synchronous reset)
        m.d.comb += rows.restart.eq(reset_units)
        m.d.comb += [rows.is_load.eq(op == Op.LOAD), rows.rows.eq(fld(Op.LOAD, "ROWS")),
                     rows.one_row.eq(head_one_row),
                     rows.head_first.eq(head_first), rows.count.eq(count),
                     rows.head_end.eq(head_ends.end),
                     rows.head_addr.eq(head_addr), rows.skip.eq(fld(Op.LOAD, "SKIP")),
                     rows.pitch.eq(fld(Op.LOAD, "PITCH"))]
        first, end, mem_addr, last_row = rows.first, rows.end, rows.mem_addr, rows.last
        vmm = Signal(VmmFields)
        m.d.comb += [getattr(vmm, f.attr).eq(fld(Op.VMM, f.name)) for f in isa.FIELDS[Op.VMM]]

        # --- the units' running instructions and the conflicts ----------------------------
        # The compute unit: up to two VMMs in flight, the newer one (``cur``) issuing or
        # draining, the older one (``prev``) draining; ``ctl_done`` ends the oldest.
        cur, prev = Signal(VmmFields, name="cur_vmm"), Signal(VmmFields, name="prev_vmm")
        cur_on, prev_on = Signal(), Signal()
        compute_busy = Signal()
        m.d.comb += [compute_busy.eq(cur_on | prev_on), self.vmm.eq(cur)]
        st = Signal.like(store.instr.window, name="st_window"), Signal(16, name="st_first"), \
            Signal(17, name="st_end")

        # A VMM reads its weights and input vectors only until its last vector has passed the
        # array's multipliers (FRONT cycles after its last issue): a LOAD into its bank or its
        # input range may go from then on, while it drains. ``*_front``: FRONT + 1 while the
        # VMM issues, then counting down; 0 once its weights and inputs are free.
        cur_front = Signal(range(FRONT + 2), name="cur_front")
        prev_front = Signal(range(FRONT + 2), name="prev_front")

        # The ends of the VMMs' ranges in the IN, ACC and OUT windows: the head's from its
        # queue entry (InstructionCheck's ends), the running VMMs' registered as they are
        # dispatched; so the comparisons that decide the pop have no adder before them (nor
        # have the load unit's ranges: LoadUnit registers their ends).
        head_end = {"in": head_ends.end, "acc": head_ends.acc, "out": head_ends.out}
        cur_end = {k: Signal(17, name=f"cur_{k}_end") for k in ("in", "acc", "out")}
        prev_end = {k: Signal(17, name=f"prev_{k}_end") for k in ("in", "acc", "out")}

        # The dispatcher's range comparisons are registered: each overlap below is computed
        # every cycle and used in the next, when it holds if the head and the units' ranges
        # are those of the cycle before (``settled``: the head was there and nothing was
        # dispatched or popped). Whether a unit is on, and a VMM's ``front``, are used as they
        # are, so an instruction waiting for a unit goes as soon as it ends; a LOAD moving up
        # in the load unit (``promote``) takes its overlaps from the queued slot's.
        took = Signal()
        settled = Signal()
        m.d.sync += settled.eq(queue.r_rdy & ~took)

        def settled_reg(name, value):
            """``value`` registered: what it was in the cycle before (used when settled)."""
            r = Signal(name=name)
            m.d.sync += r.eq(value)
            return r

        # Each conflict below is registered whole (its range overlaps, its flags, the choice
        # by window), so the pop starts at a few flip-flops and a VMM's ``front`` and the
        # units' ``on`` (the choice by window after the registers had put three levels of
        # wide multiplexers before the pop, and the pop reaches the queue head's ~180 enables:
        # 9.3 ns routed at 594dd0c, seed 1).
        def uses_param(v):
            return _flag(v.flags, "BIAS") | _flag(v.flags, "REQUANT")

        def load_vs_vmm(lw, first, end, v, in_end):
            """A LOAD's row of window ``lw`` against a VMM ``v``: ``(weights_or_input,
            other)``; the conflict is ``weights_or_input`` while the VMM is at the front of
            the datapath, ``other`` as long as it runs."""
            bank0 = v.bank * g.cols_p2
            return (Mux(lw == Window.WEIGHT, _overlap(first, end, bank0, bank0 + g.cols_p2),
                        (lw == Window.IN) & _overlap(first, end, v.in_addr, in_end)),
                    ((lw == Window.PARAM) & uses_param(v))
                    | ((lw == Window.LUT) & _flag(v.flags, "LUT")))

        def store_vs_vmm(sw, first, end, v, acc_end, out_end):
            """A STORE's window ``sw`` against a VMM ``v`` (as long as it runs)."""
            return Mux(sw == Window.ACC, _overlap(first, end, v.acc_addr, acc_end),
                       (sw == Window.OUT) & _flag(v.flags, "REQUANT")
                       & _overlap(first, end, v.out_addr, out_end))

        # the head (a LOAD's or STORE's current row) against the running VMMs
        head_vs = {}
        for name, v, v_end in (("cur", cur, cur_end), ("prev", prev, prev_end)):
            front_part, other = load_vs_vmm(window, first, end, v, v_end["in"])
            head_vs[name] = {
                "load_front": settled_reg(f"conflict_load_{name}_front", front_part),
                "load": settled_reg(f"conflict_load_{name}", other),
                "store": settled_reg(f"conflict_store_{name}",
                                     store_vs_vmm(window, first, end, v, v_end["acc"],
                                                  v_end["out"])),
            }
        # the head (a VMM) against the load unit's LOADs (a LOAD moving up, ``promote``, takes
        # the queued slot's) and the running STORE: the VMM is at the front
        promoted = Signal()
        m.d.sync += promoted.eq(load.promote)
        vs_load = {}
        for name, held in (("moving", load.moving), ("queued", load.queued)):
            front_part, other = load_vs_vmm(held.window, held.first, held.end, vmm,
                                            head_end["in"])
            vs_load[name] = settled_reg(f"conflict_{name}_vmm", front_part | other)
        moving_vs_head = Mux(promoted, vs_load["queued"], vs_load["moving"])
        store_vs_head = settled_reg("conflict_store_vmm",
                                    store_vs_vmm(st[0], st[1], st[2], vmm, head_end["acc"],
                                                 head_end["out"]))

        def head_load_conflict(name, on, front):
            c = head_vs[name]
            return on & (((front != 0) & c["load_front"]) | c["load"])

        can = Signal()
        with m.Switch(op):
            with m.Case(Op.LOAD):
                m.d.comb += can.eq(settled & load.ready
                                   & ~head_load_conflict("cur", cur_on, cur_front)
                                   & ~head_load_conflict("prev", prev_on, prev_front))
            with m.Case(Op.STORE):
                m.d.comb += can.eq(settled & ~store.busy
                                   & ~(cur_on & head_vs["cur"]["store"])
                                   & ~(prev_on & head_vs["prev"]["store"]))
            with m.Case(Op.VMM):
                # the controller takes a start next cycle, and the older VMM has finished
                m.d.comb += can.eq(settled & self.ctl_ready & ~self.vmm_start & ~prev_on
                                   & ~(load.moving.on & moving_vs_head)
                                   & ~(load.queued.on & vs_load["queued"])
                                   & ~(store.busy & store_vs_head))
        all_idle = Signal()
        m.d.comb += all_idle.eq(~load.busy & ~store.busy & ~compute_busy & (owner == 0)
                                & (behind[0] == 0) & (behind[1] == 0)
                                & (in_flight == 0) & self.rd_idle & self.wr_idle)

        # --- dispatch --------------------------------------------------------------------------
        pop = Signal()
        index = Signal(32)      # the queue head's instruction index
        st_pc = Signal(32)
        for unit in (load, store):
            m.d.comb += [unit.instr.window.eq(window), unit.instr.first.eq(first),
                         unit.instr.count.eq(count), unit.instr.mem_addr.eq(mem_addr),
                         unit.instr.tag.eq(index)]
        m.d.comb += queue.r_en.eq(pop)
        m.d.sync += left_q.eq(queue.r_en & queue.r_rdy & ~flush)
        m.d.sync += [self.done.eq(0), self.vmm_start.eq(0)]
        vmm_go = Signal()
        m.d.comb += took.eq(pop | load.instr.start | store.instr.start | vmm_go)
        # the issuing VMM is cur (a new one is dispatched in its last issue cycle at the earliest)
        def counted(front, issuing_here):
            return Mux(issuing_here & (front == FRONT + 1), FRONT,
                       Mux((front != 0) & (front != FRONT + 1), front - 1, front))

        cur_front_next = counted(cur_front, self.ctl_last_issue)
        m.d.sync += [cur_front.eq(cur_front_next), prev_front.eq(counted(prev_front, 0))]
        with m.If(vmm_go):  # (dispatch needs ~prev_on: a done then ends cur, the oldest)
            m.d.sync += [cur.eq(vmm), cur_on.eq(1), self.vmm_start.eq(1),
                         cur_front.eq(FRONT + 1),
                         *(cur_end[k].eq(e) for k, e in head_end.items())]
            with m.If(cur_on & ~self.ctl_done):
                m.d.sync += [prev.eq(cur), prev_on.eq(1), prev_front.eq(cur_front_next),
                             *(prev_end[k].eq(cur_end[k]) for k in cur_end)]
        with m.Elif(self.ctl_done):
            with m.If(prev_on):
                m.d.sync += prev_on.eq(0)
            with m.Else():
                m.d.sync += cur_on.eq(0)

        code_stop = Signal(name="code_stop")   # stopped at a failed entry: its code next

        def stop(code, pc, addr=None):
            """Stop with ``code`` (None: ``first_code``, in the first STOP cycle)."""
            m.d.sync += [self.pc.eq(pc), fetching.eq(0)]
            m.d.sync += code_stop.eq(1) if code is None else self.error.eq(code)
            if addr is not None:
                m.d.sync += self.mem_error_addr.eq(addr)
            m.next = "STOP"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.run):
                    m.d.sync += [self.busy.eq(1), self.error.eq(ErrorCode.NONE), self.pc.eq(0),
                                 remaining.eq(self.prog_len), block.eq(block_of(self.prog_len)),
                                 free.eq(QUEUE_DEPTH),
                                 fetch_addr.eq(self.prog_addr),
                                 index.eq(0),
                                 seen_err.eq(0)]
                    m.d.comb += flush.eq(1)
                    with m.If(self.prog_addr[:exact_log2(B)] != 0):
                        stop(ErrorCode.MEM_ALIGN, 0)
                    with m.Elif(self.prog_len == 0):
                        stop(ErrorCode.PROG_LEN, 0)
                    with m.Else():
                        m.next = "WAKE"
            with m.State("WAKE"):  # after a soft reset the ports may still finish old bursts
                with m.If(self.rd_idle & self.wr_idle):
                    m.d.sync += fetching.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(load.err | store.err):
                    # a unit finished with a memory error (the flags hold until its next start)
                    stop(Mux(load.err, ErrorCode.MEM_READ, ErrorCode.MEM_WRITE),
                         Mux(load.err, load.err_tag, st_pc),
                         Mux(load.err, self.rd_err_addr, self.wr_err_addr))
                with m.Elif(~queue.r_rdy):
                    with m.If((remaining == 0) & (in_flight == 0) & (owner != 1)
                              & (behind[0] != 1) & (behind[1] != 1)
                              & (queue.level == 0) & ~push_q):
                        stop(ErrorCode.PROG_LEN, self.prog_len)
                with m.Elif(failed):
                    stop(None, index, Mux(head_err, fetch_err_addr, self.mem_error_addr))
                with m.Elif(op == Op.END):
                    m.d.comb += pop.eq(1)
                    m.d.sync += [self.pc.eq(index), fetching.eq(0)]
                    m.next = "FINISH"
                with m.Elif(op == Op.FENCE):
                    m.d.comb += pop.eq(1)
                    m.d.sync += self.pc.eq(index)
                    m.next = "FENCE"
                with m.Elif(can):
                    m.d.comb += [pop.eq(last_row), rows.step.eq(1)]
                    m.d.sync += self.pc.eq(index)
                    with m.Switch(op):
                        with m.Case(Op.LOAD):
                            m.d.comb += load.instr.start.eq(1)
                        with m.Case(Op.STORE):
                            m.d.comb += store.instr.start.eq(1)
                            m.d.sync += [st[0].eq(window), st[1].eq(first), st[2].eq(end),
                                         st_pc.eq(index)]
                        with m.Case(Op.VMM):
                            m.d.comb += vmm_go.eq(1)
            with m.State("FENCE"):
                with m.If(all_idle):
                    m.next = "RUN"
            with m.State("FINISH"):
                with m.If(load.err | store.err):
                    stop(Mux(load.err, ErrorCode.MEM_READ, ErrorCode.MEM_WRITE),
                         Mux(load.err, load.err_tag, st_pc),
                         Mux(load.err, self.rd_err_addr, self.wr_err_addr))
                with m.Elif(all_idle):
                    m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                    m.next = "IDLE"
            with m.State("STOP"):  # an error: let every running instruction finish
                with m.If(code_stop):
                    m.d.sync += [self.error.eq(first_code), code_stop.eq(0)]
                with m.If(all_idle):
                    m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                    m.next = "IDLE"
        with m.If(pop):
            m.d.sync += index.eq(index + 1)
        # fetched instructions nobody will run are dropped
        with m.If(~fetching & queue.r_rdy & ~pop):
            m.d.comb += queue.r_en.eq(1)

        # --- counters ------------------------------------------------------------------------
        counters = [
            (self.perf_load, load.busy), (self.perf_store, store.busy),
            (self.perf_rd_bytes, Mux(self.rd_data.valid & self.rd_data.ready, B, 0)),
            (self.perf_wr_bytes, Mux(self.wr_data.valid & self.wr_data.ready, B, 0)),
            (self.perf_instrs, pop),
        ]
        perf_counters(m, counters, self.clear_counters)
        return m

    def _instr_beats(self, n):
        B = self.geometry.mem_bytes
        if B <= INSTR_BYTES:
            return n * (INSTR_BYTES // B)
        per = B // INSTR_BYTES
        return (n + per - 1) >> exact_log2(per)

