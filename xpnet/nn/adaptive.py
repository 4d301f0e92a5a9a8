"""Adaptive average pooling: ``AdaptiveAvgPool2d`` and ``adaptive_avg_pool2d``, composed of
existing ops (so autograd derives the backward).

Output cell ``(i, j)`` averages input rows ``floor(i·H/oh) .. ceil((i+1)·H/oh) - 1`` and the
columns likewise (PyTorch's bins). When the output divides the input this is plain
``avg_pool2d`` with kernel = stride = ``(H/oh, W/ow)``; ``(1, 1)`` is a mean over H and W; other
sizes average each bin and join them (``oh·ow`` small ops: meant for the small outputs models
use, such as 1×1 or 7×7).
"""
from __future__ import annotations

import math
import numbers

from .. import ops
from ..autograd import Tensor
from ..ops.window import require_tensors
from .module import Module

__all__ = ["AdaptiveAvgPool2d", "adaptive_avg_pool2d"]


def _output_size(owner: str, output_size) -> tuple:
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) \
        else tuple(output_size)
    if len(sizes) != 2 or any(
            s is not None and (isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1)
            for s in sizes):
        raise ValueError(f"{owner}: output_size must be a positive int or a pair of positive "
                         f"ints (or None to keep that size), got {output_size!r}")
    return tuple(None if s is None else int(s) for s in sizes)


def _bins(size: int, out: int) -> list:
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average-pool ``x`` to ``output_size`` (int or ``(oh, ow)``; None keeps that size).

    Shape: (N, C, H, W) -> (N, C, oh, ow), or (C, H, W) -> (C, oh, ow).

    >>> import xpnet
    >>> x = xpnet.arange(16.0).reshape(1, 1, 4, 4)
    >>> adaptive_avg_pool2d(x, 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    oh, ow = _output_size("adaptive_avg_pool2d", output_size)
    require_tensors("adaptive_avg_pool2d", input=x)
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: input must be (N, C, H, W) or (C, H, W), got "
                         f"shape {x.shape}")
    if x.shape[-1] == 0 or x.shape[-2] == 0:   # a bin would average nothing (PyTorch refuses too)
        raise ValueError(f"adaptive_avg_pool2d: input must have a non-zero height and width, "
                         f"got shape {x.shape}")
    if x.ndim == 3:
        return ops.reshape(adaptive_avg_pool2d(ops.reshape(x, 1, *x.shape), (oh, ow)),
                           *x.shape[:1], *_out(x.shape[1:], oh, ow))
    h, w = x.shape[2], x.shape[3]
    oh, ow = oh or h, ow or w
    if (oh, ow) == (1, 1):
        return ops.mean(x, dim=(2, 3), keepdim=True)
    if h % oh == 0 and w % ow == 0:
        return ops.avg_pool2d(x, (h // oh, w // ow))
    rows = []
    for top, bottom in _bins(h, oh):
        cells = [ops.mean(x[:, :, top:bottom, left:right], dim=(2, 3), keepdim=True)
                 for left, right in _bins(w, ow)]
        rows.append(ops.cat(cells, dim=3) if len(cells) > 1 else cells[0])
    return ops.cat(rows, dim=2) if len(rows) > 1 else rows[0]


def _out(hw, oh, ow):
    return (oh or hw[0], ow or hw[1])


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever the input's (PyTorch's layer).

    Args:
        output_size: ``oh`` for a square output, or ``(oh, ow)``; None keeps that input size.

    Shape: (N, C, H, W) -> (N, C, oh, ow)
    """

    def __init__(self, output_size):
        self.output_size = output_size
        _output_size("AdaptiveAvgPool2d", output_size)

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
