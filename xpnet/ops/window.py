"""Sliding windows: the index arithmetic that convolutions and pools share.

A window of KH × KW taps slides over the (padded) input with stride (sh, sw) and dilation
(dh, dw). Tap (i, j) of every one of the Ho × Wo windows reads one strided basic slice of the
input: rows ``i·dh, i·dh + sh, …`` and columns ``j·dw, j·dw + sw, …``. So an op over windows is
KH·KW slices (no fancy indexing, no scatter), and its adjoint adds the same slices back.
"""
from __future__ import annotations

__all__ = ["pair", "positive_pair", "output_size", "tap"]


def pair(op: str, name: str, value) -> tuple:
    """(a, b) from an int or a pair of ints; TypeError naming ``op`` and ``name`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def positive_pair(op: str, name: str, value) -> tuple:
    """:func:`pair`, both numbers at least 1 (a kernel size, a stride, a dilation)."""
    found = pair(op, name, value)
    if found[0] < 1 or found[1] < 1:
        raise ValueError(f"{op}: {name} must be positive, got {found}")
    return found


def output_size(size, kernel, stride, pad_before, pad_after, dilation=1) -> int:
    """Number of window positions along one axis (floor mode, as PyTorch)."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def tap(i: int, j: int, ho: int, wo: int, stride, dilation=(1, 1)) -> tuple:
    """(rows, columns): the strided slices that tap (i, j) of Ho × Wo windows covers."""
    (sh, sw), (dh, dw) = stride, dilation
    return (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
