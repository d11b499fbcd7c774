"""The pimacc top level: bus, registers, buffers, array, accumulators, post-processing."""


from amaranth import Module, Mux, Signal, Value, signed, unsigned
from amaranth.hdl import ResetInserter
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .accumulator import Accumulator
from .axil import AxiLiteSignature, AxiLiteSlave
from .controller import Controller
from .csr import RegisterFile
from .enums import BusError
from .postproc import PostProcess
from .pp.lut import Lut
from .spec import PARAM_FIELDS, PARAM_STRIDE, Geometry, regmap, timing
from .vmm_array import VmmArray

__all__ = ["PimAccelerator"]


def _any_hit(sel, ok):
    """Some window claims the address and has a word there."""
    hit = 0
    for name in sel:
        if name != "REG":
            hit = hit | (sel[name] & ok[name])
    return hit



class PimAccelerator(wiring.Component):
    """The whole accelerator; see docs/architecture.md and docs/registers.md.

    Ports: ``s_axil_*`` (AXI4-Lite subordinate, :data:`regmap.ADDR_WIDTH` address bits), ``irq``
    (high while STATUS.DONE and CTRL.IRQ_EN), and the ``sync`` domain's ``clk``/``rst``.

    Parameters
    ----------
    geometry : Geometry
        Array shape, banks and buffer depths (a Geometry is checked when it is made).
    """

    def __init__(self, geometry: Geometry | None = None):
        geometry = geometry or Geometry.default()
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        self.geometry = geometry
        self.array_latency = timing.array_latency(geometry.rows)
        self.pipeline_depth = timing.drain(self.array_latency)
        super().__init__({
            "s_axil": In(AxiLiteSignature(regmap.ADDR_WIDTH)),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        R, C = g.rows, g.cols
        row_words, col_words = g.row_words, g.col_words
        rw_bits, c_bits, cw_bits = (exact_log2(g.row_words_p2), exact_log2(g.cols_p2),
                                    exact_log2(g.col_words_p2))

        m.submodules.axil = axil = AxiLiteSlave(regmap.ADDR_WIDTH)
        wiring.connect(m, wiring.flipped(self.s_axil), axil.bus)

        # Everything but the bus front end restarts on CTRL.SOFT_RESET; weights, parameters
        # and buffers are not reset.
        soft = Signal()
        core = Module()
        config = g.as_dict() | {"latency": self.array_latency, "features": regmap.ALL_FEATURES}
        csr = RegisterFile(config)
        ctl = Controller(g, drain=self.pipeline_depth)
        array = VmmArray(R, C, g.banks)
        accum = Accumulator(C, g.acc_depth, tag_width=16)
        post = PostProcess(C, addr_width=16)
        for name, sub in (("csr", csr), ("ctl", ctl), ("array", array), ("accum", accum),
                          ("post", post)):
            m.submodules[name] = ResetInserter(soft)(sub)
        m.submodules.core = ResetInserter(soft)(core)
        m.d.comb += soft.eq(csr.ctrl_soft_reset)

        # Buffers and parameters.
        m.submodules.inbuf = inbuf = memory.Memory(shape=unsigned(32 * row_words),
                                                   depth=g.in_depth, init=[])
        in_wp = inbuf.write_port(granularity=8)
        in_rp, in_bus = inbuf.read_port(), inbuf.read_port()
        m.submodules.outbuf = outbuf = memory.Memory(shape=unsigned(32 * col_words),
                                                     depth=g.out_depth, init=[])
        out_wp = outbuf.write_port()
        out_bus = outbuf.read_port()
        bias = Signal(data.ArrayLayout(signed(32), C), reset_less=True)
        mult = Signal(data.ArrayLayout(unsigned(31), C), reset_less=True)
        shift = Signal(data.ArrayLayout(unsigned(6), C), reset_less=True)

        # Address decode: the window by the top address bits, the word inside it by slicing.
        def decode(addr):
            """(window one-hots, mapped, word fields) for a byte address."""
            word = addr[2:]
            top4 = addr[16:20]
            sel = {
                "REG": (top4 == 0) & (addr[12:16] == 0),
                "LUT": (top4 == 0) & (addr[12:16] == regmap.window("LUT").base >> 12),
                "PARAM": top4 == 1,
                "WEIGHT": top4[1:] == 1,
                "IN": top4[2:] == 1,
                "ACC": top4[2:] == 2,
                "OUT": top4[2:] == 3,
            }
            f = {
                "p_col": word[2:14], "p_fld": word[:2],
                "w_word": word[:rw_bits], "w_col": word[rw_bits:rw_bits + c_bits],
                "w_bank": word[rw_bits + c_bits:15],
                "i_word": word[:rw_bits], "i_vec": word[rw_bits:16],
                "a_col": word[:c_bits], "a_row": word[c_bits:16],
                "o_word": word[:cw_bits], "o_row": word[cw_bits:16],
            }
            ok = {
                "REG": 1,
                "LUT": word[:10] < Lut.WORDS,
                "PARAM": (f["p_col"] < C) & (f["p_fld"] < len(PARAM_FIELDS)),
                "WEIGHT": (f["w_word"] < row_words) & (f["w_col"] < C) & (f["w_bank"] < g.banks),
                "IN": (f["i_word"] < row_words) & (f["i_vec"] < g.in_depth),
                "ACC": (f["a_col"] < C) & (f["a_row"] < g.acc_depth),
                "OUT": (f["o_word"] < col_words) & (f["o_row"] < g.out_depth),
            }
            return sel, ok, f

        busy = ctl.busy
        assert PARAM_STRIDE == 16 and list(PARAM_FIELDS.values()) == [0, 4, 8]

        # Writes.
        wsel, wok, wf = decode(axil.wr_addr)
        m.d.comb += [csr.w_addr.eq(axil.wr_addr[2:12]), csr.r_addr.eq(axil.rd_addr[2:12]),
                     csr.w_data.eq(axil.wr_data), csr.w_strb.eq(axil.wr_strb), csr.busy.eq(busy)]
        w_err = Signal(BusError)
        with m.If(wsel["REG"]):
            m.d.comb += w_err.eq(csr.w_err)
        with m.Elif(~_any_hit(wsel, wok)):
            m.d.comb += w_err.eq(BusError.UNMAPPED)
        with m.Elif(wsel["ACC"] | wsel["OUT"]):
            m.d.comb += w_err.eq(BusError.READ_ONLY)
        with m.Elif(busy & (wsel["PARAM"] | wsel["IN"] | wsel["LUT"]
                            | (wsel["WEIGHT"] & (wf["w_bank"] == ctl.bank)))):
            m.d.comb += w_err.eq(BusError.BUSY)
        m.d.comb += axil.wr_err.eq(w_err)
        w_ok = Signal()
        m.d.comb += [w_ok.eq(axil.wr_en & (w_err == BusError.NONE)),
                     csr.w_en.eq(axil.wr_en & wsel["REG"])]

        strb_bits = Signal(32)
        m.d.comb += strb_bits.eq(sum(axil.wr_strb[i].replicate(8) << 8 * i for i in range(4)))
        merge = lambda old: (old & ~strb_bits) | (axil.wr_data & strb_bits)  # noqa: E731
        with m.If(w_ok & wsel["PARAM"]):
            for c in range(C):
                with m.If(wf["p_col"] == c):
                    with m.Switch(wf["p_fld"]):
                        with m.Case(PARAM_FIELDS["BIAS"] // 4):
                            m.d.sync += bias[c].eq(merge(Value.cast(bias[c])))
                        with m.Case(PARAM_FIELDS["MULT"] // 4):
                            m.d.sync += mult[c].eq(merge(Value.cast(mult[c])))
                        with m.Case(PARAM_FIELDS["SHIFT"] // 4):
                            m.d.sync += shift[c].eq(merge(Value.cast(shift[c])))
        m.d.comb += [
            array.w_en.eq(w_ok & wsel["WEIGHT"]), array.w_bank.eq(wf["w_bank"]),
            array.w_col.eq(wf["w_col"]), array.w_word.eq(wf["w_word"]),
            array.w_data.eq(axil.wr_data), array.w_strb.eq(axil.wr_strb),
            in_wp.addr.eq(wf["i_vec"]), in_wp.data.eq(axil.wr_data.replicate(row_words)),
            in_wp.en.eq(Mux(w_ok & wsel["IN"], axil.wr_strb << (4 * wf["i_word"]), 0)),
            post.lut_w_en.eq(w_ok & wsel["LUT"]), post.lut_w_word.eq(axil.wr_addr[2:8]),
            post.lut_w_data.eq(axil.wr_data), post.lut_w_strb.eq(axil.wr_strb),
            post.lut_r_word.eq(axil.rd_addr[2:8]),
        ]

        # Reads: the source is chosen by the window registered at rd_en.
        rsel, rok, rf = decode(axil.rd_addr)
        r_err = Signal(BusError)
        with m.If(rsel["REG"]):
            m.d.comb += r_err.eq(csr.r_err)
        with m.Elif(~_any_hit(rsel, rok)):
            m.d.comb += r_err.eq(BusError.UNMAPPED)
        m.d.comb += [axil.rd_err.eq(r_err), csr.r_en.eq(axil.rd_en & rsel["REG"])]
        src = Signal(range(7))
        sub_word = Signal(max(rw_bits, c_bits, cw_bits, 1))
        local = Signal(32)  # PARAM, WEIGHT and LUT words, captured at rd_en
        with m.If(axil.rd_en):
            m.d.sync += src.eq(0)
            for i, name in enumerate(("REG", "PARAM", "WEIGHT", "IN", "ACC", "OUT", "LUT")):
                with m.If(rsel[name] & rok[name]):
                    m.d.sync += src.eq(i)
            with m.If(rsel["IN"]):
                m.d.sync += sub_word.eq(rf["i_word"])
            with m.If(rsel["ACC"]):
                m.d.sync += sub_word.eq(rf["a_col"])
            with m.If(rsel["OUT"]):
                m.d.sync += sub_word.eq(rf["o_word"])
            for c in range(C):
                with m.If(rf["p_col"] == c):
                    with m.Switch(rf["p_fld"]):
                        for fld, value in (("BIAS", bias[c]), ("MULT", mult[c]),
                                           ("SHIFT", shift[c])):
                            with m.Case(PARAM_FIELDS[fld] // 4):
                                with m.If(rsel["PARAM"]):
                                    m.d.sync += local.eq(Value.cast(value))
            with m.If(rsel["LUT"]):
                m.d.sync += local.eq(post.lut_r_data)
            with m.If(rsel["WEIGHT"]):
                for b in range(g.banks):
                    for c in range(C):
                        for wd in range(row_words):
                            with m.If((rf["w_bank"] == b) & (rf["w_col"] == c)
                                      & (rf["w_word"] == wd)):
                                m.d.sync += local.eq(sum(
                                    array.weight(b, 4 * wd + ln, c).as_unsigned() << (8 * ln)
                                    for ln in range(4) if 4 * wd + ln < R))
        m.d.comb += [in_bus.addr.eq(rf["i_vec"]), in_bus.en.eq(axil.rd_en),
                     accum.rd_addr.eq(rf["a_row"]), accum.rd_en.eq(axil.rd_en),
                     out_bus.addr.eq(rf["o_row"]), out_bus.en.eq(axil.rd_en)]
        words = {
            3: in_bus.data.word_select(sub_word[:max(rw_bits, 1)], 32),
            4: accum.rd_data.word_select(sub_word[:max(c_bits, 1)], 32),
            5: out_bus.data.word_select(sub_word[:max(cw_bits, 1)], 32),
        }
        with m.Switch(src):
            with m.Case(0):
                m.d.comb += axil.rd_data.eq(csr.r_data)
            with m.Case(1, 2, 6):
                m.d.comb += axil.rd_data.eq(local)
            for i, word in words.items():
                with m.Case(i):
                    m.d.comb += axil.rd_data.eq(word)

        # Bus errors are recorded in BUS_ERROR / BUS_ERROR_ADDR.
        bad_w = axil.wr_en & (w_err != BusError.NONE)
        bad_r = axil.rd_en & (r_err != BusError.NONE)
        err_addr = Signal(32)
        m.d.comb += [csr.bus_error_code_set.eq(bad_w | bad_r),
                     csr.bus_error_code_value.eq(Mux(bad_w, w_err, r_err)),
                     csr.bus_error_addr.eq(err_addr)]
        with core.If(bad_w):
            core.d.sync += err_addr.eq(axil.wr_addr)
        with core.Elif(bad_r):
            core.d.sync += err_addr.eq(axil.rd_addr)

        # Command path: controller -> input buffer -> array -> accumulators -> post -> outbuf.
        m.d.comb += [
            ctl.start.eq(csr.ctrl_start), ctl.clear_counters.eq(csr.ctrl_clear_counters),
            ctl.array_active.eq(array.active), ctl.op.eq(csr.cmd_op), ctl.bank.eq(csr.cmd_bank),
            ctl.in_addr.eq(csr.cmd_in_addr), ctl.acc_addr.eq(csr.cmd_acc_addr),
            ctl.out_addr.eq(csr.cmd_out_addr), ctl.count.eq(csr.cmd_count),
            ctl.rows.eq(csr.cmd_rows), ctl.cols.eq(csr.cmd_cols),
            ctl.requant.eq(csr.cmd_flags_requant), ctl.pool.eq(csr.cmd_pool),
            csr.status_busy.eq(busy), csr.status_error.eq(ctl.error),
            csr.status_done_set.eq(ctl.done), csr.status_done_value.eq(1),
            csr.status_done_clr.eq(csr.ctrl_start),
            self.irq.eq(csr.status_done & csr.ctrl_irq_en),
        ]
        for name in ("cycles", "busy", "compute", "stall", "macs", "vectors"):
            m.d.comb += getattr(csr, f"perf_{name}").eq(getattr(ctl, f"perf_{name}"))

        m.d.comb += [in_rp.addr.eq(ctl.in_rd_addr), in_rp.en.eq(ctl.issue)]
        x_valid = Signal()
        index = [Signal(16, name=f"index_{i}") for i in range(1 + self.array_latency)]
        core.d.sync += [x_valid.eq(ctl.issue), index[0].eq(ctl.index)]
        for i in range(1, len(index)):
            core.d.sync += index[i].eq(index[i - 1])
        for r in range(R):
            m.d.comb += array.x[r].eq(Mux(r < csr.cmd_rows, in_rp.data[8 * r:8 * r + 8], 0))
        m.d.comb += [array.x_valid.eq(x_valid), array.bank.eq(ctl.bank)]

        m.d.comb += [
            accum.i_valid.eq(array.y_valid), accum.i_sums.eq(array.y),
            accum.i_addr.eq(csr.cmd_acc_addr + index[-1]), accum.i_tag.eq(index[-1]),
            accum.accumulate.eq(csr.cmd_flags_accumulate), accum.use_bias.eq(csr.cmd_flags_bias),
            accum.bias.eq(bias),
            post.i.valid.eq(accum.o_valid & csr.cmd_flags_requant),
            post.i.payload.addr.eq(accum.o_tag),
            # Post-processing inputs stay still unless this command requantizes (simulation
            # speed: the 64-bit multipliers are the most expensive logic to re-evaluate).
            post.i.payload.data.eq(Mux(csr.cmd_flags_requant, accum.o_data.as_value(), 0)),
            post.mult.eq(mult), post.shift.eq(shift), post.zero_point.eq(csr.cmd_out_zp),
            post.relu.eq(csr.cmd_flags_relu), post.lut.eq(csr.cmd_flags_lut),
            post.pool.eq(csr.cmd_pool), post.restart.eq(csr.ctrl_start),
            out_wp.addr.eq(csr.cmd_out_addr + post.o.payload.addr), out_wp.en.eq(post.o.valid),
            out_wp.data.eq(post.o.payload.data.as_value()),
        ]
        return m
