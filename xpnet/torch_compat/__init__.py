"""Run PyTorch scripts on xpnet: ``python -m xpnet.torch_compat script.py args...``.

For that process, ``import torch`` and its submodules (``torch.nn``, ``torch.nn.functional``,
``torch.optim``, ``torch.optim.lr_scheduler``, ``torch.utils.data``, ``torch.nn.utils``,
``torch.cuda``, ``torch.backends``, ``torch.accelerator`` ...) resolve to xpnet's modules, so
the script runs unchanged and every op it calls is xpnet's readable forward and backward (a
debugger steps into them). A PyTorch name xpnet lacks stops the script with one line naming it:
``xpnet.torch_compat: torch.nn.Foo is not available in xpnet (script.py, line 12)``.

xpnet's own optional uses of the real PyTorch (the 'torch' device, seeding PyTorch alongside
xpnet) get it through :func:`import_torch`, which raises ImportError while 'torch' names
xpnet, so nothing in xpnet ever calls itself through the alias.

This package's top level imports nothing from xpnet, so any floor of xpnet may call
:func:`import_torch`.
"""
from .guard import import_torch, torch_is_aliased

__all__ = ["import_torch", "torch_is_aliased", "install", "uninstall", "main"]


def install() -> None:
    """Make ``import torch`` (and its submodules) give xpnet in this process."""
    from .aliases import install as _install
    _install()


def uninstall() -> None:
    """Undo :func:`install`: 'torch' is free again (the real one imports if installed)."""
    from .aliases import uninstall as _uninstall
    _uninstall()


def main(argv=None) -> int:
    """``python -m xpnet.torch_compat script.py args...`` (see :mod:`xpnet.torch_compat.runner`)."""
    from .runner import main as _main
    return _main(argv)
