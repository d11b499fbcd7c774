"""Activation tables for the lookup-table stage (``lut=`` of :func:`models.linear`).

A table is an int8 array of 256 entries; the hardware replaces each requantized int8 result y by
``table[y + 128]``, so entry ``i`` belongs to the int8 input ``q = i - 128``, whose real value is
``(q - in_zero_point) * in_scale``. The entry is::

    table[i] = clip(rint(fn((i - 128 - in_zero_point) * in_scale) / out_scale) + out_zero_point,
                    -128, 127)

computed in float64; ``rint`` rounds half to even (``numpy.rint``), so every entry is within half
an output step of the float function unless it saturates. Infinite values of ``fn`` (an
exponential past float64's range) saturate like any other; NaN is refused.

The exponential for softmax (:func:`exp_table`) maps a score difference ``d = z - max <= 0`` to
``exp(d * score_scale)`` on 0..127 (``out_scale = 1/127``, zero point 0): ``table[128] == 127``
is ``exp(0) = 1``. It is non-negative, so the exponentials can be the array's int8 "weights".
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ACTIVATIONS", "EXP_OUT_SCALE", "exp_table", "gelu", "lut_table",
           "sigmoid"]

EXP_OUT_SCALE = 1 / 127  #: real value of one step of the exponential table (zero point 0)


def sigmoid(x):
    """``1 / (1 + exp(-x))`` in float64, without overflow warnings."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gelu(x):
    """The exact GELU, ``x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))``, in float64."""
    x = np.asarray(x, dtype=np.float64)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


#: the activations :class:`sw.nn.Linear` offers through the table, by name
ACTIVATIONS = {"sigmoid": sigmoid, "tanh": np.tanh, "gelu": gelu}


def lut_table(fn, in_scale, out_scale, out_zero_point=0, *, in_zero_point=0):
    """Build the 256-entry int8 table of ``fn`` (see the module docstring for the rounding).

    Parameters
    ----------
    fn : callable
        Vectorised real function (float64 array in, array out).
    in_scale, out_scale : float
        Real value of one step of the input (the requantized y) and of the output, > 0.
    out_zero_point, in_zero_point : int
        -128..127.

    Returns
    -------
    ndarray of int8, shape [256]
    """
    for name, s in (("in_scale", in_scale), ("out_scale", out_scale)):
        if not (isinstance(s, int | float | np.floating) and math.isfinite(s) and s > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {s!r}")
    for name, z in (("out_zero_point", out_zero_point), ("in_zero_point", in_zero_point)):
        if not -128 <= int(z) <= 127:
            raise ValueError(f"{name} must be in -128..127, got {z}")
    real = (np.arange(256, dtype=np.float64) - 128 - int(in_zero_point)) * float(in_scale)
    with np.errstate(over="ignore"):  # an infinite value saturates below
        out = np.asarray(fn(real), dtype=np.float64)
        if out.shape != (256,):
            raise ValueError(f"fn must return 256 values for 256 inputs, got shape {out.shape}")
        if np.isnan(out).any():
            bad = float(real[np.isnan(out)][0])
            raise ValueError(f"fn returned NaN for the input {bad!r} (in_scale={in_scale!r}); "
                             "a table needs a number for every int8 input")
        q = np.rint(out / float(out_scale)) + int(out_zero_point)
    return np.clip(q, -128, 127).astype(np.int8)


def exp_table(score_scale):
    """``exp(d * score_scale)`` for int8 ``d``, 0..127 with 127 for ``d = 0``.

    Entries for ``d > 0`` saturate at 127 (the softmax only looks up ``d <= 0``).
    """
    return lut_table(np.exp, score_scale, EXP_OUT_SCALE)
