"""Switching gradient recording off (evaluation, optimizer updates)."""
from __future__ import annotations

import contextlib

_enabled = [True]


def is_grad_enabled() -> bool:
    return _enabled[0]


class _Recording(contextlib.ContextDecorator):
    """Recording switched to :meth:`_mode` for a block, the previous mode back at its end."""

    def _mode(self) -> bool:
        raise NotImplementedError

    def __enter__(self):
        self._prev = _enabled[0]
        _enabled[0] = self._mode()
        return self

    def __exit__(self, *exc):
        _enabled[0] = self._prev
        return False


class no_grad(_Recording):
    """Context manager and decorator: ops inside record no graph.

    >>> import xpnet
    >>> x = xpnet.ones(2, requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2.0
    >>> y.requires_grad
    False
    """

    def _mode(self):
        return False


class enable_grad(_Recording):
    """Turn recording back on inside a ``no_grad`` block."""

    def _mode(self):
        return True


class set_grad_enabled(_Recording):
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

    def __enter__(self):     # the mode was set when called
        return self


class inference_mode(_Recording):
    """PyTorch's ``inference_mode``: here the same as :class:`no_grad` (``mode=False`` leaves
    recording as it is); xpnet keeps no version counters, so there is nothing more to skip."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def _mode(self):
        return False if self.mode else _enabled[0]


__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "inference_mode"]
