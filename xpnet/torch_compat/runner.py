"""``python -m xpnet.torch_compat [-m module | script.py] args...``: run PyTorch code on xpnet.

The aliases are installed (:mod:`xpnet.torch_compat.aliases`), ``sys.argv`` and ``sys.path[0]``
are set as Python sets them for the script, and the script runs as ``__main__``. A PyTorch name
xpnet lacks ends the run with one line on stderr and exit status 1::

    xpnet.torch_compat: torch.nn.Foo is not available in xpnet (train.py, line 12)

(also for a missing Tensor method, ``torch.Tensor.foo``, and for a keyword argument that an
xpnet function, method or class does not take, ``torch.nn.Linear(foo=...)``). Every other error
prints its usual traceback.
"""
from __future__ import annotations

import os
import re
import runpy
import sys
import traceback

from . import install
from .aliases import NotInXpnet, ModuleNotInXpnet, _message

USAGE = ("usage: python -m xpnet.torch_compat [-m module | script.py] [args...]\n"
         "Runs a PyTorch script with 'import torch' (and torch.nn, torch.optim, torch.utils.data, "
         "torch.cuda, ...) resolving to xpnet.")


def _missing_name(exc: BaseException):
    """The PyTorch name behind ``exc`` when it says xpnet lacks one, else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (NotInXpnet, ModuleNotInXpnet)):
            return exc.torch_name
        if isinstance(exc, ImportError):   # ``from torch.nn import Foo`` hides the cause
            found = _FROM_IMPORT.match(str(exc))
            if found and _is_alias(found.group(2)):
                return f"{found.group(2)}.{found.group(1)}"
        if isinstance(exc, AttributeError) and exc.__traceback__ is not None:
            name = _tensor_method(exc)
            if name:
                return name
        if isinstance(exc, TypeError) and exc.__traceback__ is not None:
            name = _unknown_keyword(exc)
            if name:
                return name
        exc = exc.__cause__ or exc.__context__
    return None


_FROM_IMPORT = re.compile(r"cannot import name '([\w.]+)' from '([\w.]+)'")


def _is_alias(module_name: str) -> bool:
    from .guard import ALIAS_MARK
    return bool(getattr(sys.modules.get(module_name), ALIAS_MARK, False))


def _tensor_method(exc: AttributeError):
    """``torch.Tensor.<name>`` for a script's access to a Tensor attribute xpnet lacks."""
    from ..autograd import Tensor
    obj, name = getattr(exc, "obj", None), getattr(exc, "name", None)
    if isinstance(obj, Tensor) and name and not hasattr(obj, name):
        return f"torch.Tensor.{name}"
    if isinstance(obj, type) and issubclass(obj, Tensor) and name:
        return f"torch.Tensor.{name}"
    return None


_UNEXPECTED_KEYWORD = re.compile(r"^([\w.]+)\(\) got an unexpected keyword argument '(\w+)'$")
_XPNET_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _unknown_keyword(exc: TypeError):
    """``torch.load(map_location=...)`` for a call, made outside xpnet, that passes an xpnet
    function or class a keyword argument it does not take. A function the script defines
    itself keeps its usual traceback."""
    found = _UNEXPECTED_KEYWORD.match(str(exc))
    frames = traceback.extract_tb(exc.__traceback__)
    if not found or not frames or \
            os.path.realpath(frames[-1].filename).startswith(_XPNET_DIR + os.sep):
        return None   # not a keyword error, or xpnet calling itself wrongly (a bug to see whole)
    qualname, keyword = found.groups()
    head, *rest = qualname.split(".")
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    own = tb.tb_frame.f_globals.get(head)   # the caller's own ``def zeros`` is not xpnet's
    if own is not None and not str(getattr(own, "__module__", "")).startswith("xpnet"):
        return None
    from .aliases import ALIASES
    for module_name in ALIASES:
        if not _is_alias(module_name):
            continue
        target = getattr(sys.modules[module_name], head, None)
        for part in rest:
            target = getattr(target, part, None)
        if getattr(target, "__qualname__", None) == qualname and \
                str(getattr(target, "__module__", "")).startswith("xpnet"):
            called = [part for part in rest if part != "__init__"]   # a class: its name
            return f"{'.'.join([module_name, head, *called])}({keyword}=...)"
    return None


def _where(exc: BaseException, script: str | None) -> str:
    """``(script.py, line N)``: the script's innermost frame in the traceback."""
    if not script:
        return ""
    target = os.path.realpath(script)
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            found = frame
    return f" ({os.path.basename(script)}, line {found.lineno})" if found else ""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    module = None
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        module, script, rest = argv[1], None, argv[2:]
        sys.argv = [module, *rest]
        sys.path.insert(0, os.getcwd())
    else:
        script, rest = argv[0], argv[1:]
        if not os.path.isfile(script):
            print(f"xpnet.torch_compat: can't open file {script!r}: no such file", file=sys.stderr)
            return 2
        sys.argv = [script, *rest]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    install()
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:   # noqa: BLE001 - a missing name becomes one line
        name = _missing_name(exc)
        if name is None:
            raise
        print(_message(name) + _where(exc, script), file=sys.stderr)
        return 1
    return 0
