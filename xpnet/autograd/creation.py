"""Creating tensors: from data, filled, random (drawn on the host from the seed, then copied)."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from .tensor import Tensor

_host_rng = [np.random.default_rng(0)]


def manual_seed(seed: int) -> None:
    """Seed every generator xpnet draws from: host-side init and shuffling, device-side dropout."""
    _host_rng[0] = np.random.default_rng(int(seed))
    _backend.manual_seed(int(seed))


def host_rng() -> np.random.Generator:
    """The host generator behind initialisation and ``randn``; seeded by :func:`manual_seed`."""
    return _host_rng[0]


def get_rng_state() -> dict:
    """The host generator's state as JSON-friendly data (for checkpoints)."""
    return _host_rng[0].bit_generator.state


def set_rng_state(state: dict) -> None:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    _host_rng[0] = rng


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
    xp = backend.xp
    data = xp.full(tuple(int(s) for s in shape), value, dtype=backend.dtype(dtype or "float32"),
                   device=backend.device)
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


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples, drawn on the host (same values on every device for one seed)."""
    host = _host_rng[0].standard_normal(_shape(shape)).astype(dtype or "float32")
    return Tensor(host, requires_grad, device=device or _backend.default_device())


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples, drawn on the host."""
    host = _host_rng[0].random(_shape(shape)).astype(dtype or "float32")
    return Tensor(host, requires_grad, device=device or _backend.default_device())


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    backend = _backend.resolve(device)
    if stop is None:
        start, stop = 0, start
    dt = backend.dtype(dtype) if dtype is not None else None
    return Tensor._wrap(backend.xp.arange(start, stop, step, dtype=dt, device=backend.device),
                        backend)
