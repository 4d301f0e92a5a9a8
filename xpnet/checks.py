"""Argument checks shared by every layer, op, optimizer and loader: each fact is said here once.

Every check takes the ``owner`` (the op, layer or option that received the value: ``"Linear"``,
``"conv2d"``, ``"DataLoader"``), the argument's ``name`` and its ``value``, and either returns
the value in its canonical form or raises with one message shape,
``"<owner>: <name> must <expectation>, got <what was received>"``:

* a value of the wrong type is a ``TypeError`` that quotes it with its type
  (``"SGD: lr must be a number >= 0, got '0.1' (str)"``), so a string is never shown as if it
  were a number;
* a value of the right type outside its range is a ``ValueError``
  (``"Linear: in_features must be a positive int, got 0"``);
* an index outside its axis (embedding ids, class labels, dataset indices) is an
  ``IndexError``, as in PyTorch (:func:`out_of_range`, :func:`check_index_range`).

This module sits next to :mod:`xpnet.backend` at the bottom of the package: it imports only
NumPy, the standard library and the backend.

>>> positive_int("Linear", "in_features", 3)
3
>>> number("SGD", "lr", "0.1", minimum=0)
Traceback (most recent call last):
    ...
TypeError: SGD: lr must be a number >= 0, got '0.1' (str)
"""
from __future__ import annotations

import math
import numbers

from . import backend as _backend

__all__ = ["describe", "integer", "positive_int", "non_negative_int", "number", "probability",
           "pair", "FLOATING", "is_floating", "floating_error", "require_floating",
           "out_of_range", "index_range_error", "check_index_range", "defer_index_check",
           "named_or_callable"]

_REPR_LIMIT = 60


def describe(value) -> str:
    """``value`` as an error message shows what it received: its repr and its type,
    ``'0.1' (str)``; a long repr is cut."""
    text = repr(value)
    if len(text) > _REPR_LIMIT:
        text = text[:_REPR_LIMIT - 3] + "..."
    return f"{text} ({type(value).__name__})"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# -- integers -----------------------------------------------------------------------------------

def integer(owner: str, name: str, value, minimum: int | None = None) -> int:
    """``value`` as a Python int >= ``minimum`` (any int when None), or a clear error.

    bool is refused (``True`` is not a size); NumPy integers are accepted.

    >>> integer("digit_sequences", "max_len", 3, minimum=4)
    Traceback (most recent call last):
        ...
    ValueError: digit_sequences: max_len must be an int >= 4, got 3
    """
    if minimum is None:
        expected = "an int"
    elif minimum == 1:
        expected = "a positive int"
    elif minimum == 0:
        expected = "a non-negative int"
    else:
        expected = f"an int >= {minimum}"
    if not _is_int(value):
        raise TypeError(f"{owner}: {name} must be {expected}, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be {expected}, got {value}")
    return int(value)


def positive_int(owner: str, name: str, value) -> int:
    """A size, count or step: an int >= 1 (see :func:`integer`).

    >>> positive_int("Conv2d", "out_channels", 0)
    Traceback (most recent call last):
        ...
    ValueError: Conv2d: out_channels must be a positive int, got 0
    """
    return integer(owner, name, value, minimum=1)


def non_negative_int(owner: str, name: str, value) -> int:
    """An int >= 0 (a patience, a number of warm-up steps; see :func:`integer`)."""
    return integer(owner, name, value, minimum=0)


def pair(owner: str, name: str, value, minimum: int | None = None) -> tuple:
    """An int or a pair of ints (a kernel size, stride, padding) as a pair ``(h, w)``, each
    >= ``minimum`` when given.

    >>> pair("MaxPool2d", "kernel_size", 2)
    (2, 2)
    >>> pair("Conv2d", "kernel_size", (3, 0), minimum=1)
    Traceback (most recent call last):
        ...
    ValueError: Conv2d: kernel_size must be positive, got (3, 0)
    """
    if _is_int(value):
        result = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        result = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{owner}: {name} must be an int or a pair of ints, got {value!r}")
    if minimum is not None and min(result) < minimum:
        bound = "positive" if minimum == 1 else "non-negative" if minimum == 0 \
            else f">= {minimum}"
        raise ValueError(f"{owner}: {name} must be {bound}, got {result}")
    return result


