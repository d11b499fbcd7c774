"""Command controller: checks a command, issues its vectors, drains, reports, counts."""

from amaranth import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .ecp5 import check_cells, mult18x18d
from .enums import ErrorCode, Opcode
from .pipeline import counters as perf_counters
from .spec import Geometry

__all__ = ["Controller", "command_error", "late_command_check", "late_command_error",
           "pool_bound", "pool_checks", "pool_constants", "pool_products", "pool_verdicts", "rom"]

#: widths of CMD_COUNT and CMD_POOL (the divisibility test below is exact for these)
COUNT_BITS, POOL_BITS = 16, 8


class Controller(wiring.Component):
    """Runs commands: checks each, issues its vectors one per cycle, pulses ``done`` once they
    have drained out of the pipeline, and keeps the performance counters.

    On ``start`` the command is checked (first failing check wins, in :class:`ErrorCode`
    order); a bad command sets ``error`` and pulses ``done`` without doing anything; NOP just
    pulses ``done``. A VMM command issues ``count`` vectors, one per cycle: in issue cycle j,
    ``issue`` is high and ``in_rd_addr = in_addr + j`` (``in_addr`` of the ``start`` cycle),
    ``index = j`` (both mean nothing in other cycles); ``read_en``, the input
    buffer's read enable, is high in every issue cycle (and may be in others: with
    ``check_latency`` 1 in the cycle of a cancelled start's first issue). After the last one it
    waits ``drain`` cycles (the pipeline depth from the input buffer to the output buffer), then
    pulses ``done``. ``busy`` is high from the cycle after ``start`` until ``done``.

    The next command may start while the last one drains: ``ready`` is high in the last issue
    cycle and while not issuing, and a ``start`` in the cycle after it issues the next vectors
    right away (the datapath takes each vector's command fields with the vector). With
    ``issue_at_start`` (a program runs: the sequencer has checked the VMM) a VMM started on
    ``program_start`` (the sequencer's start, instead of ``start``) issues its first vector in
    its start cycle itself, so consecutive VMMs of a program follow each other with no idle
    cycle (PERF_BUSY counts from that cycle; ``busy`` rises after it). ``program_start`` is
    the one input of that first issue and its input-buffer address: a register-mode
    ``start`` (the bus's START, after its refusal) does not reach them. ``done``
    pulses once per command, in order; ``busy`` stays high until the last has drained. (The
    register interface refuses START while BUSY; the sequencer's compute unit uses ``ready``
    and ``program_last_issue``: ``last_issue`` as it is whenever no register-mode start is in
    its check cycle, so always in program mode, without the late check's cancel before it.)
    ``issue_early`` and ``cancel_issue``: ``issue`` is ``issue_early & ~cancel_issue``, the
    late check's cancel of a register-mode start's first issue apart, so the datapath may
    take the issue before the cancel and drop the vector a stage later (the cancel comes
    after the check's comparisons).

    Performance counters (32-bit, wrapping, cleared by ``clear_counters``): cycles, busy cycles,
    cycles with ``array_active``, busy cycles without an issue (stall), useful MACs
    (``rows * cols`` per vector, added two cycles after its issue: its issue and the
    command's rows and cols registered, then their product: the issue comes late in the
    cycle, after the sequencer's ``busy`` and ``first``) and vectors.

    The check is the specification's :func:`hw.spec.check` in logic (a randomized test holds the
    two equal); the timing is :func:`hw.spec.timing.busy_cycles`. With ``issue_at_start`` the
    controller trusts the sequencer's check (the same :func:`command_error` on the same fields,
    one instruction earlier): its own verdict is then NONE, and neither the first issue nor
    its input-buffer address waits for the check (the check's multiplies limited the clock).

    Parameters
    ----------
    geometry : Geometry
        What the check compares the command with.
    drain : int
        Cycles from the last issue to ``done`` (:func:`hw.spec.timing.drain`, >= 1).
    acc_drain : int
        The same for a VMM without REQUANT (``timing.drain(latency, requant=False)``; 1 to
        ``drain``; default ``drain``).
    external_check : bool
        The verdict comes from the ``check_error`` input instead of the controller's own
        :func:`command_error` on its command inputs (default False). The accelerator computes
        it from the CMD_* registers alone (``hw.top``): in program mode (``issue_at_start``)
        the verdict is NONE anyway, and without the multiplexer between the sequencer's fields
        and the registers the check is shorter. It must be the verdict of the command on the
        inputs whenever ``start`` comes without ``issue_at_start``.
    check_latency : int
        0 (default): ``check_error`` is the verdict in the ``start`` cycle; 1 (with
        ``external_check``): in the cycle after it (:func:`late_command_error` of the start
        cycle's fields), so the check's multiplies and its comparisons get a cycle each. The
        controller takes a register-mode start as if it passed and cancels it in the next
        cycle (its check cycle) if it did not: no vector issues, ``busy`` is high in that
        cycle (a ``start`` in it is ignored), and ``done`` and ``error`` show the verdict in
        the cycle after, one cycle later than with the verdict in the start cycle. A passing
        command's cycles are the same. So the cancel reaches only registers and ``issue``:
        ``busy``, ``ready``, ``done`` and ``error`` come from registers, and the bus, the
        register interface and the sequencer do not wait for the check's comparisons.
        Precondition: no ``program_start`` (with ``issue_at_start``) in the cycle after a
        register-mode start (at the accelerator a program cannot start then: DOORBELL is
        refused while busy); such a start is not taken.
    check_failed_input : bool
        With ``check_latency=1``: a ``check_failed`` input, high whenever ``check_error`` is
        not NONE (:func:`late_command_check`'s second value), from which the cancel is taken
        (default False: from ``check_error != NONE``). The OR of the check's conditions is
        shorter than the priority-ordered error code.
    vector_cycles : int
        Cycles between two issues (default 1). A compute-in-memory array
        (``hw.cim_array.CimArray``) takes a vector every ``8 / bits_per_cycle`` cycles: an
        issue then waits until ``vector_cycles`` cycles have passed since the last one, across
        commands too (``ready`` rises only in an issuing cycle or when not issuing). With 1
        the logic is the exact digital mode's, unchanged.
    """

    def __init__(self, geometry: Geometry, drain: int, acc_drain: int | None = None,
                 vector_cycles: int = 1, external_check: bool = False, check_latency: int = 0,
                 check_failed_input: bool = False):
        if not isinstance(external_check, bool):
            raise TypeError(f"external_check must be a bool, not {external_check!r}")
        if check_latency not in (0, 1) or isinstance(check_latency, bool) \
                or (check_latency and not external_check):
            raise ValueError(f"check_latency must be 0, or 1 with external_check, not "
                             f"{check_latency!r}")
        if not isinstance(check_failed_input, bool):
            raise TypeError(f"check_failed_input must be a bool, not {check_failed_input!r}")
        if check_failed_input and check_latency != 1:
            raise ValueError("check_failed_input needs check_latency=1")
        self.external_check, self.check_latency = external_check, check_latency
        self.check_failed_input = check_failed_input
        if not isinstance(vector_cycles, int) or isinstance(vector_cycles, bool) \
                or vector_cycles < 1:
            raise ValueError(f"vector_cycles must be an int >= 1, not {vector_cycles!r}")
        self.vector_cycles = vector_cycles
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        if not isinstance(drain, int) or isinstance(drain, bool):
            raise TypeError(f"drain must be an int, not {drain!r}")
        if drain < 1:
            raise ValueError(f"drain must be >= 1, not {drain}")
        acc_drain = drain if acc_drain is None else acc_drain
        if not isinstance(acc_drain, int) or not 1 <= acc_drain <= drain:
            raise ValueError(f"acc_drain must be an int from 1 to drain ({drain}), "
                             f"not {acc_drain!r}")
        self.geometry, self.drain, self.acc_drain = geometry, drain, acc_drain
        g = geometry
        check = {"check_error": In(ErrorCode)} if external_check else {}
        if check_failed_input:
            check["check_failed"] = In(1)
        super().__init__({
            **check,
            "start": In(1), "program_start": In(1), "issue_at_start": In(1),
            "clear_counters": In(1),
            "array_active": In(1),
            "op": In(Opcode), "bank": In(8), "in_addr": In(16), "acc_addr": In(16),
            "out_addr": In(16), "count": In(16), "rows": In(8), "cols": In(8), "requant": In(1),
            "pool": In(8),
            "busy": Out(1), "done": Out(1), "error": Out(ErrorCode), "ready": Out(1),
            "issue": Out(1), "last_issue": Out(1), "program_last_issue": Out(1),
            "issue_early": Out(1), "cancel_issue": Out(1),
            "in_rd_addr": Out(range(g.in_depth)),
            "index": Out(16), "read_en": Out(1),
            "perf_cycles": Out(32), "perf_busy": Out(32), "perf_compute": Out(32),
            "perf_stall": Out(32), "perf_macs": Out(32), "perf_vectors": Out(32),
        })

    def check(self, m):
        """The ErrorCode of the command in the CMD_* inputs (combinational)."""
        return command_error(m, self.geometry, op=self.op, bank=self.bank, in_addr=self.in_addr,
                             acc_addr=self.acc_addr, out_addr=self.out_addr, count=self.count,
                             rows=self.rows, cols=self.cols, requant=self.requant,
                             pool=self.pool)

    def elaborate(self, platform):
        m = Module()
        err = self.check_error if self.external_check else self.check(m)
        start = Signal(name="any_start")   # the register mode's or the program's
        m.d.comb += start.eq(self.start | self.program_start)
        left = Signal(16)
        # ``left == 1`` kept in a register beside ``left``: ``ready`` (the sequencer's pop of
        # its next instruction) came after the 16-bit compare, 8.3 ns routed on the 8x8
        left_one = Signal(name="left_one")
        index = Signal(16)
        # tail[i]: a command issued its last vector i + 1 cycles ago
        tail = Signal(self.drain)
        # a vector's MACs for PERF_MACS: the issue and the command's rows and cols registered,
        # their product registered by the counters (a multiply between registers: the rows
        # and cols came through the command's register/program select, 7.99-8.25 ns routed on
        # the 8x8), so a vector's MACs show a cycle after the other counters' events
        macs_issue = Signal(name="macs_issue")
        # (an issued vector's command passed the check: rows 1..R, cols 1..C, so the factors
        # are that wide, not the registers' 8 bits: 4 x 4 bits on the 8x8, 7.97 ns routed
        # with 8 x 8)
        macs_rows = Signal(range(self.geometry.rows + 1), name="macs_rows")
        macs_cols = Signal(range(self.geometry.cols + 1), name="macs_cols")
        macs_per_vector = Signal(unsigned(16))
        m.d.sync += [macs_issue.eq(self.issue & ~self.clear_counters),
                     macs_rows.eq(self.rows), macs_cols.eq(self.cols)]
        m.d.comb += macs_per_vector.eq(macs_rows * macs_cols)
        # the verdict: the sequencer checked a program's VMM (issue_at_start) already
        verdict = Signal(ErrorCode)
        # ``held``: the issuing register; ``issuing``: a command issues (with the late check,
        # not the one it cancels); ``error_reg``/``done_reg``: the registers of error/done
        held = Signal()
        # ``kill``: a late check cancels an issue of ``held`` (``issuing`` is ``held & ~kill``)
        kill = Signal()
        if self.check_latency == 0:
            issuing, error_reg, done_reg = held, self.error, self.done
            m.d.comb += verdict.eq(Mux(self.issue_at_start, ErrorCode.NONE, err))
        else:
            # A register-mode start is taken as if its verdict were NONE; its verdict comes in
            # the next cycle (``pending``) and, if bad, cancels it before anything shows:
            # error, done, busy, issue and ready are those of the verdict in the start cycle.
            issuing, error_reg, done_reg = Signal(), self.error, self.done
            pending, cancel = Signal(), Signal()
            failed = self.check_failed if self.check_failed_input else err != ErrorCode.NONE
            m.d.comb += [verdict.eq(ErrorCode.NONE),
                         cancel.eq(pending & failed),
                         kill.eq(held & cancel), issuing.eq(held & ~kill)]
            m.d.sync += pending.eq(start & ~held & ~self.issue_at_start)
            with m.If(pending):
                m.d.sync += error_reg.eq(err)
        # with issue_at_start a good VMM on program_start issues its first vector in its start
        # cycle
        # (``~held``, not ``~issuing``: the cancel of a register-mode start does not reach the
        # first issue and its address; the two differ only in the cycle after a register-mode
        # start, when a program cannot be running: see ``issue_at_start``)
        first = Signal()
        first_ok = self.program_start & ~held & self.issue_at_start & (self.op == Opcode.VMM)
        # step: an issuing cycle after the first (every cycle, or paced: see vector_cycles);
        # held_step: the same without a cancel (program_last_issue)
        step, held_step, last_left = issuing, held, left_one
        if self.vector_cycles > 1:
            pace = Signal(range(self.vector_cycles))  # cycles until the next issue may come
            can = Signal()
            m.d.comb += can.eq(pace == 0)
            first_ok, step, last_left = first_ok & can, issuing & can, left_one & can
            held_step = held & can
            with m.If(self.issue):
                m.d.sync += pace.eq(self.vector_cycles - 1)
            with m.Elif(~can):
                m.d.sync += pace.eq(pace - 1)
        m.d.comb += first.eq(first_ok)

        # A command's last issue enters ``tail`` at 0 (full drain), or, without REQUANT, at
        # ``skip`` (acc_drain) -- or right behind the newest command still there, so that the
        # done pulses keep their order.
        # The insertion is worked out for the last issue without the late check's cancel
        # (``program_last_issue``: it differs from ``last_issue`` only with ``kill``, and then
        # there is no ``first``), and ``kill`` comes last, one gate before ``tail`` and
        # ``draining`` (it came before the insertion's choice).
        requant = Signal()
        skip = self.drain - self.acc_drain
        short = Signal()
        at = Signal(range(skip + 1))
        m.d.comb += [short.eq(self.program_last_issue & ~Mux(first, self.requant, requant)),
                     at.eq(skip)]
        for i in reversed(range(skip)):
            with m.If(tail[i]):
                m.d.comb += at.eq(i)
        inserted = [short & (at == i) for i in range(self.drain)]
        inserted[0] = inserted[0] | (self.program_last_issue & ~short)
        inserted = Cat(*inserted) & ~kill.replicate(self.drain)
        # ``draining``: ``tail.any()`` kept in a register beside ``tail``, so ``busy`` is one
        # gate after two registers (START's refusal on the bus, and through it the
        # controller's start, came after the OR of the whole drain). The next ``tail`` has a
        # bit set iff ``tail[:-1]`` has or a last issue enters (exactly one of ``inserted``'s
        # bits then: ``at`` <= ``skip`` < ``drain``): an OR of registers, then one gate after
        # the issue (not the OR of the next value, which came after the late check's cancel)
        draining = Signal(name="draining")
        m.d.sync += [done_reg.eq(tail[-1]), tail.eq(Cat(0, tail[:-1]) | inserted),
                     draining.eq(tail[:-1].any() | (self.program_last_issue & ~kill))]
        # ``next_addr``: the input-buffer address of the next step (``in_addr + index``, kept
        # in a register so the address is a multiplexer after ``first``, not an adder)
        next_addr = Signal.like(self.in_rd_addr)
        m.d.comb += [self.index.eq(Mux(first, 0, index)),
                     self.in_rd_addr.eq(Mux(first, self.in_addr, next_addr)),
                     self.issue.eq(step | first),
                     self.issue_early.eq(held_step | first), self.cancel_issue.eq(kill),
                     # the input buffer's read enable: ``issue``, and without pacing also in
                     # the cycle a late check cancels (a read nobody takes: not on its path)
                     self.read_en.eq(self.issue if self.vector_cycles > 1 else held | first),
                     self.last_issue.eq((step & left_one) | (first & (self.count == 1))),
                     self.program_last_issue.eq((held_step & left_one)
                                                | (first & (self.count == 1))),
                     # (registers only: START's refusal depends on busy; with the late
                     # check, busy, ready and done do not wait for the cancel either)
                     self.busy.eq(held | draining),
                     self.ready.eq(~held | last_left)]
        with m.If(start & ~held):
            m.d.sync += [error_reg.eq(verdict), index.eq(0), left.eq(self.count),
                         left_one.eq(self.count == 1), requant.eq(self.requant),
                         # (the adder before the choice by ``first``, not after it: ``first``
                         # comes late, after the register interface's START)
                         next_addr.eq(Mux(first, self.in_addr + 1, self.in_addr))]
            with m.If((verdict != ErrorCode.NONE) | (self.op == Opcode.NOP)):
                m.d.sync += done_reg.eq(1)
            with m.Elif(first):
                m.d.sync += [index.eq(1), left.eq(self.count - 1), left_one.eq(self.count == 2),
                             held.eq(self.count != 1)]
            with m.Else():
                m.d.sync += held.eq(1)
        # the step's counts move with ``held_step``, not ``step``: a late check's cancel (its
        # only difference) sets ``held`` to 0 below, and the next start loads them anew, so
        # the cancel reaches ``issue`` and the drain, not these 40-odd flip-flops
        with m.If(held_step):
            m.d.sync += [index.eq(index + 1), left.eq(left - 1), left_one.eq(left == 2),
                         next_addr.eq(next_addr + 1)]
            with m.If(left_one):
                m.d.sync += held.eq(0)
        if self.check_latency:
            # a cancelled start: BUSY for its check cycle, then DONE with the error
            with m.If(cancel):
                m.d.sync += [held.eq(0), done_reg.eq(1)]

        counters = [
            (self.perf_cycles, 1),
            (self.perf_busy, self.busy | first),
            (self.perf_compute, self.array_active),
            (self.perf_stall, (self.busy | first) & ~self.issue),
            (self.perf_macs, (macs_issue, macs_per_vector)),
            (self.perf_vectors, self.issue),
        ]
        perf_counters(m, counters, self.clear_counters)
        return m


