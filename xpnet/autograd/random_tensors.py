"""Random tensors beside :func:`~xpnet.randn` and :func:`~xpnet.rand`: integers, the ``*_like``
forms, ``normal`` and ``bernoulli``, and in-place fills (what ``Tensor.normal_``,
``uniform_`` and ``bernoulli_`` call). Every draw is made on the tensor's device by that
device's generator in :mod:`xpnet.random` (no host-to-device copy on a GPU), so
:func:`xpnet.manual_seed` and a checkpoint's ``get_rng_state()`` cover them all.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend as _backend
from .. import random as _random
from ..checks import integer, is_half, number, require_floating
from .creation import FLOATING, check_shape, device_dtype, float_name
from .tensor import Tensor

_INTEGERS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _size(op, size) -> tuple:
    """``size`` as one int or a tuple of them."""
    return check_shape(op, (size,))


def _random_tensor(op, draw, shape, dtype, device, requires_grad):
    backend = _backend.resolve(device)
    name = float_name(op, backend, dtype)
    return Tensor.from_array(draw(backend, check_shape(op, shape), name),
                             bool(requires_grad), device=backend)


def _like(op, t, dtype, device):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(t).__name__}")
    return (_backend.dtype_name(t.dtype) if dtype is None else dtype,
            t.backend if device is None else device)


def randn_like(input: Tensor, *, dtype=None, device=None,  # noqa: A002
               requires_grad=False) -> Tensor:
    """Standard normal samples shaped like ``input``, on its device, in its dtype.

    >>> import xpnet
    >>> x = xpnet.zeros(4, 2, dtype="float64")
    >>> randn_like(x).dtype == x.dtype
    True
    """
    dtype, device = _like("randn_like", input, dtype, device)
    return _random_tensor("randn_like", _random.normal, input.shape, dtype, device,
                          requires_grad)


def rand_like(input: Tensor, *, dtype=None, device=None,  # noqa: A002
              requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples shaped like ``input``, on its device, in its dtype."""
    dtype, device = _like("rand_like", input, dtype, device)
    return _random_tensor("rand_like", _random.uniform, input.shape, dtype, device,
                          requires_grad)


def _integers(op, low, high, size, dtype, device):
    low, high = integer(op, "low", low), integer(op, "high", high)
    if low >= high:
        raise ValueError(f"{op}: high must be greater than low, got low={low} and high={high}")
    backend = _backend.resolve(device)
    name = _backend.as_dtype(dtype).name if dtype is not None else "int64"
    if name in _INTEGERS:
        info = np.iinfo(name)
        if low < info.min or high - 1 > info.max:
            raise ValueError(f"{op}: [low, high) must fit in {name}, got [{low}, {high})")
        return Tensor.from_array(_random.integers(backend, int(low), int(high), size, name),
                                 device=backend)
    if name not in FLOATING:
        raise TypeError(f"{op}: dtype must be an integer or floating dtype, got {name}")
    target = device_dtype(op, backend, name)
    drawn = _random.integers(backend, int(low), int(high), size, "int64")
    with backend.scope():
        return Tensor.from_array(backend.xp.astype(drawn, target), device=backend)


def randint(low, high=None, size=None, *, dtype=None, device=None) -> Tensor:
    """Integers uniform in [low, high) of shape ``size``, drawn on ``device`` (int64 unless
    ``dtype`` says otherwise); ``randint(high, size)`` and ``randint(high, size=size)`` start
    at 0, as in PyTorch.

    >>> t = randint(3, 7, (2, 4))
    >>> t.shape, 3 <= int(t.numpy().min()) <= int(t.numpy().max()) < 7
    ((2, 4), True)
    """
    if size is None:
        if high is None:
            raise TypeError("randint: expected randint(high, size) or randint(low, high, size), "
                            "got no size")
        low, high, size = 0, low, high
    elif high is None:   # randint(high, size=(...)), PyTorch's keyword form
        low, high = 0, low
    return _integers("randint", low, high, _size("randint", size), dtype, device)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, device=None) -> Tensor:  # noqa: A002
    """Integers uniform in [low, high) shaped like ``input``, in its dtype and on its device;
    ``randint_like(input, high)`` starts at 0."""
    if high is None:
        low, high = 0, low
    dtype, device = _like("randint_like", input, dtype, device)
    return _integers("randint_like", low, high, input.shape, dtype, device)


