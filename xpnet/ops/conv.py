"""2-D convolution as im2col + one matmul, with a hand-derived backward.

Layout. The public arrays are NCHW, as in PyTorch, but the work is done channels-last: the
columns are built as (G, N·Ho·Wo, KH·KW·Cg) so that the one big GEMM reads and writes contiguous
rows, and the output is returned as an NCHW *view* of NHWC memory. Elementwise ops keep that
memory order, so the next conv (or pool) gets NHWC memory back without a transposing copy.

The three products of a convolution (its output, its input gradient, its weight gradient) are
module-level functions of a :class:`ConvGeometry`, so that the transposed convolution
(``conv_transpose.py``), which is the adjoint of this one, is built from the same three.

Building the columns (im2col, :func:`gather_columns`) and adding them back (col2im,
:func:`add_columns`) are KH·KW strided copies or additions as array calls; with the CPU
compiler (``xpnet[fast]``) each is one loop nest over the same indices (:func:`xpnet.backend
.compiled`), 2-6× faster than NumPy's per-tap passes on the MNIST and DCGAN layers.

In host memory each product runs slab by slab (a few samples whose columns fit in cache); on
NumPy the slabs run on every core at once (:func:`_slab_loop`), every slab writing its own
rows, and the weight gradient's per-slab parts are summed in slab order afterwards: the same
bits as one slab after another.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import backend as _backend
from ..autograd import Function, Tensor


_SLAB_ELEMENTS = 1 << 19   # in host memory, columns are built this many elements (2 MB of float32) at a time
_KEPT_BYTES = 1 << 29      # the most column memory kept for reuse between steps (512 MB)


class ColumnCache:
    """Column buffers kept from one training step to the next, in host memory (NumPy).

    The columns a convolution keeps from its forward for its weight gradient are tens of MB a
    step; allocated afresh each time, every page of them is a page fault on first touch (about
    24,000 a DCGAN step, some 15 % of its time on the test machines). A :class:`Lease` hands out
    buffers, and when the graph is released after backward they come back here for the next
    step's forward, up to ``_KEPT_BYTES``. A graph kept with ``retain_graph=True`` keeps its
    buffers (they are then collected as any array is), so nothing is reused while in use."""

    def __init__(self, limit=_KEPT_BYTES):
        self.free, self.kept, self.limit = {}, 0, limit

    def lease(self):
        return Lease(self)

    def take(self, xp, shape, like):
        stack = self.free.get((shape, like.dtype))
        if stack:
            array = stack.pop()
            self.kept -= array.nbytes
            return array
        return xp.empty(shape, dtype=like.dtype, device=like.device)

    def give(self, arrays):
        for array in arrays:
            if self.kept + array.nbytes <= self.limit:
                self.free.setdefault((array.shape, array.dtype), []).append(array)
                self.kept += array.nbytes

    def clear(self):
        self.free.clear()
        self.kept = 0


class Lease:
    """The buffers one convolution took from a :class:`ColumnCache`, given back together."""

    def __init__(self, cache):
        self.cache, self.arrays = cache, []

    def empty(self, xp, shape, like):
        array = self.cache.take(xp, shape, like)
        self.arrays.append(array)
        return array

    def give_back(self):
        self.cache.give(self.arrays)
        self.arrays = []


COLUMNS = ColumnCache()


def column_lease(backend):
    """A lease on :data:`COLUMNS` for NumPy arrays; None elsewhere (CuPy has its own memory
    pool; the others allocate as they like)."""
    return COLUMNS.lease() if backend.library == "numpy" else None


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

    def tap(self, i, j):
        """Rows and columns of the padded input that kernel tap (i, j) reads: strided slices."""
        return tap_slices(i, j, self.ho, self.wo, *self.stride, *self.dilation)


def tap_slices(i, j, ho, wo, sh, sw, dh, dw):
    """The rows and columns that tap (i, j) of Ho × Wo windows covers (stride, dilation)."""
    return (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def tiled(geom) -> bool:
    """Whether the windows tile the padded input, along both axes, with no overlap and no
    dilation (stride = kernel, or a single window: DCGAN's 7×7 layers, 2×2 stride-2 kernels).
    im2col and its adjoint are then one reshape and one transpose instead of KH·KW strided
    copies or additions."""
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    return ((dh, dw) == (1, 1) and (sh == geom.kh or geom.ho == 1)
            and (sw == geom.kw or geom.wo == 1))


def slabs(backend, geom):
    """(start, stop) sample ranges: the whole batch on a GPU; in host memory, as many samples
    as keep one slab's columns within ``_SLAB_ELEMENTS`` (so they stay in cache)."""
    n = geom.n
    per_sample = geom.ho * geom.wo * geom.kh * geom.kw * geom.c
    size = n if not backend.on_host else max(1, min(n, _SLAB_ELEMENTS // max(1, per_sample)))
    return [(start, min(n, start + size)) for start in range(0, n, size)]


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


def column_shape(geom, start, stop) -> tuple:
    """The (G, m, Ho, Wo, KH, KW, Cg) buffer that :func:`im2col` fills for samples start..stop."""
    g = geom.groups
    return (g, stop - start, geom.ho, geom.wo, geom.kh, geom.kw, geom.c // g)


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
    cols = out if out is not None else _column_buffer(xp, geom, start, stop, x_nhwc, None)
    # the loop nest copies a pixel's channels at a time: with fewer than 8 (a first layer),
    # NumPy's KH·KW strided copies are faster
    gather = gather_columns if cg >= 8 else gather_columns.reference
    gather(xp, cols, x_nhwc[start:stop, ...], *geom.stride, *geom.dilation)
    return xp.reshape(cols, (g, m * ho * wo, kh * kw * cg))


def _slab_loop(xp, ranges, work, scratch=None):
    """``work(k, buffer)`` for each slab k of ``ranges``, on the host's slab threads
    (:class:`xpnet.backend.SlabThreads`; in order on one thread elsewhere). ``scratch()``
    makes each thread's own buffer, before the threads start; None without it."""
    threads = _backend.SLAB_THREADS.threads(xp) if len(ranges) > 1 else 1
    buffers = [scratch() for _ in range(min(threads, len(ranges)))] if scratch else None
    _backend.SLAB_THREADS.run(lambda k, slot: work(k, buffers[slot] if buffers else None),
                              len(ranges), threads)


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


@_backend.compiled(_gather_columns_loops)
def gather_columns(xp, cols, x_nhwc, sh, sw, dh, dw):
    """im2col: cols (G, m, Ho, Wo, KH, KW, Cg) = every window of x_nhwc (m, Hp, Wp, C), block
    (i, j) the strided slice of tap (i, j). As array calls, one strided copy per tap; with the
    CPU compiler, one loop nest."""
    g, m, ho, wo, kh, kw, cg = cols.shape
    for i in range(kh):
        for j in range(kw):
            rows, columns = tap_slices(i, j, ho, wo, sh, sw, dh, dw)
            piece = x_nhwc[:, rows, columns, :]                             # (m, Ho, Wo, C)
            if g > 1:
                piece = xp.permute_dims(xp.reshape(piece, (m, ho, wo, g, cg)), (3, 0, 1, 2, 4))
            cols[:, :, :, :, i, j, :] = piece


def _column_buffer(xp, geom, start, stop, like, lease):
    """An uninitialised :func:`column_shape` buffer for samples start..stop, from ``lease``
    when given."""
    shape = column_shape(geom, start, stop)
    if lease is not None:
        return lease.empty(xp, shape, like)
    return xp.empty(shape, dtype=like.dtype, device=like.device)


def correlate(xp, x_nhwc, weight, geom, ranges, lease=None):
    """The convolution's output as rows (N·Ho·Wo, O), and each slab's columns (kept for the
    weight gradient). y = cols @ W_mat, one GEMM per slab (batched over groups)."""
    g, n, o = geom.groups, geom.n, geom.o
    og, cg, kh, kw, m = o // g, geom.c // g, geom.kh, geom.kw, geom.ho * geom.wo
    # weight (O, Cg, KH, KW) -> (G, KH·KW·Cg, Og), matching the column order
    w_mat = xp.reshape(xp.permute_dims(xp.reshape(weight, (g, og, cg, kh, kw)), (0, 3, 4, 2, 1)),
                       (g, kh * kw * cg, og))
    if len(ranges) == 1:
        cols = [im2col(xp, x_nhwc, geom, 0, n)]
        y = xp.matmul(cols[0], w_mat)                                       # (G, N·Ho·Wo, Og)
    else:
        # every buffer is taken here, before the slab threads start
        y = _backend.host_empty(xp, (g, n * m, og), x_nhwc.dtype, x_nhwc.device)
        outs = [None if tiled(geom) else _column_buffer(xp, geom, start, stop, x_nhwc, lease)
                for start, stop in ranges]
        cols = [None] * len(ranges)

        def slab(k, _):
            start, stop = ranges[k]
            cols[k] = im2col(xp, x_nhwc, geom, start, stop, outs[k])
            _backend.matmul_into(xp, y[:, start * m:stop * m, :], cols[k], w_mat)

        _slab_loop(xp, ranges, slab)
    if g > 1:
        return xp.reshape(xp.permute_dims(y, (1, 0, 2)), (n * m, o)), cols
    return xp.reshape(y, (n * m, o)), cols


def output_rows(xp, y, geom):
    """(N, O, Ho, Wo) -> rows (N·Ho·Wo, O): free when y is NHWC memory, as ours are."""
    return xp.reshape(xp.permute_dims(y, (0, 2, 3, 1)), (geom.n * geom.ho * geom.wo, geom.o))


def grouped(xp, rows, geom):
    """Rows (M, O) -> (G, M, Og), the layout of the batched GEMMs."""
    g, o, m = geom.groups, geom.o, rows.shape[0]
    if g > 1:
        return xp.permute_dims(xp.reshape(rows, (m, g, o // g)), (1, 0, 2))
    return xp.reshape(rows, (1, m, o))


def weight_gradient(xp, x_nhwc, rows, geom, ranges, cols=None, lease=None):
    """dL/dw[o, c, i, j] = sum_{n, h, w} x_pad[n, c, s·h + d·i, s·w + d·j] · dL/dy[n, o, h, w]:
    a correlation of the input with the output gradient, cols^T @ rows per slab, (O, Cg, KH, KW)."""
    g, kh, kw, m = geom.groups, geom.kh, geom.kw, geom.ho * geom.wo
    cg, og = geom.c // g, geom.o // g
    parts = [None] * len(ranges)

    def slab(k, buffer):
        start, stop = ranges[k]
        if cols is not None:
            block = cols[k]
        else:               # rebuilt into this thread's buffer (the last slab may be shorter)
            block = im2col(xp, x_nhwc, geom, start, stop,
                           None if buffer is None else buffer[:, :stop - start, ...])
        parts[k] = xp.matmul(xp.matrix_transpose(block), rows[:, start * m:stop * m, :])

    size = ranges[0][1] - ranges[0][0]
    rebuilt = cols is None and not tiled(geom) and len(ranges) > 1
    _slab_loop(xp, ranges, slab, scratch=(lambda: _column_buffer(
        xp, geom, 0, size, x_nhwc, lease)) if rebuilt else None)
    total = parts[0]
    for part in parts[1:]:          # in slab order, whatever thread made each part
        total = total + part                                                # (G, KH·KW·Cg, Og)
    total = xp.permute_dims(xp.reshape(total, (g, kh, kw, cg, og)), (0, 4, 3, 1, 2))
    return xp.reshape(total, (geom.o, cg, kh, kw))


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


@_backend.compiled(_add_columns_loops)
def add_columns(xp, grad_pad, grad_cols, sh, sw, dh, dw):
    """col2im: grad_pad (G, m, Hp, Wp, Cg) += each column block of grad_cols
    (G, m, Ho, Wo, KH, KW, Cg), tap (i, j) onto the strided slice it was read from. As array
    calls, one strided addition per tap; with the CPU compiler, one loop nest (the same sums)."""
    ho, wo, kh, kw = grad_cols.shape[2:6]
    for i in range(kh):
        for j in range(kw):
            rows, columns = tap_slices(i, j, ho, wo, sh, sw, dh, dw)
            grad_pad[:, :, rows, columns, :] += grad_cols[:, :, :, :, i, j, :]


def input_gradient(xp, rows, weight, geom, ranges):
    """dL/dx as (N, H, W, C): a full convolution of the output gradient with the kernel rotated
    by 180°. As matrices: grad_cols = rows @ W_mat^T, then each tap's column block is added back
    onto the strided slice it was read from (col2im), and the padding is cropped."""
    g, n, h, w, kh, kw = geom.groups, geom.n, geom.h, geom.w, geom.kh, geom.kw
    cg, og, ho, wo = geom.c // g, geom.o // g, geom.ho, geom.wo
    # W_mat^T made contiguous (it is small): BLAS is ~3x slower on the transposed view
    w_mat_t = xp.reshape(xp.permute_dims(xp.reshape(weight, (g, og, cg, kh, kw)),
                                         (0, 1, 3, 4, 2)), (g, og, kh * kw * cg))
    hp, wp = geom.padded
    # zeroed slab by slab, just before its columns are added (in cache, instead of one pass
    # over all of it first)
    grad_pad = _backend.host_empty(xp, (g, n, hp, wp, cg), rows.dtype, rows.device)
    # slab by slab, each slab's columns go through its thread's scratch buffer (kept memory
    # on NumPy)
    size = ranges[0][1] - ranges[0][0]

    def slab(k, scratch):
        start, stop = ranges[k]
        block = rows[:, start * ho * wo:stop * ho * wo, :]
        if scratch is not None:
            product = scratch[:, :block.shape[1], :]           # the last slab may be shorter
            _backend.matmul_into(xp, product, block, w_mat_t)
        else:
            product = xp.matmul(block, w_mat_t)
        grad_cols = xp.reshape(product, (g, stop - start, ho, wo, kh, kw, cg))
        grad_pad[:, start:stop, ...] = 0.0
        if tiled(geom):   # no two windows share a pixel: the blocks are put back, not added
            # (G, m, Ho, KH, Wo, KW, Cg)
            blocks = xp.permute_dims(grad_cols, (0, 1, 2, 4, 3, 5, 6))
            grad_pad[:, start:stop, :ho * kh, :wo * kw, :] = xp.reshape(
                blocks, (g, stop - start, ho * kh, wo * kw, cg))
            return
        add_columns(xp, grad_pad[:, start:stop, ...], grad_cols, *geom.stride, *geom.dilation)

    _slab_loop(xp, ranges, slab, scratch=(lambda: _backend.host_empty(
        xp, (g, size * ho * wo, kh * kw * cg), rows.dtype, rows.device))
        if len(ranges) > 1 else None)
    top, _, left, _ = geom.padding
    if (hp, wp) != (h, w):
        grad_pad = grad_pad[:, :, top:top + h, left:left + w, :]
    if g > 1:
        return xp.reshape(xp.permute_dims(grad_pad, (1, 2, 3, 0, 4)), (n, h, w, geom.c))
    return grad_pad[0, ...]


class Conv2d(Function):
    """y[n, o] = sum_{c, i, j} w[o, c, i, j] · x_pad[n, c, s·h + d·i, s·w + d·j] + b[o].

    Forward: the (N·Ho·Wo, KH·KW·C) column matrix is assembled from KH·KW strided slices of the
    zero-padded input (slice (i, j) holds every pixel that kernel tap (i, j) touches), then
    y = cols @ W_mat is one GEMM (a batched one over groups).

    On a GPU the whole batch is one slab: one im2col, one GEMM. In host memory the batch is cut
    into slabs whose columns fit in cache (about 2 MB): the same GEMM row by row, but each
    column block is written, multiplied and dropped while still in cache, instead of a column
    matrix of tens of MB making several trips through memory. The slabs' columns are kept for
    the weight gradient (KH·KW times the input's memory, traded for not building them twice),
    in buffers leased from :data:`COLUMNS` and given back when the graph is released, so the
    next step writes into memory that is already mapped; the input gradient multiplies slab by
    slab and adds each tap's block back (col2im). Windows that tile the input (stride = kernel,
    or a single window) skip the taps: one reshape. On NumPy the slabs are spread over the
    host's cores (:class:`xpnet.backend.SlabThreads`), each with a single-threaded GEMM, so
    the memory-bound im2col and col2im of one slab run beside another slab's GEMM.
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
        self.ranges = slabs(self.backend, geom)
        x_nhwc = pad_nhwc(xp, x, geom)
        self.lease = column_lease(self.backend)
        y, cols = correlate(xp, x_nhwc, weight, geom, self.ranges, self.lease)
        if bias is not None:
            y += bias
        self.x_nhwc, self.weight, self.has_bias = x_nhwc, weight, bias is not None
        self.cols = cols          # every slab's columns, for the weight gradient
        return xp.permute_dims(xp.reshape(y, (geom.n, geom.ho, geom.wo, geom.o)), (0, 3, 1, 2))

    def backward(self, grad_y):
        xp, geom = self.xp, self.geom
        need_x, need_w, need_b = self.needs_input_grad
        rows = output_rows(xp, grad_y, geom)
        grad_bias = xp.sum(rows, axis=0) if need_b and self.has_bias else None
        rows = grouped(xp, rows, geom)
        grad_weight = weight_gradient(xp, self.x_nhwc, rows, geom, self.ranges, self.cols) \
            if need_w else None
        grad_x = None
        if need_x:
            grad_x = xp.permute_dims(input_gradient(xp, rows, self.weight, geom, self.ranges),
                                     (0, 3, 1, 2))                                 # NCHW view
        return grad_x, grad_weight, grad_bias

    def release(self):
        lease = self.__dict__.get("lease")
        if lease is not None:      # backward is done with the columns: the next step reuses them
            self.cols = None
            lease.give_back()
        super().release()


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
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be a 4-D tensor (out_channels, in_channels/groups,"
                         f" KH, KW), got {getattr(weight, 'shape', type(weight).__name__)}")
    stride = _positive("conv2d", "stride", _pair("stride", "conv2d", stride))
    dilation = _positive("conv2d", "dilation", _pair("dilation", "conv2d", dilation))
    pads = _padding("conv2d", padding, weight.shape[2:], dilation, stride)
    return Conv2d(stride, pads, dilation, groups)(x, weight, bias)
