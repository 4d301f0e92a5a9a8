"""Creating tensors: from data, filled, ranges, and random (drawn on the device by
:mod:`xpnet.random`)."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from .. import random as _random
from .tensor import Tensor


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor from data (lists, NumPy arrays, arrays of any backend) on ``device``.

    >>> tensor([[1.0, 2.0]]).shape
    (1, 2)
    """
    if device is not None and _backend.is_array(data):
        data = _backend.to_numpy(data)
    return Tensor(data, requires_grad, device=device, dtype=dtype)


def _filled(shape, value, dtype, device, requires_grad):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    backend = _backend.resolve(device)
    with backend.scope():
        data = backend.xp.full(tuple(int(s) for s in shape), value,
                               dtype=backend.dtype(dtype or "float32"), device=backend.device)
    return Tensor._wrap(data, backend, requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(shape, 0, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(shape, 1, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled((shape,) if isinstance(shape, int) else tuple(shape), value, dtype, device,
                   requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return _filled(t.shape, 0, _backend.dtype_name(t.dtype), t.backend, requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return _filled(t.shape, 1, _backend.dtype_name(t.dtype), t.backend, requires_grad)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def _random_tensor(draw, shape, dtype, device, requires_grad):
    backend = _backend.resolve(device)
    name = _backend.dtype_name(dtype) if dtype is not None else "float32"
    if name not in ("float32", "float64"):
        raise TypeError(f"{draw.__name__}: dtype must be float32 or float64, got {name}")
    return Tensor._wrap(draw(backend, _shape(shape), name), backend, bool(requires_grad))


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples, drawn on ``device`` by its generator (see :mod:`xpnet.random`).

    >>> randn(2, 3).shape
    (2, 3)
    """
    return _random_tensor(_random.normal, shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples, drawn on ``device`` by its generator."""
    return _random_tensor(_random.uniform, shape, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    backend = _backend.resolve(device)
    if stop is None:
        start, stop = 0, start
    dt = backend.dtype(dtype) if dtype is not None else None
    with backend.scope():
        data = backend.xp.arange(start, stop, step, dtype=dt, device=backend.device)
    return Tensor._wrap(data, backend)
