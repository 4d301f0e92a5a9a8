"""2-D convolution as im2col + one matmul, with a hand-derived backward.

The math, with x_pad the zero-padded input, stride s, dilation d::

    y[n, o, h, w]     = b[o] + Σ_{c, i, j} w[o, c, i, j] · x_pad[n, c, s·h + d·i, s·w + d·j]
    dL/dw[o, c, i, j] = Σ_{n, h, w} x_pad[n, c, s·h + d·i, s·w + d·j] · dL/dy[n, o, h, w]
    dL/db[o]          = Σ_{n, h, w} dL/dy[n, o, h, w]
    dL/dx             = dL/dy convolved in full with w rotated by 180° (cropped to x)

As matrices: ``cols``, the (N·Ho·Wo, KH·KW·C) matrix whose row is one window (im2col, KH·KW
strided slices of x_pad), and ``W_mat``, the weight as (KH·KW·C, O)::

    y = cols @ W_mat        dW = colsᵀ @ dY        dcols = dY @ W_matᵀ,  dx = col2im(dcols)

where col2im adds each tap's column block back onto the slice it was read from. With groups,
each product is batched over G independent (Cg → Og) convolutions.

Reading order: the op (:class:`Conv2d`, :func:`conv2d`); its three products (:func:`correlate`,
:func:`weight_gradient`, :func:`input_gradient`), also the transposed convolution's
(``conv_transpose.py``, the adjoint of this op); then im2col and col2im, each as KH·KW array
calls (the Array API reference) paired with the same loops that Numba compiles on the CPU
(:func:`xpnet.kernels.loops`). Each product is written for a range of samples: on a GPU the
range is the whole batch (one im2col, one GEMM), the textbook form. In host memory
:class:`xpnet.cpu.slabs.Slabs` cuts the batch into cache-sized slabs and runs them on the host's
threads; buffers come from the host allocator. Neither changes a result: the slabs write disjoint
rows, and the weight gradient's per-slab parts are summed in slab order.

Layout. The public arrays are NCHW, as in PyTorch, but the work is done channels-last: the
columns are (G, N·Ho·Wo, KH·KW·Cg), so the GEMM reads and writes contiguous rows, and the output
is an NCHW *view* of NHWC memory. Elementwise ops keep that memory order, so the next conv (or
pool) gets NHWC memory back without a transposing copy.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import kernels
from ..backend import library_of
from ..autograd import Function, Tensor
from ..cpu.memory import matmul_into
from ..cpu.slabs import Slabs
from .window import output_size, pair, positive_pair, require_tensors, tap


class Conv2d(Function):
    """y[n, o] = sum_{c, i, j} w[o, c, i, j] · x_pad[n, c, s·h + d·i, s·w + d·j] + b[o].

    In host memory each slab's columns are built again for the weight gradient, in cache, rather
    than kept from the forward (KH·KW times the input's memory, written out and read back: the
    MNIST CNN's step 5-7 % slower and 42 MB more at batch 64); off the host (one slab, the whole
    batch: a launch saved) and when the batch is one cache-sized slab they are kept. The bias
    is added, and its gradient summed, slab by slab too. Backward multiplies slab by slab and
    adds each tap's block back (col2im). Windows that tile the input (stride = kernel, or a
    single window) skip the taps: one reshape.
    """
    name = "conv2d"

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def geometry(self, x, weight, bias) -> ConvGeometry:
        g = self.groups
        if x.ndim != 4:
            raise ValueError(f"conv2d: input must be 4-D (N, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        if weight.ndim != 4:
            raise ValueError(f"conv2d: weight must be 4-D (out_channels, in_channels/groups, KH, "
                             f"KW), got shape {tuple(weight.shape)}")
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        if kh < 1 or kw < 1:
            raise ValueError(f"conv2d: weight's kernel must be at least 1x1, got weight "
                             f"{tuple(weight.shape)}")
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
        return ConvGeometry(n, c, h, w, o, kh, kw, ho, wo, self.stride, self.padding,
                            self.dilation, g)

    def forward(self, x, weight, bias):
        xp = self.xp
        geom = self.geom = self.geometry(x, weight, bias)
        self.has_bias = bias is not None
        if empty(geom):
            return empty_output(xp, geom.n, geom.o, geom.ho, geom.wo, x, bias)
        self.slabs = slabs(self.backend, geom)
        x_nhwc = pad_nhwc(xp, x, geom)
        # the columns are kept only for the weight gradient, off the host or when they are one
        # cache-sized slab (see the class); otherwise each slab thread reuses one buffer, so
        # memory does not grow with the batch
        keep = bool(self.needs_input_grad) and self.needs_input_grad[1] and \
            (not self.backend.on_host or len(self.slabs) == 1)
        y, cols = correlate(xp, x_nhwc, weight, geom, self.slabs, keep, bias)
        self.x_nhwc, self.weight, self.has_bias = x_nhwc, weight, bias is not None
        self.cols = cols          # every slab's columns, for the weight gradient (or None)
        return xp.permute_dims(xp.reshape(y, (geom.n, geom.ho, geom.wo, geom.o)), (0, 3, 1, 2))

    def backward(self, grad_y):
        xp, geom = self.xp, self.geom
        need_x, need_w, need_b = self.needs_input_grad
        if empty(geom):
            return empty_gradients(xp, grad_y, self.inputs, self.needs_input_grad, self.has_bias)
        rows = grouped(xp, output_rows(xp, grad_y, geom), geom)
        grad_weight, grad_bias = weight_gradient(
            xp, self.x_nhwc, rows, geom, self.slabs, self.cols, weight=need_w,
            bias=need_b and self.has_bias)
        grad_x = None
        if need_x:
            grad_x = xp.permute_dims(input_gradient(xp, rows, self.weight, geom, self.slabs),
                                     (0, 3, 1, 2))                                 # NCHW view
        return grad_x, grad_weight, grad_bias


    def backward_on_tensors(self, grads):
        """create_graph: backward's slabs are written in place, so the same gradients are
        written as convolutions, which autograd records (and differentiates again, to any
        order): d/dx = conv_transpose2d(grad_y, weight), d/dweight = x correlated with grad_y
        (:func:`weight_gradient_by_conv`), d/dbias = grad_y summed over (N, H, W)."""
        from .conv_transpose import ConvTranspose2d
        (grad_y,) = grads
        x, weight, bias = self.inputs
        geom = self.geom
        need_x, need_w, need_b = self.needs_input_grad
        grad_x = grad_w = grad_b = None
        if need_b and bias is not None:
            grad_b = grad_y.sum(axis=(0, 2, 3))
        if need_x:
            top, bottom, left, right = geom.padding
            (sh, sw), (dh, dw) = geom.stride, geom.dilation
            hp, wp = geom.padded
            if top == bottom and left == right:   # the transposed conv crops the padding
                extra = (geom.h - ((geom.ho - 1) * sh - 2 * top + dh * (geom.kh - 1) + 1),
                         geom.w - ((geom.wo - 1) * sw - 2 * left + dw * (geom.kw - 1) + 1))
                grad_x = ConvTranspose2d(geom.stride, (top, left), extra, geom.dilation,
                                         geom.groups)(grad_y, weight, None)
            else:   # unequal sides ('same', even kernel): the padded input's gradient, cropped
                extra = (hp - ((geom.ho - 1) * sh + dh * (geom.kh - 1) + 1),
                         wp - ((geom.wo - 1) * sw + dw * (geom.kw - 1) + 1))
                grad_pad = ConvTranspose2d(geom.stride, (0, 0), extra, geom.dilation,
                                           geom.groups)(grad_y, weight, None)
                grad_x = grad_pad[:, :, top:top + geom.h, left:left + geom.w]
        if need_w:
            grad_w = weight_gradient_by_conv(x, grad_y, geom)
        return grad_x, grad_w, grad_b


def weight_gradient_by_conv(x: Tensor, grad_y: Tensor, geom: ConvGeometry) -> Tensor:
    """conv2d's weight gradient as a convolution of Tensors (for create_graph):
    grad_w[o, c, i, j] = Σ_{n,h,w} grad_y[n, o, h, w] · x_pad[n, c, s·h + d·i, s·w + d·j], i.e.
    x with its batch and channel axes swapped, correlated with grad_y (swapped likewise) as the
    kernel, stride and dilation trading places; per group."""
    from .shape import concat, permute
    g = geom.groups
    cg, og = geom.c // g, geom.o // g
    parts = []
    for k in range(g):
        xs = x[:, k * cg:(k + 1) * cg] if g > 1 else x
        gys = grad_y[:, k * og:(k + 1) * og] if g > 1 else grad_y
        r = Conv2d(geom.dilation, geom.padding, geom.stride, 1)(
            permute(xs, (1, 0, 2, 3)), permute(gys, (1, 0, 2, 3)), None)   # (C, O, >=KH, >=KW)
        parts.append(permute(r[:, :, :geom.kh, :geom.kw], (1, 0, 2, 3)))
    return concat(parts, 0) if g > 1 else parts[0]


def empty(geom) -> bool:
    """Whether the convolution has no work: a zero-size batch, channel axis or kernel count."""
    return geom.n == 0 or geom.c == 0 or geom.o == 0


def empty_output(xp, n, o, ho, wo, x, bias):
    """The output of a convolution without work, as PyTorch's: (N, O, Ho, Wo) holding the bias
    (zeros without one); zero-size whenever the batch is."""
    y = xp.zeros((n, o, ho, wo), dtype=x.dtype, device=x.device)
    if bias is not None:
        y = y + xp.reshape(bias, (1, o, 1, 1))
    return y


def empty_gradients(xp, grad_y, inputs, needs, has_bias):
    """The gradients of a convolution without work: zeros for the input and the weight (no
    product reaches them), the output gradient summed for the bias."""
    x, weight = inputs[0], inputs[1]
    grad_x = xp.zeros(tuple(x.shape), dtype=grad_y.dtype, device=grad_y.device) \
        if needs[0] else None
    grad_w = xp.zeros(tuple(weight.shape), dtype=grad_y.dtype, device=grad_y.device) \
        if needs[1] else None
    grad_b = xp.sum(grad_y, axis=(0, 2, 3)) if needs[2] and has_bias else None
    return grad_x, grad_w, grad_b


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

    >>> import xpnet
    >>> x, w = xpnet.randn(8, 3, 28, 28), xpnet.randn(16, 3, 3, 3)
    >>> conv2d(x, w, padding=1).shape
    (8, 16, 28, 28)
    """
    require_tensors("conv2d", input=x, weight=weight, bias=bias)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be a 4-D tensor (out_channels, in_channels/groups,"
                         f" KH, KW), got {tuple(weight.shape)}")
    stride = positive_pair("conv2d", "stride", stride)
    dilation = positive_pair("conv2d", "dilation", dilation)
    pads = _padding("conv2d", padding, weight.shape[2:], dilation, stride)
    return Conv2d(stride, pads, dilation, groups)(x, weight, bias)


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
    ph, pw = pair(op, "padding", padding)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    return (ph, ph, pw, pw)


