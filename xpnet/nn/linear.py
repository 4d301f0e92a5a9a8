"""Linear, Identity, Flatten, Unflatten."""
from __future__ import annotations

import math

from .. import ops
from . import init
from ..checks import describe, integer, positive_int
from .module import Module, Parameter


class Linear(Module):
    """Affine layer ``y = x @ weight.T + bias``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).
        device: where the parameters live (default: ``xpnet.default_device()``).
        dtype: parameter dtype (default float32).

    Shape: (*, in_features) -> (*, out_features)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, device=None,
                 dtype=None):
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        bound = 1 / math.sqrt(in_features)  # PyTorch's default init, so weights can be compared
        self.weight = Parameter(init.uniform((out_features, in_features), -bound, bound, device,
                                             dtype))
        self.bias = Parameter(init.uniform((out_features,), -bound, bound, device, dtype)) \
            if bias else None

    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input. Shape: any -> same"""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` (by default all but the batch axis).

    Shape: (N, *) -> (N, prod(*))
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim = integer("Flatten", "start_dim", start_dim)
        self.end_dim = integer("Flatten", "end_dim", end_dim)

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (one entry may be -1), undoing Flatten.

    Shape: (*, prod(unflattened_size), *) -> (*, *unflattened_size, *)

    >>> import xpnet
    >>> Unflatten(1, (1, 28, 28))(xpnet.zeros(4, 784)).shape
    (4, 1, 28, 28)
    """

    def __init__(self, dim: int, unflattened_size):
        self.dim = integer("Unflatten", "dim", dim)
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                            f"{describe(unflattened_size)}")
        sizes = tuple(integer("Unflatten", "each entry of unflattened_size", n, minimum=-1)
                      for n in unflattened_size)
        if sizes.count(-1) > 1:
            raise ValueError(f"Unflatten: unflattened_size may hold one -1 at most, got {sizes}")
        self.unflattened_size = sizes

    def forward(self, x):
        if not -x.ndim <= self.dim < x.ndim:
            raise self._error(f"dim must be in [{-x.ndim}, {x.ndim}) for a {x.ndim}-D input, "
                              f"got input {x.shape}")
        d = self.dim % x.ndim
        return ops.reshape(x, x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
