"""The whole accelerator on the bus, in a simulator: registers, errors, commands, irq."""

import dataclasses

import pytest

from hw.spec import Geometry
from sw.targets.sim.build import build_accelerator
from verif.cocotb_util import run_cocotb

pytestmark = pytest.mark.block

GEOMETRIES = {
    "4x4": Geometry.default(rows=4, cols=4, in_depth=32, acc_depth=16, out_depth=16),
    "8x8": Geometry.default(rows=8, cols=8, in_depth=64, acc_depth=32, out_depth=32),
    "8x16": Geometry.default(rows=8, cols=16, in_depth=64, acc_depth=32, out_depth=32),
    "12x6x3": Geometry.default(rows=12, cols=6, banks=3, in_depth=40, acc_depth=24, out_depth=20),
    "16x16": Geometry.default(),
}


def _run(name, testcase, weight_store="ff", **extra):
    g = GEOMETRIES[name]
    run_cocotb(build_accelerator(g, weight_store=weight_store), "verif.hw.cocotb_top",
               testcase=testcase, params={"geometry": dataclasses.asdict(g), **extra})


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_command_flow(geometry):
    _run(geometry, "command_flow")


@pytest.mark.parametrize("geometry", ["8x8", "12x6x3"])
def test_command_flow_with_backpressure(geometry):
    _run(geometry, "command_flow", backpressure=True)


@pytest.mark.parametrize("geometry", ["4x4", "12x6x3"])
def test_registers(geometry):
    _run(geometry, ["reset_values", "rw_registers_and_strobes", "unmapped_and_read_only"])


@pytest.mark.parametrize("geometry", ["8x8", "12x6x3"])
def test_busy_errors_and_reset(geometry):
    _run(geometry, ["busy_refusals_and_double_buffering", "bad_commands",
                    "soft_reset_and_counters"])


@pytest.mark.parametrize("geometry", ["8x8", "12x6x3"])
def test_ram_weight_store(geometry):
    """The array's weights in a RAM per column (hw.vmm_array): the same commands, results,
    refusals and weight read-back (a read port one cycle later, the same bus timing)."""
    _run(geometry, ["command_flow", "busy_refusals_and_double_buffering",
                    "soft_reset_and_counters", "unmapped_and_read_only"], weight_store="ram")


@pytest.mark.parametrize("geometry", ["8x8", "12x6x3"])
def test_lut_and_maxpool_stages(geometry):
    _run(geometry, ["lut_every_entry_and_reload", "maxpool_groups"])
