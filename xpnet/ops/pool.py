"""2-D max and average pooling over strided slices, with hand-derived backward passes.

With x_pad the padded input (-inf for max, 0 for average), stride s and a KH × KW window::

    max:  y[n, c, h, w] = max_{i, j} x_pad[n, c, s·h + i, s·w + j]
          dL/dx_pad at each window's first arg-max (row by row, as PyTorch) += dL/dy[n, c, h, w]
    avg:  y[n, c, h, w] = Σ_{i, j} x_pad[n, c, s·h + i, s·w + j] / K   (K = KH·KW, or the
          window's non-padding pixels with count_include_pad=False)
          dL/dx_pad[n, c, s·h + i, s·w + j] += dL/dy[n, c, h, w] / K

Window tap (i, j) of every output position is one strided basic slice of the (padded) input,
so a pool is a max (or sum) over KH·KW slices, and its backward adds slices back: no scatter,
no fancy indexing. Like the conv, results are NCHW views of whatever memory order the input has.
With the CPU compiler, max pooling's backward is one loop nest over the windows instead of one
fused kernel per tap (:func:`route_max_gradient`).
"""
from __future__ import annotations

from .. import kernels
from ..cpu import memory as _memory
from ..autograd import Function, Tensor
from .window import output_size, pair, positive_pair, require_tensors, tap


def _pool_args(op, kernel_size, stride, padding):
    kernel = positive_pair(op, "kernel_size", kernel_size)
    stride = kernel if stride is None else positive_pair(op, "stride", stride)
    pad = pair(op, "padding", padding)
    if pad[0] < 0 or pad[1] < 0 or 2 * pad[0] > kernel[0] or 2 * pad[1] > kernel[1]:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size {kernel}, "
                         f"got {pad}")
    return kernel, stride, pad


class _Pool(Function):
    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def geometry(self, x):
        if x.ndim != 4:
            raise ValueError(f"{self.op_name}: input must be 4-D (N, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        h, w = x.shape[2], x.shape[3]
        if h == 0 or w == 0:   # every window would hold padding only (PyTorch refuses too)
            raise ValueError(f"{self.op_name}: input must have a non-zero height and width, got "
                             f"shape {tuple(x.shape)}")
        if kh > h + 2 * ph or kw > w + 2 * pw:
            raise ValueError(f"{self.op_name}: the kernel must fit in the padded input, got "
                             f"kernel ({kh}, {kw}) and padded input ({h + 2 * ph}, {w + 2 * pw})")
        return output_size(h, kh, sh, ph, ph, 1), output_size(w, kw, sw, pw, pw, 1)

    def padded(self, x, value):
        """x with ``padding`` pixels of ``value`` around H and W (x itself when there are none)."""
        xp = self.xp
        (ph, pw) = self.padding
        if ph == 0 and pw == 0:
            return x
        n, c, h, w = x.shape
        out = xp.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype, device=x.device)
        out[:, :, ph:ph + h, pw:pw + w] = x
        return out

    def tap(self, i, j, ho, wo):
        """Index of window tap (i, j) for every output position, NCHW: a strided basic slice."""
        return (slice(None), slice(None), *tap(i, j, ho, wo, self.stride))

    def crop(self, grad_pad, h, w):
        (ph, pw) = self.padding
        if ph == 0 and pw == 0:
            return grad_pad
        return grad_pad[:, :, ph:ph + h, pw:pw + w]

    def gradient_like_input(self, x_pad):
        """The input gradient's memory, shaped like x_pad, NHWC (as our conv outputs are): zeros,
        or left uninitialised when the windows tile x_pad exactly (stride = kernel, no pixel
        left over), since the backward then writes every pixel once; fresh zeros cost a pass
        (or the page faults of new memory) that the MNIST CNN's step pays on 9 MB."""
        xp = self.xp
        n, c, h, w = x_pad.shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        tiles = (kh, kw) == (sh, sw) and h % kh == 0 and w % kw == 0
        memory = _memory.empty(xp, (n, h, w, c), x_pad.dtype, x_pad.device) if tiles \
            else xp.zeros((n, h, w, c), dtype=x_pad.dtype, device=x_pad.device)
        return xp.permute_dims(memory, (0, 3, 1, 2))