# -- the geometry ---------------------------------------------------------------------------------

class ConvGeometry(NamedTuple):
    """The shapes of one convolution: input (n, c, h, w), weight (o, c / groups, kh, kw),
    output (n, o, ho, wo), and the window's stride (sh, sw), padding (top, bottom, left,
    right), dilation (dh, dw) and groups."""

    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int
    kw: int
    ho: int
    wo: int
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int

    @property
    def padded(self) -> tuple:
        """(Hp, Wp): the zero-padded input's height and width."""
        top, bottom, left, right = self.padding
        return self.h + top + bottom, self.w + left + right


def tiled(geom) -> bool:
    """Whether the windows tile the padded input, along both axes, with no overlap and no
    dilation (stride = kernel, or a single window: DCGAN's 7×7 layers, 2×2 stride-2 kernels).
    im2col and its adjoint are then one reshape and one transpose instead of KH·KW strided
    copies or additions."""
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    return ((dh, dw) == (1, 1) and (sh == geom.kh or geom.ho == 1)
            and (sw == geom.kw or geom.wo == 1))


def slabs(backend, geom) -> Slabs:
    """The sample ranges the products run over: the whole batch off the host; in host memory,
    as many samples as keep one slab's columns in cache."""
    return Slabs(backend, geom.n, per_sample=geom.ho * geom.wo * geom.kh * geom.kw * geom.c)


