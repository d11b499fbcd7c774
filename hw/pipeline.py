"""Delay lines: the valid/tag bookkeeping of a pipeline, written once."""

from amaranth import Mux, Signal, Value
from amaranth.hdl import ValueCastable

__all__ = ["KEEP_APART", "counters", "delay"]

#: the attributes of a register that is a deliberate copy of another (a column's own copy of
#: a broadcast value, so that one register does not drive a whole array): Yosys merges
#: registers with the same inputs into one (``opt_merge``, whatever a wire's ``keep``), so
#: :mod:`hw.synth` marks the flip-flops behind wires with this attribute ``keep`` before
#: synthesis (:data:`hw.synth.KEEP_APART_SCRIPT`). Simulation ignores it.
KEEP_APART = {"pimacc_copy": 1}


def delay(m, value, cycles, *, enable=None, domain="sync", name=None):
    """The registered copies of ``value`` over ``cycles`` cycles.

    Returns a list of ``cycles`` signals of ``value``'s shape; copy ``i`` holds ``value`` as it
    was ``i + 1`` clock edges ago (counting only edges where its stage was enabled). The
    registers are added to ``m.d[domain]``.

    Parameters
    ----------
    m : Module
    value : value-like
        What to delay (a Signal, a slice, a View of a layout...).
    cycles : int
        Length of the line (>= 0; 0 gives an empty list).
    enable : value-like or list of value-like, optional
        None: every stage loads every cycle. One value: every stage loads when it is high (the
        whole line shifts together). A list of ``cycles`` values: stage ``i`` loads when
        ``enable[i]`` is high (e.g. the valid of the stage before it, so a tag travels with its
        row and idle stages keep still).
    domain : str
        Clock domain of the registers.
    name : str, optional
        Base name of the registers (``<name>_<i>``); default the name of ``value``.

    Raises
    ------
    TypeError, ValueError
        ``cycles`` that is not a non-negative int, or an ``enable`` list of another length.
    """
    if not isinstance(cycles, int) or isinstance(cycles, bool):
        raise TypeError(f"cycles must be an int, not {cycles!r}")
    if cycles < 0:
        raise ValueError(f"cycles must be >= 0, not {cycles}")
    if enable is None or isinstance(enable, (Value, ValueCastable, int)):
        enables = [enable] * cycles
    else:
        enables = list(enable)
        if len(enables) != cycles:
            raise ValueError(f"enable has {len(enables)} entries for a line of {cycles} stages")
    if name is None:
        cast = Value.cast(value)
        name = cast.name if isinstance(cast, Signal) else "delay"
    line = []
    previous = value
    for i, en in enumerate(enables):
        stage = Signal.like(value, name=f"{name}_{i}")
        if en is None:
            m.d[domain] += stage.eq(previous)
        else:
            with m.If(en):
                m.d[domain] += stage.eq(previous)
        line.append(stage)
        previous = stage
    return line


def counters(m, pairs, clear, domain="sync"):
    """Performance counters: each ``(counter, increment)`` pair adds its increment every cycle
    (wrapping at the counter's width) and is zeroed in a cycle with ``clear``.

    An increment that is not a constant is registered first and added a cycle late (an
    event's count shows two clock edges after its cycle): the logic that decides it (a
    dispatch, a command check) never meets the counter's carry chain in one cycle. An event
    in a cycle with ``clear`` is dropped, as it always was; so is one in the cycle before,
    which the clear zeroed before too. An increment given as ``(event, amount)`` (``amount``
    in cycles with ``event``, else 0) registers the two apart, the event's bit through the
    clear and the amount as it is, and selects after the registers: the same count in the
    same cycles, and the event reaches one flip-flop, not one per bit of the amount."""
    for counter, inc in pairs:
        if isinstance(inc, tuple):
            event, amount = inc
            late_event = Signal(name=f"{counter.name}_event")
            late_amount = Signal(Value.cast(amount).shape(), name=f"{counter.name}_amount")
            m.d[domain] += [late_event.eq(event & ~clear), late_amount.eq(amount)]
            inc = Mux(late_event, late_amount, 0)
        elif not isinstance(inc, int):
            value = Value.cast(inc)
            late = Signal(value.shape(), name=f"{counter.name}_inc")
            m.d[domain] += late.eq(Mux(clear, 0, value))
            inc = late
        with m.If(clear):
            m.d[domain] += counter.eq(0)
        with m.Else():
            m.d[domain] += counter.eq(counter + inc)
