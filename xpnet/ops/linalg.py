"""Matrix products: matmul and the affine map ``linear``."""
from __future__ import annotations

import math

from ..autograd import Function, Tensor
from .window import require_tensors


class MatMul(Function):
    """y = a @ b for a (..., n, k), b (..., k, m), batch axes broadcast."""

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError(f"matmul: both operands must be at least 2-D, got shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: a.shape[-1] must equal b.shape[-2], got a "
                             f"{tuple(a.shape)} and b {tuple(b.shape)}")
        self.a, self.b = a, b
        return self.xp.matmul(a, b)

    def backward(self, grad_y):
        xp = self.xp
        need_a, need_b = self.needs_input_grad
        grad_a = xp.matmul(grad_y, xp.matrix_transpose(self.b)) if need_a else None
        grad_b = xp.matmul(xp.matrix_transpose(self.a), grad_y) if need_b else None
        return grad_a, grad_b  # Function sums broadcast batch axes back


class Linear(Function):
    """y = x @ weight.T + bias, for x (..., in), weight (out, in), bias (out,) or None."""

    name = "linear"
    floating_inputs = {0: "x", 1: "weight"}

    def forward(self, x, weight, bias):
        if weight.ndim != 2:
            raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got "
                             f"shape {tuple(weight.shape)}")
        if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: x.shape[-1] must equal weight.shape[1] = {weight.shape[1]} "
                             f"(in_features), got x {tuple(x.shape)} and weight "
                             f"{tuple(weight.shape)}")
        if bias is not None and tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), "
                             f"got {tuple(bias.shape)}")
        xp = self.xp
        # (..., in) as one (M, in) matrix: NumPy would run a (T, N, in) @ (in, out) product
        # as N small GEMMs, one BLAS call (and thread wake-up) each
        self.in_shape = tuple(x.shape)
        # the row count spelled out: reshape's -1 is ambiguous when an axis is 0
        self.rows = math.prod(self.in_shape[:-1])
        x2 = xp.reshape(x, (self.rows, x.shape[-1])) if x.ndim != 2 else x
        self.x2, self.weight, self.has_bias = x2, weight, bias is not None
        y = xp.matmul(x2, xp.matrix_transpose(weight))
        if bias is not None:
            y += bias  # in place: y is a fresh array
        return xp.reshape(y, self.in_shape[:-1] + (weight.shape[0],)) if x.ndim != 2 else y

    def backward(self, grad_y):
        xp = self.xp
        g2 = xp.reshape(grad_y, (self.rows, grad_y.shape[-1])) if grad_y.ndim != 2 else grad_y
        grad_x = None
        if self.needs_input_grad[0]:
            grad_x = xp.matmul(g2, self.weight)
            if len(self.in_shape) != 2:
                grad_x = xp.reshape(grad_x, self.in_shape)
        grad_weight = xp.matmul(xp.matrix_transpose(g2), self.x2) \
            if self.needs_input_grad[1] else None
        grad_bias = xp.sum(g2, axis=0) if self.has_bias and self.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product; grad_a = grad_y @ b.T, grad_b = a.T @ grad_y."""
    require_tensors("matmul", input=a, other=b)
    return MatMul()(a, b)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``x @ weight.T + bias``; x (..., in), weight (out, in), bias (out,).

    >>> linear(xpnet.ones(8, 3), xpnet.ones(4, 3), xpnet.zeros(4)).tolist()[0]
    [3.0, 3.0, 3.0, 3.0]
    """
    require_tensors("linear", input=x, weight=weight, bias=bias)
    return Linear()(x, weight, bias)
