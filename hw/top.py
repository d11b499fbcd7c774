"""The pimacc top level: bus, registers, buffers, array, accumulators, post-processing."""

from types import SimpleNamespace

from amaranth import Module, Mux, Signal, unsigned
from amaranth.hdl import ResetInserter
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .accumulator import Accumulator
from .axi4 import Axi4Signature, connect_manager
from .axil import AxiLiteSignature, AxiLiteSlave
from .buffers import InputBuffer
from .cim_array import CimArray
from .controller import POOL_INVERSES, Controller, late_command_check
from .csr import RegisterFile
from .decoder import AddressDecoder, Region
from .dma import ReadDma, WriteDma
from .enums import BusError, Opcode
from .param_file import ParamFile
from .pipeline import delay
from .postproc import PostProcess
from .sequencer import Sequencer
from .spec import WINDOWS, Geometry, cim_of, regmap, timing
from .vmm_array import WEIGHT_STORES, VmmArray, check_mult_cells

__all__ = ["RAM_BANKS", "PimAccelerator", "weight_store_for"]

#: from this many banks on, ``weight_store="auto"`` keeps the weights in a RAM per column: at
#: 16 banks it synthesized 9x smaller and 2x faster (8x8 array) and simulated 1.1-1.5x faster
#: on the harness and Icarus; at 2 banks the registers simulated faster on Verilator (README,
#: "Weight store")
RAM_BANKS = 16


def weight_store_for(weight_store, geometry):
    """``weight_store`` with ``"auto"`` resolved for ``geometry``: ``"ram"`` from
    :data:`RAM_BANKS` banks on, else ``"ff"``; ``"ff"`` and ``"ram"`` as they are."""
    if weight_store == "auto":
        return "ram" if geometry.banks >= RAM_BANKS else "ff"
    if weight_store not in WEIGHT_STORES:
        raise ValueError(f"weight_store must be one of {WEIGHT_STORES} or 'auto', not "
                         f"{weight_store!r}")
    return weight_store

#: bits of the vector index that travels with each vector (CMD_COUNT's width)
INDEX_WIDTH = regmap.register("CMD_COUNT").field("VALUE").width