# -- real numbers -------------------------------------------------------------------------------

def _interval(minimum, maximum, min_open, max_open) -> str:
    if minimum is not None and maximum is not None:
        return f" in {'(' if min_open else '['}{minimum}, {maximum}{')' if max_open else ']'}"
    if minimum is not None:
        return f" {'>' if min_open else '>='} {minimum}"
    if maximum is not None:
        return f" {'<' if max_open else '<='} {maximum}"
    return ""


def number(owner: str, name: str, value, minimum=None, maximum=None, *, min_open: bool = False,
           max_open: bool = False) -> float:
    """``value`` as a Python float within the bounds (each inclusive unless ``min_open`` /
    ``max_open``), or a clear error; NaN is outside every bound.

    >>> number("SGD", "momentum", -1, minimum=0)
    Traceback (most recent call last):
        ...
    ValueError: SGD: momentum must be >= 0, got -1
    """
    where = _interval(minimum, maximum, min_open, max_open)
    if not _is_real(value):
        raise TypeError(f"{owner}: {name} must be a number{where}, got {describe(value)}")
    inside = not math.isnan(value)
    if minimum is not None:
        inside = inside and (value > minimum if min_open else value >= minimum)
    if maximum is not None:
        inside = inside and (value < maximum if max_open else value <= maximum)
    if not inside:
        raise ValueError(f"{owner}: {name} must be{where}, got {value}")
    return float(value)


def probability(owner: str, name: str, value, *, allow_one: bool = False) -> float:
    """A drop probability in [0, 1) (in [0, 1] with ``allow_one``), as a float.

    >>> probability("Dropout", "p", 1.0)
    Traceback (most recent call last):
        ...
    ValueError: Dropout: p must be in [0, 1), got 1.0
    """
    return number(owner, name, value, 0, 1, max_open=not allow_one)


# -- dtypes -------------------------------------------------------------------------------------

FLOATING = frozenset(_backend.FLOATING_NAMES)


def is_floating(dtype) -> bool:
    """Whether ``dtype`` (any library's dtype object, a DType or a name) is a real floating
    dtype."""
    return _backend.dtype_name(dtype) in FLOATING


def is_half(dtype) -> bool:
    """Whether ``dtype`` is float16 or bfloat16, which ops widen to float32 to compute sums,
    exponentials and their weights in (as PyTorch does)."""
    return _backend.dtype_name(dtype) in _backend.HALF_NAMES


def floating_error(owner: str, name: str, dtype) -> TypeError:
    """The error for an integer or boolean array where a floating one is needed, with the fix."""
    return TypeError(f"{owner}: {name} must be floating-point, got dtype "
                     f"{_backend.dtype_name(dtype)}; convert it with .float()")


def require_floating(owner: str, name: str, dtype) -> None:
    """Raise :func:`floating_error` unless ``dtype`` is floating.

    >>> require_floating("lstm", "x", "int64")
    Traceback (most recent call last):
        ...
    TypeError: lstm: x must be floating-point, got dtype int64; convert it with .float()
    """
    if not is_floating(dtype):
        raise floating_error(owner, name, dtype)


# -- indices ------------------------------------------------------------------------------------

def out_of_range(owner: str, name: str, size: int, got, *, negative: bool = False,
                 note: str = "") -> IndexError:
    """The IndexError for indices outside ``[0, size)`` (``[-size, size)`` with ``negative``);
    ``got`` is the offending index, or the (lowest, highest) pair of a batch of indices.

    >>> out_of_range("embedding", "indices", 10, (0, 12))
    IndexError('embedding: indices must be in [0, 10), got values from 0 to 12')
    """
    low = -size if negative else 0
    seen = f"values from {got[0]} to {got[1]}" if isinstance(got, tuple) else f"{got}"
    return IndexError(f"{owner}: {name} must be in [{low}, {size}){note}, got {seen}")


