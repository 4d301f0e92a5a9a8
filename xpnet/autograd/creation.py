"""Creating tensors: from data, filled, ranges, and random (drawn on the device by
:mod:`xpnet.random`)."""
from __future__ import annotations

import numbers

from .. import backend as _backend
from .. import random as _random
from .tensor import Tensor, check_requires_grad


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor from data (lists, NumPy arrays, arrays of any backend) on ``device``.

    >>> tensor([[1.0, 2.0]]).shape
    (1, 2)
    """
    if device is not None and _backend.is_array(data):
        data = _backend.to_numpy(data)
    return Tensor(data, requires_grad, device=device, dtype=dtype)


def check_shape(op, shape) -> tuple:
    """A shape given as ints or one tuple/list of ints, each >= 0, or a clear error."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{op}: sizes must be ints, got {shape!r}")
        if n < 0:
            raise ValueError(f"{op}: sizes must be >= 0, got {tuple(shape)}")
    return tuple(int(n) for n in shape)


def _filled(op, shape, value, dtype, device, requires_grad):
    shape = check_shape(op, shape)
    backend = _backend.resolve(device)
    dt = backend.dtype(dtype or "float32")
    if requires_grad:
        check_requires_grad(op, dt)
    with backend.scope():
        data = backend.xp.full(shape, value, dtype=dt, device=backend.device)
    return Tensor.from_array(data, requires_grad, device=backend)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled("zeros", shape, 0, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled("ones", shape, 1, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False) -> Tensor:
    if not isinstance(value, numbers.Number):
        raise TypeError(f"full: fill_value must be a number, got {type(value).__name__}")
    return _filled("full", (shape,) if isinstance(shape, int) else tuple(shape), value, dtype,
                   device, requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return _filled("zeros_like", t.shape, 0, _backend.dtype_name(t.dtype), t.backend,
                   requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return _filled("ones_like", t.shape, 1, _backend.dtype_name(t.dtype), t.backend,
                   requires_grad)


def _random_tensor(op, draw, shape, dtype, device, requires_grad):
    shape = check_shape(op, shape)
    backend = _backend.resolve(device)
    name = _backend.as_dtype(dtype).name if dtype is not None else "float32"
    if name not in ("float32", "float64"):
        raise TypeError(f"{op}: dtype must be float32 or float64, got {name}")
    return Tensor.from_array(draw(backend, shape, name), bool(requires_grad), device=backend)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples, drawn on ``device`` by its generator (see :mod:`xpnet.random`).

    >>> randn(2, 3).shape
    (2, 3)
    """
    return _random_tensor("randn", _random.normal, shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples, drawn on ``device`` by its generator."""
    return _random_tensor("rand", _random.uniform, shape, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    backend = _backend.resolve(device)
    if stop is None:
        start, stop = 0, start
    dt = backend.dtype(dtype) if dtype is not None else None
    with backend.scope():
        data = backend.xp.arange(start, stop, step, dtype=dt, device=backend.device)
    return Tensor.from_array(data, device=backend)
