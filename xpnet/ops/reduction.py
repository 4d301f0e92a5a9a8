"""Reductions: sum, mean, amax, amin over an axis (or several, or all); max / min with indices
as in PyTorch; argmax, argmin; normalize.

    sum:        y = Σ_i x_i                          grad_x = grad_y (broadcast back)
    mean:       y = Σ_i x_i / n                      grad_x = grad_y / n
    amax/amin:  y = max_i x_i                        grad_x = grad_y shared among the ties
    normalize:  y = x / max(‖x‖_p, eps)              (composed of the ops above)

Dtypes follow PyTorch: integer and boolean tensors sum in int64; mean wants floating point.
"""
from __future__ import annotations

import math

from typing import NamedTuple

from ..autograd import Function, Tensor
from .spelling import dim_arg, keepdim_arg


def normalize_axes(op, axis, ndim) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    # a 0-d tensor takes axis 0 or -1 (nothing to reduce), as in PyTorch; not max(ndim, 1):
    # in this module max() is the op
    bound = ndim or 1
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool) or not -bound <= a < bound:
            raise ValueError(f"{op}: axis must be an int in [{-ndim}, {ndim}) for a "
                             f"{ndim}-D tensor, got {axis!r}")
        if ndim:
            out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis has repeated entries: {axis!r}")
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class _Reduction(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def prepare(self, x):
        """The axes to reduce, or None when there are none (``axis=()``, 0-d input): identity."""
        self.axes = normalize_axes(self.op_name, self.axis, x.ndim)
        self.in_shape = tuple(x.shape)
        return self.axes if self.axes else None

    def expand(self, g):
        """Gradient of the reduced shape, reshaped so it broadcasts against the input."""
        if not self.keepdims:
            g = self.xp.reshape(g, _kept_shape(self.in_shape, self.axes))
        return g


class Sum(_Reduction):
    def forward(self, x):
        axes = self.prepare(x)
        return self.xp.sum(x, axis=axes, keepdims=self.keepdims) if axes else x

    def backward(self, grad_y):
        return self.xp.broadcast_to(self.expand(grad_y), self.in_shape)


class Mean(_Reduction):
    floating_inputs = {0: "input"}

    def forward(self, x):
        axes = self.prepare(x)
        self.count = math.prod(self.in_shape[a] for a in self.axes)
        if self.count == 0:
            raise ValueError(f"mean: cannot average over an empty axis, got shape {self.in_shape}")
        return self.xp.mean(x, axis=axes, keepdims=self.keepdims) if axes else x

    def backward(self, grad_y):
        # times 1/count, a Python float: a count past float16's 65504 would round to inf
        return self.xp.broadcast_to(self.expand(grad_y) * (1.0 / self.count), self.in_shape)


class Extremum(_Reduction):
    """amax (``reduce='max'``) or amin (``'min'``); ties share the gradient equally (as
    PyTorch's amax/amin do)."""

    def __init__(self, reduce, axis, keepdims):
        super().__init__(axis, keepdims)
        self.reduce, self.name = reduce, "a" + reduce

    def forward(self, x):
        axes = self.prepare(x)
        if any(self.in_shape[a] == 0 for a in self.axes):
            raise ValueError(f"{self.op_name}: cannot reduce over an empty axis, "
                             f"got shape {self.in_shape}")
        if axes is None:  # axis=() reduces nothing; axis=None here would reduce everything
            return x
        y = getattr(self.xp, self.reduce)(x, axis=axes, keepdims=True)
        self.x, self.y_kept = x, y
        return y if self.keepdims else self.xp.reshape(
            y, tuple(n for i, n in enumerate(self.in_shape) if i not in self.axes))

    def backward(self, grad_y):
        xp = self.xp
        if not self.axes:
            return grad_y
        hit = xp.astype(self.x == self.y_kept, grad_y.dtype)
        count = xp.sum(hit, axis=self.axes, keepdims=True)
        return hit * (self.expand(grad_y) / count)


class ExtremumWithIndex(Function):
    """Values and indices of the max (``reduce='max'``) or min along one axis, as
    ``torch.max(x, dim)``: the gradient goes to the index returned (the first extremum on
    ties), not shared."""

    differentiable_outputs = (0,)

    def __init__(self, reduce, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims
        self.name, self.arg = reduce, "arg" + reduce

    def forward(self, x):
        xp = self.xp
        if not isinstance(self.axis, int) or isinstance(self.axis, bool):
            raise TypeError(f"{self.op_name}: dim must be one int when indices are returned, got "
                            f"{self.axis!r}; use amax/amin to reduce over several axes")
        (axis,) = normalize_axes(self.op_name, self.axis, x.ndim)
        if x.ndim and x.shape[axis] == 0:
            raise ValueError(f"{self.op_name}: cannot reduce over an empty axis, got shape "
                             f"{tuple(x.shape)}")
        self.in_shape, self.ax = tuple(x.shape), axis
        index = getattr(xp, self.arg)(x, axis=axis, keepdims=True)
        values = getattr(xp, self.arg[3:])(x, axis=axis, keepdims=True)
        self.index = index
        if not self.keepdims:
            kept = tuple(n for i, n in enumerate(x.shape) if i != axis)
            values, index = xp.reshape(values, kept), xp.reshape(index, kept)
        return values, xp.astype(index, xp.int64)

    def backward(self, grad_values, grad_index):
        xp, axis = self.xp, self.ax
        n = self.in_shape[axis]
        where = tuple(n if i == axis else 1 for i in range(len(self.in_shape)))
        positions = xp.reshape(xp.arange(n, dtype=self.index.dtype, device=grad_values.device),
                               where)
        hit = xp.astype(positions == self.index, grad_values.dtype)
        if not self.keepdims:
            grad_values = xp.reshape(grad_values, tuple(1 if i == axis else m
                                                        for i, m in enumerate(self.in_shape)))
        return hit * grad_values


class MaxMin(NamedTuple):
    """What ``max(x, dim)`` and ``min(x, dim)`` return, as ``torch.return_types.max``."""
    values: Tensor
    indices: Tensor


def _cast(op, x, dtype):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if dtype is not None:
        return x if x.dtype == dtype else x.astype(dtype)
    if op == "sum" and not x.dtype.is_floating_point and x.dtype != "int64" and \
            not x.dtype.name.startswith("complex"):
        return x.astype("int64")       # PyTorch's rule: bool and integer tensors sum in int64
    return x


def sum(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None,  # noqa: A001
        dtype=None) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all axes); ``axis=`` is the same. Boolean
    and integer tensors sum in int64, as in PyTorch; ``dtype`` casts the input first.

    >>> sum(xpnet.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=0).tolist()
    [4.0, 6.0]
    >>> sum(xpnet.tensor([True, True, False])).item()
    2
    """
    return Sum(dim_arg("sum", dim, axis), keepdim_arg("sum", keepdim, keepdims))(
        _cast("sum", x, dtype))


def mean(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None, dtype=None) -> Tensor:
    """Arithmetic mean over ``dim`` (None: all axes) of a floating-point tensor (``dtype``
    casts the input first), as ``torch.mean``."""
    return Mean(dim_arg("mean", dim, axis), keepdim_arg("mean", keepdim, keepdims))(
        _cast("mean", x, dtype))


def amax(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    """Maximum values over ``dim`` (the Array API's ``max``); ties share the gradient."""
    return Extremum("max", dim_arg("amax", dim, axis), keepdim_arg("amax", keepdim, keepdims))(x)


def amin(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    """Minimum values over ``dim`` (the Array API's ``min``); ties share the gradient."""
    return Extremum("min", dim_arg("amin", dim, axis), keepdim_arg("amin", keepdim, keepdims))(x)


def _extremum(op, x, dim, keepdim, axis, keepdims, pairwise):
    if isinstance(dim, Tensor):                 # torch.max(a, b): the elementwise maximum
        return pairwise(x, dim)
    dim = dim_arg(op, dim, axis)
    if dim is None:
        return Extremum(op, None, keepdim_arg(op, keepdim, keepdims))(x)
    return MaxMin(*ExtremumWithIndex(op, dim, keepdim_arg(op, keepdim, keepdims))(x))


def max(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None):  # noqa: A001
    """As ``torch.max``: with no ``dim``, the largest element (a 0-d tensor); with an int
    ``dim``, a ``(values, indices)`` pair whose gradient goes to the indices; with a tensor, the
    elementwise maximum. ``amax`` gives values over several axes.

    >>> values, indices = max(xpnet.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
    >>> values.tolist(), indices.tolist()
    ([5.0, 7.0], [1, 0])
    """
    from .elementwise import maximum
    return _extremum("max", x, dim, keepdim, axis, keepdims, maximum)


def min(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None):  # noqa: A001
    """As ``torch.min`` (see :func:`max`)."""
    from .elementwise import minimum
    return _extremum("min", x, dim, keepdim, axis, keepdims, minimum)


def _arg(op, x, dim, keepdim, axis, keepdims):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    dim = dim_arg(op, dim, axis)
    keep = keepdim_arg(op, keepdim, keepdims)
    if dim is not None:
        normalize_axes(op, dim, x.ndim)
        if not isinstance(dim, int):
            raise TypeError(f"{op}: dim must be an int or None, got {dim!r}")
    if (x.shape[dim] if dim is not None and x.ndim else x.numel()) == 0:
        raise ValueError(f"{op}: cannot take the {op[3:]} of an empty tensor of shape {x.shape}")
    data = getattr(x.xp, op)(x.array, axis=dim, keepdims=keep)
    return Tensor.from_array(x.xp.astype(data, x.xp.int64), False, x.backend)


def argmax(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    """Indices of the maxima along ``dim`` (None: of the flattened tensor); no gradient."""
    return _arg("argmax", x, dim, keepdim, axis, keepdims)


def argmin(x: Tensor, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
    """Indices of the minima along ``dim`` (None: of the flattened tensor); no gradient."""
    return _arg("argmin", x, dim, keepdim, axis, keepdims)


def normalize(input: Tensor, p: float = 2.0, dim=1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """``input / max(‖input‖_p, eps)`` with the norm over ``dim``, as
    ``torch.nn.functional.normalize``. For p = 2 the norm is ``sqrt(max(Σx², eps²))``, the
    same value, so that an all-zero slice gets a zero gradient (not NaN).

    >>> [round(v, 4) for v in normalize(xpnet.tensor([[3.0, 4.0]]))[0].tolist()]
    [0.6, 0.8]
    """
    from . import elementwise as ew
    if not isinstance(input, Tensor):
        raise TypeError(f"normalize: input must be a Tensor, got {type(input).__name__}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"normalize: p must be a positive number, got {p!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"normalize: eps must be a non-negative number, got {eps!r}")
    if p == 2:
        norm = ew.sqrt(ew.maximum(sum(input * input, dim, True), float(eps) ** 2))
    elif p == math.inf:
        norm = ew.maximum(amax(ew.abs(input), dim, True), float(eps))
    else:
        total = sum(ew.pow(ew.abs(input), float(p)), dim, True)
        norm = ew.maximum(ew.pow(total, 1.0 / p), float(eps))
    return input / norm
