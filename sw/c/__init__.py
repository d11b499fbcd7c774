"""The C side of pimacc: the generated register header, the C driver and the host harness
(the driver on the Verilated RTL); :mod:`sw.c.build` builds the harness, :mod:`sw.c.binding`
calls it from Python."""
