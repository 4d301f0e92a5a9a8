"""The two pieces of a variational autoencoder's loss that are not a layer, each one Function.

* :func:`reparameterize`: z = μ + σ⊙ε with σ = exp(½·log σ²) and ε ~ N(0, I) drawn on the
  device by :mod:`xpnet.random`, so that the gradient passes through the sampling:
  dz/dμ = 1, dz/d(log σ²) = ½·σ⊙ε.
* :func:`gaussian_kl`: KL(N(μ, σ²) ‖ N(0, I)) = -½·Σ(1 + log σ² - μ² - σ²) in closed form;
  its gradients are μ and ½·(σ² - 1).

In float16 and bfloat16 the reductions sum and divide in float32 (as PyTorch's): a float16 sum
of many terms loses bits, and a count past 65504 is infinite in float16.

Written as single ops (rather than five elementwise ones each) because a small model's step
time is its op count: on a GPU each launch costs about as much host time as the arithmetic.
"""
from __future__ import annotations

import math

from ..autograd import Function, Tensor
from .. import random as _random
from .activation import narrowed, widened

_REDUCTIONS = ("sum", "batchmean", "mean", "none")


def _check_pair(op, mu, logvar):
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ValueError(f"{op}: mu and logvar must have the same shape, got mu "
                         f"{tuple(mu.shape)} and logvar {tuple(logvar.shape)}")


class Reparameterize(Function):
    name = "reparameterize"
    floating_inputs = {0: "mu", 1: "logvar"}

    def forward(self, mu, logvar):
        _check_pair(self.op_name, mu, logvar)
        xp = self.xp
        eps = _random.normal(self.backend, mu.shape, mu.dtype)   # half: via float32
        self.spread = xp.exp(0.5 * logvar) * eps          # σ⊙ε, kept for the gradient
        return mu + self.spread

    def backward(self, grad_z):
        return grad_z, 0.5 * grad_z * self.spread


class GaussianKL(Function):
    name = "gaussian_kl"
    floating_inputs = {0: "mu", 1: "logvar"}

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, mu, logvar):
        _check_pair(self.op_name, mu, logvar)
        xp = self.xp
        self.mu, self.var = mu, xp.exp(logvar)
        pointwise = -0.5 * (1.0 + logvar - mu * mu - self.var)
        self.count = {"sum": 1, "none": 1, "batchmean": mu.shape[0] if mu.ndim else 1,
                      "mean": max(1, math.prod(mu.shape))}[self.reduction]
        if self.reduction == "none":
            return pointwise
        # half precision sums and divides in float32 (a float16 count past 65504 is inf)
        total = xp.sum(widened(xp, pointwise))
        return narrowed(xp, total / self.count if self.count != 1 else total, mu)

    def backward(self, grad_y):
        xp = self.xp
        scale = narrowed(xp, widened(xp, grad_y) / self.count, grad_y) if self.count != 1 \
            else grad_y
        return self.mu * scale, 0.5 * (self.var - 1.0) * scale


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """A sample z = mu + exp(logvar / 2)·ε of N(mu, exp(logvar)), ε drawn on the device; the
    gradient flows to ``mu`` and ``logvar`` (the reparameterisation trick).

    >>> import xpnet
    >>> z = reparameterize(xpnet.zeros(4, 2), xpnet.full((4, 2), -100.0))
    >>> bool((abs(z.numpy()) < 1e-10).all())
    True
    """
    return Reparameterize()(mu, logvar)


def gaussian_kl(mu: Tensor, logvar: Tensor, reduction: str = "sum") -> Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, I)) = -½·Σ(1 + logvar - mu² - exp(logvar)), the VAE's
    regulariser, summed (``'sum'``, as PyTorch's VAE example), per sample (``'batchmean'``),
    per element (``'mean'``) or elementwise (``'none'``).

    >>> import xpnet
    >>> gaussian_kl(xpnet.zeros(3, 2), xpnet.zeros(3, 2)).item()
    0.0
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"gaussian_kl: reduction must be one of {_REDUCTIONS}, got "
                         f"{reduction!r}")
    return GaussianKL(reduction)(mu, logvar)
