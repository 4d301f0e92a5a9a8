"""The tensor namespace: the Array API functions that op backwards call, as differentiable xpnet
ops over Tensors.

Under ``create_graph=True`` an op's backward runs unchanged, with ``self.xp`` set to this
namespace instead of the array library and its saved arrays seen as Tensors of the graph, so the
gradient it computes is itself recorded and can be differentiated again (as Chainer's
``FunctionNode`` records a backward written on Variables). Fused and loop kernels
(:mod:`xpnet.kernels`) see a Tensor as their first argument and run their Array API reference.

Functions that create arrays (``zeros``, ``arange``, ...) give constant Tensors; functions whose
result is boolean or integer (comparisons, ``logical_and``, ``isdtype``) run on the raw arrays
and give constants too. A floating-point function missing here raises rather than silently
cutting the graph.
"""
from __future__ import annotations

from .. import backend as _backend
from .function import Function
from .tensor import Tensor


def _ops():
    from .. import ops
    return ops


class BroadcastTo(Function):
    """``x`` broadcast to ``shape``; Function sums the gradient back to x's shape."""

    name = "broadcast_to"

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return self.xp.broadcast_to(x, self.shape)

    def backward(self, grad_y):
        return grad_y


def _raw(x):
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, (list, tuple)):
        return type(x)(_raw(v) for v in x)
    return x


def _any_grad(args) -> bool:
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            return True
        if isinstance(a, (list, tuple)) and _any_grad(a):
            return True
    return False


_CREATION = ("zeros", "ones", "full", "empty", "arange", "eye", "linspace", "asarray",
             "zeros_like", "ones_like", "full_like", "empty_like", "tril", "triu")


