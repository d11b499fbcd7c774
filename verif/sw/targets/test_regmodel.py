"""RegisterModel against hw/regmap.py: reset values, access types, address decoding, errors."""

import pytest

from hw.spec import (
    ID_MAGIC,
    REGISTERS,
    RW,
    VERSION,
    W1P,
    WINDOWS,
    BusError,
    Feature,
    Geometry,
    Opcode,
    register,
)
from hw.spec.timing import array_latency
from sw.targets.regmodel import RegisterModel
from sw.targets.regmodel.device import TRANSACTION_CYCLES
from sw.targets.transport import BusErrorResponse

from ..regs import G, bus_error, command, off, rd, wr

pytestmark = pytest.mark.nosim

# --- registers ----------------------------------------------------------------------------------

def test_reset_values_of_every_register():
    dev = RegisterModel(G)
    config = {"rows": 6, "cols": 5, "banks": 2, "in_depth": 8, "acc_depth": 6, "out_depth": 4,
              "mem_bits": 128, "latency": array_latency(6),
              "features": sum(f.value for f in Feature if f is not Feature.CIM)}
    for reg in REGISTERS:
        expected = config[reg.config] if reg.config else reg.reset
        if reg.name != "PERF_CYCLES":  # counts the bus cycles of these reads
            assert dev.read(reg.offset) == [expected], reg.name
    assert dev.read(off("ID")) == [ID_MAGIC] and dev.read(off("VERSION")) == [VERSION]
    assert not dev.irq and not dev.busy


def test_read_only_registers_refuse_writes():
    dev = RegisterModel(G)
    for reg in REGISTERS:
        if not reg.read_only:
            continue
        before = dev.read(reg.offset)
        assert dev.write32(reg.offset, 0x1234_5678) == "SLVERR", reg.name
        assert bus_error(dev) == (BusError.READ_ONLY, reg.offset)
        if reg.name not in ("PERF_CYCLES", "BUS_ERROR_ADDR"):  # these change meanwhile
            assert dev.read(reg.offset) == before, reg.name
        wr(dev, "BUS_ERROR")  # WC: any write clears


def test_rw_fields_read_back_masked_to_their_width():
    dev = RegisterModel(G)
    for reg in REGISTERS:
        rw = [f for f in reg.fields if f.access == RW]
        if not rw or reg.name == "CTRL":
            continue
        assert dev.write32(reg.offset, 0xFFFF_FFFF) == "OKAY"
        assert dev.read(reg.offset) == [sum(f.mask for f in rw)], reg.name
        dev.write(reg.offset, [0])
        assert dev.read(reg.offset) == [0], reg.name
    assert dev.write32(off("CMD_COUNT"), 0xABCD, strb=0b01) == "OKAY"  # byte strobes
    assert rd(dev, "CMD_COUNT") == 0xCD
    dev.write32(off("CMD_COUNT"), 0x1200, strb=0b10)
    assert rd(dev, "CMD_COUNT") == 0x12CD
    wr(dev, "CMD_OUT_ZP", VALUE=-3)
    assert rd(dev, "CMD_OUT_ZP") == -3 and dev.read(off("CMD_OUT_ZP")) == [0xFD]


def test_ctrl_w1p_bits_read_zero_and_irq_en():
    dev = RegisterModel(G)
    ctrl = register("CTRL")
    dev.write(off("CTRL"), [ctrl.pack(IRQ_EN=1, CLEAR_COUNTERS=1)])
    assert dev.read(off("CTRL")) == [ctrl.pack(IRQ_EN=1)]
    assert all(f.access in (W1P, RW) for f in ctrl.fields)
    dev.write32(off("CTRL"), 0, strb=0)  # no strobes: nothing changes
    assert rd(dev, "CTRL", "IRQ_EN") == 1