def pool_constants(pool: int) -> tuple[int, int]:
    """The constants of the division-free test "``count % pool == 0``" for 16-bit counts:
    ``(inverse, bound)``.

    With ``pool = 2**t * d`` (``d`` odd), ``count`` is a multiple of ``pool`` exactly when its
    low ``t`` bits are zero and ``(count * inverse) % 2**16 <= bound``, where ``inverse`` is
    ``d``'s inverse modulo ``2**16`` and ``bound = 2**t * ((2**(16 - t) - 1) // d)`` (Granlund
    and Montgomery's test, applied to ``count >> t`` modulo ``2**(16 - t)``: with those low bits
    zero, ``count * inverse`` is ``2**t`` times ``(count >> t) * inverse``). Pool 0 (refused
    anyway) gives ``(0, 0)``."""
    if not isinstance(pool, int) or not 0 <= pool < 1 << POOL_BITS:
        raise ValueError(f"pool must be an int in 0..{(1 << POOL_BITS) - 1}, not {pool!r}")
    if pool == 0:
        return 0, 0
    t = (pool & -pool).bit_length() - 1
    d = pool >> t
    inverse = pow(d, -1, 1 << COUNT_BITS)
    return inverse, ((1 << (COUNT_BITS - t)) - 1) // d << t


