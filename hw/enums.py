"""The spec's enumerations as ``amaranth.lib.enum`` enums of their register field's width.

``hw/spec/regmap.py`` defines them as plain :class:`enum.IntEnum` (no Amaranth there); the
gateware uses these twins, which have the same names and values (a test checks it), as shapes:
``Signal(ErrorCode)`` is 8 bits wide and compares only with ``ErrorCode`` members.
"""

from amaranth.lib import enum

from .spec import regmap

__all__ = ["BusError", "ErrorCode", "Feature", "Opcode", "twin"]

_TWINS = {}


def twin(spec_enum):
    """The Amaranth enum with the members of ``spec_enum`` and the width of its field (made
    once, so every port of that enum has the same type)."""
    if spec_enum not in _TWINS:
        _TWINS[spec_enum] = _make(spec_enum)
    return _TWINS[spec_enum]


def _make(spec_enum):
    shape = regmap.ENUM_WIDTHS[spec_enum]
    namespace = enum.EnumMeta.__prepare__(spec_enum.__name__, (enum.Enum,), shape=shape)
    for member in spec_enum:
        namespace[member.name] = member.value
    namespace["__doc__"] = spec_enum.__doc__
    namespace["__module__"] = __name__
    return enum.EnumMeta(spec_enum.__name__, (enum.Enum,), namespace, shape=shape)


Opcode = twin(regmap.Opcode)
ErrorCode = twin(regmap.ErrorCode)
BusError = twin(regmap.BusError)
Feature = twin(regmap.Feature)
