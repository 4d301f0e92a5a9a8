"""Conv2d: a learnable 2-D convolution over NCHW input."""
from __future__ import annotations

import math

from .. import ops
from ..ops.conv import _pair, _padding, output_size
from . import init
from .module import Module, Parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation) layer, as ``torch.nn.Conv2d``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (number of filters).
        kernel_size: an int or a pair (KH, KW).
        stride, dilation: an int or a pair (default 1).
        padding: an int, a pair, ``'valid'`` or ``'same'`` (default 0); zeros.
        groups: independent channel groups; must divide both channel counts (default 1).
        bias: learn one bias per output channel (default True).
        device: where the parameters live (default: ``xpnet.default_device()``).
        dtype: parameter dtype (default float32).

    Weight (out_channels, in_channels / groups, KH, KW) and bias (out_channels,) start as
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups · KH · KW (PyTorch's
    kaiming_uniform with a = sqrt(5)), so a torch state_dict loads as is.

    Shape: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo),
    Ho = (H + 2·padding - dilation·(KH - 1) - 1) // stride + 1.

    >>> Conv2d(1, 32, 3)(x).shape        # x (8, 1, 28, 28)       # doctest: +SKIP
    (8, 32, 26, 26)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, *, device=None, dtype=None):
        name = f"Conv2d(in_channels={in_channels})"
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"{name}: in_channels and out_channels must be positive, got "
                             f"({in_channels}, {out_channels})")
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups must divide in_channels and out_channels, got "
                             f"groups={groups} for {in_channels} and {out_channels} channels")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair("kernel_size", "Conv2d", kernel_size)
        self.stride = _pair("stride", "Conv2d", stride)
        self.dilation = _pair("dilation", "Conv2d", dilation)
        self.padding = padding if isinstance(padding, str) else _pair("padding", "Conv2d", padding)
        self._pads = _padding(name, self.padding, self.kernel_size, self.dilation, self.stride)
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        bound = 1 / math.sqrt(fan_in)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(init.uniform(shape, -bound, bound, device, dtype))
        self.bias = Parameter(init.uniform((out_channels,), -bound, bound, device, dtype)) \
            if bias else None

    def forward(self, x):
        name = f"Conv2d(in_channels={self.in_channels})"
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{name}: input must be (N, {self.in_channels}, H, W), got "
                             f"{x.shape}")
        top, bottom, left, right = self._pads
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        hp, wp = x.shape[2] + top + bottom, x.shape[3] + left + right
        if dh * (kh - 1) + 1 > hp or dw * (kw - 1) + 1 > wp:
            raise ValueError(f"{name}: the kernel must fit in the padded input, got kernel "
                             f"{self.kernel_size} (dilation {self.dilation}) and padded input "
                             f"({hp}, {wp}) from input {x.shape}")
        return ops.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                          self.groups)

    def output_shape(self, height: int, width: int) -> tuple:
        """(Ho, Wo) for an input of height × width."""
        top, bottom, left, right = self._pads
        return (output_size(height, self.kernel_size[0], self.stride[0], top, bottom,
                            self.dilation[0]),
                output_size(width, self.kernel_size[1], self.stride[1], left, right,
                            self.dilation[1]))

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) \
                else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
