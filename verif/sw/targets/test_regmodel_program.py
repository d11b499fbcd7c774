"""RegisterModel programs (hw/spec/isa.py): effects, errors 10..16 with PROG_PC and
MEM_ERROR_ADDR, hardware-tracked dependencies, overlap, FENCE, soft reset, bus refusals while a
program runs, and random programs against an independent sequential interpreter."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import models
from hw.spec import BusError, ErrorCode, Geometry, isa, register, timing
from sw.knobs import seed as env_seed
from sw.targets.regmodel import ProgramTiming, RegisterModel
from sw.targets.regmodel.port_memory import bursts
from sw.targets.transport import BusErrorResponse

from ..regs import bus_error, off, rd, wr

pytestmark = pytest.mark.nosim

W = isa.Window
G = Geometry.default(rows=6, cols=5, banks=2, in_depth=8, acc_depth=6, out_depth=4)
FLAGS = register("CMD_FLAGS")


def run(dev, program, *, prog_addr=None, prog_len=None, wait=True):
    """Write ``program`` (instructions or raw 4-word tuples) at ``prog_addr`` (default: 64 KiB
    below the memory's end), ring the doorbell; returns STATUS after the interrupt."""
    words = [isa.encode(i) if isinstance(i, isa.Instr) else i for i in program]
    prog_addr = dev.mem_size - 0x10000 if prog_addr is None else prog_addr
    if words:
        dev.mem_write(prog_addr, np.array(words, dtype="<u4").tobytes())
    wr(dev, "CTRL", IRQ_EN=1)
    wr(dev, "PROG_ADDR", VALUE=prog_addr)
    wr(dev, "PROG_LEN", VALUE=len(words) if prog_len is None else prog_len)
    wr(dev, "DOORBELL", RUN=1)
    if wait:
        assert dev.wait_irq(10_000_000)
    return register("STATUS").unpack(dev.read(off("STATUS"))[0])


def rand_bytes(rng, n):
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def windows(dev):
    return {b.name: b.data.copy() for b in dev.memory.buffers}


# --- effects ------------------------------------------------------------------------------------

def test_load_vmm_store_equal_the_golden_model():
    s = env_seed() + 1
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    dev = RegisterModel(G)
    g = dev.geometry
    x = rng.integers(-128, 128, (4, g.rows), dtype=np.int8)
    w = rng.integers(-128, 128, (g.cols, g.rows), dtype=np.int8)
    bias = rng.integers(-1000, 1000, g.cols, dtype=np.int32)
    mult, shift = models.quantize_multipliers(rng.uniform(0.001, 0.01, g.cols))
    params = np.zeros((g.cols, 4), "<u4")
    params[:, 0], params[:, 1], params[:, 2] = bias.view("<u4"), mult, shift
    pad = 4 * g.row_words_p2
    xi, wi = np.zeros((4, pad), np.int8), np.zeros((g.cols, pad), np.int8)
    xi[:, :g.rows], wi[:, :g.rows] = x, w
    for addr, data in ((0x000, wi), (0x100, xi), (0x200, params)):
        dev.mem_write(addr, data.tobytes())
    flags = FLAGS.pack(BIAS=1, REQUANT=1, RELU=1)
    prog = [isa.Load(W.WEIGHT, g.cols_p2, g.cols, 0x000), isa.Load(W.IN, 2, 4, 0x100),
            isa.Load(W.PARAM, 0, 4 * g.cols, 0x200),
            isa.Vmm(bank=1, in_addr=2, acc_addr=1, out_addr=0, count=4, rows=g.rows,
                    cols=g.cols, flags=flags, out_zp=-3),
            isa.Store(W.ACC, 1, 4, 0x400), isa.Store(W.OUT, 0, 4, 0x500), isa.End()]
    dev.mem_write(0x400, b"\xAA" * 0x300)  # padding bytes of the stored units become 0
    assert run(dev, prog) == {"BUSY": 0, "DONE": 1, "ERROR": 0}
    assert rd(dev, "PROG_PC") == 6
    acc = models.vmm(x, w) + bias
    got = np.frombuffer(dev.mem_read(0x400, 4 * 4 * g.cols_p2), "<i4").reshape(4, g.cols_p2)
    np.testing.assert_array_equal(got[:, :g.cols], acc)
    assert not got[:, g.cols:].any()
    out = np.frombuffer(dev.mem_read(0x500, 4 * 4 * g.col_words_p2), np.int8).reshape(4, -1)
    np.testing.assert_array_equal(out[:, :g.cols], models.requantize(acc, mult, shift, -3, True))
    assert not out[:, g.cols:].any()
    k = dev.last_program.counters
    assert k["PERF_MACS"] == 4 * g.rows * g.cols and k["PERF_VECTORS"] == 4
    assert k["PERF_INSTRS"] == 7
    assert k["PERF_WR_BYTES"] == sum(isa.transfer_bytes(i, g) for i in prog[4:6]) == 128 + 32
    loads = sum(isa.transfer_bytes(i, g) for i in prog[:3])
    assert k["PERF_RD_BYTES"] == loads + 7 * isa.INSTR_BYTES  # a 112-byte program, all fetched
    assert rd(dev, "PERF_RD_BYTES") == k["PERF_RD_BYTES"]
    assert rd(dev, "PERF_BUSY") == timing.busy_cycles(4, dev.latency)
    # 3 OUT units are 24 bytes: the rest of the last 16-byte beat is written as 0
    assert run(dev, [isa.Store(W.OUT, 0, 3, 0x600), isa.End()])["ERROR"] == 0
    assert dev.mem_read(0x600, 48)[24:] == bytes(8) + b"\xAA" * 16
    assert dev.last_program.counters["PERF_WR_BYTES"] == 32


def test_loads_drop_padding_and_partial_bits():
    dev = RegisterModel(G)  # rows 6: a weight unit is 2 words, bytes 2, 3 of word 1 are padding
    g = dev.geometry
    dev.mem_write(0, b"\xFF" * 4096)
    prog = [isa.Load(W.WEIGHT, 0, g.banks * g.cols_p2, 0), isa.Load(W.PARAM, 0, 4 * g.cols, 0),
            isa.Load(W.IN, 0, g.in_depth, 0), isa.Load(W.LUT, 0, 64, 0), isa.End()]
    assert run(dev, prog)["ERROR"] == 0
    for buf in (dev.memory.weight, dev.memory.param, dev.memory.inputs, dev.memory.lut):
        np.testing.assert_array_equal(buf.data, buf.mask)  # exactly the stored bits are set
    assert dev.read(g.param_addr(0, "MULT")) == [2**31 - 1]
    assert dev.read(g.param_addr(0, "SHIFT")) == [63]


# --- errors -------------------------------------------------------------------------------------

def test_doorbell_checks_prog_addr_and_prog_len():
    dev = RegisterModel(G)
    assert run(dev, [isa.End()], prog_addr=8) == {"BUSY": 0, "DONE": 1,
                                                  "ERROR": ErrorCode.MEM_ALIGN}
    assert rd(dev, "PROG_PC") == 0
    assert run(dev, [isa.End()], prog_len=0)["ERROR"] == ErrorCode.PROG_LEN
    assert run(dev, [isa.End()], prog_addr=8, prog_len=0)["ERROR"] == ErrorCode.MEM_ALIGN
    assert run(dev, [isa.End()])["ERROR"] == 0  # DOORBELL clears the error


GOOD = [isa.Load(W.IN, 0, 2, 0), isa.Fence()]
BAD_PROGRAMS = [  # (ErrorCode, the instruction that fails after GOOD)
    (ErrorCode.BAD_INSTR, (7, 0, 0, 0)),
    (ErrorCode.BAD_INSTR, (0, 1, 0, 0)),                       # END with a field set
    (ErrorCode.BAD_INSTR, (int(isa.Op.STORE) | 4 << 8 | 1 << 12, 1 << 16, 0, 0)),  # no PITCH
    (ErrorCode.BAD_INSTR, (int(isa.Op.STORE) | 4 << 8, 1 << 16, 0, 2)),  # nor ROWS
    (ErrorCode.MEM_ALIGN, isa.Load(W.IN, 0, 1, 0, rows=2, skip=1, pitch=8)),
    (ErrorCode.WINDOW_RANGE, isa.Load(W.IN, 0, 2, 0, rows=4, skip=3)),  # units 0..10, 8 in IN
    (ErrorCode.MEM_RANGE, isa.Load(W.IN, 0, 1, 0xFFFF_FF00, rows=2, skip=1, pitch=0x100)),
    (ErrorCode.BAD_INSTR, (int(isa.Op.VMM), 1 << 16, 1 << 16, 1 << 24 | 1)),
    (ErrorCode.BAD_WINDOW, isa.Load(W.ACC, 0, 1, 0)),
    (ErrorCode.BAD_WINDOW, isa.Store(W.IN, 0, 1, 0)),
    (ErrorCode.BAD_WINDOW, isa.Load(9, 0, 1, 0)),
    (ErrorCode.WINDOW_RANGE, isa.Load(W.IN, 7, 2, 0)),
    (ErrorCode.WINDOW_RANGE, isa.Store(W.OUT, 0, 0, 0)),
    (ErrorCode.WINDOW_RANGE, isa.Load(W.WEIGHT, 2 * 8 - 1, 2, 0)),  # banks * COLS_P2 = 16
    (ErrorCode.MEM_ALIGN, isa.Load(W.IN, 0, 1, 8)),
    (ErrorCode.MEM_ALIGN, isa.Store(W.ACC, 0, 1, 0x104)),
    (ErrorCode.BAD_BANK, isa.Vmm(bank=2, rows=1, cols=1)),
    (ErrorCode.IN_RANGE, isa.Vmm(in_addr=7, count=2, rows=1, cols=1)),
    (ErrorCode.OUT_RANGE, isa.Vmm(out_addr=3, count=2, rows=1, cols=1,
                                  flags=FLAGS.pack(REQUANT=1))),
    (ErrorCode.BAD_POOL, isa.Vmm(count=3, pool=2, rows=1, cols=1, flags=FLAGS.pack(REQUANT=1))),
]


@pytest.mark.parametrize("code, bad", BAD_PROGRAMS, ids=lambda v: getattr(v, "name", ""))
def test_bad_instruction_stops_the_program_at_its_pc(code, bad):
    dev = RegisterModel(G)
    dev.mem_write(0, bytes(range(64)))
    after = [isa.Load(W.IN, 2, 1, 0), isa.End()]  # never runs
    status = run(dev, [*GOOD, bad, *after])
    assert status == {"BUSY": 0, "DONE": 1, "ERROR": code}
    assert rd(dev, "PROG_PC") == 2
    assert dev.read(G.in_addr(0)) == [0x03020100] and dev.read(G.in_addr(2)) == [0]
    assert dev.last_program.counters["PERF_INSTRS"] == 2 and dev.irq


def test_prog_len_reached_without_end():
    dev = RegisterModel(G)
    assert run(dev, [isa.Fence()] * 3 + [isa.End()], prog_len=3)["ERROR"] == ErrorCode.PROG_LEN
    assert rd(dev, "PROG_PC") == 3  # the instruction that was not allowed to run
    assert run(dev, [isa.Fence()] * 3 + [isa.End()], prog_len=4)["ERROR"] == 0
    assert rd(dev, "PROG_PC") == 3  # END


def test_memory_errors_name_the_burst():
    g = Geometry.default()  # 16-byte beats: bursts of at most 256 bytes; IN units of 16 bytes
    dev = RegisterModel(g, mem_size=1 << 16)
    # a LOAD past the end of memory: 64 bytes from 32 below the end, its second burst fails
    top = (1 << 16) - 32
    assert run(dev, [GOOD[0], isa.Load(W.IN, 0, 4, top), isa.End()],
               prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ
    assert rd(dev, "PROG_PC") == 1 and rd(dev, "MEM_ERROR_ADDR") == 1 << 16
    # an injected byte in the third burst of a 1 KiB LOAD; bursts are cut from the start
    dev.inject_mem_error(0x1234, 0x1235)
    assert [b for b, _ in bursts(0x1000, 0x400, g.mem_bytes)] == [0x1000, 0x1100, 0x1200,
                                                                 0x1300]
    assert run(dev, [isa.Load(W.IN, 0, 64, 0x1000), isa.End()],
               prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ
    assert rd(dev, "PROG_PC") == 0 and rd(dev, "MEM_ERROR_ADDR") == 0x1200
    assert run(dev, [isa.Fence(), isa.Load(W.IN, 0, 64, 0x10F0), isa.End()],
               prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ
    assert rd(dev, "PROG_PC") == 1 and rd(dev, "MEM_ERROR_ADDR") == 0x11F0
    # a burst never crosses 4 KiB: a transfer from 0xFE0 has bursts at 0xFE0, 0x1000
    assert bursts(0xFE0, 0x40, 16) == [(0xFE0, 0x20), (0x1000, 0x20)]
    # STORE into the range: MEM_WRITE; a read-only error range leaves writes alone
    assert run(dev, [isa.Store(W.ACC, 0, 2, 0x1200), isa.End()],
               prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_WRITE
    assert rd(dev, "PROG_PC") == 0 and rd(dev, "MEM_ERROR_ADDR") == 0x1200
    dev.clear_mem_errors()
    dev.inject_mem_error(0x1200, 0x1300, write=False)
    assert run(dev, [isa.Store(W.ACC, 0, 2, 0x1200), isa.End()], prog_addr=0x8000)["ERROR"] == 0
    assert run(dev, [isa.Load(W.IN, 0, 1, 0x12F0), isa.End()],
               prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ
    # MEM_ERROR_ADDR keeps its value after a good program
    assert run(dev, [isa.End()], prog_addr=0x8000)["ERROR"] == 0
    assert rd(dev, "MEM_ERROR_ADDR") == 0x12F0


def test_a_failing_transfer_moves_what_the_hardware_moves():
    g = Geometry.default()  # IN units of 16 bytes: a burst of 256 bytes holds 16 of them
    dev = RegisterModel(g, mem_size=1 << 16)
    dev.mem_write(0x1000, bytes(range(256)) * 4)
    assert dev.write32(g.in_addr(40), 0x55) == "OKAY"
    dev.inject_mem_error(0x1234, 0x1235)  # the third burst: units 32..47
    assert run(dev, [isa.Load(W.IN, 0, 64, 0x1000), isa.End()],
               prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ
    got = dev.memory.inputs.data.reshape(g.in_depth, -1)
    want = np.frombuffer(bytes(range(256)), "<u4").reshape(16, 4)
    for first in (0, 16):  # up to the failing burst; from there on nothing (as the RTL)
        np.testing.assert_array_equal(got[first:first + 16], want)
    assert not got[32:40].any() and got[40, 0] == 0x55 and not got[41:64].any()
    dev.clear_mem_errors()
    dev.inject_mem_error(0x2100, 0x2101, read=False)
    dev.mem_write(0x2000, b"\xEE" * 0x400)
    assert run(dev, [isa.Store(W.ACC, 0, 16, 0x2000), isa.End()],  # ACC rows: 64 bytes
               prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_WRITE
    assert rd(dev, "MEM_ERROR_ADDR") == 0x2100
    data = dev.mem_read(0x2000, 0x400)
    assert data[:0x100] == bytes(0x100) and data[0x100:0x200] == b"\xEE" * 0x100
    assert data[0x200:] == bytes(0x200)


def test_fetch_error_stops_at_the_first_instruction_of_the_failing_block():
    dev = RegisterModel(G, mem_size=1 << 16)
    prog = [isa.Fence()] * 10 + [isa.End()]
    dev.inject_mem_error(0x8000 + 16 * 5 + 3, 0x8000 + 16 * 5 + 4)  # a byte of instruction 5
    assert run(dev, prog, prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ
    assert rd(dev, "PROG_PC") == 4 and rd(dev, "MEM_ERROR_ADDR") == 0x8040  # 64-byte blocks
    assert dev.last_program.counters["PERF_INSTRS"] == 4
    # past the end of memory (PROG_LEN reaches beyond it)
    dev.clear_mem_errors()
    top = (1 << 16) - 32
    assert run(dev, [isa.Fence(), isa.Fence()], prog_addr=top, prog_len=5)["ERROR"] == \
        ErrorCode.MEM_READ
    assert rd(dev, "PROG_PC") == 2 and rd(dev, "MEM_ERROR_ADDR") == 1 << 16
    # an error range after END's block within PROG_LEN: never reached, the program ends
    # normally (it may have been prefetched)
    dev.inject_mem_error(0x8000 + 0xC0, 0x8000 + 0xD0)
    assert run(dev, prog, prog_addr=0x8000, prog_len=100)["ERROR"] == 0


def test_younger_instructions_already_dispatched_complete_after_a_memory_error():
    dev = RegisterModel(G, mem_size=1 << 16)
    dev.inject_mem_error(0x2000, 0x2010)
    prog = [isa.Load(W.IN, 0, 8, 0x1FE0),              # its last burst fails, at its end
            isa.Vmm(bank=1, in_addr=0, count=1, rows=1, cols=1, acc_addr=5),  # conflicts: waits
            isa.Load(W.LUT, 0, 1, 0x100), isa.End()]
    dev.mem_write(0x100, b"\x07\x00\x00\x00")
    status = run(dev, prog, prog_addr=0x8000)
    assert status["ERROR"] == ErrorCode.MEM_READ and rd(dev, "PROG_PC") == 0
    # the VMM waited for the LOAD (IN conflicts) and was never dispatched
    assert [i for i, *_ in dev.last_program.schedule] == [0]
    prog = [isa.Load(W.IN, 0, 8, 0x1FE0), isa.Store(W.ACC, 0, 1, 0x300), isa.End()]
    dev.mem_write(0x300, b"\xFF" * 16)
    assert run(dev, prog, prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ
    assert rd(dev, "PROG_PC") == 0
    assert dev.mem_read(0x300, 16) == bytes(16)  # the STORE ran meanwhile (other unit)


def test_the_first_error_found_is_reported():
    g = Geometry.default()
    dev = RegisterModel(g, mem_size=1 << 16)
    dev.inject_mem_error(0x3F00, 0x4000)  # the last burst of a 4 KiB LOAD
    prog = [isa.Load(W.IN, 0, 256, 0x3000), isa.Fence(), (7, 0, 0, 0), isa.End()]
    assert run(dev, prog, prog_addr=0x8000)["ERROR"] == ErrorCode.MEM_READ  # FENCE waits for it
    assert rd(dev, "PROG_PC") == 0 and rd(dev, "MEM_ERROR_ADDR") == 0x3F00
    prog = [isa.Load(W.IN, 0, 256, 0x3000), (7, 0, 0, 0), isa.End()]
    assert run(dev, prog, prog_addr=0x8000)["ERROR"] == ErrorCode.BAD_INSTR  # found first
    assert rd(dev, "PROG_PC") == 1 and rd(dev, "MEM_ERROR_ADDR") == 0x3F00  # (unchanged)
    assert dev.last_program.cycles > 256  # DONE once the LOAD has ended


# --- dependencies, overlap, FENCE ---------------------------------------------------------------

def _weights_program(g, rng):
    """Two weight sets loaded into bank 0 one after the other, each used by a VMM."""
    pad = 4 * g.row_words_p2
    x = rng.integers(-128, 128, (3, g.rows), dtype=np.int8)
    w1, w2 = (rng.integers(-128, 128, (g.cols, g.rows), dtype=np.int8) for _ in range(2))
    images = []
    for a in (x, w1, w2):
        img = np.zeros((a.shape[0], pad), np.int8)
        img[:, :g.rows] = a
        images.append(img.tobytes())
    prog = [isa.Load(W.IN, 0, 3, 0x000), isa.Load(W.WEIGHT, 0, g.cols, 0x100),
            isa.Vmm(count=3, rows=g.rows, cols=g.cols, acc_addr=0),
            isa.Load(W.WEIGHT, 0, g.cols, 0x200),
            isa.Vmm(count=3, rows=g.rows, cols=g.cols, acc_addr=3),
            isa.Store(W.ACC, 0, 6, 0x400), isa.End()]
    return x, w1, w2, images, prog


def test_dependencies_keep_the_sequential_meaning():
    s = env_seed() + 2
    print(f"seed={s}")
    dev = RegisterModel(G)
    g = dev.geometry
    x, w1, w2, images, prog = _weights_program(g, np.random.default_rng(s))
    for addr, img in zip((0x000, 0x100, 0x200), images, strict=True):
        dev.mem_write(addr, img)
    assert run(dev, prog)["ERROR"] == 0
    got = np.frombuffer(dev.mem_read(0x400, 6 * 4 * g.cols_p2), "<i4").reshape(6, -1)
    np.testing.assert_array_equal(got[:3, :g.cols], models.vmm(x, w1))
    np.testing.assert_array_equal(got[3:, :g.cols], models.vmm(x, w2))
    sched = {i: (start, end) for i, _, start, end in dev.last_program.schedule}
    # the second LOAD of bank 0 waits until the first VMM's last vector has passed the array
    # (its weights are free then), not for its drain
    t, vmm = dev.program_timing, prog[2]
    last_vector = sched[2][0] + t.vmm_start + vmm.count - 1
    assert sched[2][1] > sched[3][0] >= last_vector + t.vmm_front + t.release
    assert sched[4][0] >= sched[3][1] and sched[5][0] >= sched[4][1]


def test_overlap_beats_the_sum_of_the_units_and_fence_serializes():
    s = env_seed() + 3
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    g = Geometry.default()
    x = rng.integers(-128, 128, (64, g.rows), dtype=np.int8)
    ws = rng.integers(-128, 128, (6, g.cols, g.rows), dtype=np.int8)
    prog = [isa.Load(W.IN, 0, 64, 0)]
    for t in range(6):  # LOAD the next bank while the VMM runs; STORE the other ACC half
        prog += [isa.Load(W.WEIGHT, (t % 2) * g.cols_p2, g.cols, 0x1000 + t * 0x100),
                 isa.Vmm(bank=t % 2, count=64, rows=g.rows, cols=g.cols, acc_addr=(t % 2) * 64),
                 isa.Store(W.ACC, (t % 2) * 64, 64, 0x4000 + t * 0x1000)]
    results, cycles = [], []
    for fenced in (False, True):
        dev = RegisterModel(g)
        dev.mem_write(0, x.tobytes())
        for t in range(6):
            dev.mem_write(0x1000 + t * 0x100, ws[t].tobytes())
        body = [i for ins in prog for i in ((ins, isa.Fence()) if fenced else (ins,))]
        assert run(dev, [*body, isa.End()])["ERROR"] == 0
        results.append(dev.mem_read(0x4000, 6 * 0x1000))
        units = dev.last_program.unit_cycles()
        assert (units["load"], units["store"]) == (rd(dev, "PERF_LOAD"), rd(dev, "PERF_STORE"))
        assert units["compute"] >= rd(dev, "PERF_BUSY") == 6 * timing.busy_cycles(64, 3, False)
        cycles.append((dev.last_program.cycles, sum(units.values())))
    assert results[0] == results[1]
    for t in range(6):
        acc = np.frombuffer(results[0][t * 0x1000:(t + 1) * 0x1000], "<i4").reshape(64, 16)
        np.testing.assert_array_equal(acc, models.vmm(x, ws[t]))
    (overlapped, work), (fenced, _) = cycles
    print(f"overlapped {overlapped} cycles, fenced {fenced}, units' work {work}")
    assert overlapped < work < fenced


def test_fence_waits_for_every_unit():
    dev = RegisterModel(G)
    prog = [isa.Load(W.WEIGHT, 8, 5, 0), isa.Vmm(count=6, rows=1, cols=1), isa.Fence(),
            isa.Load(W.IN, 0, 1, 0), isa.End()]
    assert run(dev, prog)["ERROR"] == 0
    sched = dev.last_program.schedule  # FENCE leaves the queue, the next waits for all idle
    assert sched[3][2] > max(sched[0][3], sched[1][3]) > sched[2][2]
    assert dev.last_program.cycles > sched[3][3]  # END waits for every unit before DONE


# --- timing -------------------------------------------------------------------------------------

def test_program_timing_constants():
    t = ProgramTiming()
    # a piece per cycle: a unit, or a beat of a unit larger than a beat
    assert t.load_cycles(16, 16, 16) == t.load_setup + t.read_latency + 16
    assert t.load_cycles(16, 64, 16) == t.load_setup + t.read_latency + 64
    assert t.store_cycles(64, 64, 16) == t.store_setup + 256 + t.store_pack
    assert t.store_cycles(16, 4, 16) == t.store_setup + 16 + 4 * t.store_pack  # packed beats
    assert t.vmm_cycles(64, 3) == timing.busy_cycles(64, 3)
    for bad in (dict(read_latency=-1), dict(fetch_block=0), dict(fetch_queue=2),
                dict(done=1.5)):
        with pytest.raises(ValueError, match="ProgramTiming"):
            ProgramTiming(**bad)
    # slower memory: the same program takes longer, same results
    prog = [isa.Load(W.IN, 0, 8, 0), isa.Vmm(count=6, rows=1, cols=1),
            isa.Store(W.ACC, 0, 6, 0x100), isa.End()]
    fast, slow = RegisterModel(G), RegisterModel(G, program_timing=dataclasses.replace(
        t, read_latency=40, store_setup=30))
    for dev in (fast, slow):
        dev.mem_write(0, bytes(range(128)))
        run(dev, prog)
    assert slow.last_program.cycles > fast.last_program.cycles + 60
    assert fast.mem_read(0x100, 192) == slow.mem_read(0x100, 192)
    with pytest.raises(TypeError, match="program_timing"):
        RegisterModel(G, program_timing={"read_latency": 3})


RTL_G = Geometry.default(rows=4, cols=4, banks=2, in_depth=64, acc_depth=64, out_depth=64)
_BR = FLAGS.pack(BIAS=1, REQUANT=1)
RTL_PROGRAMS = {
    "end": [isa.End()],
    "load_in_16": [isa.Load(W.IN, 0, 16, 0x400), isa.End()],
    "load_param_16": [isa.Load(W.PARAM, 0, 16, 0x400), isa.End()],
    "store_acc_16": [isa.Store(W.ACC, 0, 16, 0x800), isa.End()],
    "store_out_16": [isa.Store(W.OUT, 0, 16, 0x800), isa.End()],
    "vmm_16x2": [isa.Vmm(count=16, rows=4, cols=4),
                 isa.Vmm(count=16, rows=4, cols=4, acc_addr=16), isa.End()],
    "vmm_1x4": [isa.Vmm(count=1, rows=4, cols=4, acc_addr=i) for i in range(4)] + [isa.End()],
    "load_vmm": [isa.Load(W.IN, 0, 16, 0x400), isa.Vmm(count=16, rows=4, cols=4), isa.End()],
    "vmm_store": [isa.Vmm(count=16, rows=4, cols=4), isa.Store(W.ACC, 0, 16, 0x800), isa.End()],
    "fences8": [isa.Fence()] * 8 + [isa.End()],
    "load_2d_4x3": [isa.Load(W.IN, 0, 3, 0x400, rows=4, skip=5, pitch=0x40), isa.End()],
    "fill_2d_6x2": [isa.Load(W.IN, 0, 2, 0x400, rows=6, skip=8, pitch=0), isa.End()],
    "load_2d_vmm": [isa.Load(W.IN, 0, 8, 0x400, rows=4, skip=8, pitch=0x40),
                    isa.Vmm(count=32, rows=4, cols=4), isa.End()],
    # a VMM without REQUANT right behind one with it: its done waits for that one's
    "vmm_requant_then_plain": [isa.Vmm(count=1, rows=4, cols=4, flags=_BR),
                               *[isa.Vmm(count=1, rows=4, cols=4, acc_addr=1 + i)
                                 for i in range(3)], isa.Store(W.ACC, 1, 3, 0x800), isa.End()],
    # a LOAD into the running VMM's weights or last input vector: it waits only until the
    # VMM's vectors are past the array's front, not for its drain
    "vmm_then_weights": [isa.Vmm(count=16, rows=4, cols=4), isa.Load(W.WEIGHT, 0, 4, 0x400),
                         isa.End()],
    "vmm_then_input": [isa.Vmm(count=16, rows=4, cols=4), isa.Load(W.IN, 15, 1, 0x400),
                       isa.End()],
    "mixed": [isa.Load(W.WEIGHT, 0, 4, 0x400), isa.Load(W.IN, 0, 32, 0x500),
              isa.Load(W.PARAM, 0, 16, 0x600),
              isa.Vmm(count=32, rows=4, cols=4, flags=_BR), isa.Load(W.WEIGHT, 4, 4, 0x400),
              isa.Store(W.OUT, 0, 32, 0x800),
              isa.Vmm(bank=1, count=32, rows=4, cols=4, acc_addr=32),
              isa.Store(W.ACC, 32, 32, 0x1000), isa.End()],
}
# (verif/hw/test_program_sim.py runs RTL_PROGRAMS on the gateware and compares its cycles and
# counters with the model's: test_cycle_model_matches_the_gateware)


def test_memory_size_and_host_access():
    dev = RegisterModel(G, mem_size=4096)
    assert dev.mem_size == 4096
    dev.mem_write(4090, b"abcdef")
    assert dev.mem_read(4090, 6) == b"abcdef"
    with pytest.raises(ValueError, match="outside the memory"):
        dev.mem_write(4091, b"abcdef")
    with pytest.raises(ValueError, match="outside the memory"):
        dev.mem_read(-1, 2)
    assert RegisterModel(G).mem_size == 16 << 20
    none = RegisterModel(G, mem_size=0)
    assert none.mem_size == 0
    assert run(none, [], prog_addr=0, prog_len=1)["ERROR"] == ErrorCode.MEM_READ
    with pytest.raises(ValueError, match="mem_size"):
        RegisterModel(G, mem_size=-1)


# --- the bus while a program runs ---------------------------------------------------------------

def _long_program(g):
    return [isa.Load(W.IN, 0, g.in_depth, 0)] + [
        isa.Vmm(in_addr=0, count=g.in_depth, rows=1, cols=1)] * 4 + [isa.End()]


def test_bus_writes_refused_while_a_program_runs():
    g = Geometry.default(rows=8, cols=8, in_depth=256)
    dev = RegisterModel(g)
    run(dev, _long_program(g), wait=False)
    assert dev.busy and rd(dev, "STATUS", "BUSY") == 1 and rd(dev, "STATUS", "DONE") == 0
    pcs = [rd(dev, "PROG_PC")]
    writes = [g.lut_addr(0), g.param_addr(1, "BIAS"), g.weight_addr(0, 0),
              g.weight_addr(1, 3), g.in_addr(5)] + [off(n) for n in (
                  "PROG_ADDR", "PROG_LEN", "DOORBELL", "CMD_COUNT", "CMD_FLAGS")]
    for addr in writes:
        assert dev.write32(addr, 1) == "SLVERR", hex(addr)
        assert bus_error(dev) == (BusError.BUSY, addr)
    assert dev.write32(off("CTRL"), register("CTRL").pack(START=1)) == "SLVERR"
    assert dev.read32(g.in_addr(5)) == (0, "OKAY")
    for addr in (g.acc_addr(0), g.out_addr(3)):  # the store unit reads them
        assert dev.read32(addr) == (0, "SLVERR") and bus_error(dev) == (BusError.BUSY, addr)
    with pytest.raises(BusErrorResponse, match="SLVERR"):
        dev.read(g.acc_addr(0), 4)
    assert dev.write32(off("CTRL"), register("CTRL").pack(IRQ_EN=1)) == "OKAY"
    for _ in range(300):
        dev.read32(off("ID"))
    pcs.append(rd(dev, "PROG_PC"))
    assert pcs[0] < pcs[1] < 5  # PROG_PC follows the dispatcher
    assert dev.wait_irq(100_000) and not dev.busy and rd(dev, "PROG_PC") == 5
    for addr in writes[:5]:
        assert dev.write32(addr, 1) == "OKAY"
    assert dev.read32(g.acc_addr(0))[1] == "OKAY"


def test_doorbell_refused_while_a_command_runs():
    dev = RegisterModel(G)
    wr(dev, "CMD_OP", VALUE=1)
    for name, value in (("CMD_COUNT", 6), ("CMD_ROWS", 1), ("CMD_COLS", 1)):
        wr(dev, name, VALUE=value)
    wr(dev, "CTRL", START=1)
    assert dev.busy
    assert dev.write32(off("DOORBELL"), 1) == "SLVERR"
    assert bus_error(dev) == (BusError.BUSY, off("DOORBELL"))


def test_soft_reset_stops_a_program_then_the_next_runs():
    g = Geometry.default(rows=8, cols=8, in_depth=256)
    dev = RegisterModel(g)
    run(dev, _long_program(g), wait=False)
    assert dev.busy
    wr(dev, "CTRL", SOFT_RESET=1)
    assert not dev.busy and dev.read(off("STATUS")) == [0] and rd(dev, "PROG_PC") == 0
    assert rd(dev, "PERF_INSTRS") == 0
    assert dev.write32(g.in_addr(0), 5) == "OKAY"
    dev.mem_write(0x100, b"\x02" * 8)
    dev.mem_write(0x200, b"\x03" * 8)
    prog = [isa.Load(W.IN, 0, 1, 0x100), isa.Load(W.WEIGHT, 0, 1, 0x200),
            isa.Vmm(count=1, rows=8, cols=1), isa.Store(W.ACC, 0, 1, 0x300), isa.End()]
    assert run(dev, prog)["ERROR"] == 0 and rd(dev, "PROG_PC") == 4
    assert np.frombuffer(dev.mem_read(0x300, 4), "<i4")[0] == 8 * 2 * 3


# --- random programs against a sequential interpreter -------------------------------------------

class Interpreter:
    """Runs a program one instruction after another, from the spec alone (hw/spec/isa.py, the
    register map's window layouts, the golden model), with the model's documented choices
    (the state after a failing transfer is not compared: younger instructions may have run):
    STORE writes whole beats (zeros past its units), bursts of at most 16 beats never across
    4 KiB, the program fetched in transfers of ``fetch_block`` instructions from PROG_ADDR on."""

    NAMES = {W.LUT: "LUT", W.PARAM: "PARAM", W.WEIGHT: "WEIGHT", W.IN: "IN", W.ACC: "ACC",
             W.OUT: "OUT"}

    def __init__(self, g, mem: bytearray, errors, fetch_block):
        self.g, self.mem, self.errors = g, mem, errors
        self.fetch_block = fetch_block
        self.win = {}
        for name in self.NAMES.values():
            n = g.window_bytes()[name] // 4
            mask = np.array([g.word_mask(name, i) for i in range(n)], dtype=np.uint64)
            self.win[name] = (np.zeros(n, np.uint64), mask)

    def _fails(self, lo, hi, write, touching=None):
        """The first burst of the transfer [lo, hi) that fails (and overlaps ``touching``)."""
        beat = self.g.mem_bytes
        a = lo
        while a < hi:
            b = min(a + 16 * beat, (a // 4096 + 1) * 4096, hi)
            if touching is None or (a < touching[1] and touching[0] < b):
                if b > len(self.mem) or any(e_lo < b and a < e_hi and (w if write else r)
                                            for e_lo, e_hi, r, w in self.errors):
                    return a
            a = b
        return None

    def fetch_fails(self, prog_addr, prog_len, i):
        """The failing burst of instruction ``i``'s fetch, or None."""
        g, fb = self.g, self.fetch_block
        first = i // fb * fb
        n = min(fb, prog_len - first)
        lo = prog_addr + 16 * first
        hi = lo + -(-16 * n // g.mem_bytes) * g.mem_bytes
        a = prog_addr + 16 * i
        beats = (a // g.mem_bytes * g.mem_bytes, -(-(a + 16) // g.mem_bytes) * g.mem_bytes)
        return self._fails(lo, hi, False, beats)

    def run(self, prog_addr, prog_len):
        g = self.g
        if prog_addr % g.mem_bytes:
            return ErrorCode.MEM_ALIGN, 0, None
        if prog_len == 0:
            return ErrorCode.PROG_LEN, 0, None
        for i in range(prog_len):
            a = prog_addr + 16 * i
            bad = self.fetch_fails(prog_addr, prog_len, i)
            if bad is not None:
                return ErrorCode.MEM_READ, i, bad
            instr = isa.decode(np.frombuffer(bytes(self.mem[a:a + 16]), "<u4"))
            code = isa.check(instr, g)
            if code != ErrorCode.NONE:
                return code, i, None
            if instr.op == isa.Op.END:
                return ErrorCode.NONE, i, None
            if instr.op in (isa.Op.LOAD, isa.Op.STORE):
                failed = self._transfer(instr)
                if failed is not None:
                    code = ErrorCode.MEM_WRITE if instr.op == isa.Op.STORE else ErrorCode.MEM_READ
                    return code, i, failed
            elif instr.op == isa.Op.VMM:
                self._vmm(instr)
        return ErrorCode.PROG_LEN, prog_len, None

    def _transfer(self, instr):
        g = self.g
        words, mask = self.win[self.NAMES[instr.window]]
        per = isa.unit_bytes(instr.window, g) // 4
        nbytes = instr.count * per * 4
        beats = -(-nbytes // g.mem_bytes) * g.mem_bytes
        failed = self._fails(instr.mem_addr, instr.mem_addr + beats,
                             instr.op == isa.Op.STORE)
        if failed is not None:
            return failed
        span = slice(instr.first * per, (instr.first + instr.count) * per)
        a = instr.mem_addr
        if instr.op == isa.Op.LOAD:
            data = np.frombuffer(bytes(self.mem[a:a + nbytes]), "<u4").astype(np.uint64)
            words[span] = data & mask[span]
        else:  # whole beats: zeros past the units
            self.mem[a:a + beats] = (words[span] & mask[span]).astype("<u4").tobytes() + bytes(
                beats - nbytes)
        return None

    def _view(self, name, stride, dtype, first, count, width):
        words = self.win[name][0].astype("<u4").reshape(-1, stride).view(dtype)
        return words[first:first + count, :width]

    def _vmm(self, v):
        g = self.g
        rwp2, cp2, cwp2 = g.row_words_p2, g.cols_p2, g.col_words_p2
        x = self._view("IN", rwp2, np.int8, v.in_addr, v.count, g.rows).astype(np.int64)
        x[:, v.rows:] = 0
        w = self._view("WEIGHT", rwp2, np.int8, v.bank * cp2, g.cols, g.rows).astype(np.int64)
        acc = self._view("ACC", cp2, "<i4", v.acc_addr, v.count, g.cols).astype(np.int64)
        p = self.win["PARAM"][0].astype("<u4").reshape(g.cols, 4)
        flags = FLAGS.unpack(v.flags)
        start = acc if flags["ACCUMULATE"] else (p[:, 0].view("<i4").astype(np.int64)
                                                 if flags["BIAS"] else 0)
        new = models.wrap_int32(start + x @ w.T)
        self._put("ACC", cp2, "<i4", v.acc_addr, new)
        if flags["REQUANT"]:
            y = models.requantize(new.astype(np.int32), p[:, 1], p[:, 2], v.out_zp, False)
            if flags["LUT"]:
                lut = self.win["LUT"][0].astype("<u4").view(np.int8)
                y = models.apply_lut(y, lut)
            if flags["RELU"]:
                y = np.maximum(y, np.int8(v.out_zp))
            self._put("OUT", cwp2, np.int8, v.out_addr, models.group_max(y, v.pool))

    def _put(self, name, stride, dtype, first, values):
        words, mask = self.win[name]
        view = words.astype("<u4").reshape(-1, stride).view(dtype).copy()
        view[first:first + len(values), :values.shape[1]] = values
        words[:] = view.view("<u4").reshape(-1).astype(np.uint64) & mask


SEED = 20261209
PG = [Geometry.default(rows=6, cols=5, banks=2, in_depth=8, acc_depth=6, out_depth=4),
      Geometry.default(rows=4, cols=4, banks=3, in_depth=6, acc_depth=5, out_depth=5,
                       mem_bits=64),
      Geometry.default(rows=9, cols=3, banks=1, in_depth=5, acc_depth=4, out_depth=3,
                       mem_bits=256)]
MEM = 8192      # bytes of memory in the random programs
CODE = 0x1800   # where the program lives (data below it)


@st.composite
def instructions(draw, g):
    kind = draw(st.sampled_from(["load"] * 5 + ["store"] * 2 + ["vmm"] * 4 + ["fence", "raw"]))
    beat = g.mem_bytes

    def mem_addr():
        return draw(st.sampled_from([draw(st.integers(0, CODE // beat - 1)) * beat] * 12
                                    + [MEM - beat, MEM + 64, 8]))

    if kind in ("load", "store"):
        windows = isa.LOAD_WINDOWS if kind == "load" else isa.STORE_WINDOWS
        window = draw(st.sampled_from([int(w) for w in windows] * 8 + [int(W.ACC), 6]))
        n = isa.units(window, g) if window < 6 else 4
        first = draw(st.integers(0, n))
        count = draw(st.integers(0 if first == n else 1, max(1, min(n - first, 12)) + 1))
        cls = isa.Load if kind == "load" else isa.Store
        return cls(window, first, count, mem_addr())
    if kind == "vmm":
        count = draw(st.integers(1, g.in_depth))
        requant = draw(st.booleans())
        pool = draw(st.sampled_from([1, 1, 2, 3])) if requant else 1
        return isa.Vmm(bank=draw(st.integers(0, g.banks)),
                       in_addr=draw(st.integers(0, g.in_depth - count)),
                       acc_addr=draw(st.integers(0, max(0, g.acc_depth - count))),
                       out_addr=draw(st.integers(0, g.out_depth - 1)), count=count,
                       rows=draw(st.integers(1, g.rows)), cols=draw(st.integers(1, g.cols)),
                       pool=pool, out_zp=draw(st.integers(-128, 127)),
                       flags=FLAGS.pack(ACCUMULATE=draw(st.booleans()),
                                        BIAS=draw(st.booleans()), REQUANT=requant,
                                        RELU=draw(st.booleans()), LUT=draw(st.booleans())))
    if kind == "fence":
        return isa.Fence()
    return tuple(draw(st.sampled_from([0, 5, 1 << 12 | 1, 3 << 24 | 3])) if j == 0 else 0
                 for j in range(4))


@st.composite
def programs(draw):
    gi = draw(st.integers(0, len(PG) - 1))
    g = PG[gi]
    body = draw(st.lists(instructions(g), min_size=1, max_size=24))
    ending = draw(st.sampled_from(["end"] * 8 + ["none", "short"]))
    prog = body + ([isa.End()] if ending != "none" else [])
    prog_len = len(prog) + draw(st.integers(0, 4)) if ending != "short" else \
        draw(st.integers(1, len(prog)))
    errors = []
    if draw(st.integers(0, 4)) == 0:
        lo = draw(st.integers(0, MEM // 64 - 1)) * 64 + draw(st.integers(0, 63))
        errors.append((lo, lo + draw(st.integers(1, 300)), draw(st.booleans()), True))
    return gi, prog, prog_len, errors, draw(st.integers(0, 2**32 - 1))


def _run_random(case, outcomes):
    gi, prog, prog_len, errors, data_seed = case
    g = PG[gi]
    rng = np.random.default_rng(data_seed)
    mem = bytearray(rand_bytes(rng, MEM))
    words = [isa.encode(i) if isinstance(i, isa.Instr) else i for i in prog]
    code = np.array(words, dtype="<u4").tobytes()
    mem[CODE:CODE + len(code)] = code
    dev = RegisterModel(g, mem_size=MEM)
    dev.mem_write(0, bytes(mem))
    for lo, hi, r, w in errors:
        dev.inject_mem_error(lo, hi, read=r, write=w)
    ref = Interpreter(g, mem, errors, dev.program_timing.fetch_block)
    expected = ref.run(CODE, prog_len)
    status = run(dev, [], prog_addr=CODE, prog_len=prog_len)
    got = (ErrorCode(status["ERROR"]), rd(dev, "PROG_PC"),
           rd(dev, "MEM_ERROR_ADDR") if status["ERROR"] in (ErrorCode.MEM_READ,
                                                             ErrorCode.MEM_WRITE) else None)
    failing = prog[expected[1]] if expected[1] < len(prog) else None
    transfer_failed = expected[0] in (ErrorCode.MEM_READ, ErrorCode.MEM_WRITE) and isinstance(
        failing, isa.Load | isa.Store) and ref.fetch_fails(CODE, prog_len, expected[1]) is None
    outcomes[expected[0].name] = outcomes.get(expected[0].name, 0) + 1
    if transfer_failed:
        # a transfer reports its error when it ends: a younger instruction's error found
        # earlier stops the program first (the first error found is reported, as in the
        # hardware), and younger instructions already dispatched run: state not compared
        assert got == expected or got[1] > expected[1], (got, expected)
        return
    assert got == expected, (got, expected)
    for buf in dev.memory.buffers:
        np.testing.assert_array_equal(buf.data, ref.win[buf.name][0].astype("<u4"),
                                      err_msg=buf.name)
    assert dev.mem_read(0, MEM) == bytes(mem)
    assert dev.last_program.counters["PERF_INSTRS"] == len(dev.last_program.schedule)


def _fuzz(examples):
    print(f"seed={SEED} examples={examples}")
    outcomes = {}

    @seed(SEED)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(programs())
    def one(case):
        _run_random(case, outcomes)

    one()
    print(outcomes)
    assert outcomes.get("NONE", 0) > examples // 10 and len(outcomes) >= 6, outcomes


def test_random_programs_equal_a_sequential_interpreter():
    _fuzz(200)


@pytest.mark.slow
def test_random_programs_equal_a_sequential_interpreter_long():
    _fuzz(2000)
