"""Gathers along an axis, and their gradient, a scatter-add.

    index_select(x, dim, index):  y[..., j, ...]  = x[..., index[j], ...]             (index 1-D)
    gather(x, dim, index):        y[..., j, ...]  = x[..., index[..., j, ...], ...]   (index as x)
    x[index] (integer tensors):   y[b..., ...]    = x[flat(index...)[b...], ...]   (see getitem)

Backward, a scatter-add (the Array API has no scatter, so it is a one-hot product: exact, and
O(entries of index x size of the axis) in memory):

    grad_x[..., m, ...] = sum_j [index[j] == m] · grad_y[..., j, ...]

A gather and its scatter-add are adjoint linear maps, so each is the other's gradient; under
``create_graph`` the backward runs as the adjoint op (:class:`Take` with ``adjoint=True``),
whose gradient is the gather again, to any order.
"""
from __future__ import annotations

import math

from .. import backend as _backend
from ..autograd import Function, Tensor
from ..checks import out_of_range


def _last(xp, a, axis):
    """``a`` with ``axis`` moved to the end (and the permutation that undoes it)."""
    order = tuple(i for i in range(a.ndim) if i != axis) + (axis,)
    inverse = tuple(order.index(i) for i in range(a.ndim))
    return xp.permute_dims(a, order), inverse


def _one_hot(xp, index, n, dtype):
    """(..., M) integer index -> (..., M, n) of 0/1 in ``dtype``."""
    ids = xp.arange(n, dtype=index.dtype, device=index.device)
    return xp.astype(xp.expand_dims(index, axis=-1) == ids, dtype)


class IndexSelectPlan:
    """``x`` (in_shape) -> its entries ``index`` (1-D, in range) along ``dim``."""

    def __init__(self, in_shape, dim, index):
        self.in_shape, self.dim, self.index = in_shape, dim, index

    def gather(self, xp, x):
        return xp.take(x, self.index, axis=self.dim)

    def scatter(self, xp, grad_y):
        g, inverse = _last(xp, grad_y, self.dim)                      # (..., M)
        one_hot = _one_hot(xp, self.index, self.in_shape[self.dim], grad_y.dtype)   # (M, n)
        return xp.permute_dims(xp.matmul(g, one_hot), inverse)


class GatherPlan:
    """``x`` (in_shape) -> ``take_along_axis`` of ``index`` (x's ndim; in range; no larger than
    x on the other axes, whose leading parts it reads) along ``dim``."""

    def __init__(self, in_shape, dim, index):
        self.in_shape, self.dim, self.index = in_shape, dim, index
        self.part = tuple(slice(None) if i == dim else slice(0, m)
                          for i, m in enumerate(index.shape))

    def gather(self, xp, x):
        if tuple(x.shape[i] for i in range(x.ndim) if i != self.dim) != \
                tuple(self.index.shape[i] for i in range(x.ndim) if i != self.dim):
            x = x[self.part]
        return xp.take_along_axis(x, self.index, axis=self.dim)

    def scatter(self, xp, grad_y):
        g, inverse = _last(xp, grad_y, self.dim)                      # (..., M)
        index, _ = _last(xp, self.index, self.dim)                     # (..., M)
        one_hot = _one_hot(xp, index, self.in_shape[self.dim], grad_y.dtype)   # (..., M, n)
        part = xp.matmul(xp.expand_dims(g, axis=-2), one_hot)[..., 0, :]        # (..., n)
        part = xp.permute_dims(part, inverse)
        if tuple(part.shape) == self.in_shape:
            return part
        grad_x = xp.zeros(self.in_shape, dtype=grad_y.dtype, device=grad_y.device)
        grad_x[self.part] = part
        return grad_x


class Take(Function):
    """A gather given by ``plan`` (``adjoint=False``) or its scatter-add (``adjoint=True``);
    each is the other's gradient."""

    def __init__(self, plan, name, adjoint=False):
        self.plan, self.adjoint = plan, adjoint
        self.name = name + ("_backward" if adjoint else "")

    def forward(self, x):
        plan = self.plan
        return plan.scatter(self.xp, x) if self.adjoint else plan.gather(self.xp, x)

    def backward(self, grad_y):
        plan = self.plan
        return plan.gather(self.xp, grad_y) if self.adjoint else plan.scatter(self.xp, grad_y)

    def backward_on_tensors(self, grads):
        name = self.name.removesuffix("_backward")
        return (Take(self.plan, name, not self.adjoint)(grads[0]),)


# -- checks -------------------------------------------------------------------------------------

def _dim(op, dim, ndim):
    bound = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -bound <= dim < bound:
        raise IndexError(f"{op}: dim must be an int in [{-bound}, {bound}) for a {ndim}-D "
                         f"tensor, got {dim!r}")
    return dim % bound


def _check_index(op, x, index):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: index must be a Tensor of integers, got {type(index).__name__}")
    if index.backend is not x.backend:
        raise ValueError(f"{op}: index is on '{index.device}', the input on '{x.device}'; move "
                         f"it with .to(...)")
    if not index.xp.isdtype(index.array.dtype, "integral"):
        raise TypeError(f"{op}: index must be an integer tensor, got dtype "
                        f"{_backend.dtype_name(index.dtype)}; convert it with .long()")


