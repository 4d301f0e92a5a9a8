"""Channel dropout: ``Dropout2d`` and ``dropout2d`` zero whole feature maps.

One draw per (sample, channel): the mask has shape (N, C, 1, 1) and broadcasts over H and W,
so the op is a product with a constant mask (scaled by 1/(1-p)) and autograd's product rule is
the backward. The noise comes from the device's generator (:func:`xpnet.manual_seed`).
"""
from __future__ import annotations

from .. import random as _random
from ..autograd import Tensor
from ..checks import probability
from .module import Module

__all__ = ["Dropout2d", "dropout2d"]


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each channel of ``x`` with probability ``p`` while training, scaling the kept ones
    by ``1/(1-p)``; the identity otherwise.

    Shape: (N, C, H, W) or (C, H, W) -> same.
    """
    p = probability("dropout2d", "p", p)
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout2d: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: input must be (N, C, H, W) or (C, H, W), got shape "
                         f"{x.shape}")
    if not training or p == 0.0:
        return x
    xp, backend = x.xp, x.backend
    shape = (*x.shape[:-2], 1, 1)
    keep = _random.uniform(backend, shape, x.dtype) >= p
    mask = xp.astype(keep, x.array.dtype) * (1.0 / (1.0 - p))
    return x * Tensor.from_array(mask, False, backend)


class Dropout2d(Module):
    """Zero whole channels with probability ``p`` in training mode (PyTorch's layer); the
    identity in eval mode.

    Shape: (N, C, H, W) -> same
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        self.p = probability("Dropout2d", "p", p)
        self.inplace = bool(inplace)   # accepted as in PyTorch; the result is a new tensor

    def forward(self, x):
        return dropout2d(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