def test_status_done_w1c_and_irq():
    dev = RegisterModel(G)
    assert command(dev, CMD_OP=Opcode.NOP.value) == {"BUSY": 0, "DONE": 1, "ERROR": 0}
    assert not dev.irq  # IRQ_EN is 0
    wr(dev, "CTRL", IRQ_EN=1)
    assert dev.irq and dev.wait_irq(10)
    wr(dev, "STATUS", DONE=0)            # writing 0 keeps it
    dev.write32(off("STATUS"), 2, strb=0)  # no strobe keeps it
    assert rd(dev, "STATUS", "DONE") == 1
    wr(dev, "STATUS", DONE=1)
    assert rd(dev, "STATUS", "DONE") == 0 and not dev.irq
    assert not dev.wait_irq(10)


def test_bus_error_wc_clears_on_any_write():
    dev = RegisterModel(G)
    assert dev.read32(0x018) == (0, "DECERR")
    assert bus_error(dev) == (BusError.UNMAPPED, 0x018)
    dev.write32(off("BUS_ERROR"), 0, strb=0)
    assert bus_error(dev) == (BusError.NONE, 0x018)  # the address stays


def test_soft_reset_restores_registers_not_buffers():
    dev = RegisterModel(G)
    dev.write(G.in_addr(3), [0x01020304])
    dev.write(G.weight_addr(1, 4, 1), [0x0506])
    dev.write(G.param_addr(2, "MULT"), [12345])
    wr(dev, "CTRL", IRQ_EN=1)
    wr(dev, "CMD_COUNT", VALUE=7)
    command(dev)
    dev.read32(0xFFC)
    wr(dev, "CTRL", SOFT_RESET=1, IRQ_EN=1, START=1)  # SOFT_RESET wins
    for reg in REGISTERS:
        if not reg.config and reg.name != "PERF_CYCLES":
            assert dev.read(reg.offset) == [reg.reset], reg.name
    assert dev.read(G.in_addr(3)) == [0x01020304]
    assert dev.read(G.weight_addr(1, 4, 1)) == [0x0506]
    assert dev.read(G.param_addr(2, "MULT")) == [12345]


def test_clear_counters_and_exact_macs():
    dev = RegisterModel(G)
    command(dev, CMD_COUNT=3, CMD_ROWS=4, CMD_COLS=2)
    command(dev, CMD_COUNT=2)
    assert rd(dev, "PERF_MACS") == 3 * 4 * 2 + 2 * 6 * 5 and rd(dev, "PERF_VECTORS") == 5
    assert rd(dev, "PERF_BUSY") > 0 and rd(dev, "PERF_CYCLES") > rd(dev, "PERF_BUSY")
    wr(dev, "CTRL", CLEAR_COUNTERS=1)
    assert [rd(dev, n) for n in ("PERF_BUSY", "PERF_MACS", "PERF_VECTORS")] == [0, 0, 0]
    # the four one-word reads since the clear, each with its transaction's handshakes
    assert rd(dev, "PERF_CYCLES") == 4 * (1 + TRANSACTION_CYCLES)


# --- address decoding ---------------------------------------------------------------------------

def unmapped_addresses(g):
    yield from (0x018, 0x01C, 0x06C, 0x07C, 0x0AC, 0x0D8, 0xFFC, 0x1000, 0x7FFC, 0x08100, 0xFFFC)
    yield g.param_addr(0, "BIAS") + 12             # padding word of a column
    yield g.param_addr(g.cols, "BIAS")             # column past C
    if g.row_words < g.row_words_p2:               # word past ROW_WORDS (12 rows: 3 of 4)
        yield g.weight_addr(0, 0, g.row_words)
    if g.row_words < g.row_words_p2:
        yield g.in_addr(0, g.row_words)
    yield g.weight_addr(0, g.cols, 0)              # column past C (5 of 8)
    yield g.weight_addr(g.banks, 0, 0)             # bank past BANKS
    yield g.in_addr(g.in_depth)
    yield g.acc_addr(0, g.cols)                    # column past C
    yield g.acc_addr(g.acc_depth)
    if g.col_words < g.col_words_p2:               # word past COL_WORDS (10 cols: 3 of 4)
        yield g.out_addr(0, g.col_words)
    yield g.out_addr(g.out_depth)
    for w in WINDOWS:
        yield w.base + w.size - 4