#: :func:`pool_constants` of every pool value
_TABLE = [pool_constants(p) for p in range(1 << POOL_BITS)]


#: :func:`pool_constants`' inverse of every pool value (a table for
#: ``RegisterFile(derived=...)``: the register-mode inverse looked up as CMD_POOL is written)
POOL_INVERSES = [i for i, _ in _TABLE]


def pool_products(m, g, *, out_addr, count, pool, inverse=None, multiply=None):
    """The first half of :func:`pool_checks`: its multiplies (with the table look-up before
    one), in logic added to ``m`` (combinational). A dict of values that :func:`pool_verdicts`
    turns into the two terms with the bound's table look-up and comparisons, so a caller may
    register them in between (the sequencer and :func:`late_command_check` do: a multiply
    and a comparison in one cycle limited the clock; they add the bound, registered, with
    :func:`pool_bound`). ``pool`` itself is among them, not the bound: a registered look-up
    is a ROM with a registered read, which Yosys puts in a DP16KD block RAM (4.1 ns from
    clock to data) unless told otherwise, as :func:`pool_bound` does. ``inverse``, if given,
    is ``POOL_INVERSES[pool]`` from a register (looked up as ``pool`` was written), and the
    multiply starts there. ``multiply(name, a, b)``, if given, builds the two products
    (``room_pool``, ``residue``) instead of ``a * b`` (:func:`late_command_check`'s DSP
    blocks)."""
    room = Signal(COUNT_BITS + 1)  # out_addr <= out_depth: output rows left, 1..out_depth + 1
    m.d.comb += room.eq(g.out_depth + 1 - out_addr)
    if inverse is None:
        inverse = Array(Const(i, COUNT_BITS) for i in POOL_INVERSES)[pool]
    low_bits = (pool - 1) & ~pool  # the bits below pool's lowest one
    multiply = multiply or (lambda name, a, b: a * b)
    return {
        "count": count,
        "pool": pool,
        "past_end": out_addr > g.out_depth,
        "room_pool": multiply("room_pool", room, pool),
        "residue": multiply("residue", count, inverse)[:COUNT_BITS],
        "low_zero": (count & low_bits) == 0,
    }


