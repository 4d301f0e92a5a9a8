"""Conv2d and ConvTranspose2d: learnable 2-D convolutions over NCHW input.

The ops check the input against the weights (shapes, channels, the kernel fitting); a layer
checks only its constructor arguments and what only it knows (ConvTranspose2d's
``output_size``). ``Module.__call__`` puts the layer's name in front of an op's message.
"""
from __future__ import annotations

import math

from .. import ops
from ..ops.conv import _padding, output_size
from ..ops.conv_transpose import _transpose_args, transposed_size
from . import init
from ..checks import pair, positive_int
from .module import Module, Parameter


def _channels(layer, in_channels, out_channels, groups):
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("groups", groups)):
        positive_int(layer, name, value)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{layer}: groups must divide in_channels and out_channels, got "
                         f"groups={groups} for {in_channels} and {out_channels} channels")


def _padding_mode(layer, padding_mode):
    if padding_mode != "zeros":   # PyTorch's 'reflect', 'replicate', 'circular' are not here
        raise ValueError(f"{layer}: padding_mode must be 'zeros' (the only mode xpnet's "
                         f"convolutions have), got {padding_mode!r}")
    return padding_mode


def _uniform_parameters(weight_shape, fan_in, out_channels, bias, device, dtype):
    # PyTorch's kaiming_uniform(a=sqrt(5)) is U(±1/sqrt(fan_in)); the bias has the same bound
    bound = 1 / math.sqrt(fan_in)
    weight = Parameter(init.uniform(weight_shape, -bound, bound, device, dtype))
    return weight, (Parameter(init.uniform((out_channels,), -bound, bound, device, dtype))
                    if bias else None)


def _conv_repr(layer, **optional):
    """PyTorch's repr: channels, kernel and stride always, the rest when not the default."""
    s = (f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, "
         f"stride={layer.stride}")
    optional.update(dilation=layer.dilation)
    for name, value in optional.items():
        if value != (0, 0) and not (name == "dilation" and value == (1, 1)):
            s += f", {name}={value!r}"
    if layer.groups != 1:
        s += f", groups={layer.groups}"
    return s + (", bias=False" if layer.bias is None else "")


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
        padding_mode: ``'zeros'``, the one mode there is (PyTorch's argument, checked).
        device: where the parameters live (default: ``xpnet.default_device()``).
        dtype: parameter dtype (default float32).

    Weight (out_channels, in_channels / groups, KH, KW) and bias (out_channels,) start as
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups · KH · KW (PyTorch's
    kaiming_uniform with a = sqrt(5)), so a torch state_dict loads as is.

    Shape: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo),
    Ho = (H + 2·padding - dilation·(KH - 1) - 1) // stride + 1.

    >>> import xpnet
    >>> Conv2d(1, 32, 3)(xpnet.zeros(8, 1, 28, 28)).shape
    (8, 32, 26, 26)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 device=None, dtype=None):
        _channels("Conv2d", in_channels, out_channels, groups)
        self.padding_mode = _padding_mode("Conv2d", padding_mode)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair("Conv2d", "kernel_size", kernel_size, minimum=1)
        self.stride = pair("Conv2d", "stride", stride, minimum=1)
        self.dilation = pair("Conv2d", "dilation", dilation, minimum=1)
        self.padding = padding if isinstance(padding, str) else pair("Conv2d", "padding", padding)
        self._pads = _padding("Conv2d", self.padding, self.kernel_size, self.dilation, self.stride)
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        self.weight, self.bias = _uniform_parameters(
            (out_channels, in_channels // groups) + self.kernel_size, fan_in, out_channels, bias,
            device, dtype)

    def forward(self, x):
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
        return _conv_repr(self, padding=self.padding)


class ConvTranspose2d(Module):
    """2-D transposed convolution layer, as ``torch.nn.ConvTranspose2d`` (the adjoint of a
    Conv2d with the same arguments: it maps Conv2d's output shape back to its input shape).

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as
            :class:`Conv2d`.
        padding: an int or a pair: rows/columns cropped from each side of the full output.
        output_padding: extra rows/columns at the bottom/right of the output, smaller than
            the stride or the dilation (default 0).
        device, dtype: where and how the parameters live.

    Weight (in_channels, out_channels / groups, KH, KW) and bias (out_channels,) start as
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = out_channels / groups · KH · KW, which is
    what PyTorch's kaiming_uniform(a = sqrt(5)) computes from that weight's shape.

    Shape: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo),
    Ho = (H - 1)·stride - 2·padding + dilation·(KH - 1) + output_padding + 1;
    ``forward(x, output_size=(Ho, Wo))`` picks the output_padding that gives that size.

    >>> import xpnet
    >>> up = ConvTranspose2d(16, 8, 4, stride=2, padding=1)
    >>> up(xpnet.zeros(2, 16, 7, 7)).shape
    (2, 8, 14, 14)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", *, device=None, dtype=None):
        _channels("ConvTranspose2d", in_channels, out_channels, groups)
        self.padding_mode = _padding_mode("ConvTranspose2d", padding_mode)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair("ConvTranspose2d", "kernel_size", kernel_size, minimum=1)
        self.stride, self.padding, self.output_padding, self.dilation, self.groups = \
            _transpose_args(stride, padding, output_padding, dilation, groups, "ConvTranspose2d")
        fan_in = out_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        self.weight, self.bias = _uniform_parameters(
            (in_channels, out_channels // groups) + self.kernel_size, fan_in, out_channels, bias,
            device, dtype)

    def forward(self, x, output_size=None):
        output_padding = self.output_padding if output_size is None \
            else self._output_padding(x, output_size)
        return ops.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                    output_padding, self.groups, self.dilation)

    def _output_padding(self, x, output_size):
        """The output_padding that makes the output (Ho, Wo) = output_size (or its last two
        entries), as PyTorch chooses it; a size no output_padding reaches is an error."""
        size = tuple(output_size)
        if len(size) == 4:
            size = size[2:]
        if len(size) != 2 or x.ndim != 4:
            raise self._error(f"output_size must have 2 or 4 entries for a 4-D input, got "
                              f"{tuple(output_size)} for input {x.shape}")
        smallest = tuple(transposed_size(x.shape[2 + a], self.kernel_size[a], self.stride[a],
                                         self.padding[a], 0, self.dilation[a]) for a in (0, 1))
        largest = tuple(s + self.stride[a] - 1 for a, s in enumerate(smallest))
        if not all(lo <= s <= hi for s, lo, hi in zip(size, smallest, largest)):
            raise self._error(f"output_size must be between {smallest} and {largest} for input "
                              f"{x.shape}, got {size}")
        return tuple(s - lo for s, lo in zip(size, smallest))

    def extra_repr(self):
        return _conv_repr(self, padding=self.padding, output_padding=self.output_padding)