# The arg-max of each window, tap by tap, one fused kernel per tap: ``hit`` marks the windows
# whose (first) maximum this tap holds, ``taken`` (0/1, zeros before the first tap) those an
# earlier tap already claimed, so that on ties the first maximum in window order wins, as in
# PyTorch. Where windows are disjoint each tap's pixels are written (their memory need not be
# zeroed first), elsewhere added to.

@kernels.fuse
def _route_tap(xp, x_tap, y, grad_y, grad_out, taken):
    hit = xp.astype(x_tap == y, grad_y.dtype) * (1.0 - taken)
    grad_out[...] = grad_y * hit
    taken[...] = taken + hit


@kernels.fuse
def _route_tap_adding(xp, x_tap, y, grad_y, grad_out, taken):
    hit = xp.astype(x_tap == y, grad_y.dtype) * (1.0 - taken)
    grad_out[...] = grad_out + grad_y * hit
    taken[...] = taken + hit


def _route_max_gradient_loops(grad_pad, x_pad, y, grad_y, kh, kw, sh, sw):
    n, ho, wo, c = y.shape
    disjoint = kh <= sh and kw <= sw   # then each window's pixels are written, not added to
    for b in range(n):
        for r in range(ho):
            for q in range(wo):
                r0, q0 = r * sh, q * sw
                # the common window, without branches, so Numba vectorises the channel loop:
                # 1.7 ms against 11.5 ms for the loop below on the MNIST CNN's pool at batch 64
                # (64×24×24×64 float32, AMD EPYC, Numba 0.68)
                if kh == 2 and kw == 2:
                    for k in range(c):
                        top, g = y[b, r, q, k], grad_y[b, r, q, k]
                        hit0 = x_pad[b, r0, q0, k] == top
                        hit1 = (x_pad[b, r0, q0 + 1, k] == top) and not hit0
                        hit2 = (x_pad[b, r0 + 1, q0, k] == top) and not (hit0 or hit1)
                        hit3 = (x_pad[b, r0 + 1, q0 + 1, k] == top) and not (hit0 or hit1 or hit2)
                        if disjoint:
                            grad_pad[b, r0, q0, k] = g if hit0 else 0.0
                            grad_pad[b, r0, q0 + 1, k] = g if hit1 else 0.0
                            grad_pad[b, r0 + 1, q0, k] = g if hit2 else 0.0
                            grad_pad[b, r0 + 1, q0 + 1, k] = g if hit3 else 0.0
                        else:
                            grad_pad[b, r0, q0, k] += g if hit0 else 0.0
                            grad_pad[b, r0, q0 + 1, k] += g if hit1 else 0.0
                            grad_pad[b, r0 + 1, q0, k] += g if hit2 else 0.0
                            grad_pad[b, r0 + 1, q0 + 1, k] += g if hit3 else 0.0
                    continue
                for k in range(c):
                    top, found = y[b, r, q, k], False
                    for i in range(kh):
                        for j in range(kw):
                            hit = not found and x_pad[b, r0 + i, q0 + j, k] == top
                            if disjoint:
                                grad_pad[b, r0 + i, q0 + j, k] = grad_y[b, r, q, k] if hit else 0.0
                            elif hit:
                                grad_pad[b, r0 + i, q0 + j, k] += grad_y[b, r, q, k]
                            found = found or hit


@kernels.loops(_route_max_gradient_loops)
def route_max_gradient(xp, grad_pad, x_pad, y, grad_y, kh, kw, sh, sw):
    """Max pooling's backward on (N, H, W, C) views: grad_pad += each window's gradient at its
    first maximum in window order. grad_pad holds zeros, except where the windows are disjoint
    (stride >= kernel): then each window's pixels are written (the gradient or 0) whatever they
    held, so memory that the windows tile exactly need not be zeroed first. As array calls,
    one fused kernel per tap; with the CPU compiler, one loop nest."""
    ho, wo = y.shape[1], y.shape[2]
    taken = xp.zeros_like(y)
    disjoint = kh <= sh and kw <= sw   # every input pixel is in at most one window
    route = _route_tap if disjoint else _route_tap_adding
    for i in range(kh):
        for j in range(kw):
            index = (slice(None), *tap(i, j, ho, wo, (sh, sw)), slice(None))
            route(xp, x_pad[index], y, grad_y, grad_pad[index], taken)


