"""The host harness from Python (ctypes): the C driver's calls on the Verilated RTL.

:class:`Harness` opens ``libpimacc_harness.so`` of a :func:`sw.c.build.build` and calls the C
driver's functions with NumPy arrays, so tests check the C driver (and the RTL under it) with
Python's golden model. Results come back as the C driver's return codes: 0, a hardware
ErrorCode (> 0) or a driver error (< 0, :data:`RESULTS`).
"""

from __future__ import annotations

import ctypes
import re

import numpy as np

from hw.spec import Geometry

from .build import HERE, HarnessBuild, build

__all__ = ["RESULTS", "ConvDesc", "Dev", "Harness", "LinearDesc", "result_name"]


def _driver_results():
    """enum pimacc_result of pimacc.h: {name: value}."""
    text = (HERE / "pimacc.h").read_text()
    body = text.split("enum pimacc_result {", 1)[1].split("};", 1)[0]
    return {name: int(value) for name, value in re.findall(r"(PIMACC_\w+) = (-?\d+)", body)}


#: the driver's own results (pimacc.h, enum pimacc_result)
RESULTS = _driver_results()

_P = ctypes.POINTER
_I8, _I32, _U32 = _P(ctypes.c_int8), _P(ctypes.c_int32), _P(ctypes.c_uint32)


class Platform(ctypes.Structure):
    _fields_ = [("read32", ctypes.c_void_p), ("write32", ctypes.c_void_p),
                ("wait", ctypes.c_void_p), ("ctx", ctypes.c_void_p), ("mem", ctypes.c_void_p),
                ("mem_addr", ctypes.c_uint32), ("mem_size", ctypes.c_uint32)]


class GeometryC(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "rows", "cols", "banks", "in_depth", "acc_depth", "out_depth", "latency", "features",
        "mem_bits", "row_words_p2", "col_words_p2", "cols_p2")]


class Dev(ctypes.Structure):
    _fields_ = [("plat", Platform), ("geometry", GeometryC)] + [
        (name, ctypes.c_uint32) for name in (
            "version", "top", "align", "max_polls", "last_pc", "last_instructions", "last_cycles",
            "last_polls")]


class LinearDesc(ctypes.Structure):
    _fields_ = [("k", ctypes.c_uint32), ("n", ctypes.c_uint32), ("w", _I8),
                ("w_stride", ctypes.c_uint32), ("bias", _I32),
                ("input_zero_point", ctypes.c_int32), ("mult", _U32), ("shift", _U32),
                ("n_scales", ctypes.c_uint32), ("out_zero_point", ctypes.c_int32),
                ("relu", ctypes.c_bool)]


class ConvDesc(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "batch", "cin", "h", "w", "cout", "kh", "kw", "stride_h", "stride_w", "pad_h", "pad_w",
        "dilation_h", "dilation_w")] + [
        ("weights", _I8), ("bias", _I32), ("input_zero_point", ctypes.c_int32),
        ("mult", _U32), ("shift", _U32), ("n_scales", ctypes.c_uint32),
        ("out_zero_point", ctypes.c_int32), ("relu", ctypes.c_bool)]


class Layer(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "k", "n", "k_tiles", "n_tiles", "w_offset", "w_block", "p_offset", "p_block")] + [
        ("int8", ctypes.c_bool), ("relu", ctypes.c_bool), ("out_zero_point", ctypes.c_int32)]


def result_name(code: int) -> str:
    """A result code as a name: PIMACC_OK, a driver error or ``ErrorCode.<NAME>``."""
    from hw.spec import ErrorCode
    for name, value in RESULTS.items():
        if value == code:
            return name
    try:
        return f"ErrorCode.{ErrorCode(code).name}"
    except ValueError:
        return f"<unknown result {code}>"


def _ptr(a, kind):
    return None if a is None else a.ctypes.data_as(kind)


