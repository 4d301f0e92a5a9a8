"""2-D convolution as im2col + one matmul, with a hand-derived backward.

Layout. The public arrays are NCHW, as in PyTorch, but the work is done channels-last: the
columns are built as (G, N·Ho·Wo, KH·KW·Cg) so that the one big GEMM reads and writes contiguous
rows, and the output is returned as an NCHW *view* of NHWC memory. Elementwise ops keep that
memory order, so the next conv (or pool) gets NHWC memory back without a transposing copy.
"""
from __future__ import annotations

from ..autograd import Function, Tensor


_SLAB_ELEMENTS = 1 << 20   # in host memory, columns are built this many elements (4 MB of float32) at a time


def _pair(name, op, value):
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def _padding(op, padding, kernel, dilation, stride):
    """(top, bottom, left, right) for an int, a pair, 'valid' or 'same' (as PyTorch pads)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]  # the odd pixel goes after, as in PyTorch
        return tuple(pads)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', "
                         f"got {padding!r}")
    ph, pw = _pair("padding", op, padding)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    return (ph, ph, pw, pw)


def _positive(op, name, pair):
    if pair[0] < 1 or pair[1] < 1:
        raise ValueError(f"{op}: {name} must be positive, got {pair}")
    return pair


def output_size(size, kernel, stride, pad_before, pad_after, dilation):
    """Number of window positions along one axis (floor mode, as PyTorch)."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