@kernels.fuse
def _max_of_four(xp, a, b, c, d):
    """The 2×2 window's maximum in one pass (one launch on CuPy instead of three; on NumPy
    one compiled loop over the four strided taps instead of three passes and two temporaries),
    NaN kept as by xp.maximum."""
    return xp.maximum(xp.maximum(a, b), xp.maximum(c, d))


class MaxPool2d(_Pool):
    """y[n, c, h, w] = max over the window at (s·h, s·w) of the -inf-padded input.

    Backward: each window's gradient goes to its arg-max, the first maximum in window order
    (row by row) on ties, as PyTorch does.
    """
    name = "max_pool2d"
    floating_inputs = {0: "x"}

    def forward(self, x):
        xp = self.xp
        ho, wo = self.geometry(x)
        x_pad = self.padded(x, -float("inf"))
        self.x_pad, self.shape = x_pad, tuple(x.shape)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        pieces = [x_pad[self.tap(i, j, ho, wo)] for i in range(kh) for j in range(kw)]
        if len(pieces) == 4:
            y = _max_of_four(xp, *pieces)
        else:
            y = pieces[0]
            for piece in pieces[1:]:
                y = xp.maximum(y, piece)
        if kh * kw == 1:
            y = xp.asarray(y, copy=True)
        self.y = y
        return y

    def backward(self, grad_y):
        xp = self.xp
        (kh, kw), (sh, sw) = self.kernel, self.stride
        grad_pad = self.gradient_like_input(self.x_pad)
        grad_pad_nhwc, x_nhwc, y_nhwc, grad_nhwc = (xp.permute_dims(a, (0, 2, 3, 1)) for a in
                                                    (grad_pad, self.x_pad, self.y, grad_y))
        # the gradient arrives in NCHW memory from a Flatten: one copy puts it in the order of
        # the others (the loop nest walks the channels innermost)
        n, ho, wo, c = grad_nhwc.shape
        grad_nhwc = xp.reshape(xp.reshape(grad_nhwc, (n * ho * wo * c,)), (n, ho, wo, c))
        route_max_gradient(xp, grad_pad_nhwc, x_nhwc, y_nhwc, grad_nhwc, kh, kw, sh, sw)
        return self.crop(grad_pad, self.shape[2], self.shape[3])

    def backward_on_tensors(self, grads):
        """create_graph: the same routing, tap by tap, as ops autograd records: a tap's hit mask
        (the windows whose first maximum it holds, a constant: the arg-max does not move under
        an infinitesimal change) times the gradient, placed by a transposed depthwise
        convolution with that tap's one-hot kernel."""
        from .conv_transpose import ConvTranspose2d
        (grad_y,) = grads
        xp, backend = self.xp, self.backend
        (kh, kw), (sh, sw) = self.kernel, self.stride
        n, c, hp, wp = self.x_pad.shape
        ho, wo = self.y.shape[2], self.y.shape[3]
        extra = (hp - ((ho - 1) * sh + kh), wp - ((wo - 1) * sw + kw))
        taken = xp.zeros_like(self.y)
        total = None
        for i in range(kh):
            for j in range(kw):
                hit = xp.astype(self.x_pad[self.tap(i, j, ho, wo)] == self.y, self.y.dtype) * \
                    (1.0 - taken)
                taken = taken + hit
                one_hot = xp.zeros((c, 1, kh, kw), dtype=self.y.dtype, device=backend.device)
                one_hot[:, :, i, j] = 1.0
                part = ConvTranspose2d((sh, sw), (0, 0), extra, (1, 1), c)(
                    grad_y * Tensor.from_array(hit, False, backend),
                    Tensor.from_array(one_hot, False, backend), None)
                total = part if total is None else total + part
        return (self.crop(total, self.shape[2], self.shape[3]),)


