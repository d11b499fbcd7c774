"""Register helpers shared by the RegisterModel tests (not a test module)."""

from hw.spec import BusError, Geometry, Opcode, register

G = Geometry.default(rows=6, cols=5, banks=2, in_depth=8, acc_depth=6, out_depth=4)


def off(name):
    return register(name).offset


def rd(dev, name, field="VALUE"):
    return register(name).unpack(dev.read(off(name))[0])[field]


def wr(dev, name, **fields):
    dev.write(off(name), [register(name).pack(**fields)])


def bus_error(dev):
    return BusError(rd(dev, "BUS_ERROR", "CODE")), rd(dev, "BUS_ERROR_ADDR")


def command(dev, **values):
    """Write a VMM command (defaults: bank 0, addresses 0, count 1, all rows and cols), START."""
    flags = {k: values.pop(k) for k in ("ACCUMULATE", "BIAS", "REQUANT", "RELU") if k in values}
    regs = {"CMD_OP": Opcode.VMM.value, "CMD_BANK": 0, "CMD_IN_ADDR": 0, "CMD_ACC_ADDR": 0,
            "CMD_OUT_ADDR": 0, "CMD_COUNT": 1, "CMD_ROWS": dev.geometry.rows,
            "CMD_COLS": dev.geometry.cols, "CMD_OUT_ZP": 0} | values
    for name, value in regs.items():
        wr(dev, name, VALUE=value)
    wr(dev, "CMD_FLAGS", **flags)
    wr(dev, "CTRL", START=1, IRQ_EN=rd(dev, "CTRL", "IRQ_EN"))
    dev.wait_irq(100_000)  # the command's busy cycles (or returns at once if DONE)
    return register("STATUS").unpack(dev.read(off("STATUS"))[0])