def _check_std(op, std):
    if isinstance(std, Tensor):
        if std.backend.on_host and std.numel() and float(std.backend.xp.min(std.array)) < 0:
            raise ValueError(f"{op}: std must be non-negative, got a minimum of "
                             f"{float(std.backend.xp.min(std.array))}")
    elif not std >= 0:
        raise ValueError(f"{op}: std must be non-negative, got {std}")


def normal(mean, std=1.0, size=None, *, dtype=None, device=None) -> Tensor:
    """Samples of N(mean, std²), drawn on the device (PyTorch's ``torch.normal`` forms).

    ``mean`` and ``std`` are Tensors or numbers; with Tensors the result has their broadcast
    shape, dtype and device; with two numbers give ``size``. No gradient flows to ``mean`` or
    ``std`` (PyTorch's is zero); the reparameterisation trick is ``mean + std * randn_like(std)``.

    >>> normal(2.0, 0.5, (3,)).shape
    (3,)
    """
    op = "normal"
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    for name, value in (("mean", mean), ("std", std)):
        if not isinstance(value, (Tensor, numbers.Real)) or isinstance(value, bool):
            raise TypeError(f"{op}: {name} must be a Tensor or a number, got "
                            f"{type(value).__name__}")
    _check_std(op, std)
    if not tensors:
        if size is None:
            raise TypeError("normal: with a number for both mean and std, size must be given")
        eps = _random_tensor(op, _random.normal, _size(op, size), dtype, device, False)
        with eps.backend.scope():
            return Tensor.from_array(eps.array * float(std) + float(mean), device=eps.backend)
    if size is not None:
        raise TypeError("normal: size is only taken when mean and std are both numbers")
    backend = tensors[0].backend
    if len(tensors) == 2 and tensors[1].backend is not backend:
        raise ValueError(f"{op}: mean and std are on different devices "
                         f"['{mean.device}', '{std.device}']; move them with .to(...)")
    for t in tensors:
        require_floating(op, "mean and std", t.dtype)
    try:
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
    except ValueError:
        raise ValueError(f"{op}: mean and std must broadcast together, got shapes "
                         f"{[t.shape for t in tensors]}") from None
    name = _backend.dtype_name(backend.xp.result_type(*(t.array.dtype for t in tensors)))
    eps = _random.normal(backend, shape, name)
    values = [t.array if isinstance(t, Tensor) else float(t) for t in (mean, std)]
    with backend.scope():
        return Tensor.from_array(eps * values[1] + values[0], device=backend)


def bernoulli(input: Tensor, p=None) -> Tensor:  # noqa: A002
    """0/1 samples: element i is 1 with probability ``input[i]`` (or ``p`` for every element),
    in ``input``'s shape, dtype and device.

    >>> import xpnet
    >>> bernoulli(xpnet.full((2, 3), 1.0)).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    op = "bernoulli"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    backend, xp = input.backend, input.backend.xp
    require_floating(op, "input", input.dtype)
    if p is not None:
        number(op, "p", p, 0, 1)
    probability = input.array if p is None else p
    if p is None and backend.on_host and input.size:
        low, high = float(xp.min(input.array)), float(xp.max(input.array))
        if low < 0 or high > 1:
            raise ValueError(f"{op}: probabilities must be in [0, 1], got values from {low} "
                             f"to {high}")
    u = _random.uniform(backend, input.shape, input.dtype)
    with backend.scope():
        return Tensor.from_array(xp.astype(u < probability, input.array.dtype), device=backend)


def randperm(n, *, dtype=None, device=None) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless ``dtype`` says otherwise), drawn on
    ``device`` by its generator: the order that sorts n uniform draws.

    >>> sorted(randperm(5).tolist())
    [0, 1, 2, 3, 4]
    """
    n = integer("randperm", "n", n, 0)
    backend = _backend.resolve(device)
    name = _backend.as_dtype(dtype).name if dtype is not None else "int64"
    if name not in _INTEGERS + FLOATING:
        raise TypeError(f"randperm: dtype must be an integer or floating dtype, got {name}")
    target = device_dtype("randperm", backend, name)
    keys = _random.uniform(backend, (n,), "float64")
    with backend.scope():
        order = backend.xp.argsort(keys, stable=True)
        return Tensor.from_array(backend.xp.astype(order, target), device=backend)


