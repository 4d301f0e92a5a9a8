"""PyTorch's and the Array API's spellings of the same argument, resolved once for every op:
``dim``/``axis`` and ``keepdim``/``keepdims`` (either may be given, not both)."""
from __future__ import annotations


def dim_arg(op: str, dim, axis, default=None):
    """The axis an op works on, from ``dim=`` (PyTorch) or ``axis=`` (Array API)."""
    if dim is not None and axis is not None:
        raise TypeError(f"{op}: pass dim= or axis= (the same argument), not both; got "
                        f"dim={dim!r} and axis={axis!r}")
    if dim is None:
        dim = axis
    if dim is None:
        return default
    if isinstance(dim, list):
        dim = tuple(dim)
    return dim


def keepdim_arg(op: str, keepdim, keepdims) -> bool:
    """``keepdim=`` (PyTorch) or ``keepdims=`` (Array API); False when neither is given."""
    if keepdim is not None and keepdims is not None and bool(keepdim) != bool(keepdims):
        raise TypeError(f"{op}: pass keepdim= or keepdims= (the same argument), not both; got "
                        f"keepdim={keepdim!r} and keepdims={keepdims!r}")
    value = keepdim if keepdim is not None else keepdims
    return bool(value) if value is not None else False
