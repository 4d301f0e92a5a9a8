"""MaxPool2d and AvgPool2d: the ops check the input; ``Module.__call__`` names the layer."""
from __future__ import annotations

from .. import ops
from ..ops.pool import _pool_args
from .module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        op = type(self).__name__
        self.kernel_size, self.stride, self.padding = _pool_args(op, kernel_size, stride, padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max over KH×KW windows; the gradient goes to each window's arg-max.

    Args:
        kernel_size: an int or a pair.
        stride: an int or a pair (default: kernel_size).
        padding: -inf padding on each side, at most half the kernel (default 0).

    Shape: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2·padding - KH) // stride + 1.
    """

    def forward(self, x):
        return ops.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Mean over KH×KW windows.

    Args:
        kernel_size, stride, padding: as :class:`MaxPool2d` (zero padding).
        count_include_pad: count the padding zeros in the mean (default True).

    Shape: (N, C, H, W) -> (N, C, Ho, Wo), as :class:`MaxPool2d`.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        return ops.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                              self.count_include_pad)