def rom(m, table, addr, name, en=None, domain="sync"):
    """``table[addr]`` in the cycle after ``addr`` (the clock domain ``sync`` of ``m``): a ROM
    (submodule ``name`` of ``m``) with a registered read that asks Yosys for logic
    (``rom_style = "logic"``: a look-up tree and a flip-flop per bit, not a DP16KD block RAM
    with 4.1 ns from clock to data). ``en``: the read happens only when it is high (the
    output keeps the last read's value otherwise; default: every cycle). The output has no
    reset value. ``domain="comb"``: the look-up tree alone, ``table[addr]`` at once (no
    ``en``), for a register of the caller's own."""
    mem = memory.Memory(shape=max(1, max(table).bit_length()), depth=len(table), init=table,
                        attrs={"rom_style": "logic"})
    m.submodules[name] = mem
    port = mem.read_port(domain=domain)
    m.d.comb += port.addr.eq(addr)
    if en is not None:
        m.d.comb += port.en.eq(en)
    return port.data


def pool_bound(m, pool, name):
    """:func:`pool_constants`' bound of ``pool`` in the cycle after it: a :func:`rom`. With it
    in :func:`pool_products`' values, :func:`pool_verdicts` compares with the register instead
    of looking the bound up after the registers."""
    return rom(m, [b for _, b in _TABLE], pool, name)


