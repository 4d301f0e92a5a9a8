"""The one way xpnet reaches the real PyTorch: :func:`import_torch`.

While a PyTorch script runs on xpnet (:func:`xpnet.torch_compat.install`), ``sys.modules['torch']``
is xpnet itself. xpnet's optional uses of PyTorch (the 'torch' device, seeding PyTorch beside
xpnet) must then see "PyTorch is not installed", never xpnet: ``xpnet.manual_seed`` calling
``torch.manual_seed`` would call itself forever. Code in xpnet writes::

    try:
        torch = import_torch()
    except ImportError:
        ...   # no PyTorch in this process

and, as a safety net for a plain ``import torch`` inside xpnet, :func:`guard_imports` makes
that statement raise the same ImportError while the alias is installed.

Imports nothing from xpnet (the lowest floors call it).
"""
from __future__ import annotations

import builtins
import sys

__all__ = ["import_torch", "torch_is_aliased", "ALIAS_MARK"]

ALIAS_MARK = "__xpnet_torch_alias__"   # set on every alias module


def torch_is_aliased() -> bool:
    """Whether 'torch' names xpnet in this process (a script run by xpnet.torch_compat)."""
    return bool(getattr(sys.modules.get("torch"), ALIAS_MARK, False))


def _aliased_error() -> ImportError:
    return ImportError("PyTorch is not available in this process: 'torch' names xpnet "
                       "(a script run by python -m xpnet.torch_compat)", name="torch")


def import_torch():
    """The real ``torch`` module; ImportError when PyTorch is not installed, or when 'torch'
    names xpnet in this process."""
    if torch_is_aliased():
        raise _aliased_error()
    import torch
    return torch


_original_import = [None]


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and (name == "torch" or name.startswith("torch.")) and globals and \
            str(globals.get("__name__", "")).startswith("xpnet.") and torch_is_aliased():
        raise _aliased_error()
    return _original_import[0](name, globals, locals, fromlist, level)


def guard_imports(on: bool) -> None:
    """Make ``import torch`` written inside xpnet raise ImportError while the alias is
    installed (``on``), or stop doing so."""
    if on and _original_import[0] is None:
        _original_import[0] = builtins.__import__
        builtins.__import__ = _guarded_import
    elif not on and _original_import[0] is not None:
        if builtins.__import__ is _guarded_import:
            builtins.__import__ = _original_import[0]
        _original_import[0] = None