def check_range(op, name, backend, index, size, negative=False):
    """IndexError for entries outside [0, size) ([-size, size) with ``negative``); read on the
    host only where the array lives there (see :func:`xpnet.checks.check_index_range`)."""
    if not backend.on_host or not math.prod(index.shape):
        return
    host = _backend.to_numpy(index)
    low, high = int(host.min()), int(host.max())
    if (-size if negative else 0) <= low and high < size:
        return
    raise out_of_range(op, name, size, (low, high), negative=negative)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """The entries ``index`` (a 1-D integer tensor) of ``input`` along ``dim``, as
    ``torch.index_select``; the gradient is summed into the rows picked (repeats add up).

    >>> x = xpnet.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> index_select(x, 0, xpnet.tensor([2, 0])).tolist()
    [[5.0, 6.0], [1.0, 2.0]]
    """
    _check_index("index_select", input, index)
    d = _dim("index_select", dim, input.ndim)
    if index.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D (or 0-D), got shape {index.shape}")
    n = input.shape[d] if input.ndim else 1
    flat = index.xp.reshape(index.array, (-1,))
    check_range("index_select", "index", input.backend, flat, n)
    if input.ndim == 0:
        return Take(IndexSelectPlan((1,), 0, flat), "index_select")(
            input.reshape(1)).reshape(index.shape)
    return Take(IndexSelectPlan(input.shape, d, flat), "index_select")(input)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """``out[..., j, ...] = input[..., index[..., j, ...], ...]`` along ``dim``, as
    ``torch.gather``: ``index`` has input's number of axes and is no larger on the others; the
    result has index's shape; the gradient is a scatter-add into ``input``.

    >>> x = xpnet.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> gather(x, 1, xpnet.tensor([[0, 0], [1, 0]])).tolist()
    [[1.0, 1.0], [4.0, 3.0]]
    """
    _check_index("gather", input, index)
    d = _dim("gather", dim, input.ndim)
    if index.ndim != input.ndim:
        raise ValueError(f"gather: index must have as many axes as input ({input.ndim}), got "
                         f"shape {index.shape} for input {input.shape}")
    for i, (m, n) in enumerate(zip(index.shape, input.shape)):
        if i != d and m > n:
            raise ValueError(f"gather: index must be no larger than input on every axis but dim "
                             f"{d}, got shape {index.shape} for input {input.shape}")
    if input.ndim == 0:
        return index_select(input, 0, index)
    check_range("gather", "index", input.backend, index.array, input.shape[d])
    return Take(GatherPlan(input.shape, d, index.array), "gather")(input)


# -- x[index] with integer tensors (NumPy's and PyTorch's advanced indexing) -------------------

def _is_array_part(part) -> bool:
    return _backend.is_array(part) and hasattr(part, "dtype")


def advanced_getitem(x: Tensor, parts: tuple, getitem) -> Tensor:
    """``x[parts]`` where some parts are integer arrays of x's library (the rest ints, slices,
    None, Ellipsis), with PyTorch's rules: the ints and slices apply first; the arrays broadcast
    together to a shape B; their axes are replaced by B's, in place when the arrays stand side
    by side, else in front. Built from differentiable ops: ``getitem`` (the basic parts), ``permute``,
    ``reshape`` and one :func:`index_select` over the indexed axes flattened together."""
    from .shape import permute, reshape
    xp = x.xp
    basic = tuple(slice(None) if _is_array_part(p) else p for p in parts)
    y = getitem(x, basic)                    # checks the basic parts, drops the int axes
    consumed = sum(1 for p in parts if p is not None and p is not Ellipsis)
    axes, out = [], 0
    for p in parts:
        if p is None or isinstance(p, slice):
            out += 1
        elif p is Ellipsis:
            out += x.ndim - consumed
        elif _is_array_part(p):
            axes.append(out)
            out += 1
    arrays = [p for p in parts if _is_array_part(p)]
    # PyTorch applies int parts first (NumPy would count them with the arrays), so whether the
    # arrays stand side by side is judged on the axes left once the ints are gone
    side_by_side = axes == list(range(axes[0], axes[0] + len(axes)))
    with x.backend.scope():
        try:
            arrays = xp.broadcast_arrays(*arrays)
        except (ValueError, RuntimeError):   # RuntimeError: PyTorch's word for it
            raise IndexError(f"getitem: index tensors must broadcast together, got shapes "
                             f"{[tuple(a.shape) for a in arrays]}") from None
        shape_b = tuple(arrays[0].shape)
        flat = None
        for a, axis in zip(arrays, axes):
            n = y.shape[axis]
            a = xp.reshape(a, (-1,))
            check_range("getitem", "an index tensor's entries on an axis of size " + str(n),
                        x.backend, a, n, negative=True)
            a = xp.where(a < 0, a + n, a)
            flat = a if flat is None else flat * n + a
    rest = [i for i in range(y.ndim) if i not in axes]
    if len(axes) > 1:
        y = permute(y, tuple(axes) + tuple(rest))
        y = reshape(y, (-1,) + tuple(y.shape[len(axes):]))
        at = 0
    else:
        at = axes[0]
    y = Take(IndexSelectPlan(y.shape, at, flat), "getitem")(y)
    y = reshape(y, y.shape[:at] + shape_b + y.shape[at + 1:])
    if at == 0 and side_by_side and axes[0] > 0:       # B's axes back where the arrays stood
        k, first = len(shape_b), axes[0]
        order = tuple(range(k, k + first)) + tuple(range(k)) + tuple(range(k + first, y.ndim))
        y = permute(y, order)
    elif at > 0 and not side_by_side:                  # B's axes in front
        k = len(shape_b)
        order = tuple(range(at, at + k)) + tuple(range(at)) + tuple(range(at + k, y.ndim))
        y = permute(y, order)
    return y