def pad_nhwc(xp, x, geom):
    """x (N, C, H, W) as channels-last zero-padded (N, Hp, Wp, C); a free view when x is NHWC
    memory and there is no padding."""
    x_nhwc = xp.permute_dims(x, (0, 2, 3, 1))
    hp, wp = geom.padded
    if (hp, wp) == (geom.h, geom.w):
        return x_nhwc
    top, _, left, _ = geom.padding
    padded = xp.zeros((geom.n, hp, wp, geom.c), dtype=x.dtype, device=x.device)
    padded[:, top:top + geom.h, left:left + geom.w, :] = x_nhwc
    return padded


def output_rows(xp, y, geom):
    """(N, O, Ho, Wo) -> rows (N·Ho·Wo, O): free when y is NHWC memory, as ours are."""
    return xp.reshape(xp.permute_dims(y, (0, 2, 3, 1)), (geom.n * geom.ho * geom.wo, geom.o))


def grouped(xp, rows, geom):
    """Rows (M, O) -> (G, M, Og), the layout of the batched GEMMs."""
    g, o, m = geom.groups, geom.o, rows.shape[0]
    if g > 1:
        return xp.permute_dims(xp.reshape(rows, (m, g, o // g)), (1, 0, 2))
    return xp.reshape(rows, (1, m, o))


def weight_matrix(xp, weight, geom):
    """W_mat: weight (O, Cg, KH, KW) as (G, KH·KW·Cg, Og), rows in the columns' order."""
    g, og, cg, kh, kw = geom.groups, geom.o // geom.groups, geom.c // geom.groups, geom.kh, geom.kw
    return xp.reshape(xp.permute_dims(xp.reshape(weight, (g, og, cg, kh, kw)), (0, 3, 4, 2, 1)),
                      (g, kh * kw * cg, og))


# -- the three products ---------------------------------------------------------------------------

def correlate(xp, x_nhwc, weight, geom, slabs, keep=True, bias=None):
    """The convolution's output as rows (N·Ho·Wo, O), and each slab's columns (kept for the
    weight gradient; None when ``keep`` is False, and then each slab thread writes its columns
    into one reused buffer): y = cols @ W_mat (+ bias), one GEMM per slab (batched over groups),
    the bias added to each slab's rows while they are in cache."""
    g, n, o, m = geom.groups, geom.n, geom.o, geom.ho * geom.wo
    w_mat = weight_matrix(xp, weight, geom)
    bias_g = None if bias is None else xp.reshape(bias, (g, 1, o // g))
    if len(slabs) == 1:
        cols = [im2col(xp, x_nhwc, geom, 0, n)]
        y = xp.matmul(cols[0], w_mat)                                       # (G, N·Ho·Wo, Og)
        if bias_g is not None:
            y += bias_g
    else:
        y = slabs.empty((g, n * m, o // g), x_nhwc.dtype, x_nhwc.device)
        reuse = not keep and not tiled(geom)
        # every buffer is taken here, before the slab threads start
        outs = [None if tiled(geom) or reuse else
                column_buffer(slabs, geom, start, stop, x_nhwc) for start, stop in slabs]
        cols = [None] * len(slabs)

        def slab(k, buffer):
            start, stop = slabs[k]
            out = outs[k]
            if reuse:   # a full slab's buffer; the last, shorter slab gets its own
                out = buffer if stop - start == slabs.size else \
                    column_buffer(slabs, geom, start, stop, x_nhwc)
            part = im2col(xp, x_nhwc, geom, start, stop, out)
            rows = y[:, start * m:stop * m, :]
            matmul_into(xp, rows, part, w_mat)
            if bias_g is not None:
                rows += bias_g
            if keep:
                cols[k] = part

        slabs.run(slab, (lambda: column_buffer(slabs, geom, 0, slabs.size, x_nhwc))
                  if reuse else None)
    if not keep:
        cols = None
    if g > 1:
        return xp.reshape(xp.permute_dims(y, (1, 0, 2)), (n * m, o)), cols
    return xp.reshape(y, (n * m, o)), cols


def weight_gradient(xp, x_nhwc, rows, geom, slabs, cols=None, weight=True, bias=False):
    """(dL/dw, dL/db): dL/dw = colsᵀ @ dY per slab as (O, Cg, KH, KW), dL/db = dY's column
    sums per slab as (O,), each summed over the slabs in slab order; None for the one not
    asked for. The columns are the forward's when given, rebuilt from x_nhwc otherwise."""
    g, kh, kw, m = geom.groups, geom.kh, geom.kw, geom.ho * geom.wo
    cg, og = geom.c // g, geom.o // g
    parts, sums = [None] * len(slabs), [None] * len(slabs)

    def slab(k, buffer):
        start, stop = slabs[k]
        block_rows = rows[:, start * m:stop * m, :]
        if bias:            # while the slab's rows are in cache
            sums[k] = xp.sum(block_rows, axis=1)                                    # (G, Og)
        if not weight:
            return
        if cols is not None:
            block = cols[k]
        else:               # rebuilt into this thread's buffer (the last slab may be shorter)
            block = im2col(xp, x_nhwc, geom, start, stop,
                           None if buffer is None else buffer[:, :stop - start, ...])
        parts[k] = xp.matmul(xp.matrix_transpose(block), block_rows)

    if not (weight or bias):
        return None, None
    rebuilt = weight and cols is None and not tiled(geom) and len(slabs) > 1
    slabs.run(slab, scratch=(lambda: column_buffer(slabs, geom, 0, slabs.size, x_nhwc))
              if rebuilt else None)
    grad_bias = xp.reshape(_in_slab_order(sums), (geom.o,)) if bias else None
    if not weight:
        return None, grad_bias
    total = _in_slab_order(parts)                                           # (G, KH·KW·Cg, Og)
    total = xp.permute_dims(xp.reshape(total, (g, kh, kw, cg, og)), (0, 4, 3, 1, 2))
    return xp.reshape(total, (geom.o, cg, kh, kw)), grad_bias


def _in_slab_order(parts):
    """The sum of the slabs' parts, added in slab order, whatever thread made each part (so
    the result does not depend on the thread count)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def input_gradient(xp, rows, weight, geom, slabs):
    """dL/dx as (N, H, W, C): grad_cols = dY @ W_matᵀ per slab, each tap's column block added
    back onto the strided slice it was read from (col2im), the padding cropped."""
    g, n, h, w, kh, kw = geom.groups, geom.n, geom.h, geom.w, geom.kh, geom.kw
    cg, og, ho, wo = geom.c // g, geom.o // g, geom.ho, geom.wo
    # W_matᵀ made contiguous (it is small): BLAS is ~3x slower on the transposed view
    w_mat_t = xp.reshape(xp.permute_dims(xp.reshape(weight, (g, og, cg, kh, kw)),
                                         (0, 1, 3, 4, 2)), (g, og, kh * kw * cg))
    hp, wp = geom.padded
    # zeroed slab by slab, just before its columns are added (in cache, instead of one pass
    # over all of it first)
    grad_pad = slabs.empty((g, n, hp, wp, cg), rows.dtype, rows.device)

    def slab(k, scratch):
        start, stop = slabs[k]
        block = rows[:, start * ho * wo:stop * ho * wo, :]
        if scratch is not None:
            product = scratch[:, :block.shape[1], :]           # the last slab may be shorter
            matmul_into(xp, product, block, w_mat_t)
        else:
            product = xp.matmul(block, w_mat_t)
        grad_cols = xp.reshape(product, (g, stop - start, ho, wo, kh, kw, cg))
        grad_pad[:, start:stop, ...] = 0.0
        col2im(xp, grad_pad[:, start:stop, ...], grad_cols, geom)

    slabs.run(slab, scratch=(lambda: slabs.empty((g, slabs.size * ho * wo, kh * kw * cg),
                                                 rows.dtype, rows.device))
              if len(slabs) > 1 else None)
    top, _, left, _ = geom.padding
    if (hp, wp) != (h, w):
        grad_pad = grad_pad[:, :, top:top + h, left:left + w, :]
    if g > 1:
        return xp.reshape(xp.permute_dims(grad_pad, (1, 2, 3, 0, 4)), (n, h, w, geom.c))
    return grad_pad[0, ...]


# -- im2col and col2im ----------------------------------------------------------------------------

def column_shape(geom, start, stop) -> tuple:
    """The (G, m, Ho, Wo, KH, KW, Cg) buffer that :func:`im2col` fills for samples start..stop."""
    g = geom.groups
    return (g, stop - start, geom.ho, geom.wo, geom.kh, geom.kw, geom.c // g)


def column_buffer(slabs, geom, start, stop, like):
    """An uninitialised :func:`column_shape` buffer for samples start..stop."""
    return slabs.empty(column_shape(geom, start, stop), like.dtype, like.device)


def im2col(xp, x_nhwc, geom, start, stop, out=None):
    """Columns (G, (stop - start)·Ho·Wo, KH·KW·Cg) of samples start..stop: block (i, j) is the
    strided slice of taps (i, j) of every window (written into ``out``, of
    :func:`column_shape`, when given)."""
    g, ho, wo, kh, kw = geom.groups, geom.ho, geom.wo, geom.kh, geom.kw
    m, cg = stop - start, geom.c // g
    if tiled(geom):   # window (h, w) is the block [h·KH, (h+1)·KH) × [w·KW, (w+1)·KW)
        blocks = xp.reshape(x_nhwc[start:stop, :ho * kh, :wo * kw, :], (m, ho, kh, wo, kw, g, cg))
        return xp.reshape(xp.permute_dims(blocks, (5, 0, 1, 3, 2, 4, 6)),
                          (g, m * ho * wo, kh * kw * cg))
    cols = out if out is not None else xp.empty(column_shape(geom, start, stop),
                                                dtype=x_nhwc.dtype, device=x_nhwc.device)
    # the loop nest copies a pixel's channels at a time: with fewer than 8 (a first layer),
    # NumPy's KH·KW strided copies are faster
    # (a compiled kernel off NumPy, e.g. CuPy's, is one launch whatever the channel count)
    gather = gather_columns if cg >= 8 or library_of(x_nhwc) != "numpy" else \
        gather_columns.reference
    gather(xp, cols, x_nhwc[start:stop, ...], *geom.stride, *geom.dilation)
    return xp.reshape(cols, (g, m * ho * wo, kh * kw * cg))


def col2im(xp, grad_pad, grad_cols, geom):
    """grad_pad (G, m, Hp, Wp, Cg) += every column block of grad_cols (G, m, Ho, Wo, KH, KW, Cg),
    tap (i, j) onto the slice it was read from (written, not added, where windows tile)."""
    g, m, ho, wo, kh, kw, cg = grad_cols.shape
    if tiled(geom):   # no two windows share a pixel: the blocks are put back, not added
        blocks = xp.permute_dims(grad_cols, (0, 1, 2, 4, 3, 5, 6))     # (G, m, Ho, KH, Wo, KW, Cg)
        grad_pad[:, :, :ho * kh, :wo * kw, :] = xp.reshape(blocks, (g, m, ho * kh, wo * kw, cg))
        return
    add_columns(xp, grad_pad, grad_cols, *geom.stride, *geom.dilation)


def _gather_columns_loops(cols, x_nhwc, sh, sw, dh, dw):
    g, m, ho, wo, kh, kw, cg = cols.shape
    for a in range(g):
        for n in range(m):
            for y in range(ho):
                for i in range(kh):
                    r = y * sh + i * dh
                    for x in range(wo):
                        for j in range(kw):
                            q = x * sw + j * dw
                            for k in range(cg):
                                cols[a, n, y, x, i, j, k] = x_nhwc[n, r, q, a * cg + k]


@kernels.loops(_gather_columns_loops)
def gather_columns(xp, cols, x_nhwc, sh, sw, dh, dw):
    """im2col: cols (G, m, Ho, Wo, KH, KW, Cg) = every window of x_nhwc (m, Hp, Wp, C), block
    (i, j) the strided slice of tap (i, j). As array calls, one strided copy per tap; with the
    CPU compiler, one loop nest."""
    g, m, ho, wo, kh, kw, cg = cols.shape
    for i in range(kh):
        for j in range(kw):
            rows, columns = tap(i, j, ho, wo, (sh, sw), (dh, dw))
            piece = x_nhwc[:, rows, columns, :]                             # (m, Ho, Wo, C)
            if g > 1:
                piece = xp.permute_dims(xp.reshape(piece, (m, ho, wo, g, cg)), (3, 0, 1, 2, 4))
            cols[:, :, :, :, i, j, :] = piece


def _add_columns_loops(grad_pad, grad_cols, sh, sw, dh, dw):
    # the adjoint of _gather_columns_loops: the same index map, each entry added back (Numba
    # compiles each function on its own, so the two loop nests are written out twice)
    g, m, ho, wo, kh, kw, cg = grad_cols.shape
    for a in range(g):
        for n in range(m):
            for y in range(ho):
                for i in range(kh):
                    r = y * sh + i * dh
                    for x in range(wo):
                        for j in range(kw):
                            q = x * sw + j * dw
                            for k in range(cg):
                                grad_pad[a, n, r, q, k] += grad_cols[a, n, y, x, i, j, k]


@kernels.loops(_add_columns_loops)
def add_columns(xp, grad_pad, grad_cols, sh, sw, dh, dw):
    """col2im: grad_pad (G, m, Hp, Wp, Cg) += each column block of grad_cols
    (G, m, Ho, Wo, KH, KW, Cg), tap (i, j) onto the strided slice it was read from. As array
    calls, one strided addition per tap; with the CPU compiler, one loop nest (the same sums)."""
    ho, wo, kh, kw = grad_cols.shape[2:6]
    for i in range(kh):
        for j in range(kw):
            rows, columns = tap(i, j, ho, wo, (sh, sw), (dh, dw))
            grad_pad[:, :, rows, columns, :] += grad_cols[:, :, :, :, i, j, :]
