"""Upsample: resize NCHW images by nearest or bilinear interpolation (no parameters)."""
from __future__ import annotations

import numbers

from .. import ops
from .module import Module


def _floats(value):
    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool)
    if real(value):
        return float(value)
    if isinstance(value, (tuple, list)) and all(real(v) for v in value):
        return tuple(float(v) for v in value)
    return value          # None, or a bad value that interpolate names when the layer runs


class Upsample(Module):
    """Resample images to ``size`` or by ``scale_factor``, as ``torch.nn.Upsample``.

    Args:
        size: the output (Ho, Wo), or one int for both.
        scale_factor: multiplier for H and W (a number or a pair); give this or ``size``.
        mode: ``'nearest'`` (default) or ``'bilinear'``.
        align_corners: bilinear only (see :func:`xpnet.functional.interpolate`).
        recompute_scale_factor: interpolate as if the output size had been given.

    The arguments are checked by :func:`~xpnet.functional.interpolate` when the layer runs.

    Shape: (N, C, H, W) -> (N, C, Ho, Wo), Ho = size[0] or floor(H · scale_factor).

    >>> import xpnet
    >>> Upsample(scale_factor=2)(xpnet.zeros(1, 3, 7, 7)).shape
    (1, 3, 14, 14)
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        self.size, self.mode, self.align_corners = size, mode, align_corners
        # stored as PyTorch does (a float, or a tuple of floats) so that the reprs agree
        self.scale_factor = _floats(scale_factor)
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return ops.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                               self.recompute_scale_factor)

    def extra_repr(self):
        what = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None \
            else f"size={self.size!r}"
        return f"{what}, mode={self.mode!r}"
