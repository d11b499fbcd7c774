"""The design of pimacc as data, in plain Python (no Amaranth): the register map, the geometry
with its limits, the command check and the cycle timing.

The gateware (``hw/``) is built from it, and the driver, the register-level model, the tiler,
the bench and the docs read it; ``import sw`` therefore never imports Amaranth.
"""

from .command import Command, check
from .geometry import LIMITS, CimGeometry, Geometry, cim_of, words_for
from .regmap import (
    ADDR_WIDTH,
    ALL_FEATURES,
    ENUM_WIDTHS,
    ID_MAGIC,
    LUT_ENTRIES,
    PARAM_BITS,
    PARAM_FIELDS,
    PARAM_STRIDE,
    REGISTER_SPACE,
    REGISTERS,
    RO,
    RW,
    VERSION,
    W1C,
    W1P,
    WC,
    WINDOWS,
    BusError,
    ErrorCode,
    Feature,
    Field,
    Opcode,
    Register,
    Window,
    command_registers,
    register,
    window,
)

__all__ = [
    "ADDR_WIDTH", "ALL_FEATURES", "ENUM_WIDTHS", "ID_MAGIC", "LIMITS", "LUT_ENTRIES",
    "PARAM_BITS", "PARAM_FIELDS", "PARAM_STRIDE", "REGISTERS", "REGISTER_SPACE", "RO", "RW",
    "VERSION", "W1C", "W1P", "WC", "WINDOWS",
    "BusError", "CimGeometry", "Command", "ErrorCode", "Feature", "Field", "Geometry", "Opcode",
    "Register", "Window", "check", "cim_of", "command_registers", "register", "window", "words_for",
]
