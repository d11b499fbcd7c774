"""Driver errors: bad arguments, a device that is not a pimacc, rejected and stuck commands."""

import decimal
import fractions

import numpy as np
import pytest

import sw
from hw.spec import VERSION, register
from sw import Accelerator, AcceleratorError, BusErrorResponse, Stats
from sw.targets.regmodel import RegisterModel

pytestmark = pytest.mark.nosim

X = np.ones((3, 5), np.int8)
W = np.ones((4, 5), np.int8)
B = np.zeros(4, np.int32)


@pytest.fixture(scope="module")
def acc():
    return Accelerator.open("model", rows=4, cols=4)


BAD_ARGUMENTS = [
    ({"x": X.astype(np.float64)}, TypeError, "x must be int8, got float64"),
    ({"x": X.tolist()}, TypeError, "x must be a numpy int8 array"),
    ({"w": W.astype(np.int16)}, TypeError, "w must be int8, got int16"),
    ({"x": X[0]}, ValueError, r"x must have shape \[M, K\], got \(5,\)"),
    ({"x": X[:0]}, ValueError, "every size >= 1"),
    ({"w": W[:, :4]}, ValueError, r"w must have shape \[N, K\] with K = 5"),
    ({"w": W[None]}, ValueError, r"w must have shape \[N, K\]"),
    ({"b": B.astype(np.int64)}, TypeError, "b must be int32, got int64"),
    ({"b": B[:3]}, ValueError, r"b must have shape \[N\] = \(4,\), got \(3,\)"),
    ({"b": B[None]}, ValueError, r"b must have shape \[N\]"),
    ({"scale": 0.0}, ValueError, "scale: scale must be a finite number > 0, got 0.0"),
    ({"scale": -1.0}, ValueError, "scale must be a finite number > 0"),
    ({"scale": float("nan")}, ValueError, "finite"),
    ({"scale": float("inf")}, ValueError, "finite"),
    ({"scale": 2.0**31}, ValueError, r"2\*\*-33 <= scale < 2\*\*31"),
    ({"scale": 2.0**-40}, ValueError, r"scale: .*allowed range is 2\*\*-33"),
    ({"scale": [0.1, 0.1, -0.1, 0.1]}, ValueError, r"scale\[2\]: scale must be a finite"),
    ({"scale": np.ones(3)}, ValueError, r"array of N=4 real numbers, got shape \(3,\)"),
    ({"scale": np.ones((4, 1))}, ValueError, r"got shape \(4, 1\)"),
    ({"scale": "0.5x"}, TypeError, "scale must be a real number or an array of N=4 real numbers, "
                               "got str '0.5x'"),
    ({"scale": ["0.5"] * 4}, TypeError, "got list of <U3"),
    ({"scale": 1j}, TypeError, "got complex"),
    ({"scale": True}, TypeError, "got bool"),
    ({"scale": 0.1, "zero_point": 128}, ValueError, r"zero_point must be in -128..127, got 128"),
    ({"scale": 0.1, "zero_point": -129}, ValueError, "zero_point must be in -128..127"),
    ({"scale": 0.1, "zero_point": 1.5}, TypeError, "zero_point must be an int, got float"),
    ({"zero_point": 3}, ValueError, "zero_point need scale"),
    ({"relu": True}, ValueError, "relu and zero_point need scale"),
    ({"scale": 0.1, "relu": 1}, TypeError, "relu must be a bool, got int"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_ARGUMENTS, ids=[m for _, _, m in BAD_ARGUMENTS])
def test_bad_arguments(acc, kwargs, exc, match):
    args = {"x": X, "w": W, "b": B} | kwargs
    with pytest.raises(exc, match=match):
        acc.linear(args.pop("x"), args.pop("w"), args.pop("b"), **args)


def test_good_argument_variants(acc):
    ref = acc.linear(X, W, scale=0.5)
    np.testing.assert_array_equal(acc.linear(X, W, scale=np.float32(0.5)), ref)
    np.testing.assert_array_equal(acc.linear(X, W, scale=[0.5] * 4), ref)
    np.testing.assert_array_equal(ref, np.full((3, 4), 3))  # 5 * 0.5 = 2.5 rounds up
    np.testing.assert_array_equal(acc.linear(X, W, scale=1, zero_point=np.int8(-2)), ref)
    np.testing.assert_array_equal(acc.linear(X, W, scale=0.5, relu=np.bool_(False)), ref)
    # issue 8, defect 9: a 0-d array, a Decimal and a Fraction are valid scales too
    for scale in (np.array(0.5), decimal.Decimal("0.5"), fractions.Fraction(1, 2),
                  [decimal.Decimal("0.5")] * 4):
        np.testing.assert_array_equal(acc.linear(X, W, scale=scale), ref)


def test_open_targets():
    with pytest.raises(ValueError, match="target must be one of 'regmodel', 'icarus', "
                                         "'verilator', 'harness', 'model'"):
        Accelerator.open("fpga")
    with Accelerator.open("model", rows=8, banks=3) as acc:
        assert acc.geometry.rows == 8 and acc.geometry.banks == 3 and acc.geometry.cols == 16
        assert acc.version == VERSION and acc.latency >= 1
        assert register("CTRL").unpack(acc.transport.read(register("CTRL").offset)[0])[
            "IRQ_EN"] == 1
    assert {"Accelerator", "AcceleratorError", "Stats", "BusErrorResponse"} <= set(sw.__all__)
    assert issubclass(AcceleratorError, RuntimeError)
    assert Accelerator(RegisterModel()).stats == Stats()


def test_constructor_checks_the_device():
    with pytest.raises(TypeError, match="transport must be a Transport"):
        Accelerator(object())

    class NotPimacc(RegisterModel):
        def read(self, addr, count=1):
            return [0xDEADBEEF] if addr == 0 else super().read(addr, count)

    with pytest.raises(AcceleratorError, match="ID reads 0xDEADBEEF, expected 0x50494D41"):
        Accelerator(NotPimacc())

    class Future(RegisterModel):
        def read(self, addr, count=1):
            return [0x0200_0000] if addr == 4 else super().read(addr, count)

    with pytest.raises(AcceleratorError, match="major version 2"):
        Accelerator(Future())


def test_rejected_command_names_the_error_code():
    class Liar(RegisterModel):  # reports more accumulators than it has
        def read(self, addr, count=1):
            words = super().read(addr, count)
            offset = register("CFG_ACC_DEPTH").offset
            if addr <= offset < addr + 4 * count:
                words[(offset - addr) // 4] = 64
            return words

    acc = Accelerator(Liar(rows=4, cols=4, acc_depth=4), dma=False)
    with pytest.raises(AcceleratorError, match="command 0 was rejected: ErrorCode.ACC_RANGE"):
        acc.linear(np.ones((10, 4), np.int8), np.ones((4, 4), np.int8))
    acc = Accelerator(Liar(rows=4, cols=4, acc_depth=4))  # a program: its VMM is refused
    with pytest.raises(AcceleratorError, match=r"stopped: ErrorCode.ACC_RANGE at PROG_PC = 2 "
                       r"\(instruction 2: VMM .*COUNT=10.*allowed: ACC_ADDR \+ COUNT <= 64"):
        acc.linear(np.ones((10, 4), np.int8), np.ones((4, 4), np.int8))


def test_timeout_reports_status():
    class Stuck(RegisterModel):
        def wait_irq(self, max_cycles):
            self.waited = max_cycles
            return False

    dev = Stuck(rows=4, cols=4)
    acc = Accelerator(dev, dma=False)
    expected = 100 * (3 + acc.latency) + 1000
    with pytest.raises(AcceleratorError,
                       match=rf"did not finish within {expected} cycles; STATUS = "):
        acc.linear(np.ones((3, 4), np.int8), np.ones((4, 4), np.int8))
    assert dev.waited == expected
    acc.reset()
    assert acc.transport.read(register("STATUS").offset) == [0]
    # a program: the bound of Program.cycle_bound, then a soft reset leaves the device usable
    dev = Stuck(rows=4, cols=4)
    acc = Accelerator(dev)
    with pytest.raises(AcceleratorError, match=r"linear \[3, 4\] x \[4, 4\] did not finish within "
                       r"\d+ cycles \(STATUS = \{'BUSY': 1.*PROG_PC = .*soft-reset"):
        acc.linear(np.ones((3, 4), np.int8), np.ones((4, 4), np.int8))
    assert 1000 < dev.waited and not dev.busy
    assert acc.transport.read(register("STATUS").offset) == [0]


def test_bus_errors_propagate():
    acc = Accelerator(RegisterModel(rows=4, cols=4))
    with pytest.raises(BusErrorResponse) as e:
        acc.write_words(register("ID").offset, [1])
    assert e.value.resp == "SLVERR" and e.value.addr == 0 and "SLVERR at address 0x00000" in str(
        e.value)
    with pytest.raises(ValueError, match="resp must be"):
        BusErrorResponse(0, "OKAY")


@pytest.mark.parametrize("override, error, match", [
    ({"rows": 0}, ValueError, "geometry rows must be in 1..255, got 0"),
    ({"rows": 2.5}, TypeError, "geometry rows must be an int, got 2.5"),
    ({"rows": 256}, ValueError, "geometry rows must be in 1..255, got 256"),
    ({"banks": 0}, ValueError, "geometry banks must be in 1..255"),
    ({"in_depth": 70000}, ValueError, "geometry in_depth must be in 1..65535"),
    ({"colz": 4}, TypeError, "unknown geometry field"),
])
def test_open_refuses_geometries_the_hardware_cannot_build(override, error, match):
    """Issue 8, defect 5: the register model opened these (rows=0 then failed with
    ZeroDivisionError, rows=2.5 with AttributeError, rows=256 only at run time)."""
    with pytest.raises(error, match=match):
        Accelerator.open("regmodel", **override)


def test_size_limit_is_checked_at_once():
    """Issue 8, defect 6: a zero-stride (1, 2**40) view used more than 14 GB in 7 minutes; the
    layer's size is now refused before any work (and plans are produced lazily)."""
    x = np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), (1, 2**40), (0, 0))
    with Accelerator.open("regmodel") as acc:
        with pytest.raises(ValueError, match=r"1 x 1099511627776 x 1 has 1099511627776 MACs, "
                                             r"more than one call can count \(4294967295"):
            acc.linear(x, x)
        y = np.ones((1, 2**16), np.int8)
        assert acc.linear(y, y)[0, 0] == 2**16  # K = 65536: 4096 commands from a lazy plan


def test_plans_are_lazy():
    from sw.driver.tiling import plan_linear
    plan = plan_linear(2**16, 2**8, 2**8, Accelerator.open("regmodel").geometry)
    assert plan.commands == 2**16 // plan.m_chunk * 16 * 16 and plan.macs == 2**32
    steps = plan.iter_steps()
    assert next(steps).index == 0 and next(steps).index == 1  # no tuple of 65536 steps built
