"""Stream signatures shared by the blocks of the datapath (``amaranth.lib.stream``).

Nothing in the datapath back-pressures: every stream here is ``always_ready``, so a transfer is
simply a cycle with ``valid`` high, and a block states its ``LATENCY`` from a row in to that
row out.
"""

from amaranth import unsigned
from amaranth.lib import data, stream

__all__ = ["tagged_stream", "vector_stream"]


def tagged_stream(fields):
    """An ``always_ready`` stream whose payload is the StructLayout of ``fields`` (a dict of
    name -> shape). In Verilog the payload is one flat port (``<name>_payload``), the fields at
    the layout's offsets (the first one in the least significant bits)."""
    return stream.Signature(data.StructLayout(fields), always_ready=True)


def vector_stream(elem_shape, cols, addr_width):
    """A stream of one output row: its row address and ``cols`` elements."""
    return tagged_stream({
        "addr": unsigned(addr_width),
        "data": data.ArrayLayout(elem_shape, cols),
    })
