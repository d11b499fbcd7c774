"""Golden model of the compute-in-memory (CIM) mode: bit-serial inputs, ADC per group of rows.

The exact digital mode (:func:`models.vmm`) is the default; this is the arithmetic of the
array built with a :class:`CimConfig` (issue 13). Everything is integer and deterministic.

Inputs, bit-serial (``B = bits_per_cycle`` in 1, 2, 4, 8; ``S = 8 / B`` slices, one per cycle):
an int8 ``x`` is split into digits ``x = sum_s d_s * 2**(B*s)``, least significant first. The
lower digits are unsigned, ``d_s = (x >> B*s) & (2**B - 1)``; the top digit is the top B bits
as a B-bit two's complement number, ``d_{S-1} = x >> B*(S-1)`` (arithmetic shift), so its top
bit weighs ``-2**(B-1)`` (with B = 8 the one digit is ``x`` itself).

Weights (``cell_bits``): 8 keeps one signed int8 weight per cell. 1, 2 or 4 slice it into
``J = 8 / cell_bits`` cells of ``cell_bits`` bits in offset encoding: ``u = w + 128`` (0..255)
``= sum_j c_j * 2**(cell_bits*j)``, ``c_j = (u >> cell_bits*j) & (2**cell_bits - 1)``; then
``x . w = sum_j 2**(cell_bits*j) * (x . c_j) - 128 * sum(x)``, the last term computed digitally
(exactly) from the inputs.

Groups: the K rows are cut into groups of ``G = group_rows`` consecutive rows (the last may be
shorter); rows ``g*G .. g*G+G-1`` share one ADC conversion per column. For every group ``g``,
input slice ``s``, weight slice ``j`` and column ``n`` the analog partial sum is the exact
integer ``p = sum_{k in group g} d_s[k] * c_j[n, k]``, and the ADC (``A = adc_bits``) returns

    code = clip(round(p / 2**shift), lo, hi),  round(p / 2**shift) = (p + 2**(shift-1)) >> shift

(for ``shift > 0``; ``p`` itself for ``shift = 0``): the shift is the window, set per layer
(calibrated, see :mod:`sw.cim`), rounding is half up (toward +inf: 2.5 -> 3, -2.5 -> -2), and
the range is ``lo, hi = -2**(A-1), 2**(A-1) - 1`` when ``p`` can be negative (signed weight
cells, or the top input slice), else ``0, 2**A - 1``. Shift and add then rebuilds the column:

    y[n] = sum_{g, s, j} code * 2**(shift + B*s + cell_bits*j)   (- 128 * sum(x) if sliced)

wrapped to int32 (two's complement), as the accumulators do. With an ADC wide enough and
``shift = 0`` nothing is lost: ``y`` equals :func:`models.vmm` exactly (:func:`exact_adc_bits`
gives the width).

Counts (closed form, :func:`counts`): ``[M, K] x [N, K]`` makes
``M * N * ceil(K / G) * S * J`` ADC conversions and ``M * K * S`` row activations (a row's
word line driven for one input slice; all of a row's cells see it at once).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .golden import folded_bias, postprocess, wrap_int32

__all__ = [
    "ADC_BITS", "BITS_PER_CYCLE", "CELL_BITS", "SHIFT_MAX", "CimConfig", "adc", "cim_vmm",
    "counts", "exact_adc_bits", "input_digits", "linear", "partial_sums", "weight_cells",
]

#: the allowed input bits per cycle (a divisor of 8)
BITS_PER_CYCLE = (1, 2, 4, 8)
#: the allowed bits per weight cell (8: one signed int8 weight per cell, no slicing)
CELL_BITS = (1, 2, 4, 8)
#: the allowed ADC resolutions
ADC_BITS = range(1, 17)
#: the largest ADC window shift
SHIFT_MAX = 31
#: the offset of the offset-encoded (sliced) weights: a cell column stores ``w + OFFSET``
OFFSET = 128


def _check_int(name, value, allowed, what):
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        raise ValueError(f"{name} must be {what}, got {value!r}")


@dataclass(frozen=True)
class CimConfig:
    """A compute-in-memory build: see the module docstring for the arithmetic.

    Parameters
    ----------
    bits_per_cycle : int
        Input bits applied per cycle: 1, 2, 4 or 8 (``8 / bits_per_cycle`` cycles per vector).
    group_rows : int
        Rows per ADC group, 1..255.
    adc_bits : int
        ADC resolution, 1..16.
    cell_bits : int
        Bits per weight cell: 8 (signed int8 weights, the default) or 1, 2, 4 (offset-encoded
        slices).

    Raises
    ------
    ValueError
        A setting outside what is allowed, naming it and the allowed values.
    """
    bits_per_cycle: int = 1
    group_rows: int = 16
    adc_bits: int = 8
    cell_bits: int = 8

    def __post_init__(self):
        _check_int("bits_per_cycle", self.bits_per_cycle, BITS_PER_CYCLE,
                   f"one of {BITS_PER_CYCLE}")
        _check_int("group_rows", self.group_rows, range(1, 256), "an int in 1..255")
        _check_int("adc_bits", self.adc_bits, ADC_BITS,
                   f"an int in {ADC_BITS.start}..{ADC_BITS.stop - 1}")
        _check_int("cell_bits", self.cell_bits, CELL_BITS, f"one of {CELL_BITS}")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def as_dict(self):
        return dataclasses.asdict(self)

    @property
    def input_slices(self):
        """S = 8 / bits_per_cycle: input slices, i.e. cycles per vector."""
        return 8 // self.bits_per_cycle

    @property
    def cycles_per_vector(self):
        return self.input_slices

    @property
    def weight_slices(self):
        """J = 8 / cell_bits: cells per weight (1 without slicing)."""
        return 8 // self.cell_bits

    @property
    def sliced(self):
        return self.cell_bits != 8

    def signed_slice(self, s):
        """Whether slice ``s``'s partial sums can be negative (the ADC's range is signed)."""
        return not self.sliced or s == self.input_slices - 1

    def adc_range(self, s):
        """(lo, hi) of the ADC codes of input slice ``s``."""
        a = self.adc_bits
        return (-(1 << (a - 1)), (1 << (a - 1)) - 1) if self.signed_slice(s) else (0, (1 << a) - 1)

    def groups(self, k):
        """ADC groups of ``k`` rows: ceil(k / group_rows)."""
        return -(-k // self.group_rows)


def _check_shift(shift):
    _check_int("shift", shift, range(SHIFT_MAX + 1), f"an int in 0..{SHIFT_MAX}")


def _check_operands(x, w):
    for name, a in (("x", x), ("w", w)):
        if not isinstance(a, np.ndarray) or a.dtype != np.int8 or a.ndim != 2:
            got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{name} must be a 2-D int8 numpy array, got {got}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x is [M, K={x.shape[1]}] but w is [N, K={w.shape[1]}]")


def input_digits(x, bits_per_cycle):
    """The input slices of int8 ``x``: int64 [S, *x.shape], least significant first (the top
    one signed)."""
    _check_int("bits_per_cycle", bits_per_cycle, BITS_PER_CYCLE, f"one of {BITS_PER_CYCLE}")
    b, v = bits_per_cycle, np.asarray(x).astype(np.int64)
    n = 8 // b
    return np.stack([(v >> (b * s)) & ((1 << b) - 1) if s < n - 1 else v >> (b * s)
                     for s in range(n)])


def weight_cells(w, cell_bits):
    """The weight cells of int8 ``w``: int64 [J, *w.shape]; with 8 bits ``[w]``, else the
    offset-encoded slices of ``w + 128``, least significant first."""
    _check_int("cell_bits", cell_bits, CELL_BITS, f"one of {CELL_BITS}")
    v = np.asarray(w).astype(np.int64)
    if cell_bits == 8:
        return v[None]
    u = v + OFFSET
    return np.stack([(u >> (cell_bits * j)) & ((1 << cell_bits) - 1)
                     for j in range(8 // cell_bits)])


def adc(p, shift, lo, hi):
    """The ADC: ``clip(round_half_up(p / 2**shift), lo, hi)`` of integer partial sums ``p``
    (int64 out)."""
    _check_shift(shift)
    p = np.asarray(p, dtype=np.int64)
    q = (p + (1 << (shift - 1))) >> shift if shift else p
    return np.clip(q, lo, hi)


def partial_sums(x, w, config):
    """The analog partial sums before the ADC: int64 [groups, S, J, M, N] (see the module
    docstring); what calibration looks at."""
    _check_operands(x, w)
    d = input_digits(x, config.bits_per_cycle)
    c = weight_cells(w, config.cell_bits)
    k, gr = x.shape[1], config.group_rows
    return np.stack([np.einsum("smk,jnk->sjmn", d[:, :, g:g + gr], c[:, :, g:g + gr])
                     for g in range(0, k, gr)]) if k else np.zeros(
                         (0, config.input_slices, config.weight_slices, *x.shape[:1],
                          w.shape[0]), np.int64)


def cim_vmm(x, w, config, shift):
    """The CIM array's vector-matrix multiply (the twin of :func:`models.vmm` in CIM mode).

    Parameters
    ----------
    x : ndarray of int8 [M, K]
    w : ndarray of int8 [N, K]
    config : CimConfig
    shift : int
        The ADC window, 0..:data:`SHIFT_MAX`.

    Returns
    -------
    ndarray of int32 [M, N]
    """
    if not isinstance(config, CimConfig):
        raise TypeError(f"config must be a CimConfig, got {config!r}")
    _check_shift(shift)
    p = partial_sums(x, w, config)
    return reconstruct(p, config, shift, x)


def reconstruct(p, config, shift, x):
    """ADC and shift-and-add of partial sums ``p`` (from :func:`partial_sums` of ``x``):
    int32 [M, N]."""
    _check_shift(shift)
    m, n = p.shape[-2:]
    acc = np.zeros((m, n), np.int64)
    mask = np.int64(0xFFFF_FFFF)
    for s in range(config.input_slices):
        lo, hi = config.adc_range(s)
        for j in range(config.weight_slices):
            codes = adc(p[:, s, j], shift, lo, hi).sum(axis=0)
            weight = shift + config.bits_per_cycle * s + config.cell_bits * j  # <= 45
            # mod 2**32 term by term (the accumulators wrap): a shift past int64 drops only
            # bits above 2**64, so the term stays right mod 2**32, and the sum cannot overflow
            acc += (codes << weight) & mask
    if config.sliced:
        acc -= OFFSET * np.asarray(x).astype(np.int64).sum(axis=1)[:, None]
    return wrap_int32(acc)


def exact_adc_bits(config, k=None):
    """The smallest ``adc_bits`` with which ``shift = 0`` never clips for any int8 ``x`` and
    ``w`` on groups of ``min(k, group_rows)`` rows: the CIM array then equals :func:`models.vmm`.
    (May exceed 16, the largest ADC allowed.)"""
    rows = config.group_rows if k is None else max(1, min(k, config.group_rows))
    b, cb = config.bits_per_cycle, config.cell_bits
    need = 1
    for s in range(config.input_slices):
        top = s == config.input_slices - 1
        d_lo, d_hi = (-(1 << (b - 1)), (1 << (b - 1)) - 1) if top else (0, (1 << b) - 1)
        c_lo, c_hi = (-128, 127) if cb == 8 else (0, (1 << cb) - 1)
        prods = [d * c for d in (d_lo, d_hi) for c in (c_lo, c_hi)]
        lo, hi = rows * min(prods), rows * max(prods)
        signed = config.signed_slice(s)
        a = 1
        while True:
            r_lo, r_hi = (-(1 << (a - 1)), (1 << (a - 1)) - 1) if signed else (0, (1 << a) - 1)
            if r_lo <= lo and hi <= r_hi:
                break
            a += 1
        need = max(need, a)
    return need


def counts(m, k, n, config):
    """ADC conversions and row activations of an ``[m, k] x [n, k]`` product in CIM mode:
    ``{"adc_conversions": m*n*ceil(k/G)*S*J, "row_activations": m*k*S}``."""
    return {"adc_conversions": m * n * config.groups(k) * config.input_slices
            * config.weight_slices,
            "row_activations": m * k * config.input_slices}


def linear(x, w, b=None, scale=None, zero_point=0, relu=False, input_zero_point=0, lut=None,
           pool=1, *, config, shift):
    """:func:`models.linear` with the array in CIM mode: the products come from
    :func:`cim_vmm`; the bias, the input zero point's correction (folded into the bias, exact
    and digital, as the driver does), requantization, LUT, ReLU and pooling are the digital
    post-processing, unchanged."""
    acc = cim_vmm(x, w, config, shift).astype(np.int64)
    acc = wrap_int32(acc + folded_bias(w, b, input_zero_point))
    return postprocess(acc, scale, zero_point, relu, lut, pool)
