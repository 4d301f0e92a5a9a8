"""Sliding windows: the index arithmetic that convolutions and pools share.

A window of KH × KW taps slides over the (padded) input with stride (sh, sw) and dilation
(dh, dw). Tap (i, j) of every one of the Ho × Wo windows reads one strided basic slice of the
input: rows ``i·dh, i·dh + sh, …`` and columns ``j·dw, j·dw + sw, …``. So an op over windows is
KH·KW slices (no fancy indexing, no scatter), and its adjoint adds the same slices back.
"""
from __future__ import annotations

from ..checks import pair

__all__ = ["pair", "positive_pair", "output_size", "tap"]


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
