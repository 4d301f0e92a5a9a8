"""2-D transposed convolution: the adjoint of :func:`~xpnet.ops.conv.conv2d`, built from its code.

A conv2d with weight W maps (N, C, H, W) to (N, O, Ho, Wo) linearly; conv_transpose2d with the
same W is the transpose of that map, from (N, O, Ho, Wo) back to (N, C, H, W). So, in terms of
the three products of ``conv.py`` over one :class:`~xpnet.ops.conv.ConvGeometry` (the conv that
the transposed conv is the adjoint of, whose input is this op's *output*):

* forward is that conv's input gradient (rows @ W_matᵀ, then col2im);
* the input gradient is that conv's forward (im2col, then one GEMM);
* the weight gradient is that conv's weight gradient, with the roles of input and output
  gradient swapped.

PyTorch's weight layout (in_channels, out_channels / groups, KH, KW) is exactly the conv weight
(O, C / groups, KH, KW) of that conv, so a torch state_dict loads as is.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from .conv import (ConvGeometry, correlate, empty, empty_gradients, empty_output, grouped,
                   input_gradient, output_rows, pad_nhwc, slabs, weight_gradient)
from .window import pair, positive_pair, require_tensors


def transposed_size(size, kernel, stride, padding, output_padding, dilation):
    """Output length along one axis: (size - 1)·stride - 2·padding + dilation·(kernel - 1)
    + output_padding + 1, as PyTorch."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


class ConvTranspose2d(Function):
    """y = conv2d's input gradient of x: every input pixel x[n, c, h, w] adds
    w[c, o, i, j] · x[n, c, h, w] to y[n, o, s·h + d·i - p, s·w + d·j - p], plus b[o]."""

    name = "conv_transpose2d"
    floating_inputs = {0: "input", 1: "weight", 2: "bias"}

    def __init__(self, stride, padding, output_padding, dilation, groups):
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.dilation, self.groups = dilation, groups

    def geometry(self, x, weight, bias) -> ConvGeometry:
        """The geometry of the conv2d whose adjoint this is: its input is our output."""
        g, op = self.groups, self.op_name
        if x.ndim != 4:
            raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
        if weight.ndim != 4:
            raise ValueError(f"{op}: weight must be 4-D (in_channels, out_channels/groups, KH, "
                             f"KW), got shape {tuple(weight.shape)}")
        n, c, h, w = x.shape
        if weight.shape[0] != c:
            raise ValueError(f"{op}: input must have weight.shape[0] = {weight.shape[0]} "
                             f"channels, got input {tuple(x.shape)} and weight "
                             f"{tuple(weight.shape)}")
        if c % g:
            raise ValueError(f"{op}: groups must divide the input channels, got groups={g} and "
                             f"{c} input channels")
        out_channels, kh, kw = weight.shape[1] * g, weight.shape[2], weight.shape[3]
        if kh < 1 or kw < 1:
            raise ValueError(f"{op}: weight's kernel must be at least 1x1, got weight "
                             f"{tuple(weight.shape)}")
        if bias is not None and tuple(bias.shape) != (out_channels,):
            raise ValueError(f"{op}: bias must have shape ({out_channels},), got "
                             f"{tuple(bias.shape)}")
        (sh, sw), (ph, pw) = self.stride, self.padding
        (oh, ow), (dh, dw) = self.output_padding, self.dilation
        height = transposed_size(h, kh, sh, ph, oh, dh)
        width = transposed_size(w, kw, sw, pw, ow, dw)
        if height < 1 or width < 1:
            raise ValueError(f"{op}: the output must be at least 1x1, got ({height}, {width}) "
                             f"from input ({h}, {w}) with kernel ({kh}, {kw}), stride "
                             f"{self.stride}, padding {self.padding} and dilation "
                             f"{self.dilation}")
        # the conv reads (h - 1)·s + d·(k - 1) + 1 <= height + 2·p rows of its padded input;
        # the output_padding rows beyond that only get the bias, as in PyTorch
        return ConvGeometry(n, out_channels, height, width, c, kh, kw, h, w, self.stride,
                            (ph, ph, pw, pw), self.dilation, g)

    def forward(self, x, weight, bias):
        xp = self.xp
        geom = self.geom = self.geometry(x, weight, bias)
        self.has_bias = bias is not None
        if empty(geom):
            return empty_output(xp, geom.n, geom.c, geom.h, geom.w, x, bias)
        self.slabs = slabs(self.backend, geom)
        self.x_rows = grouped(xp, output_rows(xp, x, geom), geom)
        y = input_gradient(xp, self.x_rows, weight, geom, self.slabs)         # (N, H, W, C)
        if bias is not None:
            y = y + bias
        self.weight, self.has_bias = weight, bias is not None
        return xp.permute_dims(y, (0, 3, 1, 2))                                 # NCHW view

    def backward(self, grad_y):
        xp, geom = self.xp, self.geom
        need_x, need_w, need_b = self.needs_input_grad
        if empty(geom):
            return empty_gradients(xp, grad_y, self.inputs, self.needs_input_grad, self.has_bias)
        grad_bias = xp.sum(grad_y, axis=(0, 2, 3)) if need_b and self.has_bias else None
        grad_x = grad_weight = cols = None
        grad_nhwc = pad_nhwc(xp, grad_y, geom)
        if need_x:                 # the columns live only in this backward
            rows, cols = correlate(xp, grad_nhwc, self.weight, geom, self.slabs)
            grad_x = xp.permute_dims(xp.reshape(rows, (geom.n, geom.ho, geom.wo, geom.o)),
                                     (0, 3, 1, 2))
        if need_w:
            grad_weight, _ = weight_gradient(xp, grad_nhwc, self.x_rows, geom, self.slabs, cols)
        return grad_x, grad_weight, grad_bias

    def backward_on_tensors(self, grads):
        """create_graph: the gradients as convolutions, which autograd records: d/dx =
        conv2d(grad_y, weight) (this op is conv2d's input gradient, so its own input gradient
        is conv2d), d/dweight = grad_y correlated with x (stride and dilation trading places,
        as in :func:`~xpnet.ops.conv.weight_gradient_by_conv`), d/dbias = grad_y summed."""
        from .conv import Conv2d
        from .shape import concat, permute
        (grad_y,) = grads
        x, weight, bias = self.inputs
        need_x, need_w, need_b = self.needs_input_grad
        (ph, pw), g = self.padding, self.groups
        kh, kw = weight.shape[2], weight.shape[3]
        grad_x = grad_w = grad_b = None
        if need_b and bias is not None:
            grad_b = grad_y.sum(axis=(0, 2, 3))
        if need_x:
            grad_x = Conv2d(self.stride, (ph, ph, pw, pw), self.dilation, g)(grad_y, weight, None)
        if need_w:
            cg, og = x.shape[1] // g, grad_y.shape[1] // g
            parts = []
            for k in range(g):
                xs = x[:, k * cg:(k + 1) * cg] if g > 1 else x
                gys = grad_y[:, k * og:(k + 1) * og] if g > 1 else grad_y
                r = Conv2d(self.dilation, (ph, ph, pw, pw), self.stride, 1)(
                    permute(gys, (1, 0, 2, 3)), permute(xs, (1, 0, 2, 3)), None)
                parts.append(permute(r[:, :, :kh, :kw], (1, 0, 2, 3)))       # (C, O/g, KH, KW)
            grad_w = concat(parts, 0) if g > 1 else parts[0]
        return grad_x, grad_w, grad_b