class AvgPool2d(_Pool):
    """y = sum over the window / (KH·KW), or / (number of non-padding pixels)."""

    name = "avg_pool2d"
    floating_inputs = {0: "x"}

    def __init__(self, kernel, stride, padding, count_include_pad):
        super().__init__(kernel, stride, padding)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        xp = self.xp
        ho, wo = self.geometry(x)
        x_pad = self.padded(x, 0.0)
        (kh, kw) = self.kernel
        total = None
        for i in range(kh):
            for j in range(kw):
                piece = x_pad[self.tap(i, j, ho, wo)]
                total = piece if total is None else total + piece
        self.shape, self.pad_shape, self.geom = tuple(x.shape), tuple(x_pad.shape), (ho, wo)
        self.scale = self.divisor(x, ho, wo)
        return total * self.scale

    def divisor(self, x, ho, wo):
        """1 / window size: a number, or a (Ho, Wo) array when padding is excluded."""
        xp = self.xp
        (kh, kw), (ph, pw) = self.kernel, self.padding
        if self.count_include_pad or (ph == 0 and pw == 0):
            return 1.0 / (kh * kw)
        h, w = x.shape[2], x.shape[3]
        ones = xp.zeros((1, 1, h + 2 * ph, w + 2 * pw), dtype=x.dtype, device=x.device)
        ones[:, :, ph:ph + h, pw:pw + w] = 1.0
        count = None
        for i in range(kh):
            for j in range(kw):
                piece = ones[self.tap(i, j, ho, wo)]
                count = piece if count is None else count + piece
        return 1.0 / count

    def backward(self, grad_y):
        xp = self.xp
        ho, wo = self.geom
        (kh, kw), (sh, sw) = self.kernel, self.stride
        n, c, hp, wp = self.pad_shape
        share = grad_y * self.scale          # every pixel of a window gets an equal share
        grad_pad = xp.permute_dims(xp.zeros((n, hp, wp, c), dtype=share.dtype,
                                            device=share.device), (0, 3, 1, 2))
        disjoint = kh <= sh and kw <= sw
        for i in range(kh):
            for j in range(kw):
                index = self.tap(i, j, ho, wo)
                if disjoint:
                    grad_pad[index] = share
                else:
                    grad_pad[index] += share
        return self.crop(grad_pad, self.shape[2], self.shape[3])

    def backward_on_tensors(self, grads):
        """create_graph: backward adds into slices in place, so the same gradient is written as
        a transposed depthwise convolution of the shares with a window of ones, which autograd
        records."""
        from .conv_transpose import ConvTranspose2d
        (grad_y,) = grads
        backend, xp = self.backend, self.backend.xp
        ho, wo = self.geom
        (kh, kw), (sh, sw) = self.kernel, self.stride
        n, c, hp, wp = self.pad_shape
        scale = self.scale
        if not isinstance(scale, float):   # 1/count per output position: a constant
            scale = Tensor.from_array(scale, False, backend)
        ones = Tensor.from_array(xp.ones((c, 1, kh, kw), dtype=grad_y.array.dtype,
                                         device=backend.device), False, backend)
        extra = (hp - ((ho - 1) * sh + kh), wp - ((wo - 1) * sw + kw))
        grad_pad = ConvTranspose2d((sh, sw), (0, 0), extra, (1, 1), c)(grad_y * scale, ones, None)
        return (self.crop(grad_pad, self.shape[2], self.shape[3]),)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over KH×KW windows (stride defaults to the kernel size; padding is -inf).

    Shape: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2·padding - KH) // stride + 1.

    >>> import xpnet
    >>> x = xpnet.tensor([[[[1., 2., 0., 1.], [3., 4., 1., 0.],
    ...                     [0., 0., 5., 6.], [0., 9., 7., 8.]]]])
    >>> max_pool2d(x, 2).tolist()
    [[[[4.0, 1.0], [9.0, 8.0]]]]
    """
    require_tensors("max_pool2d", input=x)
    return MaxPool2d(*_pool_args("max_pool2d", kernel_size, stride, padding))(x)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0,
               count_include_pad: bool = True) -> Tensor:
    """Mean over KH×KW windows; zero padding counts in the mean unless count_include_pad=False.

    Shape: (N, C, H, W) -> (N, C, Ho, Wo), as :func:`max_pool2d`.
    """
    require_tensors("avg_pool2d", input=x)
    return AvgPool2d(*_pool_args("avg_pool2d", kernel_size, stride, padding),
                     bool(count_include_pad))(x)
