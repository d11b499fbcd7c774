"""A command as the CMD_* registers hold it, and the check that accepts or rejects it.

:func:`check` is the specification of ``STATUS.ERROR``: the register-level model calls it, the
hardware's ``Controller`` implements it in logic, and a randomized test holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .geometry import Geometry
from .regmap import ErrorCode, Opcode

__all__ = ["Command", "check"]


@dataclass(frozen=True)
class Command:
    """The fields of the CMD_* registers that decide what a command does (values as read)."""
    op: int = Opcode.NOP.value
    bank: int = 0
    in_addr: int = 0
    acc_addr: int = 0
    out_addr: int = 0
    count: int = 0
    rows: int = 0
    cols: int = 0
    requant: bool = False
    pool: int = 1

    @classmethod
    def from_registers(cls, value_of):
        """Build from ``value_of(register_name, field_name)``."""
        values = {f.name: value_of(f"CMD_{f.name.upper()}", "VALUE")
                  for f in fields(cls) if f.name != "requant"}
        return cls(requant=bool(value_of("CMD_FLAGS", "REQUANT")), **values)


def check(cmd: Command, g: Geometry) -> ErrorCode:
    """The ErrorCode of ``cmd`` on an accelerator of geometry ``g``: the first failing check in
    :class:`ErrorCode` order, or NONE. NOP is never checked further."""
    if cmd.op not in {o.value for o in Opcode}:
        return ErrorCode.BAD_OPCODE
    if cmd.op == Opcode.NOP.value:
        return ErrorCode.NONE
    n, pool = cmd.count, cmd.pool
    checks = (
        (ErrorCode.BAD_BANK, cmd.bank >= g.banks),
        (ErrorCode.BAD_COUNT, n == 0),
        (ErrorCode.IN_RANGE, cmd.in_addr + n > g.in_depth),
        (ErrorCode.ACC_RANGE, cmd.acc_addr + n > g.acc_depth),
        # a zero pool is BAD_POOL below; Amaranth's divider (and _div) answers 0 for it
        (ErrorCode.OUT_RANGE, cmd.requant and cmd.out_addr + _div(n, pool) > g.out_depth),
        (ErrorCode.BAD_ROWS, not 1 <= cmd.rows <= g.rows),
        (ErrorCode.BAD_COLS, not 1 <= cmd.cols <= g.cols),
        (ErrorCode.BAD_POOL, pool == 0 or (pool > 1 and not cmd.requant)
         or (cmd.requant and n % pool != 0)),
    )
    return next((code for code, bad in checks if bad), ErrorCode.NONE)


def _div(n, d):
    """Amaranth's unsigned ``//``: division by zero gives 0."""
    return n // d if d else 0