def _transpose_args(stride, padding, output_padding, dilation, groups, op="conv_transpose2d"):
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    stride = positive_pair(op, "stride", stride)
    dilation = positive_pair(op, "dilation", dilation)
    padding = pair(op, "padding", padding)
    output_padding = pair(op, "output_padding", output_padding)
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{op}: padding and output_padding must be non-negative, got padding "
                         f"{padding} and output_padding {output_padding}")
    for extra, s, d in zip(output_padding, stride, dilation):
        if extra >= max(s, d):
            raise ValueError(f"{op}: output_padding must be smaller than the stride or the "
                             f"dilation, got output_padding {output_padding}, stride {stride} "
                             f"and dilation {dilation}")
    return stride, padding, output_padding, dilation, groups


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution") over NCHW input, with PyTorch's semantics.

    Args:
        x: input (N, C_in, H, W).
        weight: (C_in, C_out / groups, KH, KW), PyTorch's layout.
        bias: (C_out,) or None.
        stride, dilation: an int or a pair (height, width).
        padding: an int or a pair: ``dilation·(kernel - 1) - padding`` zeros around the input,
            i.e. ``padding`` rows and columns cropped from each side of the full output.
        output_padding: extra rows/columns on one side of the output (bottom/right), smaller
            than the stride or the dilation; they pick one of the input sizes that a strided
            conv2d maps to the same output size.
        groups: split the channels into this many independent transposed convolutions.

    Shape: (N, C_in, H, W) -> (N, C_out, Ho, Wo) with
    Ho = (H - 1)·stride - 2·padding + dilation·(KH - 1) + output_padding + 1.

    >>> import xpnet
    >>> x, w = xpnet.randn(8, 16, 7, 7), xpnet.randn(16, 4, 4, 4)
    >>> conv_transpose2d(x, w, stride=2, padding=1).shape
    (8, 4, 14, 14)
    """
    require_tensors("conv_transpose2d", input=x, weight=weight, bias=bias)
    if weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: weight must be a 4-D tensor (in_channels, "
                         f"out_channels/groups, KH, KW), got {tuple(weight.shape)}")
    return ConvTranspose2d(*_transpose_args(stride, padding, output_padding, dilation,
                                            groups))(x, weight, bias)