def multinomial(input: Tensor, num_samples, replacement=False) -> Tensor:  # noqa: A002
    """Category indices drawn with the weights in ``input``'s last axis (1-D: one distribution,
    2-D: one per row; weights need not sum to 1), int64 of shape ``(..., num_samples)``, as
    ``torch.multinomial``. Without replacement a category is drawn at most once (the
    exponential race: the ``num_samples`` smallest of ``-log(u) / weight``).

    >>> import xpnet
    >>> multinomial(xpnet.tensor([0.0, 1.0, 0.0]), 4, replacement=True).tolist()
    [1, 1, 1, 1]
    """
    op = "multinomial"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    require_floating(op, "input", input.dtype)
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be 1-D or 2-D (rows of weights), got shape "
                         f"{input.shape}")
    n = input.shape[-1]
    num_samples = integer(op, "num_samples", num_samples, 1)
    if not replacement and num_samples > n:
        raise ValueError(f"{op}: without replacement num_samples must be <= the number of "
                         f"categories {n}, got {num_samples}")
    backend, xp, weights = input.backend, input.backend.xp, input.array
    if backend.on_host and input.numel():
        rows = _backend.to_numpy(weights).reshape(-1, n)
        if not np.isfinite(rows).all() or (rows < 0).any():
            raise ValueError(f"{op}: weights must be finite and non-negative")
        if (rows.sum(axis=1) <= 0).any():
            raise ValueError(f"{op}: every distribution needs a positive total weight")
    batch = input.shape[:-1]
    with backend.scope():
        if is_half(weights.dtype):
            weights = xp.astype(weights, xp.float32)   # sums and logs of weights, in float32
        if replacement:   # inverse CDF: the number of cumulative weights <= u
            cdf = xp.cumulative_sum(weights, axis=-1)
            cdf = cdf / cdf[..., -1:]
            u = _random.uniform(backend, batch + (num_samples,), weights.dtype)
            below = xp.expand_dims(cdf, axis=-2) <= xp.expand_dims(u, axis=-1)
            index = xp.sum(xp.astype(below, xp.int64), axis=-1)
            index = xp.minimum(index, xp.asarray(n - 1, dtype=xp.int64, device=backend.device))
        else:
            u = _random.uniform(backend, input.shape, weights.dtype)
            tiny = xp.asarray(np.finfo(np.float32).tiny, dtype=weights.dtype, device=backend.device)
            positive = weights > 0
            keys = -xp.log(xp.maximum(u, tiny)) / xp.where(positive, weights, xp.ones_like(weights))
            keys = xp.where(positive, keys, xp.full_like(keys, math.inf))   # weight 0: drawn last
            order = xp.argsort(keys, axis=-1, stable=True)
            index = xp.astype(order[..., :num_samples], xp.int64)
        return Tensor.from_array(index, device=backend)


# -- in place, drawn on the tensor's device (what Tensor.normal_ etc. call) -------------------
# They follow the in-place rules of xpnet.autograd.methods: a leaf that requires grad is refused
# while gradients are recorded, and the draw is written into the tensor's array.

def _draw_into(op, t, draw, finish):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")
    from .methods import _in_place

    def compute(current):
        sample = draw(t.backend, t.shape, float_name(op, t.backend, t.dtype))
        with t.backend.scope():
            return Tensor.from_array(finish(sample), device=t.backend)
    return _in_place(t, op, compute)


def normal_(t: Tensor, mean=0.0, std=1.0) -> Tensor:
    """Fill ``t`` with N(mean, std²) samples drawn on its device; returns ``t``."""
    _check_std("normal_", std)
    return _draw_into("normal_", t, _random.normal, lambda s: s * float(std) + float(mean))


def uniform_(t: Tensor, a=0.0, b=1.0) -> Tensor:
    """Fill ``t`` with U[a, b) samples drawn on its device; returns ``t``."""
    return _draw_into("uniform_", t, _random.uniform,
                      lambda s: s * (float(b) - float(a)) + float(a))


def bernoulli_(t: Tensor, p=0.5) -> Tensor:
    """Fill ``t`` with 0/1 samples, 1 with probability ``p`` (a number, or a Tensor that
    broadcasts to ``t``); returns ``t``."""
    if isinstance(p, Tensor):
        probability = p.array
    elif isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"bernoulli_: p must be a number in [0, 1] or a Tensor, got {p!r}")
    else:
        probability = float(p)
    return _draw_into("bernoulli_", t, _random.uniform,
                      lambda s: t.backend.xp.astype(s < probability, t.array.dtype))