class Harness:
    """A Verilated pimacc of ``geometry`` with ``mem_bytes`` of memory, its C driver
    initialized. The arrays handed to the C driver are kept alive by the caller's frame.

    Parameters
    ----------
    geometry : Geometry
    mem_bytes : int
        Memory behind the accelerator (a multiple of 4096).
    rd_latency : int
        Cycles from a read burst's address to its first data.
    harness : HarnessBuild, optional
        A build to use (default: :func:`sw.c.build.build` of ``geometry``).
    stall_seed : int, optional
        Stall the memory port at random (:meth:`stalls`) from this seed.
    exact : bool
        Evaluate the model twice a cycle instead of once (sw/c/harness/harness.cpp).
    skip_inputs : bool
        In fast mode, evaluate a rising edge without Verilator's input region when no input
        changed since the last evaluation (exact; :attr:`skipped` counts those edges).
    """

    def __init__(self, geometry: Geometry, mem_bytes=4 << 20, rd_latency=4,
                 harness: HarnessBuild | None = None, stall_seed=None, exact=False,
                 skip_inputs=True):
        self.build = harness or build(geometry)
        lib = self.lib = ctypes.CDLL(str(self.build.library))
        lib.pimacc_harness_open.restype = ctypes.c_void_p
        lib.pimacc_harness_open.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
        for name in ("close", "init", "dev", "mem", "mem_size", "cycles", "sim_seconds",
                     "read32", "write32", "idle", "mem_error", "last_resp", "stalls", "fast",
                     "wait_irq", "skip_inputs", "skipped"):
            getattr(lib, f"pimacc_harness_{name}").argtypes = [ctypes.c_void_p]
        lib.pimacc_harness_dev.restype = _P(Dev)
        lib.pimacc_harness_mem.restype = ctypes.POINTER(ctypes.c_uint8)
        lib.pimacc_harness_mem_size.restype = ctypes.c_uint32
        lib.pimacc_harness_cycles.restype = ctypes.c_uint64
        lib.pimacc_harness_sim_seconds.restype = ctypes.c_double
        lib.pimacc_harness_read32.restype = ctypes.c_uint32
        lib.pimacc_harness_read32.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.pimacc_harness_write32.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
        lib.pimacc_harness_idle.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        lib.pimacc_harness_mem_error.argtypes = [ctypes.c_void_p, ctypes.c_uint32,
                                                 ctypes.c_uint32]
        lib.pimacc_harness_last_resp.restype = ctypes.c_uint32
        lib.pimacc_harness_stalls.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
        lib.pimacc_harness_fast.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.pimacc_harness_skip_inputs.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.pimacc_harness_skipped.restype = ctypes.c_uint64
        lib.pimacc_harness_wait_irq.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        lib.pimacc_linear.argtypes = [_P(Dev), _P(LinearDesc), _I8, ctypes.c_uint32,
                                      ctypes.c_void_p]
        lib.pimacc_linear_load.argtypes = [_P(Dev), _P(LinearDesc), _P(Layer)]
        lib.pimacc_linear_run.argtypes = [_P(Dev), _P(Layer), _I8, ctypes.c_uint32,
                                          ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32]
        lib.pimacc_conv2d.argtypes = [_P(Dev), _P(ConvDesc), _I8, ctypes.c_void_p]
        lib.pimacc_run_program.argtypes = [_P(Dev), ctypes.c_uint32, ctypes.c_uint32,
                                           ctypes.c_uint32]
        lib.pimacc_quantize_multiplier.argtypes = [ctypes.c_double, _U32, _U32]
        lib.pimacc_mark.argtypes = [_P(Dev)]
        lib.pimacc_mark.restype = ctypes.c_uint32
        lib.pimacc_release.argtypes = [_P(Dev), ctypes.c_uint32]
        lib.pimacc_vmm_forget.argtypes = []
        lib.AcceleratorVMM.argtypes = [_I8, _I8, _I32, ctypes.c_uint32, ctypes.c_uint32,
                                       ctypes.c_uint32]
        sizes = (ctypes.c_uint32 * 4)()
        lib.pimacc_harness_sizes(sizes)
        mine = [ctypes.sizeof(c) for c in (Dev, LinearDesc, ConvDesc, Layer)]
        if list(sizes) != mine:
            raise RuntimeError(f"the ctypes structures ({mine} bytes) do not match the C "
                               f"driver's ({list(sizes)}): update sw/c/binding.py")
        self.handle = lib.pimacc_harness_open(mem_bytes, rd_latency)
        if not self.handle:
            raise ValueError(f"mem_bytes must be a positive multiple of 4096, got {mem_bytes}")
        self.fast = bool(lib.pimacc_harness_fast(self.handle, not exact))
        self.skip_inputs = self.fast and bool(lib.pimacc_harness_skip_inputs(self.handle,
                                                                              skip_inputs))
        if stall_seed is not None:
            self.stalls(stall_seed)
        self.init_result = lib.pimacc_harness_init(self.handle)
        self.dev = lib.pimacc_harness_dev(self.handle)

    def close(self):
        if self.handle:
            self.lib.pimacc_harness_close(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the model ------------------------------------------------------------------------------

    @property
    def cycles(self) -> int:
        return self.lib.pimacc_harness_cycles(self.handle)

    @property
    def skipped(self) -> int:
        """Rising edges evaluated without the input region (``skip_inputs``)."""
        return self.lib.pimacc_harness_skipped(self.handle)

    @property
    def sim_seconds(self) -> float:
        return self.lib.pimacc_harness_sim_seconds(self.handle)

    def memory(self) -> np.ndarray:
        """The memory behind the accelerator (a view, uint8)."""
        size = self.lib.pimacc_harness_mem_size(self.handle)
        return np.ctypeslib.as_array(self.lib.pimacc_harness_mem(self.handle), (size,))

    def read32(self, offset) -> int:
        return self.lib.pimacc_harness_read32(self.handle, offset)

    def write32(self, offset, value):
        self.lib.pimacc_harness_write32(self.handle, offset, value)

    @property
    def last_resp(self) -> int:
        """The AXI response of the last register access (0 OKAY, 2 SLVERR, 3 DECERR)."""
        return self.lib.pimacc_harness_last_resp(self.handle)

    def wait_irq(self, max_cycles) -> bool:
        """Clock until irq is high; False after ``max_cycles``."""
        return bool(self.lib.pimacc_harness_wait_irq(self.handle, max_cycles))

    def stalls(self, seed, pressure=96):
        """Random stalls on the memory port: each ready, and each valid not yet raised, held
        low with the chance ``pressure``/256 per cycle (0: none)."""
        self.lib.pimacc_harness_stalls(self.handle, seed, pressure)

    def mem_error(self, lo, hi):
        """Bursts touching memory bytes [lo, hi) answer SLVERR."""
        self.lib.pimacc_harness_mem_error(self.handle, lo, hi)

    # --- the C driver ---------------------------------------------------------------------------

    def linear(self, x, w, b=None, mult=None, shift=None, *, zero_point=0, relu=False,
               input_zero_point=0):
        """``pimacc_linear``: x int8 [M, K], w int8 [N, K], b int32 [N] or None, mult/shift
        uint32 [N] or [1] (None: int32 output). Returns (result code, y)."""
        x, w = np.ascontiguousarray(x, np.int8), np.ascontiguousarray(w, np.int8)
        (m, k), n = x.shape, w.shape[0]
        b = None if b is None else np.ascontiguousarray(b, np.int32)
        mult = None if mult is None else np.ascontiguousarray(mult, np.uint32)
        shift = None if shift is None else np.ascontiguousarray(shift, np.uint32)
        d = LinearDesc(k=k, n=n, w=_ptr(w, _I8), w_stride=0, bias=_ptr(b, _I32),
                       input_zero_point=input_zero_point, mult=_ptr(mult, _U32),
                       shift=_ptr(shift, _U32), n_scales=0 if mult is None else mult.size,
                       out_zero_point=zero_point, relu=relu)
        y = np.zeros((m, n), np.int8 if mult is not None else np.int32)
        code = self.lib.pimacc_linear(self.dev, ctypes.byref(d), _ptr(x, _I8), m,
                                      y.ctypes.data_as(ctypes.c_void_p))
        return code, y

    def load_linear(self, w, b=None, mult=None, shift=None, *, zero_point=0, relu=False,
                    input_zero_point=0, k=None):
        """``pimacc_linear_load``: pack w (int8 [N, >= K]: the first ``k`` columns, default
        all, of each row) and the parameters into memory once. Returns (result code, Layer); the
        arrays are kept with the Layer (the C driver reads them while loading only)."""
        w = np.ascontiguousarray(w, np.int8)
        b = None if b is None else np.ascontiguousarray(b, np.int32)
        mult = None if mult is None else np.ascontiguousarray(mult, np.uint32)
        shift = None if shift is None else np.ascontiguousarray(shift, np.uint32)
        k = k or w.shape[1]
        d = LinearDesc(k=k, n=w.shape[0], w=_ptr(w, _I8), w_stride=w.shape[1],
                       bias=_ptr(b, _I32), input_zero_point=input_zero_point,
                       mult=_ptr(mult, _U32), shift=_ptr(shift, _U32),
                       n_scales=0 if mult is None else mult.size, out_zero_point=zero_point,
                       relu=relu)
        layer = Layer()
        code = self.lib.pimacc_linear_load(self.dev, ctypes.byref(d), ctypes.byref(layer))
        return code, layer

    def run_linear(self, layer, x, y):
        """``pimacc_linear_run`` of a loaded layer on x (int8 [M, >= K]) into y (int8 or int32
        [M, >= N]), with the arrays' own row strides; the result code."""
        if not (x.flags.c_contiguous and y.flags.c_contiguous and x.dtype == np.int8):
            raise ValueError("x and y must be C-contiguous; x int8")
        return self.lib.pimacc_linear_run(self.dev, ctypes.byref(layer), _ptr(x, _I8),
                                          x.shape[0], x.shape[1], y.ctypes.data_as(
                                              ctypes.c_void_p), y.shape[1])

    def conv2d(self, x, w, b=None, mult=None, shift=None, *, stride=1, padding=0, dilation=1,
               zero_point=0, relu=False, input_zero_point=0):
        """``pimacc_conv2d``: x int8 [N, C, H, W], w int8 [Cout, C, kh, kw] (groups 1).
        Returns (result code, y [N, Cout, Ho, Wo])."""
        x, w = np.ascontiguousarray(x, np.int8), np.ascontiguousarray(w, np.int8)
        b = None if b is None else np.ascontiguousarray(b, np.int32)
        mult = None if mult is None else np.ascontiguousarray(mult, np.uint32)
        shift = None if shift is None else np.ascontiguousarray(shift, np.uint32)
        (batch, cin, h, wd), (cout, _, kh, kw) = x.shape, w.shape
        d = ConvDesc(batch=batch, cin=cin, h=h, w=wd, cout=cout, kh=kh, kw=kw,
                     stride_h=stride, stride_w=stride, pad_h=padding, pad_w=padding,
                     dilation_h=dilation, dilation_w=dilation, weights=_ptr(w, _I8),
                     bias=_ptr(b, _I32), input_zero_point=input_zero_point,
                     mult=_ptr(mult, _U32), shift=_ptr(shift, _U32),
                     n_scales=0 if mult is None else mult.size, out_zero_point=zero_point,
                     relu=relu)
        ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
        wo = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
        y = np.zeros((batch, cout, ho, wo), np.int8 if mult is not None else np.int32)
        code = self.lib.pimacc_conv2d(self.dev, ctypes.byref(d), _ptr(x, _I8),
                                      y.ctypes.data_as(ctypes.c_void_p))
        return code, y

    def accelerator_vmm(self, inputs, weights, forget=True):
        """The seed's ``AcceleratorVMM(inputs, weights, outputs, m, k, n)``: (code, outputs).

        AcceleratorVMM keeps packed weights by pointer (sw/c/pimacc.h); NumPy may give a new
        array the address of a freed one, so by default ``pimacc_vmm_forget()`` comes first
        (``forget=False`` keeps them: ``weights`` must then be a contiguous int8 array whose
        values have not changed since it was last passed)."""
        x, w = np.ascontiguousarray(inputs, np.int8), np.ascontiguousarray(weights, np.int8)
        y = np.zeros((x.shape[0], w.shape[0]), np.int32)
        if forget:
            self.vmm_forget()
        code = self.lib.AcceleratorVMM(_ptr(x, _I8), _ptr(w, _I8), _ptr(y, _I32), x.shape[0],
                                       x.shape[1], w.shape[0])
        return code, y

    def vmm_forget(self):
        """``pimacc_vmm_forget()``: AcceleratorVMM's packed weights are dropped."""
        self.lib.pimacc_vmm_forget()

    def mark(self) -> int:
        """``pimacc_mark``: the memory in use."""
        return self.lib.pimacc_mark(self.dev)

    def release(self, mark):
        """``pimacc_release``: give back the memory in use above ``mark``."""
        self.lib.pimacc_release(self.dev, mark)

    def run_program(self, words, offset=0, prog_len=None, max_polls=0):
        """Write instructions (uint32 words, four per instruction) at memory ``offset`` and run
        them with ``pimacc_run_program``; its result code."""
        words = np.ascontiguousarray(words, "<u4")
        self.memory()[offset:offset + words.nbytes] = words.view(np.uint8)
        n = words.size // 4 if prog_len is None else prog_len
        return self.lib.pimacc_run_program(self.dev, offset, n, max_polls)

    def quantize_multiplier(self, scale):
        """``pimacc_quantize_multiplier``: (code, mult, shift)."""
        mult, shift = ctypes.c_uint32(), ctypes.c_uint32()
        code = self.lib.pimacc_quantize_multiplier(float(scale), ctypes.byref(mult),
                                                   ctypes.byref(shift))
        return code, mult.value, shift.value