@pytest.mark.parametrize("g", [G, Geometry.default(rows=12, cols=10, banks=3)], ids=str)
def test_unmapped_addresses_decerr(g):
    dev = RegisterModel(g)
    for addr in unmapped_addresses(g):
        assert dev.read32(addr) == (0, "DECERR"), hex(addr)
        assert bus_error(dev) == (BusError.UNMAPPED, addr)
        assert dev.write32(addr, 0xFFFF_FFFF) == "DECERR", hex(addr)
        assert bus_error(dev) == (BusError.UNMAPPED, addr)
        with pytest.raises(BusErrorResponse) as e:
            dev.read(addr, 1)
        assert (e.value.addr, e.value.resp) == (addr, "DECERR")


def test_read_only_windows_slverr():
    dev = RegisterModel(G)
    for addr in (G.acc_addr(1, 2), G.out_addr(3, 1)):
        assert dev.write32(addr, 0x55) == "SLVERR"
        assert bus_error(dev) == (BusError.READ_ONLY, addr)
        assert dev.read(addr) == [0]
    with pytest.raises(BusErrorResponse, match="SLVERR") as e:
        dev.write(G.acc_addr(0), [1, 2, 3])
    assert e.value.addr == G.acc_addr(0) and e.value.resp == "SLVERR"


def test_block_access_across_padding_and_bad_addresses():
    dev = RegisterModel(G)
    # rows 6 -> 2 words per weight column, stride 2: a block over columns 0..4 is contiguous
    dev.write(G.weight_addr(0, 0), list(range(1, 11)))
    assert dev.read(G.weight_addr(0, 0), 10) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    # PARAM: the 4th word of a column is padding; the mapped words are still written
    with pytest.raises(BusErrorResponse) as e:
        dev.write(G.param_addr(0, "BIAS"), [7, 8, 9, 10, 11])
    assert e.value.addr == G.param_addr(0, "BIAS") + 12 and e.value.resp == "DECERR"
    assert dev.read(G.param_addr(1, "BIAS")) == [11]
    with pytest.raises(ValueError, match="word address"):
        dev.read(0x2)
    with pytest.raises(ValueError, match="word address"):
        dev.write(0xFFFFC, [1, 2])
    with pytest.raises(ValueError, match="0..2\\*\\*32-1"):
        dev.write(0x40, [-1])


def test_partial_words_and_param_widths():
    dev = RegisterModel(G)  # rows 6: bytes 2, 3 of word 1 are past R
    dev.write(G.weight_addr(1, 2, 1), [0xAABBCCDD])
    assert dev.read(G.weight_addr(1, 2, 1)) == [0xCCDD]
    dev.write(G.in_addr(2, 1), [0xAABBCCDD])
    assert dev.read(G.in_addr(2, 1)) == [0xAABBCCDD]  # the input buffer keeps whole words
    dev.write(G.param_addr(4, "BIAS"), [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF])
    assert dev.read(G.param_addr(4, "BIAS"), 3) == [0xFFFF_FFFF, 2**31 - 1, 63]
    dev.write32(G.param_addr(4, "MULT"), 0x00_00_12_00, strb=0b0010)
    assert dev.read(G.param_addr(4, "MULT")) == [0x7FFF_12FF]


def test_constructor():
    dev = RegisterModel(rows=8, cols=4, latency=9, features=Feature.REQUANT.value)
    assert dev.geometry == Geometry.default(rows=8, cols=4)
    assert rd(dev, "CFG_LATENCY") == 9 and rd(dev, "CFG_FEATURES") == 1
    assert RegisterModel(G, banks=3).geometry.banks == 3
    with pytest.raises(ValueError, match="IN window"):
        RegisterModel(rows=64, in_depth=8192)
    with pytest.raises(ValueError, match="in_depth must be in 1..65535"):
        RegisterModel(in_depth=1 << 20)
    with pytest.raises(TypeError, match="Geometry"):
        RegisterModel((16, 16))
    with RegisterModel() as dev:
        assert rd(dev, "ID") == ID_MAGIC
