"""Benchmark records of the convolution family.

Channel counts follow the array (``R`` input channels, ``C`` output channels), so the 3x3 and
1x1 convolutions fill it. ``utilization_compute`` and ``utilization_total`` use the layer's
nominal MACs (``acc.mapping.macs``): a depthwise lowering's zero weights and a pooling's
identity weights are counted by the hardware (``array_macs``) but are not useful work.
``limit`` is the mapping's best possible ``utilization_compute`` where one is stated.
"""

from __future__ import annotations

import numpy as np

import models.conv as golden

from ..layers.mapping import depthwise_limit
from .record import Record, Stopwatch

__all__ = ["records"]


def _layers(acc, rng):
    """(name, op, driver call, golden call, limit) of every reference layer."""
    g = acc.geometry
    r, c = g.rows, g.cols

    def i8(*shape):
        return rng.integers(-128, 128, shape, dtype=np.int8)

    x = i8(1, r, 16, 16)
    w3, w1 = i8(c, r, 3, 3), i8(c, r, 1, 1)
    b = rng.integers(-2**15, 2**15, c, dtype=np.int32)
    q = dict(scale=1 / 4096, zero_point=-128, relu=True)
    xd, xd2, wd = i8(1, 8, 24, 24), i8(1, 8, 48, 48), i8(8, 1, 3, 3)
    a, xg = i8(1, r, 16, 16), i8(1, 4 * c, 7, 7)
    out = []

    def layer(name, op, fn, args, kwargs, limit=None):
        out.append((name, op, lambda: getattr(acc, fn)(*args, **kwargs),
                    lambda: getattr(golden, fn)(*args, **kwargs), limit))

    layer(f"conv3x3_{r}to{c}_16x16_int8", "conv2d", "conv2d", (x, w3, b), dict(padding=1, **q))
    layer(f"conv3x3_{r}to{c}_16x16_pool2", "conv2d", "conv2d", (x, w3, b),
          dict(padding=1, max_pool=2, **q))
    layer(f"conv1x1_{r}to{c}_16x16_int8", "conv2d", "conv2d", (x, w1, b), q)
    layer(f"conv3x3_{r}to{c}_16x16_int32", "conv2d", "conv2d", (x, w3, b), dict(padding=1))
    layer("dwconv3x3_s1_8ch_24x24", "depthwise_conv2d", "depthwise_conv2d", (xd, wd),
          dict(padding=1, scale=1 / 512), depthwise_limit(r, c)[0])
    layer("dwconv3x3_s2_8ch_48x48", "depthwise_conv2d", "depthwise_conv2d", (xd2, wd),
          dict(stride=2, padding=1, scale=1 / 512), depthwise_limit(r, c, stride=2)[0])
    # pooling and add: a vector carries at most min(R, C) useful input elements, one op each
    io_limit = min(r, c) / (r * c)
    layer(f"maxpool2x2_{r}ch_16x16", "max_pool2d", "max_pool2d", (x, 2), {}, io_limit)
    layer(f"avgpool2x2_{r}ch_16x16", "avg_pool2d", "avg_pool2d", (x, 2), {}, io_limit)
    layer(f"global_avgpool_{4 * c}ch_7x7", "avg_pool2d", "global_avg_pool2d", (xg,), {},
          io_limit)
    out.append((f"add_{r}ch_16x16", "add",
                lambda: acc.add(x, a, scale_a=0.6, scale_b=0.45, relu=True),
                lambda: golden.add(x, a, 0.6, 0.45, 0, True), io_limit))
    return out


def records(acc, rng, target):
    """Run the reference layers on ``acc``, check each one against the golden model and
    return one :class:`Record` per layer.

    Raises
    ------
    AssertionError
        If a result differs from :mod:`models.conv`.
    """
    result = []
    for name, op, run, reference, limit in _layers(acc, rng):
        watch = Stopwatch(acc)
        y = run()
        wall, sim = watch.stop()
        if not np.array_equal(y, reference()):
            raise AssertionError(f"{name}: result differs from the golden model")
        m = acc.mapping
        extra = {"block": list(m.block), "calls": m.calls, "pack": m.pack}
        if limit is not None:
            extra["limit"] = round(limit, 4)
        result.append(Record(name, target, op, acc.stats, wall, sim_s=sim, macs=m.macs,
                             mapping=f"{m.name}: {m.detail}", extra=extra))
    return result