class TensorNamespace:
    """Array API functions over Tensors of one device, recorded by autograd."""

    def __init__(self, backend):
        self._backend = backend
        self._xp = backend.xp

    def __repr__(self):
        return f"TensorNamespace({self._backend})"

    # -- helpers ------------------------------------------------------------------------------
    def _const(self, array):
        return Tensor.from_array(array, False, self._backend)

    def _dtype(self, dtype):
        return None if dtype is None else self._backend.dtype(_backend.dtype_name(dtype))

    # -- creation: constants --------------------------------------------------------------------
    def zeros(self, shape, dtype=None, device=None):
        return self._const(self._xp.zeros(shape, dtype=self._dtype(dtype),
                                          device=self._backend.device))

    def ones(self, shape, dtype=None, device=None):
        return self._const(self._xp.ones(shape, dtype=self._dtype(dtype),
                                         device=self._backend.device))

    empty = zeros

    def full(self, shape, fill_value, dtype=None, device=None):
        return self._const(self._xp.full(shape, fill_value, dtype=self._dtype(dtype),
                                         device=self._backend.device))

    def zeros_like(self, x, dtype=None, device=None):
        return self.zeros(tuple(x.shape), dtype if dtype is not None else x.dtype)

    empty_like = zeros_like

    def ones_like(self, x, dtype=None, device=None):
        return self.ones(tuple(x.shape), dtype if dtype is not None else x.dtype)

    def full_like(self, x, fill_value, dtype=None, device=None):
        return self.full(tuple(x.shape), fill_value, dtype if dtype is not None else x.dtype)

    def asarray(self, obj, dtype=None, device=None, copy=None):
        if isinstance(obj, Tensor):
            return obj if dtype is None else self.astype(obj, dtype)
        return self._const(self._xp.asarray(obj, dtype=self._dtype(dtype),
                                            device=self._backend.device))

    def arange(self, *args, dtype=None, device=None, **kwargs):
        return self._const(self._xp.arange(*args, dtype=self._dtype(dtype),
                                           device=self._backend.device, **kwargs))

    # -- differentiable ops -----------------------------------------------------------------------
    def _tensor(self, x):
        """A Python number stays one (ops take constants); an array becomes a constant."""
        if isinstance(x, Tensor) or x is None or isinstance(x, (int, float, bool)):
            return x
        if _backend.is_array(x):
            return self._const(x)
        return x

    def add(self, a, b): return self._tensor(a) + self._tensor(b)
    def subtract(self, a, b): return self._tensor(a) - self._tensor(b)
    def multiply(self, a, b): return self._tensor(a) * self._tensor(b)
    def divide(self, a, b): return self._tensor(a) / self._tensor(b)
    def negative(self, x): return -x
    def positive(self, x): return x
    def pow(self, a, b): return self._tensor(a) ** self._tensor(b)
    def square(self, x): return x * x
    def exp(self, x): return _ops().exp(self._tensor(x))
    def expm1(self, x): return _ops().exp(x) - 1.0
    def log(self, x): return _ops().log(self._tensor(x))
    def log1p(self, x): return _ops().log1p(self._tensor(x))
    def sin(self, x): return _ops().sin(self._tensor(x))
    def cos(self, x): return _ops().cos(self._tensor(x))
    def sqrt(self, x): return _ops().sqrt(self._tensor(x))
    def abs(self, x): return _ops().abs(self._tensor(x))
    def tanh(self, x): return _ops().tanh(self._tensor(x))
    def matmul(self, a, b): return _ops().matmul(self._tensor(a), self._tensor(b))
    def matrix_transpose(self, x): return _ops().transpose(self._tensor(x), -2, -1)
    def permute_dims(self, x, axes): return _ops().permute(self._tensor(x), tuple(axes))

    def reshape(self, x, shape, copy=None):
        return _ops().reshape(self._tensor(x), tuple(shape))

    def broadcast_to(self, x, shape):
        if tuple(x.shape) == tuple(shape):
            return x
        return BroadcastTo(shape)(self._tensor(x))

    def expand_dims(self, x, axis=0):
        return _ops().unsqueeze(x, axis)

    def squeeze(self, x, axis):
        return _ops().squeeze(x, axis)

    def sum(self, x, axis=None, keepdims=False, dtype=None):
        y = _ops().sum(self._tensor(x), axis=axis, keepdims=keepdims)
        return y if dtype is None else self.astype(y, dtype)

    def mean(self, x, axis=None, keepdims=False):
        return _ops().mean(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return _ops().amax(x, axis=axis, keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return _ops().amin(x, axis=axis, keepdims=keepdims)

    def maximum(self, a, b):
        return self._pairwise(_ops().maximum, a, b)

    def minimum(self, a, b):
        return self._pairwise(_ops().minimum, a, b)

    def _pairwise(self, op, a, b):
        a, b = self._tensor(a), self._tensor(b)
        if not isinstance(a, Tensor):
            a = self.full_like(b, a)
        if not isinstance(b, Tensor):
            b = self.full_like(a, b)
        return op(a, b)

    def where(self, condition, a, b):
        condition = self._tensor(condition)
        a, b = self._tensor(a), self._tensor(b)
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            return self._const(self._xp.where(condition.array, a, b))
        if not isinstance(a, Tensor):
            a = self.full_like(b, a)
        if not isinstance(b, Tensor):
            b = self.full_like(a, b)
        return _ops().where(condition, a, b)

    def clip(self, x, min=None, max=None):  # noqa: A002
        return _ops().clip(x, min, max)

    def astype(self, x, dtype, copy=True, device=None):
        x = self._tensor(x)
        if _backend.dtype_name(x.dtype) == _backend.dtype_name(dtype):
            return x
        if not x.requires_grad:
            return self._const(self._xp.astype(x.array, self._dtype(dtype)))
        return _ops().astype(x, _backend.dtype_name(dtype))

    def concat(self, arrays, axis=0):
        return _ops().concat([self._tensor(a) for a in arrays], axis=axis)

    def stack(self, arrays, axis=0):
        return _ops().stack([self._tensor(a) for a in arrays], axis=axis)

    # -- everything else: raw arrays in, a constant out (refused for floats needing a graph) ----
    def __getattr__(self, name):
        attr = getattr(self._xp, name)
        if not callable(attr) or isinstance(attr, type) or name.startswith("__"):
            return attr              # dtypes (xp.float32, xp.int64), constants (xp.pi, xp.e)
        if name in ("isdtype", "finfo", "iinfo", "result_type", "can_cast"):
            return lambda *args, **kwargs: attr(*(_as_dtype_arg(self, a) for a in args),
                                                **kwargs)

        def call(*args, **kwargs):
            result = attr(*(_raw(a) for a in args), **{k: _raw(v) for k, v in kwargs.items()})
            if not _backend.is_array(result):
                return result
            if _any_grad(args) and self._xp.isdtype(result.dtype, "real floating"):
                raise NotImplementedError(
                    f"xpnet: {name} has no differentiable form in the tensor namespace, so an op "
                    f"whose backward calls it cannot be differentiated twice (create_graph=True)")
            return self._const(result)
        return call


def _as_dtype_arg(ns, a):
    if isinstance(a, Tensor):
        return a.array
    if isinstance(a, str) or a.__class__.__module__.startswith("xpnet"):
        try:
            return ns._dtype(a)
        except Exception:   # noqa: BLE001 - not a dtype: pass it as it is
            return a
    return a


_NAMESPACES: dict = {}


def namespace_for(backend) -> TensorNamespace:
    """The (cached) tensor namespace of ``backend``."""
    ns = _NAMESPACES.get(backend)
    if ns is None:
        ns = _NAMESPACES[backend] = TensorNamespace(backend)
    return ns
