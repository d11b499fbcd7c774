"""The RISC-V system of issue 12: PicoRV32 + RAM + pimacc in simulation (hw/soc/), the
firmware that runs the digits MLP on it (sw/soc/firmware/) and the scripts that build and run
them (:mod:`.build`, :mod:`.mlp`, ``python -m sw.soc``)."""
