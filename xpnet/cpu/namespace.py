"""NumPy as the 'cpu' device's Array API namespace, without the Python-level wrappers of its
hottest functions.

NumPy >= 2.1 is an Array API namespace itself, but several of its functions are Python code
around one C call: ``np.reshape`` goes through ``_wrapfunc`` to ``ndarray.reshape``, ``np.sum``
through ``_wrapreduction`` to ``np.add.reduce``, ``np.isdtype`` walks its arguments in Python.
On a small tensor that wrapper is most of the call (``np.sum`` 4.2 µs, ``np.add.reduce`` 1.8
µs; ``np.reshape`` 1.7 µs, ``ndarray.reshape`` 0.3 µs), and a training step at batch 1 makes
dozens of such calls. This namespace is NumPy with those functions replaced by the C call they
end in, for plain ``ndarray`` arguments with the standard's keywords only; anything else (a
subclass, a NumPy scalar, an extra keyword) goes to NumPy's own function. The replacements are
the very calls NumPy makes, so results are identical (dtype, layout, errors); the whole suite
runs on this namespace ('cpu') and on array-api-strict.
"""
from __future__ import annotations

import functools
import sys
import types

import numpy as np

from .. import backend as _backend

_ndarray = np.ndarray
_add_reduce, _max_reduce, _min_reduce = np.add.reduce, np.maximum.reduce, np.minimum.reduce


def reshape(x, /, shape, *, copy=None):
    if copy is None and x.__class__ is _ndarray:
        return x.reshape(shape)
    return np.reshape(x, shape, copy=copy)


def permute_dims(x, /, axes):
    if x.__class__ is _ndarray:
        return x.transpose(axes)
    return np.permute_dims(x, axes)


def matrix_transpose(x, /):
    if x.__class__ is _ndarray and x.ndim >= 2:
        return x.swapaxes(-1, -2)
    return np.matrix_transpose(x)


def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001 (the standard's name)
    if x.__class__ is _ndarray:
        return _add_reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)
    return np.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


def max(x, /, *, axis=None, keepdims=False):  # noqa: A001
    if x.__class__ is _ndarray:
        return _max_reduce(x, axis=axis, keepdims=keepdims)
    return np.max(x, axis=axis, keepdims=keepdims)


def min(x, /, *, axis=None, keepdims=False):  # noqa: A001
    if x.__class__ is _ndarray:
        return _min_reduce(x, axis=axis, keepdims=keepdims)
    return np.min(x, axis=axis, keepdims=keepdims)


def astype(x, dtype, /, *, copy=True, device=None):
    if device is None and x.__class__ is _ndarray:
        return x.astype(dtype, copy=copy)
    return np.astype(x, dtype, copy=copy, device=device)


_ISDTYPE: dict = {}


def isdtype(dtype, kind):
    """``np.isdtype``, remembered per (dtype, kind): the answer never changes."""
    try:
        return _ISDTYPE[dtype, kind]
    except KeyError:
        answer = _ISDTYPE[dtype, kind] = np.isdtype(dtype, kind)
        return answer
    except TypeError:            # an unhashable kind (a list): NumPy decides, and raises
        return np.isdtype(dtype, kind)


FAST = {f.__name__: f for f in (reshape, permute_dims, matrix_transpose, sum, max, min, astype,
                                isdtype)}


def namespace() -> types.ModuleType:
    """The namespace: every public name of NumPy, the functions above in place of NumPy's, and
    any other name looked up on NumPy (its lazily imported submodules)."""
    module = sys.modules.get(__name__ + ".namespace")
    if module is not None:
        return module
    module = types.ModuleType(__name__ + ".namespace", "NumPy with its hottest wrappers "
                              "bypassed (see xpnet.cpu.namespace).")
    module.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})
    module.__dict__.update(FAST)
    module.__getattr__ = lambda name: getattr(np, name)
    sys.modules[module.__name__] = module
    return module


@functools.lru_cache(maxsize=None)
def _cpu_xp():
    return _backend.resolve("cpu").xp


def is_cpu(xp) -> bool:
    """Whether ``xp`` is the 'cpu' device's namespace (NumPy arrays in host memory), where the
    speed machinery of :mod:`xpnet.cpu` applies."""
    return xp is _cpu_xp()