def pool_verdicts(m, products):
    """The second half of :func:`pool_checks`: ``(out_range, multiple)`` from
    :func:`pool_products`' values (the bound's table look-up, unless they have the ``bound``
    itself (:func:`pool_bound`), and comparisons, combinational, in ``m``)."""
    p = products
    bound = p["bound"] if "bound" in p else \
        Array(Const(b, COUNT_BITS) for _, b in _TABLE)[p["pool"]]
    out_range, multiple = Signal(), Signal()
    m.d.comb += [out_range.eq(p["past_end"]
                              | ((p["pool"] != 0) & (p["count"] >= p["room_pool"]))),
                 multiple.eq(p["low_zero"] & (p["residue"] <= bound))]
    return out_range, multiple


def pool_checks(m, g, *, out_addr, count, pool):
    """The two terms of the command check that depend on the pool, in logic added to ``m``
    (combinational): ``(out_range, multiple)``, ``out_addr + count // pool > out_depth`` and
    ``count % pool == 0``.

    Both go without a divider (a 16-by-8-bit one limited the clock): the first is
    ``out_addr > out_depth`` or ``count >= (out_depth + 1 - out_addr) * pool`` (pool 0:
    Amaranth's ``//`` gives 0, so only the first), divisibility is :func:`pool_constants`' test,
    a 256-entry table and one 16-bit multiply. Two multiplies in all, the longest part of the
    check: the sequencer computes them as an instruction enters its queue, a cycle or more
    before its dispatch (:func:`pool_products`, then :func:`pool_verdicts` a cycle later).
    """
    return pool_verdicts(m, pool_products(m, g, out_addr=out_addr, count=count, pool=pool))


