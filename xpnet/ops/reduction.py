"""Reductions: sum, mean, max, min over an axis (or several, or all)."""
from __future__ import annotations

import math

from ..autograd import Function, Tensor


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
    def forward(self, x):
        axes = self.prepare(x)
        self.count = math.prod(self.in_shape[a] for a in self.axes)
        if self.count == 0:
            raise ValueError(f"mean: cannot average over an empty axis, got shape {self.in_shape}")
        return self.xp.mean(x, axis=axes, keepdims=self.keepdims) if axes else x

    def backward(self, grad_y):
        return self.xp.broadcast_to(self.expand(grad_y) / self.count, self.in_shape)


class _Extremum(_Reduction):
    """Max or min; ties share the gradient equally (as PyTorch's amax/amin do)."""

    reduce = None

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


class Max(_Extremum):
    reduce = "max"


class Min(_Extremum):
    reduce = "min"


def sum(x: Tensor, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all axes)."""
    return Sum(axis, keepdims)(x)


def mean(x: Tensor, axis=None, keepdims=False) -> Tensor:
    """Arithmetic mean over ``axis`` (None: all axes)."""
    return Mean(axis, keepdims)(x)


def max(x: Tensor, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; the gradient goes to the arg-max (shared among ties)."""
    return Max(axis, keepdims)(x)


def min(x: Tensor, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; the gradient goes to the arg-min (shared among ties)."""
    return Min(axis, keepdims)(x)
