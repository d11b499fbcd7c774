"""The simulator target: the gateware in Icarus or Verilator under cocotb.

* :mod:`.build`: Verilog generation and compilation, cached per geometry (host side);
* :mod:`.client`: :class:`~.client.SimTransport`, the driver's end of the socket (host side);
* :mod:`.server` and :mod:`.testbench`: run *inside* the simulator (cocotb test module and the
  AXI4-Lite testbench it drives the design with).
"""
