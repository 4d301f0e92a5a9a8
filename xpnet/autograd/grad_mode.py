"""Switching gradient recording off (evaluation, optimizer updates)."""
from __future__ import annotations

import contextlib

_enabled = [True]


def is_grad_enabled() -> bool:
    return _enabled[0]


class no_grad(contextlib.ContextDecorator):
    """Context manager and decorator: ops inside record no graph.

    >>> import xpnet
    >>> x = xpnet.ones(2, requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2.0
    >>> y.requires_grad
    False
    """

    def __enter__(self):
        self._prev = _enabled[0]
        _enabled[0] = False
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False


class enable_grad(contextlib.ContextDecorator):
    """Turn recording back on inside a ``no_grad`` block."""

    def __enter__(self):
        self._prev = _enabled[0]
        _enabled[0] = True
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False


class set_grad_enabled(contextlib.ContextDecorator):
    """Recording on or off, as PyTorch's: called, it sets the mode at once
    (``set_grad_enabled(False)``); as a context manager the previous mode comes back at the
    end (``with set_grad_enabled(phase == 'train'):``).

    >>> import xpnet
    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    >>> is_grad_enabled()
    True
    """

    def __init__(self, mode: bool):
        self._prev = _enabled[0]
        _enabled[0] = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False


class inference_mode(contextlib.ContextDecorator):
    """PyTorch's ``inference_mode``: here the same as :class:`no_grad` (``mode=False`` leaves
    recording as it is); xpnet keeps no version counters, so there is nothing more to skip."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = _enabled[0]
        if self.mode:
            _enabled[0] = False
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False


__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "inference_mode"]
