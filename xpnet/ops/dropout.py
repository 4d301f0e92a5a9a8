"""Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)::

    y = x·m/(1-p),  m_i = [u_i >= p], u_i ~ U[0, 1)      grad_x = grad_y·m/(1-p)

The draw u is made in x's dtype, half precision in float32 (:mod:`xpnet.random`), so one seed
drops the same elements in every floating dtype.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from .. import random as _random
from ..checks import probability


class Dropout(Function):
    saved_constants = ("scale",)    # the random mask: a constant of the graph
    name = "dropout"
    floating_inputs = {0: "x"}

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        xp = self.xp
        keep = _random.uniform(self.backend, x.shape, x.dtype) >= self.p
        self.scale = xp.astype(keep, x.dtype) * (1.0 / (1.0 - self.p))
        return x * self.scale

    def backward(self, grad_y):
        return grad_y * self.scale


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero elements with probability ``p`` while training (identity otherwise).

    The noise comes from the device's generator (:func:`xpnet.manual_seed` seeds it).
    """
    p = probability("dropout", "p", p)
    if not training or p == 0.0:
        return x
    return Dropout(p)(x)