def index_range_error(owner: str, name: str, host, size: int,
                      ignore_index: int | None = None) -> IndexError | None:
    """The :func:`out_of_range` error for the NumPy integer array ``host`` if an entry is
    outside ``[0, size)`` (entries equal to ``ignore_index`` excepted), else None.

    >>> import numpy as np
    >>> index_range_error("nll_loss", "labels", np.array([0, 4, -100]), 3, ignore_index=-100)
    IndexError('nll_loss: labels must be in [0, 3) (or ignore_index=-100), got values from 0 to 4')
    """
    if not host.size:
        return None
    low, high = host.min(), host.max()
    if 0 <= low and high < size:     # the common case: two reductions
        return None
    note = ""
    if ignore_index is not None:
        host = host[host != ignore_index]
        if not host.size:
            return None
        low, high = host.min(), host.max()
        if 0 <= low and high < size:
            return None
        note = f" (or ignore_index={ignore_index})"
    return out_of_range(owner, name, size, (int(low), int(high)), note=note)


def check_index_range(owner: str, name: str, backend, indices, size: int,
                      ignore_index: int | None = None) -> None:
    """Raise :func:`out_of_range` if an entry of the integer array ``indices`` is outside
    ``[0, size)`` (entries equal to ``ignore_index`` excepted).

    In host memory (``backend.on_host``) it raises here. On a GPU reading the extremes back
    would stall every step, so the device computes them (two reductions, and two selections
    with ``ignore_index``) and the check is deferred to the next host read on that device
    (:meth:`xpnet.backend.Backend.defer_check`), which raises the same error, as PyTorch raises
    its device-side assert at the next synchronisation."""
    if not math.prod(indices.shape):
        return
    if backend.on_host:
        error = index_range_error(owner, name, _backend.to_numpy(indices), size, ignore_index)
        if error is not None:
            raise error
        return
    xp = backend.xp
    if ignore_index is None:
        low, high = xp.min(indices), xp.max(indices)
    else:    # ignored entries count as +inf for the minimum, -inf for the maximum
        bounds = xp.iinfo(indices.dtype)
        ignored = indices == ignore_index
        low = xp.min(xp.where(ignored, bounds.max, indices))
        high = xp.max(xp.where(ignored, bounds.min, indices))

    def verdict(low, high):
        low, high = int(low), int(high)
        if low > high or (0 <= low and high < size):    # all ignored, or all inside
            return None
        note = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        return _told_late(out_of_range(owner, name, size, (low, high), note=note), backend)

    backend.defer_check((low, high), verdict)


def defer_index_check(owner: str, name: str, backend, outside, indices, size: int,
                      ignore_index: int | None = None) -> None:
    """Defer :func:`check_index_range` to the next host read on a device where the op has
    already counted its bad indices itself: ``outside`` is a 0-d device array holding that
    count. Nothing more is computed on the device; only when the count is not zero are
    ``indices`` read back, to name the bad ones in the error."""

    def verdict(count):
        if not count.any():
            return None
        error = index_range_error(owner, name, _backend.to_numpy(indices), size, ignore_index)
        return None if error is None else _told_late(error, backend)

    backend.defer_check(outside, verdict)


def _told_late(error: Exception, backend) -> Exception:
    """``error`` told as found on the device and raised at a later host read."""
    return type(error)(f"{error.args[0]} (checked on device {backend.name}, raised at the first "
                       f"host read after the op)")


def named_or_callable(owner: str, name: str, value, table: dict):
    """``table[value]`` for a name, ``value`` itself for a callable, or a clear error listing
    the names (a ValueError for an unknown name, a TypeError for anything else).

    >>> named_or_callable("fit", "loss", "hinge", {"mse": abs})
    Traceback (most recent call last):
        ...
    ValueError: fit: loss must be one of 'mse' or a callable, got 'hinge'
    """
    names = ", ".join(repr(k) for k in table)
    if isinstance(value, str):
        if value not in table:
            raise ValueError(f"{owner}: {name} must be one of {names} or a callable, got "
                             f"{value!r}")
        return table[value]
    if not callable(value):
        raise TypeError(f"{owner}: {name} must be one of {names} or a callable, got "
                        f"{describe(value)}")
    return value
