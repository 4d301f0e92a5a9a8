"""The alias modules: ``torch`` and its submodules as views of xpnet's modules.

Each alias looks a name up in its xpnet modules, in order; a name none of them has raises
:class:`NotInXpnet` naming the PyTorch spelling (``torch.nn.Foo``). ``import torch.<anything
else>`` raises :class:`ModuleNotInXpnet` the same way. Setting an attribute on an alias sets it
on its first xpnet module (``torch.backends.cudnn.benchmark = True`` reaches
:mod:`xpnet.backends.cudnn`, which checks it).
"""
from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types

from .guard import ALIAS_MARK, guard_imports

__all__ = ["NotInXpnet", "ModuleNotInXpnet", "install", "uninstall", "ALIASES"]


def _message(torch_name: str) -> str:
    return f"xpnet.torch_compat: {torch_name} is not available in xpnet"


class NotInXpnet(AttributeError):
    """A PyTorch name xpnet does not have (``torch_name`` is its full PyTorch spelling)."""

    def __init__(self, torch_name: str):
        super().__init__(_message(torch_name))
        self.torch_name = torch_name


class ModuleNotInXpnet(ModuleNotFoundError):
    """A PyTorch module xpnet does not have."""

    def __init__(self, torch_name: str):
        super().__init__(_message(torch_name), name=torch_name)
        self.torch_name = torch_name


# PyTorch module -> the xpnet modules that answer for it, first match wins. The later entries
# are layers, losses and optimizers whose modules are not yet re-exported by the first.
ALIASES = {
    "torch": ("xpnet",),
    "torch.nn": ("xpnet.nn", "xpnet.nn.adaptive", "xpnet.nn.dropout2d"),
    "torch.nn.functional": ("xpnet.nn.functional", "xpnet.ops.loss", "xpnet.nn.adaptive"),
    "torch.nn.init": ("xpnet.nn.init",),
    "torch.nn.parameter": ("xpnet.nn.module",),
    "torch.nn.utils": ("xpnet.nn.utils",),
    "torch.optim": ("xpnet.optim", "xpnet.optim.adadelta", "xpnet.optim.adagrad",
                    "xpnet.optim.lbfgs"),
    "torch.optim.lr_scheduler": ("xpnet.optim.lr_scheduler",),
    "torch.utils": ("xpnet.utils",),
    "torch.utils.data": ("xpnet.utils.data",),
    "torch.utils.data.sampler": ("xpnet.utils.data",),
    "torch.utils.data.dataset": ("xpnet.utils.data",),
    "torch.utils.data.dataloader": ("xpnet.utils.data",),
    "torch.utils.hooks": ("xpnet.utils.hooks",),
    "torch.autograd": ("xpnet.autograd",),
    "torch.random": ("xpnet.random",),
    "torch.cuda": ("xpnet.cuda",),
    "torch.backends": ("xpnet.backends",),
    "torch.backends.cudnn": ("xpnet.backends.cudnn",),
    "torch.backends.cuda": ("xpnet.backends.cuda",),
    "torch.backends.mps": ("xpnet.backends.mps",),
    "torch.accelerator": ("xpnet.accelerator",),
}


def _load(names):
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:   # a listed module that does not exist (yet)
            if exc.name != name:
                raise
    return tuple(modules)


class TorchAlias(types.ModuleType):
    """A PyTorch module name answered by xpnet modules."""

    def __init__(self, name: str, targets: tuple):
        super().__init__(name, targets[0].__doc__)
        vars(self).update({
            ALIAS_MARK: True, "_targets": targets, "_children": {},
            "__path__": [],   # a package: ``import torch.x`` consults the finder below
            "__spec__": importlib.machinery.ModuleSpec(name, None, is_package=True),
            "__version__": getattr(targets[0], "__version__", None),
        })

    def __getattr__(self, name):
        children = vars(self)["_children"]
        if name in children:
            return children[name]
        for target in vars(self)["_targets"]:
            try:
                return getattr(target, name)
            except AttributeError:
                pass
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)   # protocol probes (__file__, __wrapped__): not a gap
        raise NotInXpnet(f"{self.__name__}.{name}")

    def __setattr__(self, name, value):
        if name.startswith("__") and name.endswith("__"):
            super().__setattr__(name, value)
        else:
            setattr(vars(self)["_targets"][0], name, value)

    def __dir__(self):
        names = set(vars(self)["_children"])
        for target in vars(self)["_targets"]:
            names.update(n for n in dir(target) if not n.startswith("_"))
        return sorted(names)

    def __repr__(self):
        return f"<module {self.__name__!r} (xpnet: {vars(self)['_targets'][0].__name__})>"


class _Finder:
    """``import torch.<name>`` for a module without an alias: one clear error."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname.startswith("torch.") and fullname not in ALIASES:
            raise ModuleNotInXpnet(fullname)
        return None


_installed: dict = {}   # name -> the alias, while installed
_previous: dict = {}    # name -> what sys.modules held before (a real torch module)


def install() -> None:
    """Put the aliases in ``sys.modules`` and guard xpnet's own ``import torch``."""
    if _installed:
        return
    aliases = {name: TorchAlias(name, _load(targets)) for name, targets in ALIASES.items()}
    for name, alias in aliases.items():
        parent, _, child = name.rpartition(".")
        if parent:
            vars(aliases[parent])["_children"][child] = alias
    # a real PyTorch already imported steps aside whole, submodules included, until uninstall
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        _previous[name] = sys.modules.pop(name)
    sys.modules.update(aliases)
    _installed.update(aliases)
    sys.meta_path.insert(0, _Finder)
    guard_imports(True)


def uninstall() -> None:
    """Take the aliases out of ``sys.modules`` (restoring a real torch that was there)."""
    guard_imports(False)
    if _Finder in sys.meta_path:
        sys.meta_path.remove(_Finder)
    for name, alias in _installed.items():
        if sys.modules.get(name) is alias:
            del sys.modules[name]
    sys.modules.update(_previous)
    _installed.clear()
    _previous.clear()
