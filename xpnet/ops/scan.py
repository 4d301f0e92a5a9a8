"""Cumulative sum along an axis.

    y[..., i, ...] = sum_{j <= i} x[..., j, ...]

Backward, the reversed cumulative sum (the adjoint of a lower-triangular ones matrix is the
upper one):

    grad_x[..., j, ...] = sum_{i >= j} grad_y[..., i, ...]

Both are linear, so each is the other's gradient; under ``create_graph`` the backward runs as
the reversed op, to any order.
"""
from __future__ import annotations

from .. import backend as _backend
from ..autograd import Function, Tensor


def _cumulative_sum(xp, x, axis, reverse):
    if reverse:
        return xp.flip(xp.cumulative_sum(xp.flip(x, axis=axis), axis=axis), axis=axis)
    return xp.cumulative_sum(x, axis=axis)


class CumSum(Function):
    """The running sum along ``axis`` (from the end when ``reverse``)."""

    name = "cumsum"

    def __init__(self, axis, reverse=False):
        self.axis, self.reverse = axis, reverse

    def forward(self, x):
        return _cumulative_sum(self.xp, x, self.axis, self.reverse)

    def backward(self, grad_y):
        return _cumulative_sum(self.xp, grad_y, self.axis, not self.reverse)

    def backward_on_tensors(self, grads):
        return (CumSum(self.axis, not self.reverse)(grads[0]),)


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """The running sum along ``dim``, as ``torch.cumsum``: integer and boolean inputs sum in
    int64 (PyTorch's rule), ``dtype`` casts the input first.

    >>> cumsum(xpnet.tensor([1.0, 2.0, 3.0]), 0).tolist()
    [1.0, 3.0, 6.0]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"cumsum: input must be a Tensor, got {type(input).__name__}")
    ndim = input.ndim
    bound = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -bound <= dim < bound:
        raise IndexError(f"cumsum: dim must be an int in [{-bound}, {bound}) for a {ndim}-D "
                         f"tensor, got {dim!r}")
    if dtype is not None:
        input = input.astype(_backend.dtype_name(dtype))
    elif not input.dtype.is_floating_point and input.dtype != "int64" and \
            not _backend.dtype_name(input.dtype).startswith("complex"):
        input = input.astype("int64")
    if ndim == 0:
        return input.astype(input.dtype)   # a copy, as PyTorch's
    return CumSum(dim % ndim)(input)
