"""Activation layers: thin Modules over xpnet.functional."""
from __future__ import annotations

from .. import ops
from ..checks import number, probability
from .module import Module


def _apply(x, fn, inplace, op):
    """``fn(x)``, written into ``x`` when ``inplace`` (PyTorch's ``inplace=True``: under the
    in-place rules of Tensor methods, so a leaf that requires grad refuses it)."""
    if not inplace:
        return fn(x)
    from ..autograd.methods import _in_place
    return _in_place(x, op, fn)


def _dim(owner, dim):
    """A softmax layer's ``dim``: a Python int, or None (PyTorch's legacy default)."""
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
        raise TypeError(f"{owner}: dim must be an int, got {dim!r} ({type(dim).__name__})")
    return dim


def _flag(owner, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r} "
                        f"({type(value).__name__})")
    return value


class ReLU(Module):
    """max(x, 0); ``inplace=True`` writes the result into the input. Shape: any -> same"""

    def __init__(self, inplace: bool = False):
        self.inplace = _flag("ReLU", "inplace", inplace)

    def forward(self, x):
        return _apply(x, ops.relu, self.inplace, "ReLU(inplace=True)")

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x for x > 0, else negative_slope·x. Shape: any -> same"""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        self.negative_slope = number("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = _flag("LeakyReLU", "inplace", inplace)

    def forward(self, x):
        return _apply(x, lambda t: ops.leaky_relu(t, self.negative_slope), self.inplace,
                      "LeakyReLU(inplace=True)")

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


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
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return ops.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``. Shape: any -> same"""

    def __init__(self, dim: int = -1):
        self.dim = _dim("Softmax", dim)

    def forward(self, x):
        return ops.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``. Shape: any -> same"""

    def __init__(self, dim: int = -1):
        self.dim = _dim("LogSoftmax", dim)

    def forward(self, x):
        return ops.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode, scaling the rest by 1/(1-p);
    the identity in eval mode. Shape: any -> same"""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        self.p = probability("Dropout", "p", p)
        self.inplace = _flag("Dropout", "inplace", inplace)

    def forward(self, x):
        return _apply(x, lambda t: ops.dropout(t, self.p, self.training), self.inplace,
                      "Dropout(inplace=True)")

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