class Conv2d(Function):
    """y[n, o] = sum_{c, i, j} w[o, c, i, j] · x_pad[n, c, s·h + d·i, s·w + d·j] + b[o].

    Forward: the (N·Ho·Wo, KH·KW·C) column matrix is assembled from KH·KW strided slices of the
    zero-padded input (slice (i, j) holds every pixel that kernel tap (i, j) touches), then
    y = cols @ W_mat is one GEMM (a batched one over groups).

    On a GPU the whole batch is one slab: one im2col, one GEMM. In host memory the batch is cut
    into slabs whose columns fit in cache (about 4 MB): the same GEMM row by row, but each
    column block is written, multiplied and dropped while still in cache, instead of a column
    matrix of tens of MB making several trips through memory. Backward rebuilds each slab's
    columns rather than keeping them, which also keeps memory at the size of the input.
    """

    name = "conv2d"

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, weight, bias):
        xp = self.xp
        g = self.groups
        if x.ndim != 4:
            raise ValueError(f"conv2d: input must be 4-D (N, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        if weight.ndim != 4:
            raise ValueError(f"conv2d: weight must be 4-D (out_channels, in_channels/groups, KH, "
                             f"KW), got shape {tuple(weight.shape)}")
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        if c % g or o % g:
            raise ValueError(f"conv2d: groups must divide the input and output channels, got "
                             f"groups={g}, {c} input and {o} output channels")
        if cg * g != c:
            raise ValueError(f"conv2d: input must have weight.shape[1] * groups = {cg * g} "
                             f"channels, got input {tuple(x.shape)} and weight "
                             f"{tuple(weight.shape)} with groups={g}")
        if bias is not None and tuple(bias.shape) != (o,):
            raise ValueError(f"conv2d: bias must have shape ({o},), got {tuple(bias.shape)}")
        (dh, dw) = self.dilation
        top, bottom, left, right = self.padding
        hp, wp = h + top + bottom, w + left + right
        if dh * (kh - 1) + 1 > hp or dw * (kw - 1) + 1 > wp:
            raise ValueError(f"conv2d: the kernel must fit in the padded input, got kernel "
                             f"({kh}, {kw}) with dilation ({dh}, {dw}) and padded input "
                             f"({hp}, {wp})")
        ho = output_size(h, kh, self.stride[0], top, bottom, dh)
        wo = output_size(w, kw, self.stride[1], left, right, dw)
        og = o // g
        self.shapes = (n, c, h, w, o, kh, kw, ho, wo)

        # channels-last, zero-padded input (N, Hp, Wp, C); a free view when x is NHWC memory
        x_nhwc = xp.permute_dims(x, (0, 2, 3, 1))
        if hp != h or wp != w:
            padded = xp.zeros((n, hp, wp, c), dtype=x.dtype, device=x.device)
            padded[:, top:top + h, left:left + w, :] = x_nhwc
            x_nhwc = padded
        # weight (O, Cg, KH, KW) -> (G, KH·KW·Cg, Og), matching the column order
        w_mat = xp.reshape(xp.permute_dims(xp.reshape(weight, (g, og, cg, kh, kw)),
                                           (0, 3, 4, 2, 1)), (g, kh * kw * cg, og))
        self.slab = self._slab_size(n, ho * wo * kh * kw * c)
        if self.slab == n:
            cols = self.im2col(x_nhwc, 0, n)
            y = xp.matmul(cols, w_mat)                                     # (G, N·Ho·Wo, Og)
        else:
            y = xp.empty((g, n * ho * wo, og), dtype=x.dtype, device=x.device)
            for start, stop in self.slabs():
                cols = self.im2col(x_nhwc, start, stop)
                y[:, start * ho * wo:stop * ho * wo, :] = xp.matmul(cols, w_mat)
        if g > 1:
            y = xp.reshape(xp.permute_dims(y, (1, 0, 2)), (n * ho * wo, o))
        else:
            y = xp.reshape(y, (n * ho * wo, o))
        if bias is not None:
            y += bias
        self.x_nhwc, self.weight, self.has_bias = x_nhwc, weight, bias is not None
        self.cols = cols if self.slab == n else None   # one slab: keep it for backward
        return xp.permute_dims(xp.reshape(y, (n, ho, wo, o)), (0, 3, 1, 2))   # NCHW view

    def _slab_size(self, n, per_sample):
        if not self.backend.on_host:
            return n
        return max(1, min(n, _SLAB_ELEMENTS // per_sample))

    def slabs(self):
        n = self.shapes[0]
        return [(start, min(n, start + self.slab)) for start in range(0, n, self.slab)]

    def tap(self, i, j):
        """Rows and columns of the padded input that kernel tap (i, j) reads: strided slices."""
        ho, wo = self.shapes[7], self.shapes[8]
        (sh, sw), (dh, dw) = self.stride, self.dilation
        return (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))

    def im2col(self, x_nhwc, start, stop):
        """Columns (G, (stop - start)·Ho·Wo, KH·KW·Cg) of samples start..stop: block (i, j) is
        the strided slice of taps (i, j) of every window."""
        xp, g = self.xp, self.groups
        n, c, h, w, o, kh, kw, ho, wo = self.shapes
        m, cg = stop - start, c // g
        cols = xp.empty((g, m, ho, wo, kh, kw, cg), dtype=x_nhwc.dtype, device=x_nhwc.device)
        for i in range(kh):
            for j in range(kw):
                rows, columns = self.tap(i, j)
                piece = x_nhwc[start:stop, rows, columns, :]                # (m, Ho, Wo, C)
                if g > 1:
                    piece = xp.permute_dims(xp.reshape(piece, (m, ho, wo, g, cg)), (3, 0, 1, 2, 4))
                cols[:, :, :, :, i, j, :] = piece
        return xp.reshape(cols, (g, m * ho * wo, kh * kw * cg))

    def backward(self, grad_y):
        xp = self.xp
        g = self.groups
        n, c, h, w, o, kh, kw, ho, wo = self.shapes
        cg, og, m = c // g, o // g, n * ho * wo
        need_x, need_w, need_b = self.needs_input_grad
        # (N, O, Ho, Wo) -> rows (N·Ho·Wo, O): free when grad_y is NHWC memory, as ours are
        grad_rows = xp.reshape(xp.permute_dims(grad_y, (0, 2, 3, 1)), (m, o))
        grad_bias = xp.sum(grad_rows, axis=0) if need_b and self.has_bias else None
        if g > 1:
            grad_rows = xp.permute_dims(xp.reshape(grad_rows, (m, g, og)), (1, 0, 2))
        else:
            grad_rows = xp.reshape(grad_rows, (1, m, o))

        # The kernel gradient is a correlation of the input with the output gradient:
        # dL/dw[o, c, i, j] = sum_{n, h, w} x_pad[n, c, s·h + d·i, s·w + d·j] · dL/dy[n, o, h, w],
        # i.e. cols^T @ grad_rows, one GEMM over the same columns as the forward (per slab).
        #
        # The input gradient is a full convolution of the output gradient with the kernel
        # rotated by 180°: dL/dx_pad[n, c, p, q] = sum over taps (i, j) and positions (h, w)
        # with s·h + d·i = p, s·w + d·j = q of w[o, c, i, j] · dL/dy[n, o, h, w]. As matrices:
        # grad_cols = grad_rows @ W_mat^T, then each tap's column block is added back onto the
        # strided slice it was read from (col2im), and the padding is cropped.
        gw = None
        if need_x:
            # W_mat^T made contiguous (it is small): BLAS is ~3x slower on the transposed view
            w_mat_t = xp.reshape(xp.permute_dims(xp.reshape(self.weight, (g, og, cg, kh, kw)),
                                                 (0, 1, 3, 4, 2)), (g, og, kh * kw * cg))
            hp, wp = self.x_nhwc.shape[1], self.x_nhwc.shape[2]
            grad_pad = xp.zeros((g, n, hp, wp, cg), dtype=grad_rows.dtype, device=grad_rows.device)
        for start, stop in self.slabs():
            rows = grad_rows[:, start * ho * wo:stop * ho * wo, :]
            if need_w:
                cols = self.cols if self.cols is not None else self.im2col(self.x_nhwc, start,
                                                                          stop)
                part = xp.matmul(xp.matrix_transpose(cols), rows)        # (G, KH·KW·Cg, Og)
                gw = part if gw is None else gw + part
            if need_x:
                grad_cols = xp.reshape(xp.matmul(rows, w_mat_t),
                                       (g, stop - start, ho, wo, kh, kw, cg))
                for i in range(kh):
                    for j in range(kw):
                        index = (slice(None), slice(start, stop)) + self.tap(i, j) + (slice(None),)
                        grad_pad[index] += grad_cols[:, :, :, :, i, j, :]

        grad_weight = None
        if need_w:
            gw = xp.permute_dims(xp.reshape(gw, (g, kh, kw, cg, og)), (0, 4, 3, 1, 2))
            grad_weight = xp.reshape(gw, (o, cg, kh, kw))
        grad_x = None
        if need_x:
            top, bottom, left, right = self.padding
            if hp != h or wp != w:
                grad_pad = grad_pad[:, :, top:top + h, left:left + w, :]
            if g > 1:
                grad_pad = xp.reshape(xp.permute_dims(grad_pad, (1, 2, 3, 0, 4)), (n, h, w, c))
            else:
                grad_pad = grad_pad[0, ...]
            grad_x = xp.permute_dims(grad_pad, (0, 3, 1, 2))                # NCHW view
        return grad_x, grad_weight, grad_bias


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation over NCHW input, with PyTorch's semantics.

    Args:
        x: input (N, C, H, W).
        weight: (out_channels, C / groups, KH, KW).
        bias: (out_channels,) or None.
        stride, dilation: an int or a pair (height, width).
        padding: an int, a pair, ``'valid'`` (none) or ``'same'`` (output as large as the input;
            stride 1 only); zeros are added on both sides.
        groups: split the channels into this many independent convolutions.

    Shape: (N, C, H, W) -> (N, out_channels, Ho, Wo) with
    Ho = (H + 2·pad - dilation·(KH - 1) - 1) // stride + 1.

    >>> conv2d(x, w, b, padding=1).shape     # x (8, 3, 28, 28), w (16, 3, 3, 3)  # doctest: +SKIP
    (8, 16, 28, 28)
    """
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be a 4-D tensor (out_channels, in_channels/groups,"
                         f" KH, KW), got {getattr(weight, 'shape', type(weight).__name__)}")
    stride = _positive("conv2d", "stride", _pair("stride", "conv2d", stride))
    dilation = _positive("conv2d", "dilation", _pair("dilation", "conv2d", dilation))
    pads = _padding("conv2d", padding, weight.shape[2:], dilation, stride)
    return Conv2d(stride, pads, dilation, groups)(x, weight, bias)
