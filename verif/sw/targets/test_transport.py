"""The Transport interface and BusErrorResponse."""

import pytest

from sw.targets.transport import BusErrorResponse, Transport

pytestmark = pytest.mark.nosim


class Memory(Transport):
    """The smallest transport: a dict of words, irq always high."""

    def __init__(self):
        self.words, self.closed = {}, 0

    def read(self, addr, count=1):
        return [self.words.get(addr + 4 * i, 0) for i in range(count)]

    def write(self, addr, words):
        for i, w in enumerate(words):
            self.words[addr + 4 * i] = w

    def wait_irq(self, max_cycles):
        return True

    def close(self):
        self.closed += 1


def test_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Transport()


def test_context_manager_closes():
    with Memory() as t:
        t.write(0x100, [1, 2, 3])
        assert t.read(0x104, 2) == [2, 3]
    assert t.closed == 1


def test_bus_error_response():
    e = BusErrorResponse(0x4_0010, "DECERR", "read of 2 word(s)")
    assert (e.addr, e.resp) == (0x40010, "DECERR")
    assert str(e) == "DECERR at address 0x40010: read of 2 word(s)"
    assert str(BusErrorResponse(8, "SLVERR")) == "SLVERR at address 0x00008"
    with pytest.raises(ValueError, match="'SLVERR' or 'DECERR'"):
        BusErrorResponse(0, "BUSY")
