"""Activations: relu, leaky_relu, sigmoid, tanh, softmax, log_softmax, gelu."""
from __future__ import annotations

import math

from ..autograd import Function, Tensor


class ReLU(Function):
    name = "relu"

    def forward(self, x):
        self.y = self.xp.maximum(x, 0.0)
        return self.y

    def backward(self, grad_y):
        # multiply by the 0/1 mask: on NumPy, where() with a random mask is ~10x slower
        return grad_y * self.xp.astype(self.y > 0, grad_y.dtype)


class LeakyReLU(Function):
    name = "leaky_relu"

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        xp = self.xp
        # slope where x <= 0, else 1: one multiply instead of a branchy where()
        self.slope = 1.0 + (self.negative_slope - 1.0) * xp.astype(x <= 0, x.dtype)
        return x * self.slope

    def backward(self, grad_y):
        return grad_y * self.slope


class Sigmoid(Function):
    name = "sigmoid"

    def forward(self, x):
        # 1/(1+e^-x) written through tanh: one op, and no overflow for large |x|
        self.y = 0.5 * (self.xp.tanh(0.5 * x) + 1.0)
        return self.y

    def backward(self, grad_y):
        return grad_y * self.y * (1.0 - self.y)


class Tanh(Function):
    name = "tanh"

    def forward(self, x):
        self.y = self.xp.tanh(x)
        return self.y

    def backward(self, grad_y):
        return grad_y * (1.0 - self.y * self.y)


def _check_axis(op, axis, ndim):
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis must be in [{-ndim}, {ndim}) for a {ndim}-D tensor, "
                         f"got {axis}")


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max)); grad_x = y * (grad_y - sum(grad_y * y))."""

    name = "softmax"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        _check_axis("softmax", self.axis, x.ndim)
        xp = self.xp
        e = xp.exp(x - xp.max(x, axis=self.axis, keepdims=True))
        self.y = e / xp.sum(e, axis=self.axis, keepdims=True)
        return self.y

    def backward(self, grad_y):
        y = self.y
        return y * (grad_y - self.xp.sum(grad_y * y, axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y = x - max - log(sum(exp(x - max))); grad_x = grad_y - softmax * sum(grad_y)."""

    name = "log_softmax"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        _check_axis("log_softmax", self.axis, x.ndim)
        xp = self.xp
        shifted = x - xp.max(x, axis=self.axis, keepdims=True)
        self.y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=self.axis, keepdims=True))
        return self.y

    def backward(self, grad_y):
        xp = self.xp
        return grad_y - xp.exp(self.y) * xp.sum(grad_y, axis=self.axis, keepdims=True)


def erf(xp, x):
    """Error function for arrays (the Array API has none): Numerical Recipes' erfc
    Chebyshev fit, fractional error below 1.2e-7 everywhere."""
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * xp.exp(poly)
    return xp.where(x >= 0, 1.0 - erfc, erfc - 1.0)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class GELU(Function):
    """x·Φ(x). ``approximate='tanh'`` uses 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))."""

    name = "gelu"

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        xp = self.xp
        self.x = x
        if self.approximate == "tanh":
            self.t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1.0 + self.t)
        self.cdf = 0.5 * (1.0 + erf(xp, x / math.sqrt(2.0)))
        return x * self.cdf

    def backward(self, grad_y):
        xp, x = self.xp, self.x
        if self.approximate == "tanh":
            t = self.t
            dinner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
            return grad_y * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)
        pdf = xp.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return grad_y * (self.cdf + x * pdf)


def relu(x: Tensor) -> Tensor:
    """max(x, 0); gradient 1 where x > 0, else 0."""
    return ReLU()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope·x."""
    return LeakyReLU(float(negative_slope))(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x); gradient y(1 - y)."""
    return Sigmoid()(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent; gradient 1 - y²."""
    return Tanh()(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (shifted by the max for stability)."""
    return Softmax(axis)(x)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) computed stably along ``axis``."""
    return LogSoftmax(axis)(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x·Φ(x); ``approximate`` is 'none' (erf) or 'tanh'."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(x)
