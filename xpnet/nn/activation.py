"""Activation layers: thin Modules over xpnet.functional."""
from __future__ import annotations

from .. import ops
from ..checks import probability
from .module import Module


class ReLU(Module):
    """max(x, 0). Shape: any -> same"""

    def forward(self, x):
        return ops.relu(x)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope·x. Shape: any -> same"""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + e^-x). Shape: any -> same"""

    def forward(self, x):
        return ops.sigmoid(x)


class Tanh(Module):
    """tanh(x). Shape: any -> same"""

    def forward(self, x):
        return ops.tanh(x)


class GELU(Module):
    """x·Φ(x); ``approximate='tanh'`` for the tanh form. Shape: any -> same"""

    def __init__(self, approximate: str = "none"):
        self.approximate = approximate

    def forward(self, x):
        return ops.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``. Shape: any -> same"""

    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x):
        return ops.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``. Shape: any -> same"""

    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x):
        return ops.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode, scaling the rest by 1/(1-p);
    the identity in eval mode. Shape: any -> same"""

    def __init__(self, p: float = 0.5):
        self.p = probability("Dropout", "p", p)

    def forward(self, x):
        return ops.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
