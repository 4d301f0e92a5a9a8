"""Activations, each with the derivative its backward multiplies by::

    relu(x)        = max(x, 0)                      relu'       = [y > 0]
    leaky_relu(x)  = x if x > 0 else a·x            leaky_relu' = 1 if x > 0 else a
    sigmoid(x)     = 1 / (1 + e^-x)                 sigmoid'    = y·(1 - y)
    tanh(x)                                         tanh'       = 1 - y²
    softmax(x)_i   = e^x_i / Σ_j e^x_j              grad_x      = y·(g - Σ_j g_j·y_j)
    log_softmax(x) = x - log Σ_j e^x_j              grad_x      = g - softmax(x)·Σ_j g_j
    gelu(x)        = x·Φ(x)                         gelu'       = Φ(x) + x·φ(x)
                     (Φ by erf, or by tanh with approximate='tanh')

The elementwise ones are fused (:func:`xpnet.kernels.fuse`): one kernel on a GPU, one compiled
pass on the CPU, the plain calls below elsewhere.

In half precision (float16, bfloat16) softmax, log_softmax and gelu compute in float32 and round
the result back, as PyTorch does: a float16 sum of exponentials overflows past 65504 terms and
loses a bit per doubling, and gelu's rational erf has terms past float16's range.
"""
from __future__ import annotations

import math

from .. import kernels
from ..autograd import Function, Tensor
from ..checks import is_half
from .spelling import dim_arg


def logistic(xp, z):
    """σ(z) = 1/(1 + e^-z), written through tanh: one transcendental and no overflow for large
    |z|. The one spelling of the sigmoid, used by every op that needs it."""
    return 0.5 * xp.tanh(0.5 * z) + 0.5


@kernels.fuse
def relu_forward(xp, x):
    """max(x, 0), NaN kept (as numpy.maximum): on the CPU one compiled pass, its output from the
    host allocator (3x faster than numpy.maximum on the NCHW view of a conv's NHWC output)."""
    return xp.maximum(x, 0.0)


@kernels.fuse
def relu_grad(xp, grad_y, y):
    # multiply by the 0/1 mask: on NumPy, where() with a random mask is ~10x slower
    return grad_y * xp.astype(y > 0.0, grad_y.dtype)


def widened(xp, x):
    """``x`` in float32 when it is float16 or bfloat16 (where the op computes), else ``x``."""
    return xp.astype(x, xp.float32) if is_half(x.dtype) else x


def narrowed(xp, y, like):
    """``y`` back in ``like``'s dtype after :func:`widened`."""
    return y if y.dtype == like.dtype else xp.astype(y, like.dtype)


class ReLU(Function):
    name = "relu"

    def forward(self, x):
        self.y = relu_forward(self.xp, x)
        return self.y

    def backward(self, grad_y):
        return relu_grad(self.xp, grad_y, self.y)


@kernels.fuse
def leaky_relu_forward(xp, x, slope):
    return xp.maximum(x, 0.0) + slope * xp.minimum(x, 0.0)


@kernels.fuse
def leaky_relu_grad(xp, grad_y, x, slope_minus_one):
    # 1 where x > 0, slope where x <= 0 (PyTorch's rule at 0), as one multiply by 1 + (s-1)·mask
    return grad_y * (1.0 + slope_minus_one * xp.astype(x <= 0.0, grad_y.dtype))


class LeakyReLU(Function):
    name = "leaky_relu"
    floating_inputs = {0: "x"}

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x
        return leaky_relu_forward(self.xp, x, self.negative_slope)

    def backward(self, grad_y):
        # the coefficient comes from the host: no scalar-with-scalar arithmetic in a kernel
        return leaky_relu_grad(self.xp, grad_y, self.x, self.negative_slope - 1.0)


class Sigmoid(Function):
    name = "sigmoid"
    floating_inputs = {0: "x"}

    def forward(self, x):
        self.y = logistic(self.xp, x)
        return self.y

    def backward(self, grad_y):
        return grad_y * self.y * (1.0 - self.y)


class Tanh(Function):
    name = "tanh"
    floating_inputs = {0: "x"}

    def forward(self, x):
        self.y = self.xp.tanh(x)
        return self.y

    def backward(self, grad_y):
        return grad_y * (1.0 - self.y * self.y)


