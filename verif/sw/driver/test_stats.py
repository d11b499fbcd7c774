"""Stats: utilizations, zero denominators, printing."""

import pytest

from sw import Stats

pytestmark = pytest.mark.nosim


def test_utilizations():
    s = Stats(cycles=200, busy_cycles=120, compute_cycles=100, stall_cycles=20, macs=12800,
              vectors=100, commands=4, bus_words_written=50, bus_words_read=30, cells=256)
    assert s.utilization_compute == 12800 / (256 * 100) == 0.5
    assert s.utilization_total == 0.25
    d = s.as_dict()
    assert d["macs"] == 12800 and d["utilization_total"] == 0.25 and d["cells"] == 256
    text = str(s)
    assert "\n" not in text
    for part in ("200 cycles", "busy 120", "12800 MACs", "4 commands", "50 words written",
                 "30 read", "50.0% compute", "25.0% total"):
        assert part in text


def test_zero_denominators():
    s = Stats()
    assert s.utilization_compute == 0.0 and s.utilization_total == 0.0
    assert Stats(macs=5, cells=16).utilization_total == 0.0
