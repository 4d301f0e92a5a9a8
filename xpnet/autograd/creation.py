"""Creating tensors: from data, filled, ranges, and random (drawn on the device by
:mod:`xpnet.random`).

Every creation function takes the floating dtypes the ops take: float16 wherever the device's
library has it (NumPy, CuPy, PyTorch; not array-api-strict), bfloat16 on PyTorch only (NumPy and
CuPy have none). A dtype the device lacks is refused here, by name, with the dtypes it has
(:func:`device_dtype`). Random half-precision tensors are drawn in float32 and rounded
(:mod:`xpnet.random`), so one seed gives the same values in every floating dtype, up to rounding.
"""
from __future__ import annotations

import numbers

from .. import backend as _backend
from .. import random as _random
from .function import Function
from .tensor import Tensor, check_requires_grad


FLOATING = _backend.FLOATING_NAMES


def device_dtype(op, backend, dtype):
    """The namespace's dtype object for ``dtype`` on ``backend``, or a TypeError naming the op,
    the device and the floating dtypes it has (array-api-strict has no float16, NumPy and CuPy
    no bfloat16).

    >>> import xpnet
    >>> device_dtype("zeros", xpnet.device("cpu"), "bfloat16")
    Traceback (most recent call last):
        ...
    TypeError: zeros: dtype bfloat16 is not supported on device 'cpu' (NumPy has no bfloat16); supported floating dtypes: float16, float32, float64
    """
    return backend.dtype(dtype, op)


