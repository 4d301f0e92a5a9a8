"""Sliding windows: the index arithmetic that convolutions and pools share.

A window of KH × KW taps slides over the (padded) input with stride (sh, sw) and dilation
(dh, dw). Tap (i, j) of every one of the Ho × Wo windows reads one strided basic slice of the
input: rows ``i·dh, i·dh + sh, …`` and columns ``j·dw, j·dw + sw, …``. So an op over windows is
KH·KW slices (no fancy indexing, no scatter), and its adjoint adds the same slices back.
"""
from __future__ import annotations

from ..autograd import Tensor
from ..checks import pair

__all__ = ["pair", "positive_pair", "output_size", "tap", "require_tensors"]


def require_tensors(op: str, **inputs) -> None:
    """Each of ``inputs`` (name=value) must be an xpnet Tensor or None: a raw array (NumPy,
    CuPy, torch) or a list gets a TypeError that names the op and the argument before any
    shape check could misread it.

    >>> import numpy as np
    >>> require_tensors("conv2d", weight=np.zeros((3, 1, 3, 3)))
    Traceback (most recent call last):
        ...
    TypeError: conv2d: weight must be an xpnet Tensor, got numpy.ndarray; convert it with xpnet.tensor(...)
    """
    for name, value in inputs.items():
        if value is not None and not isinstance(value, Tensor):
            kind = type(value)
            module = kind.__module__.split(".")[0]
            qualified = kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"
            raise TypeError(f"{op}: {name} must be an xpnet Tensor, got {qualified}; convert it "
                            f"with xpnet.tensor(...)")


def positive_pair(op: str, name: str, value) -> tuple:
    """An int or a pair of ints, both at least 1 (a kernel size, a stride, a dilation)."""
    return pair(op, name, value, minimum=1)


def output_size(size, kernel, stride, pad_before, pad_after, dilation=1) -> int:
    """Number of window positions along one axis (floor mode, as PyTorch)."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def tap(i: int, j: int, ho: int, wo: int, stride, dilation=(1, 1)) -> tuple:
    """(rows, columns): the strided slices that tap (i, j) of Ho × Wo windows covers."""
    (sh, sw), (dh, dw) = stride, dilation
    return (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