def _conditions(g, *, op, bank, in_addr, acc_addr, count, rows, cols, requant, pool,
                in_end=None, acc_end=None):
    """The command check's conditions that need no pool term (bits; :func:`_ordered`).
    ``in_end``, ``acc_end``: ``in_addr + count`` and ``acc_addr + count`` if the caller has
    them (in registers: no adder before the comparisons)."""
    in_end = in_addr + count if in_end is None else in_end
    acc_end = acc_addr + count if acc_end is None else acc_end
    return {
        "bad_op": (op != Opcode.VMM) & (op != Opcode.NOP), "vmm": op == Opcode.VMM,
        "bank": bank >= g.banks, "count": count == 0,
        "in_range": in_end > g.in_depth, "acc_range": acc_end > g.acc_depth,
        "rows": (rows == 0) | (rows > g.rows), "cols": (cols == 0) | (cols > g.cols),
        "requant": requant, "pool": (pool == 0) | ((pool > 1) & ~requant),
    }


def _verdict(m, c, out_range, multiple):
    """The ErrorCode from :func:`_conditions`' bits ``c`` and the pool terms (first failing
    check wins, in ErrorCode order; NOP passes), combinational in ``m``."""
    err = Signal(ErrorCode)
    checks = [
        (ErrorCode.BAD_BANK, c["bank"]),
        (ErrorCode.BAD_COUNT, c["count"]),
        (ErrorCode.IN_RANGE, c["in_range"]),
        (ErrorCode.ACC_RANGE, c["acc_range"]),
        (ErrorCode.OUT_RANGE, c["requant"] & out_range),
        (ErrorCode.BAD_ROWS, c["rows"]),
        (ErrorCode.BAD_COLS, c["cols"]),
        (ErrorCode.BAD_POOL, c["pool"] | (c["requant"] & ~multiple)),
    ]
    with m.If(c["bad_op"]):
        m.d.comb += err.eq(ErrorCode.BAD_OPCODE)
    with m.Elif(c["vmm"]):
        for i, (code, cond) in enumerate(checks):
            with (m.If if i == 0 else m.Elif)(cond):
                m.d.comb += err.eq(code)
    return err


