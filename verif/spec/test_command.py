"""hw.spec.check, the specification of STATUS.ERROR, on hand-picked commands."""

import pytest

from hw.spec import Command, ErrorCode, Geometry, Opcode, check

pytestmark = pytest.mark.nosim

G = Geometry.default(rows=8, cols=4, banks=2, in_depth=32, acc_depth=16, out_depth=8)
GOOD = Command(op=Opcode.VMM.value, count=4, rows=8, cols=4)


@pytest.mark.parametrize("change, error", [
    ({}, ErrorCode.NONE),
    (dict(op=Opcode.NOP.value, count=0, rows=0), ErrorCode.NONE),  # NOP is not checked further
    (dict(op=2), ErrorCode.BAD_OPCODE),
    (dict(bank=2), ErrorCode.BAD_BANK),
    (dict(count=0), ErrorCode.BAD_COUNT),
    (dict(in_addr=29), ErrorCode.IN_RANGE),
    (dict(in_addr=28), ErrorCode.NONE),
    (dict(acc_addr=13), ErrorCode.ACC_RANGE),
    (dict(requant=True, out_addr=5), ErrorCode.OUT_RANGE),
    (dict(requant=True, out_addr=6, pool=2), ErrorCode.NONE),  # 4 rows pooled by 2: 2 out rows
    (dict(rows=0), ErrorCode.BAD_ROWS),
    (dict(rows=9), ErrorCode.BAD_ROWS),
    (dict(cols=5), ErrorCode.BAD_COLS),
    (dict(pool=0), ErrorCode.BAD_POOL),
    (dict(pool=2), ErrorCode.BAD_POOL),  # pooling needs REQUANT
    (dict(pool=3, requant=True), ErrorCode.BAD_POOL),  # 3 does not divide 4
    (dict(pool=0, requant=True), ErrorCode.BAD_POOL),  # (the divider gives 0 for /0)
    (dict(bank=5, count=0, rows=0), ErrorCode.BAD_BANK),  # the first failing check wins
])
def test_check(change, error):
    fields = GOOD.__dict__ | change
    assert check(Command(**fields), G) == error


def test_from_registers():
    values = {("CMD_OP", "VALUE"): 1, ("CMD_COUNT", "VALUE"): 3, ("CMD_FLAGS", "REQUANT"): 1,
              ("CMD_POOL", "VALUE"): 3}
    cmd = Command.from_registers(lambda reg, fld: values.get((reg, fld), 0))
    assert cmd == Command(op=1, count=3, requant=True, pool=3)
