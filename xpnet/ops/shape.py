"""Shape ops: reshape, flatten, unsqueeze, squeeze, transpose, permute, getitem (basic slicing
here; integer and boolean tensor indices through :mod:`xpnet.ops.indexing`), concat (cat),
stack."""
from __future__ import annotations

import builtins
import math
import numbers

from .. import backend as _backend
from ..autograd import Function, Tensor
from ..checks import out_of_range
from .spelling import dim_arg


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = tuple(x.shape)
        shape = self.shape
        known = math.prod(n for n in shape if n != -1)
        total = math.prod(self.in_shape)
        if shape.count(-1) > 1 or any(n < -1 for n in shape) or (
                -1 in shape and (known == 0 or total % known)) or (
                -1 not in shape and known != total):
            raise ValueError(f"reshape: cannot reshape a tensor of shape {self.in_shape} "
                             f"({total} elements) to {shape}")
        return self.xp.reshape(x, shape)

    def backward(self, grad_y):
        return self.xp.reshape(grad_y, self.in_shape)


class Permute(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        if sorted(self.axes) != list(range(x.ndim)):
            raise ValueError(f"permute: axes must be a permutation of 0..{x.ndim - 1} for a "
                             f"{x.ndim}-D tensor, got {self.axes}")
        return self.xp.permute_dims(x, self.axes)

    def backward(self, grad_y):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return self.xp.permute_dims(grad_y, tuple(inverse))


def _check_index(index, ndim):
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if not (p is None or p is Ellipsis or isinstance(p, (int, slice))) or isinstance(p, bool):
            raise TypeError(f"getitem: an index must be made of ints, slices, None, Ellipsis "
                            f"and integer or boolean tensors, got {type(p).__name__} {p!r}")
        if isinstance(p, slice) and p.step is not None and p.step <= 0:
            raise ValueError(f"getitem: slice steps must be positive, got {p.step}")
    if parts.count(Ellipsis) > 1:
        raise IndexError(f"getitem: an index can only have a single Ellipsis, got {index!r}")
    consumed = _consumed(parts)
    if consumed > ndim:
        raise IndexError(f"getitem: too many indices for a {ndim}-D tensor: {index!r}")
    if Ellipsis not in parts:
        parts = parts + (Ellipsis,)  # a full index tuple, as array-api-strict requires
    return parts


def _consumed(index):
    """How many input axes an index tuple consumes (ints and slices; not None or Ellipsis)."""
    return sum(1 for p in index if p is not None and p is not Ellipsis)


def _axis_sizes(index, shape):
    """(index part, size of the input axis it consumes) for every int or slice in ``index``."""
    consumed = _consumed(index)
    pairs, axis = [], 0
    for p in index:
        if p is Ellipsis:
            axis += len(shape) - consumed
        elif p is not None:
            pairs.append((p, shape[axis]))
            axis += 1
    return pairs


def _new_axes(index, ndim):
    """Output axes that None inserted (size 1; dropped from the gradient before writing back)."""
    consumed = _consumed(index)
    axes, out = [], 0
    for p in index:
        if p is None:
            axes.append(out)
            out += 1
        elif p is Ellipsis:
            out += ndim - consumed
        elif isinstance(p, slice):
            out += 1
    return axes


class GetItem(Function):
    name = "getitem"

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape, self.dtype = tuple(x.shape), x.dtype
        index = _check_index(self.index, x.ndim)
        for p, n in _axis_sizes(index, self.in_shape):
            if isinstance(p, int) and not -n <= p < n:
                raise out_of_range("getitem", f"an index on an axis of size {n}", n, p,
                                   negative=True)
        self.full_index = index
        return x[index]

    def backward(self, grad_y):
        xp = self.xp
        index = self.full_index
        if None in index:  # array-api-strict's __setitem__ takes no None: drop those axes first
            new = _new_axes(index, len(self.in_shape))
            grad_y = xp.reshape(grad_y, tuple(n for i, n in enumerate(grad_y.shape)
                                              if i not in new))
            index = tuple(p for p in index if p is not None)
        grad_x = xp.zeros(self.in_shape, dtype=grad_y.dtype, device=grad_y.device)
        grad_x[index] = grad_y
        return grad_x

    def backward_on_tensors(self, grads):
        """create_graph: backward writes into a buffer, so it runs as an op of its own,
        :class:`IndexAdjoint`, whose gradient is this getitem again."""
        return (IndexAdjoint(self)(grads[0]),)


class IndexAdjoint(Function):
    """The gradient of ``x[index]``: ``grad_y`` written into zeros of x's shape at ``index``
    (getitem's backward as an op, for create_graph); its own gradient is ``grad[index]``."""

    name = "getitem_backward"

    def __init__(self, getitem):
        self.in_shape, self.full_index = getitem.in_shape, getitem.full_index

    def forward(self, grad_y):
        return GetItem.backward(self, grad_y)

    def backward(self, grad):
        return grad[self.full_index]


class Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        ndim = xs[0].ndim
        axis = self.axis % ndim if -ndim <= self.axis < ndim else None
        if axis is None:
            raise ValueError(f"concat: axis must be in [{-ndim}, {ndim}), got {self.axis}")
        for x in xs[1:]:
            if x.ndim != ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape))
                                     if i != axis):
                raise ValueError(f"concat: shapes must match except on axis {self.axis}, got "
                                 f"{[tuple(t.shape) for t in xs]}")
        self.sizes = [x.shape[axis] for x in xs]
        self.ax = axis
        return self.xp.concat(xs, axis=axis)

    def backward(self, grad_y):
        grads, start = [], 0
        lead = (slice(None),) * self.ax
        for n in self.sizes:
            grads.append(grad_y[lead + (slice(start, start + n), Ellipsis)])
            start += n
        return tuple(grads)