#: the conditions of :func:`_conditions` that fail a VMM whatever the pool terms
_PLAIN = ("bank", "count", "in_range", "acc_range", "rows", "cols", "pool")


def _failed(c, out_range, multiple):
    """Whether :func:`_verdict` of the same arguments is not NONE: the OR of the failing
    conditions (no priority order)."""
    return c["bad_op"] | (c["vmm"] & (Cat(*(c[k] for k in _PLAIN)).any()
                                      | (c["requant"] & (out_range | ~multiple))))


def command_error(m, g, *, op, bank, in_addr, acc_addr, out_addr, count, rows, cols, requant,
                  pool, pool_terms=None):
    """The ErrorCode of a command with these fields on geometry ``g``, in logic added to
    ``m`` (combinational): :func:`hw.spec.check` (first failing check wins; NOP passes).

    ``pool_terms``: :func:`pool_checks`' ``(out_range, multiple)`` of these fields, computed
    earlier (default: computed here).
    """
    if pool_terms is None:
        pool_terms = pool_checks(m, g, out_addr=out_addr, count=count, pool=pool)
    c = _conditions(g, op=op, bank=bank, in_addr=in_addr, acc_addr=acc_addr, count=count,
                    rows=rows, cols=cols, requant=requant, pool=pool)
    return _verdict(m, c, *pool_terms)


