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


def set_grad_enabled(mode: bool) -> None:
    _enabled[0] = bool(mode)


__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled"]