def float_name(op, backend, dtype, default="float32") -> str:
    """The name of a floating ``dtype`` (None: ``default``) that ``backend`` has, or a
    TypeError naming the op and what it takes."""
    name = _backend.as_dtype(dtype).name if dtype is not None else default
    if name not in FLOATING:
        raise TypeError(f"{op}: dtype must be a floating dtype (float16, bfloat16, float32 or "
                        f"float64), got {name}")
    device_dtype(op, backend, name)
    return name


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor from data (lists, NumPy arrays, arrays of any backend) on ``device``.

    >>> tensor([[1.0, 2.0]]).shape
    (1, 2)
    """
    return _tensor("tensor", data, dtype, device, requires_grad)


def _tensor(op, data, dtype, device, requires_grad) -> Tensor:
    if isinstance(data, Tensor):
        data = data.array
    if _backend.is_array(data) and _backend.dtype_name(data.dtype) == "bfloat16":
        # no host array holds bfloat16: widened (exactly) on its device, rounded back below
        data = _backend.backend_of(data).xp.astype(data, _backend.backend_of(data).xp.float32)
        dtype = "bfloat16" if dtype is None else dtype
    if device is not None and _backend.is_array(data):
        data = _backend.to_numpy(data)
    if dtype is None or _backend.as_dtype(dtype).name != "bfloat16":
        if dtype is not None:
            device_dtype(op, _backend.resolve(device) if device is not None or not
                         _backend.is_array(data) else _backend.backend_of(data), dtype)
        return Tensor(data, requires_grad, device=device, dtype=dtype)
    t = Tensor(data, device=device, dtype="float32")
    t = Tensor.from_array(t.backend.xp.astype(t.array, device_dtype(op, t.backend, dtype)),
                          device=t.backend)
    return t.requires_grad_(True) if requires_grad else t


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
    dt = device_dtype(op, backend, dtype or "float32")
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


def _like(op, t, value, dtype, device, requires_grad):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(t).__name__}")
    return _filled(op, t.shape, value, dtype if dtype is not None else t.dtype,
                   device if device is not None else t.backend, requires_grad)


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002
    """Zeros in ``input``'s shape, dtype and device (unless ``dtype``/``device`` say otherwise)."""
    return _like("zeros_like", input, 0, dtype, device, requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002
    """Ones in ``input``'s shape, dtype and device."""
    return _like("ones_like", input, 1, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, device=None,  # noqa: A002
              requires_grad=False) -> Tensor:
    """``fill_value`` in ``input``'s shape, dtype and device.

    >>> full_like(zeros(2), 7.0).tolist()
    [7.0, 7.0]
    """
    if not isinstance(fill_value, numbers.Number):
        raise TypeError(f"full_like: fill_value must be a number, got "
                        f"{type(fill_value).__name__}")
    return _like("full_like", input, fill_value, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Zeros: xpnet never hands out uninitialised memory (PyTorch's ``empty`` may hold any
    values, so zeros are one of its valid results)."""
    return _filled("empty", shape, 0, dtype, device, requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002
    """Zeros in ``input``'s shape, dtype and device (see :func:`empty`)."""
    return _like("empty_like", input, 0, dtype, device, requires_grad)


def _random_tensor(op, draw, shape, dtype, device, requires_grad):
    shape = check_shape(op, shape)
    backend = _backend.resolve(device)
    name = float_name(op, backend, dtype)
    return Tensor.from_array(draw(backend, shape, name), bool(requires_grad),
                             device=backend)


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
    for name, value in (("start", start), ("end", stop), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"arange: {name} must be a number, got {value!r} "
                            f"({type(value).__name__})")
    if step == 0:
        raise ValueError("arange: step must be nonzero, got 0")
    dt = device_dtype("arange", backend, dtype) if dtype is not None else None
    with backend.scope():
        data = backend.xp.arange(start, stop, step, dtype=dt, device=backend.device)
    return Tensor.from_array(data, device=backend)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 unless
    ``dtype`` says otherwise), as ``torch.linspace``.

    >>> linspace(0, 1, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    steps = check_shape("linspace", (steps,))[0]
    backend = _backend.resolve(device)
    dt = device_dtype("linspace", backend, dtype or "float32")
    if requires_grad:
        check_requires_grad("linspace", dt)
    with backend.scope():
        data = backend.xp.linspace(float(start), float(end), steps, dtype=backend.dtype("float64"),
                                   device=backend.device)
        data = backend.xp.astype(data, dt)   # computed in float64, as PyTorch's are exact
    return Tensor.from_array(data, requires_grad, device=backend)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The (n, m) identity matrix (m = n by default), float32 unless ``dtype`` says otherwise.

    >>> eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    n, m = check_shape("eye", (n, n if m is None else m))
    backend = _backend.resolve(device)
    dt = device_dtype("eye", backend, dtype or "float32")
    if requires_grad:
        check_requires_grad("eye", dt)
    with backend.scope():
        data = backend.xp.eye(n, m, dtype=dt, device=backend.device)
    return Tensor.from_array(data, requires_grad, device=backend)


def from_numpy(array) -> Tensor:
    """A 'cpu' tensor sharing memory with the NumPy array (changes to one show in the other),
    as ``torch.from_numpy``.

    >>> import numpy as np
    >>> a = np.zeros(2, dtype=np.float32)
    >>> t = from_numpy(a); a[0] = 5
    >>> t.tolist()
    [5.0, 0.0]
    """
    import numpy as np
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biufc":
        raise TypeError(f"from_numpy: the array must hold numbers, got dtype {array.dtype}")
    return Tensor.from_array(array, device=_backend.resolve("cpu"))


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing memory where it can (a Tensor or an array already of the
    device and dtype asked for), else a copy, as ``torch.as_tensor``."""
    if dtype is not None:   # a dtype the target device lacks is refused by name
        source = data.backend if isinstance(data, Tensor) else \
            _backend.backend_of(data) if _backend.is_array(data) else None
        device_dtype("as_tensor", _backend.resolve(device) if device is not None or source is None
                     else source, dtype)
    if isinstance(data, Tensor):
        out = data
        if device is not None or dtype is not None:
            out = data.to(device, dtype if dtype is not None and
                          _backend.as_dtype(dtype) != data.dtype else None)
        return out
    if _backend.is_array(data):
        backend = _backend.backend_of(data)
        if device is None or _backend.resolve(device) is backend:
            t = Tensor.from_array(data, device=backend)
            if dtype is not None and _backend.as_dtype(dtype) != t.dtype:
                t = t.to(dtype=dtype)
            return t
    return _tensor("as_tensor", data, dtype, device, False)


# -- ordering: sort, argsort, topk -----------------------------------------------------------

class _TakeSorted(Function):
    """The first ``k`` entries of ``x`` along ``axis`` in sorted order (values and int64
    indices); the gradient goes back to where each value came from."""

    name = "sort"
    differentiable_outputs = (0,)

    def __init__(self, axis, k, descending):
        self.axis, self.k, self.descending = axis, k, descending

    def forward(self, x):
        xp, axis = self.xp, self.axis
        if self.descending:   # not every namespace has argsort(descending=): sort -x (stable)
            key = xp.logical_not(x) if x.dtype == xp.bool else -x
        else:
            key = x
        order = xp.argsort(key, axis=axis, stable=True)
        self.inverse = xp.argsort(order, axis=axis, stable=True)   # where each entry went
        self.n = x.shape[axis]
        index = order[(slice(None),) * axis + (slice(0, self.k), Ellipsis)]
        values = xp.take_along_axis(x, index, axis=axis)
        return values, xp.astype(index, xp.int64)

    def backward(self, grad_values, grad_indices):
        xp, axis = self.xp, self.axis
        if self.k < self.n:   # entries that were not selected get zero
            shape = list(grad_values.shape)
            shape[axis] = self.n - self.k
            grad_values = xp.concat([grad_values, xp.zeros(tuple(shape), dtype=grad_values.dtype,
                                                           device=grad_values.device)], axis=axis)
        return xp.take_along_axis(grad_values, self.inverse, axis=axis)


def _ordering(op, x, dim, k, descending):
    from .methods import SortResult, _dim
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim == 0:
        x = x.reshape(1)
        values, indices = _ordering(op, x, 0, k, descending)
        return SortResult(values.reshape(()), indices.reshape(()))
    axis = _dim(op, dim, x.ndim)
    n = x.shape[axis]
    if k is None:
        k = n
    elif isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k <= n:
        raise ValueError(f"{op}: k must be an int in [0, {n}] (the size of axis {dim}), got {k!r}")
    return SortResult(*_TakeSorted(axis, int(k), bool(descending))(x))


def sort(input: Tensor, dim=-1, descending=False):  # noqa: A002
    """``(values, indices)`` sorted along ``dim`` (stable), as ``torch.sort``.

    >>> sort(tensor([3.0, 1.0, 2.0])).indices.tolist()
    [1, 2, 0]
    """
    return _ordering("sort", input, dim, None, descending)


def argsort(input: Tensor, dim=-1, descending=False) -> Tensor:  # noqa: A002
    """The int64 indices that sort ``input`` along ``dim`` (stable)."""
    return _ordering("argsort", input, dim, None, descending).indices


def topk(input: Tensor, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """The ``k`` largest (``largest=False``: smallest) entries along ``dim`` and their int64
    indices, sorted (``sorted`` is accepted: the result is always sorted), as ``torch.topk``.

    >>> topk(tensor([1.0, 5.0, 3.0]), 2).values.tolist()
    [5.0, 3.0]
    """
    return _ordering("topk", input, dim, k, largest)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices (an integer tensor) as one-hot rows, int64 of shape ``(..., num_classes)``
    (``num_classes=-1``: the largest index + 1), as ``torch.nn.functional.one_hot``.

    >>> one_hot(tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    op = "one_hot"
    if not isinstance(tensor, Tensor) or tensor.dtype.is_floating_point or tensor.dtype == "bool":
        raise TypeError(f"{op}: expected an integer Tensor of class indices, got "
                        f"{getattr(tensor, 'dtype', type(tensor).__name__)}")
    backend, xp = tensor.backend, tensor.xp
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"{op}: num_classes must be an int, got {num_classes!r}")
    if tensor.numel():
        low, high = int(xp.min(tensor.array)), int(xp.max(tensor.array))
        if num_classes == -1:
            num_classes = high + 1
        if low < 0 or high >= num_classes:
            raise ValueError(f"{op}: class indices must be in [0, {num_classes}), got values "
                             f"from {low} to {high}")
    elif num_classes == -1:
        raise ValueError(f"{op}: num_classes=-1 needs a non-empty tensor to infer it from")
    with backend.scope():
        classes = xp.arange(int(num_classes), device=backend.device)
        hot = xp.expand_dims(tensor.array, axis=-1) == xp.astype(classes, tensor.array.dtype)
        return Tensor.from_array(xp.astype(hot, xp.int64), device=backend)