def late_command_check(m, g, *, op, bank, in_addr, acc_addr, out_addr, count, rows, cols,
                       requant, pool, pool_inverse=None, mult_cells="inferred", in_end=None,
                       acc_end=None, latency=1, error_latency=None):
    """:func:`command_error` of the fields of ``latency`` cycles before, and whether it is not
    NONE (``(error, failed)``), in logic added to ``m``: the conditions, the pool table and the
    pool multiplies (:func:`pool_products`) and the bound (:func:`pool_bound`) are computed
    from the fields and registered (without reset), the comparisons and the verdict come
    after the registers; with ``latency`` 2 (default 1) the pool terms' comparisons are
    registered too (and the other conditions a second time), so the verdict is a few gates
    after flip-flops and no multiply block's output reaches it in its cycle.
    ``error_latency`` (default ``latency``; 2 with ``latency`` 1): the error code alone a
    cycle later, from those registers (the sequencer's check: its ``failed`` bit is needed
    first, the code only when a program stops). For a
    Controller with ``check_latency=1`` (``failed``: its ``check_failed`` input; with
    ``latency`` 2 the fields must have been the command's a cycle before its ``start``, as
    the accelerator's bus ensures: :class:`hw.top.PimAccelerator`).

    ``failed`` is the OR of the failing conditions, not a comparison of the error code: the
    conditions without a pool term are ORed before the registers, so after them only the
    two pool terms' comparisons and two gates remain. ``pool_inverse``: ``POOL_INVERSES[pool]``
    held in a register (``RegisterFile(derived=...)``), so the START cycle has the multiply
    without the table look-up before it. ``mult_cells`` "ecp5" (:data:`hw.ecp5.MULT_CELLS`)
    builds the two pool multiplies as MULT18X18D blocks whose output register is the
    product's (:func:`hw.ecp5.mult18x18d`; "inferred", the default: ``*`` and a register):
    the same verdicts in the same cycles, with the cycle ending inside the block, not after a
    route out of it (the 8x8 accelerator's routed critical path, `room * pool`).
    ``in_end`` and ``acc_end``: ``in_addr + count`` and ``acc_addr + count`` from registers
    (:func:`_conditions`), so the early verdict is comparisons and gates, no adder."""
    check_cells(mult_cells)
    if latency not in (1, 2) or isinstance(latency, bool):
        raise ValueError(f"latency must be 1 or 2, not {latency!r}")
    error_latency = latency if error_latency is None else error_latency
    if error_latency not in (latency, 2) or isinstance(error_latency, bool):
        raise ValueError(f"error_latency must be 2 or latency ({latency}), not "
                         f"{error_latency!r}")
    c = _conditions(g, op=op, bank=bank, in_addr=in_addr, acc_addr=acc_addr, count=count,
                    rows=rows, cols=cols, requant=requant, pool=pool, in_end=in_end,
                    acc_end=acc_end)
    in_blocks = {}     # the products registered in their blocks

    def multiply(name, a, b):
        if mult_cells == "inferred":
            return a * b
        in_blocks[name] = p = Signal(len(a) + len(b), name=f"check_pool_{name}_q")
        mult18x18d(m, a, b, p, None, Const(1), name=f"check_pool_{name}_mult",
                   signed_operands=False)
        return p
    products = pool_products(m, g, out_addr=out_addr, count=count, pool=pool,
                             inverse=pool_inverse, multiply=multiply)
    early = {"failed": _failed(c, Const(0, 1), Const(1, 1)),   # every pool term passing
             "pool_checked": c["vmm"] & c["requant"]}   # the pool terms decide
    cq, pq, eq = {}, {}, {}
    for src, dst, prefix in ((c, cq, "check"), (products, pq, "check_pool"),
                             (early, eq, "check_early")):
        for name, value in src.items():
            if src is products and name in in_blocks:
                dst[name] = value
                continue
            dst[name] = Signal.like(value, name=f"{prefix}_{name}_q", reset_less=True)
            m.d.sync += dst[name].eq(value)
    pq["bound"] = pool_bound(m, pool, "check_pool_bound")
    out_range, multiple = pool_verdicts(m, pq)
    stages = {1: (cq, eq, {"out_range": out_range, "multiple": multiple})}
    if 2 in (latency, error_latency):
        stages[2] = tuple({name: Signal.like(value, name=f"{prefix}_{name}_q2",
                                             reset_less=True) for name, value in src.items()}
                          for src, prefix in zip(stages[1], ("check", "check_early", "check_pool"),
                                                 strict=True))
        for src, dst in zip(stages[1], stages[2], strict=True):
            m.d.sync += [dst[name].eq(value) for name, value in src.items()]
    _, eq, terms = stages[latency]
    failed = Signal(name="check_failed")
    m.d.comb += failed.eq(eq["failed"] | (eq["pool_checked"]
                                          & (terms["out_range"] | ~terms["multiple"])))
    cq, _, terms = stages[error_latency]
    return _verdict(m, cq, terms["out_range"], terms["multiple"]), failed


def late_command_error(m, g, **fields):
    """:func:`late_command_check`'s error code alone (the same arguments)."""
    return late_command_check(m, g, **fields)[0]
