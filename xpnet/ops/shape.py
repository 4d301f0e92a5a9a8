"""Shape ops: reshape, flatten, transpose, permute, basic-slicing getitem, concat, stack."""
from __future__ import annotations

import math

from ..autograd import Function, Tensor


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
            raise TypeError(f"getitem: only basic indexing (ints, slices, None, ...) is "
                            f"differentiable, got {type(p).__name__}; use take() or a one-hot "
                            f"product for gathers")
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
                raise IndexError(f"getitem: index {p} is out of range for an axis of size {n}")
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
    """View with a new shape (one entry may be -1). ``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return Reshape(tuple(int(n) for n in shape))(x)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one (``flatten(x, 1)`` keeps the batch axis)."""
    ndim = x.ndim
    for d in (start_dim, end_dim):
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise ValueError(f"flatten: dims must be in [{-max(ndim, 1)}, {max(ndim, 1)}) for a "
                             f"{ndim}-D tensor, got start_dim={start_dim}, end_dim={end_dim}")
    s, e = start_dim % max(ndim, 1), end_dim % max(ndim, 1)
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})")
    shape = x.shape
    return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def permute(x: Tensor, *axes) -> Tensor:
    """Reorder axes; ``permute(x, 0, 2, 1)``."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return Permute(tuple(int(a) % max(x.ndim, 1) if -x.ndim <= int(a) < x.ndim else int(a)
                         for a in axes))(x)


def transpose(x: Tensor, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes (the last two by default)."""
    ndim = x.ndim
    for a in (axis0, axis1):
        if not -ndim <= a < ndim:
            raise ValueError(f"transpose: axes must be in [{-ndim}, {ndim}), got ({axis0}, {axis1})")
    axes = list(range(ndim))
    axes[axis0 % ndim], axes[axis1 % ndim] = axes[axis1 % ndim], axes[axis0 % ndim]
    return Permute(tuple(axes))(x)


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]`` for basic indexing (ints, slices with positive steps, None, Ellipsis)."""
    return GetItem(index)(x)


def concat(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat: expected at least one tensor, got an empty sequence")
    return Concat(axis)(*tensors)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected at least one tensor, got an empty sequence")
    return Stack(axis)(*tensors)
