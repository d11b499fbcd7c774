"""The register block, built from :data:`hw.spec.regmap.REGISTERS`."""

from amaranth import Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .controller import rom
from .enums import BusError, twin
from .spec import regmap
from .spec.regmap import RO, RW, W1C, W1P, WC

__all__ = ["RegisterFile", "port_name"]

REG_SPACE_WORDS = 1024  # registers occupy the first 4 KiB


def port_name(reg, fld):
    """Name of the port of a field: ``ctrl_irq_en``, or ``cmd_count`` for a lone VALUE field."""
    if fld.name == "VALUE":
        return reg.name.lower()
    return f"{reg.name.lower()}_{fld.name.lower()}"


def _shape(fld):
    if fld.enum is not None:
        return twin(fld.enum)
    return signed(fld.width) if fld.signed else unsigned(fld.width)


class RegisterFile(wiring.Component):
    """Registers and fields exactly as :data:`hw.spec.regmap.REGISTERS` describes them.

    Ports per field (see :func:`port_name`):

    * RW: ``Out``, the register's value.
    * W1P: ``Out``, a one-cycle pulse in the cycle of an accepted write of 1.
    * W1C / WC: ``Out`` the sticky state; ``In`` ``<name>_set`` loads ``<name>_value`` (W1C:
      1), winning over a clear; W1C also has ``In`` ``<name>_clr``.
    * RO: ``In``, driven by the hardware; constant RO fields (reset values, CFG_*) have no port.

    Bus side: ``w_addr``/``r_addr`` are word indices into the 4 KiB register space;
    ``w_en``/``r_en`` mark the cycle of an access. ``w_err``/``r_err`` (combinational,
    BusError) say whether it is refused: unmapped offsets, writes to read-only registers,
    writes to CMD_* registers and writes of CTRL.START (without CTRL.SOFT_RESET, which wins)
    while ``busy``. A refused write changes
    nothing. ``r_data`` holds the value read one cycle after ``r_en``.

    Parameters
    ----------
    config : dict
        Values of the CFG_* registers by their ``config`` key (``rows``, ``cols``, ...).
    registers : tuple of Register, optional
        The build's registers (default :data:`hw.spec.regmap.REGISTERS`; a CIM build's are
        ``regmap.registers(cim=True)``).
    derived : dict, optional
        ``{port: (suffix, table)}``: an ``Out`` port ``<port>_<suffix>`` that always holds
        ``table[<port>]`` of the RW field ``port`` (a registered look-up of its own, read from
        the write's value as the field is written, and ``table[reset]`` after a reset), so a
        look-up that a command needs in its START cycle is done as the field is written (the
        controller's pool inverse: ``{"cmd_pool": ("inverse", inverses)}``).
    sums : dict, optional
        ``{name: (port_a, port_b)}``: an ``Out`` port ``name`` that always holds the sum of
        the RW fields ``port_a`` and ``port_b`` (one bit wider than the wider), a register
        updated as either is written (from the write's value) and their resets' sum after a
        reset, so a sum that a command's check needs in its START cycle is no adder after the
        registers (the controller's ``cmd_in_addr + cmd_count``).
    """

    def __init__(self, config, registers=None, derived=None, sums=None):
        self.registers = regmap.REGISTERS if registers is None else tuple(registers)
        self.derived = dict(derived or {})
        self.sums = dict(sums or {})
        members = {
            "w_addr": In(range(REG_SPACE_WORDS)), "r_addr": In(range(REG_SPACE_WORDS)),
            "w_en": In(1), "w_data": In(32), "w_strb": In(4),
            "r_en": In(1), "r_data": Out(32),
            "w_err": Out(BusError), "r_err": Out(BusError),
            "busy": In(1),
        }
        for reg in self.registers:
            if reg.config is not None:
                if reg.config not in config:
                    raise ValueError(f"config has no value {reg.config!r} for {reg.name}")
                continue
            for fld in reg.fields:
                name = port_name(reg, fld)
                if fld.access == RO and not reg.constant:
                    members[name] = In(_shape(fld))
                elif fld.access in (RW, W1P):
                    members[name] = Out(_shape(fld), init=fld.reset)
                elif fld.access in (W1C, WC):
                    members[name] = Out(_shape(fld), init=fld.reset)
                    members[name + "_set"] = In(1)
                    members[name + "_value"] = In(_shape(fld))
                    if fld.access == W1C:
                        members[name + "_clr"] = In(1)
        rw = {port_name(reg, fld): fld for reg in self.registers if reg.config is None
              for fld in reg.fields if fld.access == RW}
        for port, (suffix, table) in self.derived.items():
            if port not in rw:
                raise ValueError(f"derived: {port!r} is not a read/write field's port")
            if len(table) < 1 << rw[port].width:
                raise ValueError(f"derived: the table of {port!r} needs {1 << rw[port].width} "
                                 f"entries, not {len(table)}")
            width = max(max(table).bit_length(), 1)
            members[f"{port}_{suffix}"] = Out(width, init=table[rw[port].reset])
        for name, ports in self.sums.items():
            if name in members:
                raise ValueError(f"sums: {name!r} is a port already")
            if len(ports) != 2 or any(port not in rw for port in ports):
                raise ValueError(f"sums: {name!r} needs two read/write fields' ports, not "
                                 f"{ports!r}")
            a, b = (rw[port] for port in ports)
            members[name] = Out(max(a.width, b.width) + 1, init=a.reset + b.reset)
        self.config = config
        super().__init__(members)

    def _field_value(self, reg, fld):
        """The Value a read of this field returns."""
        if reg.config is not None:
            return Const(self.config[reg.config], fld.width)
        if reg.constant:
            return Const(fld.reset, fld.width)
        if fld.access == W1P:
            return Const(0, fld.width)
        return Value.cast(getattr(self, port_name(reg, fld)))

    def _derive(self, m, port, fld, value, hit):
        """The ``derived`` port of the RW field ``port``: its table looked up as ``value`` is
        written (``hit``) into a register that resets to the table's value at the field's
        reset, so the port is a flip-flop (a choice after a registered look-up, "no write
        since the reset", had been followed by a 5 ns route into the check's multiply block:
        the routed 8x8's worst path at two seeds, 8.9 ns). The look-up is a ROM read
        combinationally and asked to be logic (``rom_style``: a table before a register
        otherwise became a block RAM, 4.1 ns from clock to data; each bit's OR of its
        indices took 2,000 more logic cells)."""
        suffix, table = self.derived[port]
        looked_up = rom(m, table, value, f"{port}_{suffix}_rom", domain="comb")
        held = Signal(len(looked_up), init=table[fld.reset], name=f"{port}_{suffix}_q")
        with m.If(hit):
            m.d.sync += held.eq(looked_up)
        m.d.comb += getattr(self, f"{port}_{suffix}").eq(held)

    def elaborate(self, platform):
        m = Module()
        start = regmap.register("CTRL").field("START")
        soft_reset = regmap.register("CTRL").field("SOFT_RESET")

        def written(fld):
            return self.w_data[fld.lsb] & self.w_strb[fld.lsb // 8]
        strobe_bits = Signal(32)
        m.d.comb += strobe_bits.eq(
            sum(self.w_strb[i].replicate(8) << (8 * i) for i in range(4)))

        def refused(reg):
            """A write to the writable register ``reg`` is refused (logic)."""
            if reg.locked_while_busy:
                return self.busy
            if reg.name == "CTRL":
                # START while busy is refused, unless SOFT_RESET (which wins) comes too
                return self.busy & written(start) & ~written(soft_reset)
            return Const(0)

        # Refusals.
        offsets = [reg.offset // 4 for reg in self.registers]
        with m.If(~self.r_addr.matches(*offsets)):
            m.d.comb += self.r_err.eq(BusError.UNMAPPED)
        with m.Switch(self.w_addr):
            for reg in self.registers:
                with m.Case(reg.offset // 4):
                    if reg.read_only:
                        m.d.comb += self.w_err.eq(BusError.READ_ONLY)
                    else:
                        with m.If(refused(reg)):
                            m.d.comb += self.w_err.eq(BusError.BUSY)
            with m.Default():
                m.d.comb += self.w_err.eq(BusError.UNMAPPED)

        # Writes and sticky state. A register's write enable is its address, w_en and its own
        # refusal (busy last), not a decode of the encoded w_err: the same writes, since one
        # address is selected at a time, and busy passes one AND.
        # ``after``: each RW field's value after this cycle's write if it is written (for the
        # sums: their operands select by address alone, the write's enable stays the sum's:
        # busy, a refusal, reaches only that enable, not the adder's inputs)
        after, hits = {}, {}
        for reg in self.registers:
            if reg.config is not None or reg.read_only:
                continue
            hit = Signal(name=f"hit_{reg.name.lower()}")
            addressed = self.w_addr == reg.offset // 4
            m.d.comb += hit.eq(self.w_en & addressed & ~refused(reg))
            for fld in reg.fields:
                port = getattr(self, port_name(reg, fld))
                bits = slice(fld.lsb, fld.lsb + fld.width)
                new = self.w_data[bits]
                keep = ~strobe_bits[bits]
                if fld.access == RW:
                    value = (Value.cast(port) & keep) | (new & ~keep)
                    with m.If(hit):
                        m.d.sync += Value.cast(port).eq(value)
                    after[port_name(reg, fld)] = Mux(addressed, value, port)
                    hits[port_name(reg, fld)] = hit
                    if port_name(reg, fld) in self.derived:
                        self._derive(m, port_name(reg, fld), fld, value, hit)
                elif fld.access == W1P:
                    m.d.comb += port.eq(hit & (new & ~keep).any())
                elif fld.access in (W1C, WC):
                    if fld.access == W1C:
                        clear = (hit & (new & ~keep).any()) | getattr(self, port_name(reg, fld)
                                                                      + "_clr")
                    else:
                        clear = hit
                    with m.If(getattr(self, port_name(reg, fld) + "_set")):
                        m.d.sync += port.eq(getattr(self, port_name(reg, fld) + "_value"))
                    with m.Elif(clear):
                        m.d.sync += Value.cast(port).eq(0)

        for name, (a, b) in self.sums.items():
            with m.If(hits[a] | hits[b]):
                m.d.sync += getattr(self, name).eq(after[a] + after[b])

        # Reads.
        with m.If(self.r_en):
            m.d.sync += self.r_data.eq(0)
            with m.Switch(self.r_addr):
                for reg in self.registers:
                    with m.Case(reg.offset // 4):
                        word = 0
                        for fld in reg.fields:
                            word = word | (self._field_value(reg, fld).as_unsigned() << fld.lsb)
                        m.d.sync += self.r_data.eq(word)
        return m