class Stack(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        shapes = {tuple(x.shape) for x in xs}
        if len(shapes) != 1:
            raise ValueError(f"stack: all tensors must have the same shape, got "
                             f"{[tuple(x.shape) for x in xs]}")
        ndim = xs[0].ndim + 1
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"stack: axis must be in [{-ndim}, {ndim}), got {self.axis}")
        self.ax = self.axis % ndim
        return self.xp.stack(xs, axis=self.ax)

    def backward(self, grad_y):
        lead = (slice(None),) * self.ax
        n = grad_y.shape[self.ax]
        return tuple(grad_y[lead + (i, Ellipsis)] for i in range(n))


def reshape(x: Tensor, *shape) -> Tensor:
    """A new shape (one entry may be -1): ``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``; a
    view when the memory allows (Tensor.view is the same op)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, numbers.Integral)):
            raise TypeError(f"reshape: sizes must be ints, got {shape!r}")
    return Reshape(tuple(int(n) for n in shape))(x)


def _check_dim(op, dim, ndim):
    bound = builtins.max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -bound <= dim < bound:
        raise ValueError(f"{op}: dim must be an int in [{-bound}, {bound}) for a {ndim}-D "
                         f"tensor, got {dim!r}")
    return dim % bound


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one (``flatten(x, 1)`` keeps the batch axis)."""
    s, e = _check_dim("flatten", start_dim, x.ndim), _check_dim("flatten", end_dim, x.ndim)
    if x.ndim == 0:
        return reshape(x, (1,))
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})")
    shape = x.shape
    return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """A new axis of size 1 at ``dim`` (in [-ndim - 1, ndim]), as ``torch.unsqueeze``."""
    if isinstance(dim, bool) or not isinstance(dim, int) or not -x.ndim - 1 <= dim <= x.ndim:
        raise ValueError(f"unsqueeze: dim must be an int in [{-x.ndim - 1}, {x.ndim}] for a "
                         f"{x.ndim}-D tensor, got {dim!r}")
    dim %= x.ndim + 1
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x: Tensor, dim=None) -> Tensor:
    """Drop axes of size 1: all of them, or those in ``dim`` (an int or a tuple; an axis named
    there whose size is not 1 is left alone, as ``torch.squeeze``)."""
    if dim is None:
        axes = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = {i for i in (_check_dim("squeeze", d, x.ndim) for d in dims)
                if x.ndim and x.shape[i] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def permute(x: Tensor, *dims) -> Tensor:
    """Reorder axes; ``permute(x, 0, 2, 1)`` or ``permute(x, (0, 2, 1))``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"permute: dims must be ints, got {tuple(dims)!r}")
    return Permute(tuple(d % builtins.max(x.ndim, 1) if -x.ndim <= d < x.ndim else d
                         for d in dims))(x)


def transpose(x: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two axes (the last two by default), as ``torch.transpose``."""
    a, b = _check_dim("transpose", dim0, x.ndim), _check_dim("transpose", dim1, x.ndim)
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Permute(tuple(axes))(x)


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]``, as PyTorch indexes: ints (Python's or NumPy's), slices with positive
    steps, None, Ellipsis, and integer or boolean tensors (or lists of ints; moved to x's device), which
    gather (NumPy's advanced indexing; a boolean mask stands for the indices of its true
    entries). Differentiable in every case; basic indices only give a view-like slice.

    >>> x = xpnet.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> x[xpnet.tensor([2, 0])].tolist(), x[x[:, 0] > 2.0, 1].tolist()
    ([[5.0, 6.0], [1.0, 2.0]], [4.0, 6.0])
    """
    parts = index if isinstance(index, tuple) else (index,)
    if any(not (p is None or p is Ellipsis or isinstance(p, (int, slice))) for p in parts):
        _check_masks(x, parts)
        parts = tuple(_index_part(x, p) for p in parts)
        flat = ()
        for p in parts:   # a boolean mask of k axes: the k arrays of its true entries' indices
            flat += tuple(p) if isinstance(p, list) else (p,)
        if any(_backend.is_array(p) for p in flat):
            from .indexing import advanced_getitem
            return advanced_getitem(x, flat, lambda t, i: GetItem(i)(t))
        index = flat
    return GetItem(index)(x)


def _check_masks(x, parts):
    """A boolean mask must have the shape of the axes it indexes (PyTorch's IndexError), checked
    for the masks before any Ellipsis, whose axes are known."""
    axis = 0
    for p in parts:
        if p is Ellipsis:
            return
        if isinstance(p, Tensor) and p.dtype == "bool" and p.ndim:
            covered = tuple(x.shape[axis:axis + p.ndim])
            if covered != p.shape:
                raise IndexError(f"getitem: a boolean mask of shape {p.shape} must match the "
                                 f"shape {covered} of the axes {axis}..{axis + p.ndim - 1} it "
                                 f"indexes (tensor of shape {x.shape})")
            axis += p.ndim
        elif p is not None:
            axis += 1


def _index_part(x, part):
    """One part of an index: NumPy integers as ints, integer tensors and lists of ints as arrays
    of x's library, a boolean tensor as the list of its nonzero() arrays; anything else as it
    is (GetItem names what it refuses)."""
    if isinstance(part, numbers.Integral) and not isinstance(part, bool):
        return int(part)
    if isinstance(part, list) and part and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in part):
        part = Tensor(part, device=x.backend, dtype="int64")
    if not isinstance(part, Tensor):
        return part
    if part.backend is not x.backend:   # PyTorch takes a CPU index for a GPU tensor too
        part = part.to(x.backend)
    xp = part.xp
    if xp.isdtype(part.array.dtype, "bool"):
        if part.ndim == 0:
            raise TypeError("getitem: a 0-D boolean index is not supported; index with a mask "
                            "of at least one axis")
        with part.backend.scope():
            return list(xp.nonzero(part.array))
    if not xp.isdtype(part.array.dtype, "integral"):
        raise TypeError(f"getitem: tensors used as indices must be integer or boolean, got "
                        f"dtype {_backend.dtype_name(part.dtype)}; convert it with .long()")
    return part.array


def _tensors(op, tensors):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: expected a sequence of tensors, got a single Tensor; wrap it in "
                        f"a list")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected at least one tensor, got an empty sequence")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: element {i} must be a Tensor, got {type(t).__name__}")
    return tensors


def concat(tensors, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``dim`` or ``axis``, default 0); ``cat`` too."""
    return Concat(dim_arg("concat", dim, axis, 0))(*_tensors("concat", tensors))


cat = concat


def stack(tensors, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new axis (``dim`` or ``axis``, default 0)."""
    return Stack(dim_arg("stack", dim, axis, 0))(*_tensors("stack", tensors))
