"""hw.spec.timing: the pipeline timing written once, with the values the design has always had."""

import pytest

from hw.spec import timing

pytestmark = pytest.mark.nosim


def test_array_latency_by_rows():
    expected = {1: 2, 2: 2, 4: 2, 5: 3, 16: 3, 17: 4, 64: 4, 65: 5, 255: 5}
    assert {r: timing.array_latency(r) for r in expected} == expected


def test_drain_busy_and_compute_cycles():
    # input buffer read 1 + array 3 + accumulator 1 + requantize 4, LUT 2, ReLU 0, GroupMax 1
    # (before: requantize 5, LUT 1; before that requantize 4 and ReLU 1 without the
    # requantizer's input register: always the same total)
    assert timing.POSTPROC_LATENCY == 7 and timing.drain(3) == 12
    assert timing.busy_cycles(100, 3) == 112 and timing.compute_cycles(100, 3) == 102
    assert timing.stage_latency("Requantize") == 4 and timing.stage_latency("Relu") == 0
    assert timing.stage_latency("Lut") == 2


def test_command_words_are_the_command_block_plus_three():
    # 11 CMD_* registers, CTRL.START, a STATUS read, the STATUS.DONE clear
    assert timing.COMMAND_WORDS == 14
