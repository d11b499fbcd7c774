"""Layers lowered onto ``Accelerator.linear``: convolutions (:mod:`.conv`), pooling and residual
adds (:mod:`.pool`), and how each is mapped and costed (:mod:`.mapping`, pure functions of
shapes). :class:`Layers` makes them methods of :class:`sw.Accelerator`."""

from . import conv, pool

__all__ = ["Layers"]


class Layers:
    """The layer family as methods (``acc.conv2d(...)``); each calls ``self.linear``."""
    conv2d = conv.conv2d
    depthwise_conv2d = conv.depthwise_conv2d
    max_pool2d = pool.max_pool2d
    avg_pool2d = pool.avg_pool2d
    global_avg_pool2d = pool.global_avg_pool2d
    add = pool.add