def _check_axis(op, axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis must be in [{-ndim}, {ndim}) for a {ndim}-D tensor, "
                         f"got {axis}")


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max)); grad_x = y * (grad_y - sum(grad_y * y))."""

    name = "softmax"
    floating_inputs = {0: "x"}

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        _check_axis("softmax", self.axis, x.ndim)
        xp = self.xp
        wide = widened(xp, x)
        e = xp.exp(wide - xp.max(wide, axis=self.axis, keepdims=True))
        self.y = e / xp.sum(e, axis=self.axis, keepdims=True)
        return narrowed(xp, self.y, x)

    def backward(self, grad_y):
        xp, y, g = self.xp, self.y, widened(self.xp, grad_y)
        return narrowed(xp, y * (g - xp.sum(g * y, axis=self.axis, keepdims=True)), grad_y)


class LogSoftmax(Function):
    """y = x - max - log(sum(exp(x - max))); grad_x = grad_y - softmax * sum(grad_y)."""

    name = "log_softmax"
    floating_inputs = {0: "x"}

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        _check_axis("log_softmax", self.axis, x.ndim)
        xp = self.xp
        wide = widened(xp, x)
        shifted = wide - xp.max(wide, axis=self.axis, keepdims=True)
        self.y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=self.axis, keepdims=True))
        return narrowed(xp, self.y, x)

    def backward(self, grad_y):
        xp, g = self.xp, widened(self.xp, grad_y)
        return narrowed(xp, g - xp.exp(self.y) * xp.sum(g, axis=self.axis, keepdims=True), grad_y)


# W. J. Cody's rational approximations (Math. Comp. 23, 1969; Netlib specfun CALERF): erf to
# float64 round-off, so the forward agrees with the analytic backward x·pdf(x) (gradcheck-tight).
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)


def _ratio(z, num, den, n):
    """Cody's nested evaluation of num(z)/den(z) with n inner steps."""
    top, bottom = num[-1] * z, z
    for i in range(n):
        top, bottom = (top + num[i]) * z, (bottom + den[i]) * z
    return top, bottom


def erf(xp, x):
    """Error function for arrays (the Array API has none), accurate to float64 round-off.

    Three ranges of |x| as in Cody's CALERF: erf = x·R(x²) below 0.46875, else 1 - erfc with
    erfc = e^{-x²}·R(|x|) up to 4 and e^{-x²}(1/√π - R(1/x²)/x²)/|x| beyond. Each branch sees
    its inputs clamped to its own range so no branch overflows.
    """
    z = xp.abs(x)
    small = xp.minimum(z, 0.46875)
    top, bottom = _ratio(small * small, _ERF_A, _ERF_B, 3)
    erf_small = x * (top + _ERF_A[3]) / (bottom + _ERF_B[3])
    mid = xp.minimum(xp.maximum(z, 0.46875), 4.0)
    top, bottom = _ratio(mid, _ERF_C, _ERF_D, 7)
    erfc_mid = xp.exp(-mid * mid) * (top + _ERF_C[7]) / (bottom + _ERF_D[7])
    big = xp.maximum(z, 4.0)
    inv = 1.0 / (big * big)
    top, bottom = _ratio(inv, _ERF_P, _ERF_Q, 4)
    tail = inv * (top + _ERF_P[4]) / (bottom + _ERF_Q[4])
    erfc_big = xp.exp(-big * big) * (0.56418958354775628695 - tail) / big
    erf_abs = 1.0 - xp.where(z <= 4.0, erfc_mid, erfc_big)
    return xp.where(z <= 0.46875, erf_small, xp.where(x >= 0, erf_abs, -erf_abs))


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@kernels.fuse
def gelu_cdf(xp, x):
    """Φ(x) = (1 + erf(x/√2))/2: the whole rational erf in one kernel."""
    return 0.5 * erf(xp, x * _INV_SQRT_2) + 0.5


@kernels.fuse
def gelu_grad(xp, grad_y, x, cdf):
    return grad_y * (cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI)


@kernels.fuse
def gelu_tanh_inner(xp, x):
    return xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))


@kernels.fuse
def gelu_tanh_grad(xp, grad_y, x, t):
    dinner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
    return grad_y * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)


class GELU(Function):
    """x·Φ(x). ``approximate='tanh'`` uses 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))."""

    name = "gelu"
    floating_inputs = {0: "x"}

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        xp = self.xp
        self.x = wide = widened(xp, x)
        if self.approximate == "tanh":
            self.t = gelu_tanh_inner(xp, wide)
            return narrowed(xp, 0.5 * wide * (1.0 + self.t), x)
        self.cdf = gelu_cdf(xp, wide)
        return narrowed(xp, wide * self.cdf, x)

    def backward(self, grad_y):
        xp, g = self.xp, widened(self.xp, grad_y)
        if self.approximate == "tanh":
            return narrowed(xp, gelu_tanh_grad(xp, g, self.x, self.t), grad_y)
        return narrowed(xp, gelu_grad(xp, g, self.x, self.cdf), grad_y)


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


def softmax(x: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (``axis``; default the last), shifted by the max.

    >>> softmax(xpnet.tensor([[0.0, 0.0]]), dim=1).tolist()
    [[0.5, 0.5]]
    """
    return Softmax(dim_arg("softmax", dim, axis, -1))(x)


def log_softmax(x: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """log(softmax(x)) computed stably along ``dim`` (``axis``; default the last)."""
    return LogSoftmax(dim_arg("log_softmax", dim, axis, -1))(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x·Φ(x); ``approximate`` is 'none' (erf) or 'tanh'."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(x)
