"""NumPy golden model of pimacc (bit-exact twin of the hardware and of the register model)."""

from .golden import (
    MULT_MAX,
    SHIFT_MAX,
    apply_lut,
    group_max,
    linear,
    quantize_multiplier,
    quantize_multipliers,
    requantize,
    vmm,
    wrap_int32,
)

__all__ = [
    "MULT_MAX",
    "apply_lut",
    "group_max",
    "SHIFT_MAX",
    "linear",
    "quantize_multiplier",
    "quantize_multipliers",
    "requantize",
    "vmm",
    "wrap_int32",
]