class PimAccelerator(wiring.Component):
    """The whole accelerator: the bus front end, decoders, registers, parameters, buffers and
    the command datapath, wired together; see docs/architecture.md and docs/registers.md.

    Ports: ``s_axil_*`` (AXI4-Lite subordinate, :data:`regmap.ADDR_WIDTH` address bits),
    ``m_axi_*`` (AXI4 manager, 32-bit addresses, ``geometry.mem_bits`` of data: the memory the
    instruction stream runs from, :mod:`hw.spec.isa`), ``irq`` (high while STATUS.DONE and
    CTRL.IRQ_EN), and the ``sync`` domain's ``clk``/``rst``.

    Parameters
    ----------
    geometry : Geometry
        Array shape, banks and buffer depths (a Geometry is checked when it is made). A
        :class:`~hw.spec.CimGeometry` builds the array in compute-in-memory mode
        (:class:`~hw.cim_array.CimArray`): the controller issues a vector every
        ``8 / bits_per_cycle`` cycles, CIM_SHIFT sets the ADC window, PERF_ADC and PERF_ROWS
        count, CFG_FEATURES has Feature.CIM; a Geometry builds the exact digital array.
    weight_store : str
        How the array keeps its weights: ``"ff"`` (registers) or ``"ram"`` (a memory per
        column), :class:`~hw.vmm_array.VmmArray`, the same cycles and bus behaviour; ``"auto"``
        (the default): :func:`weight_store_for` the geometry, a RAM from :data:`RAM_BANKS`
        banks on.
    array_pipeline : int
        Extra pipeline stages of the exact digital array (:class:`~hw.vmm_array.VmmArray`'s
        ``pipeline``, one of :data:`hw.spec.timing.ARRAY_PIPELINES`): each adds a cycle to
        CFG_LATENCY and to every command's drain, which the driver and the register model read
        from CFG_LATENCY; default 0. Not with a CIM geometry.
    array_logic_columns : int
        How many of the exact digital array's columns, the last ones, sum in logic instead of
        products (:class:`~hw.vmm_array.VmmArray`'s ``logic_columns``: for an FPGA whose DSP
        blocks do not hold every product); the same results and cycles; default 0. Not with
        a CIM geometry.
    array_mult_cells : str
        How the exact digital array's product columns multiply
        (:class:`~hw.vmm_array.VmmArray`'s ``mult_cells``): ``"inferred"`` (default) or
        ``"ecp5"``, Lattice ECP5 MULT18X18D blocks holding the pipeline's broadcast and
        product registers (``array_pipeline`` 2 or 3 only; for ``make synth``, and simulators
        with :func:`hw.ecp5.mult18x18d_model`); the same results and cycles. ``"ecp5"``
        also builds the command checks' multiplies (the sequencer's and the register mode's)
        and the requantizer's partial products as such blocks (``mult_cells`` of
        :class:`~hw.sequencer.InstructionCheck`, :func:`~hw.controller.late_command_check`
        and :class:`~hw.pp.requant.Requantize`).
    """

    def __init__(self, geometry: Geometry | None = None, *, weight_store: str = "auto",
                 array_pipeline: int = 0, array_logic_columns: int = 0,
                 array_mult_cells: str = "inferred"):
        geometry = geometry or Geometry.default()
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry must be a Geometry, not {geometry!r}")
        self.geometry = geometry
        self.weight_store = weight_store_for(weight_store, geometry)
        self.cim = cim_of(geometry)
        for name, value in (("array_pipeline", array_pipeline),
                            ("array_logic_columns", array_logic_columns),
                            ("array_mult_cells", array_mult_cells != "inferred")):
            if value and self.cim is not None:
                raise ValueError(f"{name} is a build parameter of the exact digital array; "
                                 "a CIM geometry builds CimArray, which has none (use 0)")
        self.array_latency = (timing.array_latency(geometry.rows, array_pipeline)
                              if self.cim is None
                              else timing.cim_array_latency(self.cim.bits_per_cycle))
        self.array_pipeline = array_pipeline
        self.array_logic_columns = array_logic_columns
        self.array_mult_cells = array_mult_cells
        check_mult_cells(array_mult_cells, array_pipeline)
        self.pipeline_depth = timing.drain(self.array_latency)
        super().__init__({
            "s_axil": In(AxiLiteSignature(regmap.ADDR_WIDTH)),
            "m_axi": Out(Axi4Signature(32, geometry.mem_bits)),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.geometry

        m.submodules.axil = axil = AxiLiteSlave(regmap.ADDR_WIDTH)
        wiring.connect(m, wiring.flipped(self.s_axil), axil.bus)
        m.submodules.wdec = wdec = AddressDecoder(g)
        m.submodules.rdec = rdec = AddressDecoder(g)
        m.d.comb += [wdec.addr.eq(axil.wr_addr), rdec.addr.eq(axil.rd_addr)]
        m.submodules.params = params = ParamFile(g.cols)

        # Everything but the bus front end restarts on CTRL.SOFT_RESET; weights, parameters
        # and buffers are not reset. The reset is taken from a register, the cycle after the
        # write: it is the reset of most registers, and from the bus's write handshake (the
        # register port's inputs) it would make every register's next value depend on inputs,
        # which Verilator then evaluates again whenever an input changes.
        soft = Signal()
        core = Module()
        cim = self.cim
        config = g.as_dict() | {"latency": self.array_latency, "features": regmap.ALL_FEATURES}
        if cim is not None:
            config |= {"cim": g.cim_word, "features": regmap.ALL_FEATURES | regmap.Feature.CIM}
        # CMD_POOL's inverse (the command check's divisibility test) is looked up as the
        # register is written, so the check's multiply in the START cycle starts at a register
        csr = RegisterFile(config, regmap.registers(cim is not None),
                           derived={"cmd_pool": ("inverse", POOL_INVERSES)},
                           sums={"cmd_in_end": ("cmd_in_addr", "cmd_count"),
                                 "cmd_acc_end": ("cmd_acc_addr", "cmd_count")})
        ctl = Controller(g, drain=self.pipeline_depth,
                         acc_drain=timing.drain(self.array_latency, requant=False),
                         vector_cycles=1 if cim is None else cim.cycles_per_vector,
                         external_check=True, check_latency=1, check_failed_input=True)
        if cim is None:
            array = VmmArray(g.rows, g.cols, g.banks, tag_width=INDEX_WIDTH,
                             weight_store=self.weight_store, pipeline=self.array_pipeline,
                             logic_columns=self.array_logic_columns,
                             mult_cells=self.array_mult_cells,
                             # it holds: the bus's WEIGHT writes are refused while the
                             # sequencer (whose load unit drives wl_*) runs
                             exclusive_writes=True)
        else:
            array = CimArray(g.rows, g.cols, g.banks, tag_width=INDEX_WIDTH, config=cim,
                             weight_store=self.weight_store)
        accum = Accumulator(g.cols, g.acc_depth, tag_width=INDEX_WIDTH, read_ahead=True)
        # (the last elaboration's post-processing chain and input buffer stay attributes,
        # ``post`` and ``inbuf``, for a simulation to watch)
        self.post = post = PostProcess(g.cols, addr_width=INDEX_WIDTH,
                                       mult_cells=self.array_mult_cells)
        seq = Sequencer(g, self.array_mult_cells)
        for name, sub in (("csr", csr), ("ctl", ctl), ("array", array), ("accum", accum),
                          ("post", post), ("seq", seq)):
            m.submodules[name] = ResetInserter(soft)(sub)
        m.submodules.core = ResetInserter(soft)(core)
        m.d.sync += soft.eq(csr.ctrl_soft_reset)

        # The memory port: its engines are not reset by SOFT_RESET but abort, finishing the
        # bursts they have issued (AXI4 requires it); a new program waits until they are idle.
        m.submodules.rdma = rdma = ReadDma(g.mem_bits)
        m.submodules.wdma = wdma = WriteDma(g.mem_bits)
        connect_manager(m, self.m_axi, rdma.rd, wdma.wr)
        wiring.connect(m, seq.rd_req, rdma.req)
        wiring.connect(m, rdma.data, seq.rd_data)
        wiring.connect(m, seq.wr_req, wdma.req)
        wiring.connect(m, seq.wr_data, wdma.data)
        m.d.comb += [rdma.abort.eq(soft), wdma.abort.eq(soft),
                     seq.rd_idle.eq(rdma.idle), seq.rd_err_addr.eq(rdma.err_addr),
                     seq.wr_idle.eq(wdma.idle), seq.wr_err.eq(wdma.err),
                     seq.wr_err_addr.eq(wdma.err_addr)]

        # Buffers: the input buffer has a datapath read port and a bus read port
        # (InputBuffer), the output buffer a datapath write port and a bus read port.
        m.submodules.inbuf = self.inbuf = inbuf = InputBuffer(32 * g.row_words, g.in_depth)
        m.submodules.outbuf = outbuf = memory.Memory(shape=unsigned(32 * g.col_words),
                                                     depth=g.out_depth, init=[])
        buffers = dict(in_wp=inbuf.wp, in_rp=inbuf.rp, in_bus=inbuf.bus,
                       out_wp=outbuf.write_port(),
                       out_bus=outbuf.read_port(), out_store=outbuf.read_port())

        blocks = dict(axil=axil, wdec=wdec, rdec=rdec, params=params, csr=csr, ctl=ctl,
                      array=array, accum=accum, post=post, seq=seq, **buffers)
        w_err = self._bus_writes(m, **blocks)
        r_err = self._bus_reads(m, **blocks)
        self._bus_errors(m, core, axil, wdec, rdec, csr, w_err, r_err)
        self._program(m, core, **blocks)
        self._command_path(m, core, **blocks)
        return m

    # --- the bus side ------------------------------------------------------------------------

    @staticmethod
    def _bus_writes(m, *, axil, wdec, params, csr, ctl, array, post, in_wp, seq, **_):
        """Refusals and the write ports of every window (the bus's, or the load unit's while
        a program runs); returns the write's BusError."""
        sel, f, busy = wdec.select, wdec.fields, ctl.busy | seq.busy
        read_only = [sel[w.name] for w in WINDOWS if not w.writable]
        # Locked while BUSY (see the window docs): every writable window but WEIGHT, and of
        # WEIGHT only the bank the running command multiplies with; all of them while a
        # program runs.
        # The running command's bank: CMD_BANK itself (CMD_* writes are refused while busy,
        # and a program's VMMs run only while the sequencer is busy, when every bank is
        # locked), not the command multiplexer's choice between it and the program's VMM.
        weight_locked = (f.WEIGHT.bank == csr.cmd_bank) | seq.busy
        locked = (sel.LUT | sel.PARAM | sel.IN) | (sel.WEIGHT & weight_locked)
        w_err = Signal(BusError)
        with m.If(sel.REG):
            m.d.comb += w_err.eq(csr.w_err)
        with m.Elif(~wdec.mapped):
            m.d.comb += w_err.eq(BusError.UNMAPPED)
        with m.Elif(_any(read_only)):
            m.d.comb += w_err.eq(BusError.READ_ONLY)
        with m.Elif(busy & locked):
            m.d.comb += w_err.eq(BusError.BUSY)
        m.d.comb += axil.wr_err.eq(w_err)
        # A window's write enable: the write, its window, a word that exists and not locked,
        # one AND with busy last (not through the encoded refusal above). Windows are
        # writable unless listed in read_only.
        w_ok = Signal()
        m.d.comb += w_ok.eq(axil.wr_en & wdec.mapped)

        data, strb = axil.wr_data, axil.wr_strb
        row_words = len(in_wp.data) // 32
        ld = seq.load
        # A write to CTRL right after a write to a CMD_* register waits a cycle on the bus
        # (AxiLiteSlave ``hold``), so the registers a START commands have held for a cycle
        # before it: the register mode's check then has its comparisons in flip-flops by its
        # check cycle (late_command_check latency 2, in _command_path). Only a manager that
        # writes START in the cycle after the last CMD_* register sees it (a cycle a command).
        words = [r.offset // 4 for r in regmap.command_registers()]
        cmd_written = Signal(name="cmd_written")
        m.d.sync += cmd_written.eq(axil.wr_en & sel.REG & (f.REG.word >= min(words))
                                   & (f.REG.word <= max(words)))
        m.d.comb += [
            axil.hold.eq(cmd_written & sel.REG
                         & (f.REG.word == regmap.register("CTRL").offset // 4)),
            csr.w_en.eq(axil.wr_en & sel.REG), csr.w_addr.eq(f.REG.word),
            csr.w_data.eq(data), csr.w_strb.eq(strb), csr.busy.eq(busy),
            array.w_en.eq(w_ok & sel.WEIGHT & ~(busy & weight_locked)),
            array.w_bank.eq(f.WEIGHT.bank),
            array.w_col.eq(f.WEIGHT.col), array.w_word.eq(f.WEIGHT.word),
            array.w_data.eq(data), array.w_strb.eq(strb),
            array.wl_en.eq(ld.w_en), array.wl_bank.eq(ld.w_bank), array.wl_col.eq(ld.w_col),
            array.wl_data.eq(ld.w_data), array.wl_mask.eq(ld.w_mask),
        ]
        # PARAM and LUT writes pass a register first (a cycle later than the bus's answer):
        # their clock enables (BIAS/MULT/SHIFT bytes of every column, the LUT's block RAM
        # port) then follow flip-flops, not the choice between the load unit and the bus and
        # its refusal. Nothing reads either sooner: the accumulators take BIAS and the
        # requantizer MULT/SHIFT/LUT the array's latency after a command starts, and a bus
        # read waits for the write's response (AXI orders neither channel before the other).
        pw = [params.w_en, params.w_col, params.w_field, params.w_data, params.w_strb]
        lw = [post.lut_w_en, post.lut_w_word, post.lut_w_data, post.lut_w_strb]
        pw_q = [Signal.like(p, name="param_" + p.name.split("__")[-1]) for p in pw]
        lw_q = [Signal.like(p, name="lut_" + p.name.split("__")[-1]) for p in lw]
        m.d.comb += [p.eq(q) for p, q in zip(pw + lw, pw_q + lw_q, strict=True)]

        def load(regs, *values):
            return [q.eq(v) for q, v in zip(regs, values, strict=True)]

        with m.If(seq.busy):  # the load unit's writes
            m.d.sync += [*load(pw_q, ld.param_en, ld.param_col, ld.param_field, ld.param_data,
                               0xF),
                         *load(lw_q, ld.lut_en, ld.lut_word, ld.lut_data, 0xF)]
            m.d.comb += [
                in_wp.addr.eq(ld.in_addr), in_wp.data.eq(ld.in_data),
                in_wp.en.eq(Mux(ld.in_en, ld.in_mask, 0)),
            ]
        with m.Else():
            m.d.sync += [*load(pw_q, w_ok & sel.PARAM & ~busy, f.PARAM.col, f.PARAM.field,
                               data, strb),
                         *load(lw_q, w_ok & sel.LUT & ~busy, f.LUT.word, data, strb)]
            m.d.comb += [
                in_wp.addr.eq(f.IN.vector), in_wp.data.eq(data.replicate(row_words)),
                in_wp.en.eq(Mux(w_ok & sel.IN & ~busy, strb << (4 * f.IN.word), 0)),
            ]
        return w_err

    def _bus_reads(self, m, *, axil, rdec, params, csr, array, accum, post, in_bus, out_bus,
                   seq, **_):
        """Read ports of every window and the read-data mux; returns the read's BusError.

        Every source answers one cycle after ``rd_en``; the mux follows the region registered
        at ``rd_en`` (an unmapped read shows the register block's held word)."""
        g = self.geometry
        rw_bits, c_bits, cw_bits = (exact_log2(g.row_words_p2), exact_log2(g.cols_p2),
                                    exact_log2(g.col_words_p2))
        sel, f, rd_en = rdec.select, rdec.fields, axil.rd_en
        r_err = Signal(BusError)
        with m.If(sel.REG):
            m.d.comb += r_err.eq(csr.r_err)
        with m.Elif(~rdec.mapped):
            m.d.comb += r_err.eq(BusError.UNMAPPED)
        with m.Elif(seq.busy & (sel.ACC | sel.OUT)):  # the store unit reads them
            m.d.comb += r_err.eq(BusError.BUSY)
        m.d.comb += [
            axil.rd_err.eq(r_err),
            csr.r_en.eq(rd_en & sel.REG), csr.r_addr.eq(f.REG.word),
            params.r_en.eq(rd_en & sel.PARAM & rdec.mapped), params.r_col.eq(f.PARAM.col),
            params.r_field.eq(f.PARAM.field),
            array.r_en.eq(rd_en), array.r_bank.eq(f.WEIGHT.bank), array.r_col.eq(f.WEIGHT.col),
            array.r_word.eq(f.WEIGHT.word),
            post.lut_r_word.eq(f.LUT.word),
            in_bus.addr.eq(f.IN.vector), in_bus.en.eq(rd_en),
            out_bus.addr.eq(f.OUT.row), out_bus.en.eq(rd_en),
        ]
        with m.If(seq.busy):
            m.d.comb += [accum.rd_addr.eq(seq.store.acc_rd_addr),
                         accum.rd_en.eq(seq.store.acc_rd_en)]
        with m.Else():
            m.d.comb += [accum.rd_addr.eq(f.ACC.row), accum.rd_en.eq(rd_en)]

        source = Signal(Region)              # what the word read at the last rd_en comes from
        sub_word = Signal(max(rw_bits, c_bits, cw_bits, 1))  # its word within a buffer row
        local = Signal(32)                   # WEIGHT and LUT words, captured at rd_en
        with m.If(rd_en):
            m.d.sync += source.eq(Mux(r_err == BusError.NONE, rdec.region, Region.NONE))
            for region, word in (("IN", f.IN.word), ("ACC", f.ACC.col), ("OUT", f.OUT.word)):
                with m.If(sel[region]):
                    m.d.sync += sub_word.eq(word)
            with m.If(sel.LUT):
                m.d.sync += local.eq(post.lut_r_data)
            if array.read_latency == 0:  # else the array's read port answers a cycle later
                with m.If(sel.WEIGHT & rdec.mapped):
                    m.d.sync += local.eq(array.r_data)
        with m.Switch(source):  # Region.NONE (a refused read) answers 0
            with m.Case(Region.REG):
                m.d.comb += axil.rd_data.eq(csr.r_data)
            with m.Case(Region.PARAM):
                m.d.comb += axil.rd_data.eq(params.r_data)
            with m.Case(Region.WEIGHT):
                m.d.comb += axil.rd_data.eq(local if array.read_latency == 0 else array.r_data)
            with m.Case(Region.LUT):
                m.d.comb += axil.rd_data.eq(local)
            with m.Case(Region.IN):
                m.d.comb += axil.rd_data.eq(in_bus.data.word_select(sub_word[:max(rw_bits, 1)],
                                                                    32))
            with m.Case(Region.ACC):
                m.d.comb += axil.rd_data.eq(accum.rd_data.word_select(sub_word[:max(c_bits, 1)],
                                                                      32))
            with m.Case(Region.OUT):
                m.d.comb += axil.rd_data.eq(out_bus.data.word_select(sub_word[:max(cw_bits, 1)],
                                                                     32))
        return r_err

    @staticmethod
    def _bus_errors(m, core, axil, wdec, rdec, csr, w_err, r_err):
        """Refused accesses are recorded in BUS_ERROR / BUS_ERROR_ADDR (the word's address:
        bits 1:0 of the bus address choose byte lanes, which the strobes already say).

        The refusal and its code pass a register first (``bus_error_q``), so BUS_ERROR's
        enable follows a flip-flop, not the refusal's decode (the busy test of every window:
        8.1 ns routed on the 8x8). So that no access tells: a read of the registers in that
        cycle waits on the bus (``rd_hold``), and a write to BUS_ERROR then (a clear) wins
        over the recording, which is of an access before it. (Holding writes as well put the
        hold into the write decode's tree before DOORBELL's run: 8.66 ns routed.)"""
        bad_w = axil.wr_en & (w_err != BusError.NONE)
        bad_r = axil.rd_en & (r_err != BusError.NONE)
        err_addr = Signal(32)
        recording = Signal(name="bus_error_q")
        code = Signal(BusError, name="bus_error_code_q")
        clearing = axil.wr_en & wdec.select.REG & (wdec.fields.REG.word
                                                   == regmap.register("BUS_ERROR").offset // 4)
        core.d.sync += [recording.eq(bad_w | bad_r), code.eq(Mux(bad_w, w_err, r_err))]
        m.d.comb += [csr.bus_error_code_set.eq(recording & ~clearing),
                     csr.bus_error_code_value.eq(code),
                     csr.bus_error_addr.eq(err_addr),
                     axil.rd_hold.eq(recording & rdec.select.REG)]
        with core.If(bad_w):
            core.d.sync += err_addr.eq(axil.wr_addr & ~3)
        with core.Elif(bad_r):
            core.d.sync += err_addr.eq(axil.rd_addr & ~3)

    # --- the command path --------------------------------------------------------------------

    @staticmethod
    def _program(m, core, *, csr, ctl, accum, seq, out_store, **_):
        """The sequencer: DOORBELL, the store unit's read ports, PROG_PC and its counters."""
        st = seq.store
        m.d.comb += [
            seq.run.eq(csr.doorbell_run), seq.prog_addr.eq(csr.prog_addr),
            seq.prog_len.eq(csr.prog_len), seq.clear_counters.eq(csr.ctrl_clear_counters),
            seq.ctl_done.eq(ctl.done), seq.ctl_ready.eq(ctl.ready),
            seq.ctl_last_issue.eq(ctl.program_last_issue),
            out_store.addr.eq(st.out_rd_addr), out_store.en.eq(st.out_rd_en),
            st.out_rd_data.eq(out_store.data), st.acc_rd_data.eq(accum.rd_data),
            csr.prog_pc.eq(seq.pc), csr.mem_error_addr.eq(seq.mem_error_addr),
        ]
        for name in ("load", "store", "rd_bytes", "wr_bytes", "instrs"):
            m.d.comb += getattr(csr, f"perf_{name}").eq(getattr(seq, f"perf_{name}"))

    def _command_path(self, m, core, *, csr, ctl, array, accum, post, params, in_rp, out_wp,
                      seq, **_):
        """Controller -> input buffer -> array -> accumulators -> post-processing -> outbuf.

        The command comes from the CMD_* registers, or from the sequencer's compute unit
        while a program runs."""
        prog = seq.busy
        v = seq.vmm
        cmd = {}
        for name in ("bank", "in_addr", "acc_addr", "out_addr", "count", "rows", "cols",
                     "pool", "out_zp"):
            reg = getattr(csr, f"cmd_{name}")
            cmd[name] = Signal.like(reg, name=f"cmd_{name}")
            m.d.comb += cmd[name].eq(Mux(prog, getattr(v, name), reg))
        for flag in ("accumulate", "bias", "requant", "relu", "lut"):
            bit = regmap.register("CMD_FLAGS").field(flag.upper()).lsb
            cmd[flag] = Signal(name=f"cmd_{flag}")
            m.d.comb += cmd[flag].eq(Mux(prog, v.flags[bit], getattr(csr, f"cmd_flags_{flag}")))
        cmd["op"] = Signal.like(csr.cmd_op, name="cmd_op")
        m.d.comb += cmd["op"].eq(Mux(prog, Opcode.VMM, csr.cmd_op))
        c = SimpleNamespace(**cmd)

        # STATUS follows the last thing started: a command or a program.
        prog_mode = Signal()
        with core.If(csr.doorbell_run):
            core.d.sync += prog_mode.eq(1)
        with core.Elif(csr.ctrl_start):
            core.d.sync += prog_mode.eq(0)
        m.d.comb += [
            # (BUSY stays up in the cycle DONE is set, so STATUS never reads idle and not done)
            csr.status_busy.eq(ctl.busy | seq.busy | csr.status_done_set),
            csr.status_error.eq(Mux(prog_mode, seq.error, ctl.error)),
            csr.status_done_set.eq((ctl.done & ~seq.busy) | seq.done),
            csr.status_done_value.eq(1),
            csr.status_done_clr.eq(csr.ctrl_start | csr.doorbell_run),
        ]
        # The controller's verdict, needed in register mode only (a program's VMMs were checked
        # by the sequencer: with issue_at_start the verdict is NONE), from the CMD_* registers
        # alone, not through the multiplexer above, and a cycle late (the controller's
        # check_latency): in the cycle after START, where a failed check cancels the command
        # (BUSY for that cycle, DONE after it). The check runs every cycle with two register
        # stages (late_command_check latency 2: the multiplies, then the comparisons), so
        # that cycle's verdict is of the registers as they were the cycle before START: no
        # CMD_* write comes then (the bus holds a CTRL write right after one back a cycle, in
        # _bus_writes), nor in START's cycle (START is its write), so it is START's command.
        # The cancel then starts a few gates after flip-flops (from the multiplies' registers
        # through the comparisons it had been the 8x8's routed critical path at 81be960,
        # seed 1: 9.60 ns).
        ctl_check, ctl_failed = late_command_check(
            core, self.geometry, op=csr.cmd_op, bank=csr.cmd_bank, in_addr=csr.cmd_in_addr,
            acc_addr=csr.cmd_acc_addr, out_addr=csr.cmd_out_addr, count=csr.cmd_count,
            rows=csr.cmd_rows, cols=csr.cmd_cols, requant=csr.cmd_flags_requant,
            pool=csr.cmd_pool, pool_inverse=csr.cmd_pool_inverse,
            mult_cells=self.array_mult_cells, in_end=csr.cmd_in_end, acc_end=csr.cmd_acc_end,
            latency=2)
        m.d.comb += [
            ctl.check_error.eq(ctl_check), ctl.check_failed.eq(ctl_failed),
            ctl.start.eq(csr.ctrl_start), ctl.program_start.eq(seq.vmm_start),
            ctl.issue_at_start.eq(seq.busy),
            ctl.clear_counters.eq(csr.ctrl_clear_counters),
            ctl.array_active.eq(array.active), ctl.op.eq(c.op), ctl.bank.eq(c.bank),
            ctl.in_addr.eq(c.in_addr), ctl.acc_addr.eq(c.acc_addr),
            ctl.out_addr.eq(c.out_addr), ctl.count.eq(c.count),
            ctl.rows.eq(c.rows), ctl.cols.eq(c.cols),
            ctl.requant.eq(c.requant), ctl.pool.eq(c.pool),
            self.irq.eq(csr.status_done & csr.ctrl_irq_en),
        ]
        for name in ("cycles", "busy", "compute", "stall", "macs", "vectors"):
            m.d.comb += getattr(csr, f"perf_{name}").eq(getattr(ctl, f"perf_{name}"))
        if self.cim is not None:
            # The controller paces the issues, so the array is ready for every vector
            # (i.ready is not needed); the window and the counters are registers.
            m.d.comb += [array.shift.eq(csr.cim_shift),
                         array.clear_counters.eq(csr.ctrl_clear_counters),
                         csr.perf_adc.eq(array.perf_adc), csr.perf_rows.eq(array.perf_rows)]

        # Every stage takes the command fields that came with its vector: each field is
        # delayed from the vector's issue to the stage that uses it, so the next command can
        # issue while the last one drains (Controller.ready).
        to_array = timing.INPUT_READ_LATENCY
        to_accum = to_array + self.array_latency
        to_post = to_accum + timing.ACCUMULATOR_LATENCY
        to_out = to_post + timing.POSTPROC_LATENCY

        def at(value, cycles, name):
            """``value`` as it was when the vector now ``cycles`` cycles past issue issued."""
            return delay(core, value, cycles, name=name)[-1]

        # Issue: the input buffer's read port answers INPUT_READ_LATENCY cycles later, so the
        # valid and the vector's index wait as long. Rows >= CMD_ROWS enter as 0.
        assert to_array == 1, "a synchronous read port"
        m.d.comb += [in_rp.addr.eq(ctl.in_rd_addr), in_rp.en.eq(ctl.read_en)]
        # The vector's valid: the issue before the late check's cancel, dropped with the
        # cancel a cycle later (the cancel comes after the check's comparisons; it reached
        # the valid's register and the drain's through the issue). The stages further on
        # take their valid from this one.
        x_valid = Signal(name="x_valid")
        m.d.comb += x_valid.eq(at(ctl.issue_early, to_array, "x_valid_early")
                               & ~at(ctl.cancel_issue, to_array, "x_cancelled"))
        index = at(ctl.index, to_array, "index")
        rows_in = at(c.rows, to_array, "rows_in")
        vector = array.i.payload
        for r in range(self.geometry.rows):
            m.d.comb += vector.x[r].eq(Mux(r < rows_in, in_rp.data[8 * r:8 * r + 8], 0))
        m.d.comb += [array.i.valid.eq(x_valid), vector.bank.eq(at(c.bank, to_array, "bank_in")),
                     vector.tag.eq(index)]

        # The array's sums, with their vector index, update the accumulators. The array's
        # latency is fixed, so its output's valid and index are known a cycle early, when the
        # accumulator reads the old row (``read_ahead``): the row's address and update rule
        # are that cycle's (the address registered here, the rule there).
        sums = array.o.payload
        ahead_addr = Signal(range(self.geometry.acc_depth), name="acc_addr_ahead")
        acc_addr = Signal.like(ahead_addr, name="acc_addr")
        m.d.comb += ahead_addr.eq(at(c.acc_addr, to_accum - 1, "acc_base")
                                  + at(ctl.index, to_accum - 1, "acc_index"))
        core.d.sync += acc_addr.eq(ahead_addr)
        m.d.comb += [
            accum.ahead_valid.eq(at(x_valid, to_accum - 1 - to_array, "acc_ahead")),
            accum.ahead_addr.eq(ahead_addr),
            accum.i.valid.eq(array.o.valid), accum.i.payload.sums.eq(sums.y),
            accum.i.payload.addr.eq(acc_addr),
            accum.i.payload.tag.eq(sums.tag),
            accum.ahead_accumulate.eq(at(c.accumulate, to_accum - 1, "accumulate")),
            accum.ahead_use_bias.eq(at(c.bias, to_accum - 1, "use_bias")),
            accum.bias.eq(params.bias),
        ]
        rows = accum.o.payload
        requant = at(c.requant, to_post, "requant")
        first = at(x_valid & (index == 0), to_post - to_array, "first_row")
        m.d.comb += [
            post.i.valid.eq(accum.o.valid & requant),
            post.i.payload.addr.eq(rows.tag),
            # (the requantizer registers its inputs with the row's valid: its multipliers
            # keep still through rows that are not requantized, without a gate here that
            # would cost a LUT per bit and a select to all 32 x C of them)
            post.i.payload.data.eq(rows.data.as_value()),
            post.mult.eq(params.mult), post.shift.eq(params.shift),
            post.zero_point.eq(at(c.out_zp, to_post, "out_zp")),
            post.relu.eq(at(c.relu, to_post, "relu")), post.lut.eq(at(c.lut, to_post, "lut")),
            post.pool.eq(at(c.pool, to_post, "pool")), post.restart.eq(first),
            out_wp.addr.eq(at(c.out_addr, to_out, "out_base") + post.o.payload.addr),
            out_wp.en.eq(post.o.valid),
            out_wp.data.eq(post.o.payload.data.as_value()),
        ]


def _any(bits):
    out = 0
    for bit in bits:
        out = out | bit
    return out
