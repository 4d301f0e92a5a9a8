"""Tensor: an array of some backend, plus what autograd needs (grad, requires_grad, creator)."""
from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from ..checks import is_floating
from .methods import TensorMethods


_Backend = _backend.Backend


def _ops():
    from .. import ops  # ops import Tensor, so the import is deferred to the first operator call
    return ops


class Tensor(TensorMethods):
    """An n-dimensional array on some device, recording the ops applied to it.

    Args:
        data: an array of any supported library (kept as is), or anything NumPy accepts
            (nested lists, scalars, NumPy arrays), which is copied onto ``device``.
        requires_grad: record ops on this tensor so that ``backward()`` fills ``.grad``.
        device: a device flag ('cpu', 'cuda', 'strict', ...); default: the data's own device for
            arrays, else :func:`xpnet.default_device`.
        dtype: e.g. 'float32'; Python floats default to float32, as in PyTorch.

    >>> x = Tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [[2.0, 4.0]]
    """

    __slots__ = ("array", "grad", "requires_grad", "creator", "backend", "_output_index", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad=False, *, device=None, dtype=None):
        if isinstance(data, Tensor):
            data = data.array
        if dtype is not None:
            dtype = _backend.as_dtype(dtype).name   # an unknown name lists the known ones
        if device is None and _backend.is_array(data) and not isinstance(data, np.ndarray):
            backend = _backend.backend_of(data)
            if dtype is not None:
                data = backend.xp.astype(data, backend.dtype(dtype))
        else:
            backend = _backend.resolve(device)
            if _backend.is_array(data):
                if dtype is None and _backend.dtype_name(data.dtype) == "bfloat16":
                    dtype = "bfloat16"   # the host copy is float32 (NumPy has no bfloat16)
                data = _backend.to_numpy(data)
            host = _host_data(data)
            if dtype is None and host.dtype == np.float64 and not isinstance(data, np.ndarray):
                dtype = "float32"  # Python floats and lists of them: float32, as in PyTorch
            data = backend.asarray(host, dtype)
        self.array = data
        self.backend = backend
        self.grad = None
        self.creator = None
        self._output_index = 0
        self.requires_grad = bool(requires_grad)
        if self.requires_grad:
            check_requires_grad("Tensor", data.dtype)

    @classmethod
    def from_array(cls, array, requires_grad=False, device=None) -> "Tensor":
        """A Tensor holding ``array`` itself: no copy, no conversion, no checks.

        The constructor for code that already has an array of a supported library (an op's
        output, a batch sliced on the device, an optimizer's buffer); :class:`Tensor` and
        :func:`xpnet.tensor` copy and convert instead. The caller vouches that ``array`` is
        floating-point when ``requires_grad`` is True.

        Args:
            array: an array of NumPy, CuPy, array-api-strict or PyTorch.
            requires_grad: record ops on the result (default False).
            device: the device ``array`` lives on (a device object such as ``t.device``, or a
                flag), when the caller knows it: it is trusted, which saves looking it up.

        >>> import numpy as np
        >>> t = Tensor.from_array(np.ones(2, dtype=np.float32))
        >>> t.device, t.tolist()
        (device('cpu'), [1.0, 1.0])
        """
        t = cls.__new__(cls)
        t.array = array
        if device is None:
            device = _backend.backend_of(array)
        elif device.__class__ is not _Backend:
            device = _backend.resolve(device)
        t.backend = device
        t.grad = None
        t.creator = None
        t._output_index = 0
        t.requires_grad = requires_grad
        return t

    # -- properties ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def size(self, dim: int | None = None):
        """The shape (a tuple), or the size of axis ``dim``, as ``torch.Tensor.size``. (The
        Array API's ``size`` property, the element count, is :meth:`numel` here.)"""
        if dim is None:
            return tuple(self.array.shape)
        ndim = self.array.ndim
        if isinstance(dim, bool) or not isinstance(dim, int) or not -ndim <= dim < max(ndim, 1):
            raise IndexError(f"size: dim must be an int in [{-ndim}, {ndim}) for a {ndim}-D "
                             f"tensor, got {dim!r}")
        return int(self.array.shape[dim])

    def numel(self) -> int:
        """The number of elements."""
        return math.prod(self.array.shape)   # Python ints: exact, and ~10x cheaper than np.prod

    def dim(self) -> int:
        """The number of axes (``ndim``)."""
        return self.array.ndim

    @property
    def dtype(self):
        """The dtype object (``xpnet.float32``, ...): equal to its name and to the library's
        dtype (``t.dtype == 'float32'``). ``t.array.dtype`` is the library's own."""
        return _backend.as_dtype(self.array.dtype)

    @property
    def is_cuda(self) -> bool:
        return self.backend.library == "cupy" or (self.backend.library == "torch"
                                                  and self.backend.device.type == "cuda")

    @property
    def device(self):
        """The device object: prints as its flag ('cpu', 'cuda:0') and compares equal to any
        spelling of it (``t.device == 'cuda'``), as ``torch.device`` does."""
        return self.backend

    @property
    def xp(self):
        return self.backend.xp

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", precision=4, threshold=20,
                               prefix="Tensor(")
        extra = f", device='{self.device}'" if self.device != "cpu" else ""
        extra += f", dtype={_backend.dtype_name(self.dtype)}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # -- host access (these synchronise with the device) --------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy copy of the data (a view for NumPy tensors; do not write to it)."""
        return _backend.to_numpy(self.array)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python "
                             f"number, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    # -- graph --------------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad, as
        ``torch.Tensor.backward``.

        Args:
            gradient: d(loss)/d(self), of self's shape; may be omitted for one element (ones).
            retain_graph: keep the graph for another backward (default: ``create_graph``).
            create_graph: record the backward itself, so that the ``.grad`` it leaves can be
                differentiated again (see :func:`xpnet.autograd.grad`).
            inputs: accumulate only into these tensors' ``.grad``.
        """
        from .engine import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)

    def register_hook(self, hook):
        """Call ``hook(grad)`` each time the gradient of this tensor is computed, as
        ``torch.Tensor.register_hook``: a Tensor it returns replaces the gradient (for the
        hooks after it, ``.grad`` and everything upstream); None leaves it as it is. Hooks run
        in registration order; on a leaf, before the gradient is accumulated into ``.grad``; on
        a non-leaf tensor, before ``retain_grad()`` keeps it. Returns a handle whose
        ``.remove()`` unregisters the hook.

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 2.0)
        >>> (x * 3.0).sum().backward()
        >>> x.grad.tolist()
        [6.0, 6.0]
        >>> handle.remove()
        """
        from collections import OrderedDict
        from ..utils.hooks import RemovableHandle
        from .engine import leaf_hooks
        if not callable(hook):
            raise TypeError(f"register_hook: hook must be callable, got {type(hook).__name__}")
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        creator = self.creator
        if creator is None:
            table = leaf_hooks(self, create=True)
        else:
            if creator.hooks is None:
                creator.hooks = {}
            table = creator.hooks.get(self._output_index)
            if table is None:
                table = creator.hooks[self._output_index] = OrderedDict()
        handle = RemovableHandle(table)
        table[handle.id] = hook
        return handle

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (for inspecting gradients); it
        is the gradient after this tensor's hooks, whenever they were registered."""
        creator = self.creator
        if creator is not None:
            if creator.retained is None:
                creator.retained = {}
            creator.retained[self._output_index] = self
        return self

    @property
    def retains_grad(self) -> bool:
        """Whether :meth:`retain_grad` was called on this non-leaf tensor."""
        creator = self.creator
        return bool(creator is not None and creator.retained
                    and creator.retained.get(self._output_index) is self)

    @property
    def data(self) -> "Tensor":
        """PyTorch's ``t.data``: the same array as a Tensor cut from the graph.

        In-place changes to it (``p.data.add_(u)``, ``p.data.fill_(0)``) reach ``t`` and are not
        recorded by autograd. The raw array of the backend's library is ``t.array``.

        >>> p = Tensor([1.0, 2.0], requires_grad=True)
        >>> _ = p.data.mul_(10)
        >>> p.tolist(), p.data.requires_grad
        ([10.0, 20.0], False)
        """
        return Tensor.from_array(self.array, False, device=self.backend)

    @data.setter
    def data(self, value):
        """``t.data = other``: ``t`` takes ``other``'s array, keeping its own place in the graph
        (PyTorch's semantics: shape and dtype may change)."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data: expected a Tensor to assign, got {type(value).__name__}"
                            f" (the raw array of a Tensor is t.array)")
        if value.backend is not self.backend:
            raise ValueError(f"Tensor.data: the new value is on '{value.device}', the tensor on "
                             f"'{self.device}'; move it with .to(...) first")
        self.array = value.array

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor.from_array(self.array, False, device=self.backend)

    def requires_grad_(self, mode=True) -> "Tensor":
        self.requires_grad = bool(mode)
        return self

    def zero_grad(self):
        self.grad = None

    # in-place random fills, drawn on the tensor's device (xpnet.random), as PyTorch's
    def normal_(self, mean=0.0, std=1.0) -> "Tensor":
        from .random_tensors import normal_
        return normal_(self, mean, std)

    def uniform_(self, a=0.0, b=1.0) -> "Tensor":
        from .random_tensors import uniform_
        return uniform_(self, a, b)

    def bernoulli_(self, p=0.5) -> "Tensor":
        from .random_tensors import bernoulli_
        return bernoulli_(self, p)

    def to(self, *args, non_blocking=False, copy=False, **kwargs) -> "Tensor":
        """This tensor on another device and/or in another dtype, as ``torch.Tensor.to``:
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)`` (other's device and
        dtype), with ``device=``/``dtype=`` keywords too. The tensor itself when nothing
        changes (unless ``copy=True``). A cast on the same device is differentiable; a move to
        another device gives a leaf (``non_blocking`` is accepted and has no effect: copies are
        synchronous).

        >>> t = Tensor([1.0, 2.0])
        >>> t.to(xpnet.float64).dtype, t.to("cpu", "int64").tolist(), t.to(t) is t
        (xpnet.float64, [1, 2], True)
        """
        device, dtype = _to_arguments(args, kwargs)
        target = _backend.resolve(device) if device is not None else self.backend
        if dtype is not None:
            dtype = _backend.as_dtype(dtype)
            if dtype == self.dtype:
                dtype = None
        if target is self.backend:
            if dtype is not None:
                return _ops().astype(self, dtype.name)
            return _ops().astype(self, self.dtype.name) if copy else self
        data = target.asarray(_backend.to_numpy(self.array))
        if dtype is not None:
            data = target.xp.astype(data, target.dtype(dtype.name))
        return Tensor.from_array(data, self.requires_grad, device=target)

    def cpu(self) -> "Tensor":
        """A copy on the CPU (NumPy); the tensor itself when it is there already."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        """A copy on the GPU: ``cuda()`` is GPU 0, ``cuda(1)`` or ``cuda('cuda:1')`` another."""
        return self.to(_cuda_flag(device))

    def astype(self, dtype) -> "Tensor":
        return _ops().astype(self, dtype)

    def float(self) -> "Tensor":
        return self.astype("float32")

    def double(self) -> "Tensor":
        return self.astype("float64")

    # -- operators ----------------------------------------------------------------------------
    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().sub(self, other)
    def __rsub__(self, other): return _ops().sub(other, self)
    def __mul__(self, other): return _ops().mul(self, other)
    def __rmul__(self, other): return _ops().mul(other, self)
    def __truediv__(self, other): return _ops().div(self, other)
    def __rtruediv__(self, other): return _ops().div(other, self)
    def __neg__(self): return _ops().neg(self)
    def __pos__(self): return self
    def __pow__(self, exponent): return _ops().pow(self, exponent)
    def __rpow__(self, base): return _ops().pow(base, self)
    def __matmul__(self, other): return _ops().matmul(self, other)
    def __rmatmul__(self, other): return _ops().matmul(other, self)
    def __abs__(self): return _ops().abs(self)
    def __getitem__(self, index): return _ops().getitem(self, index)

    # comparisons give boolean tensors outside the graph
    def _compare(self, other, fn):
        other = other.array if isinstance(other, Tensor) else other
        return Tensor.from_array(fn(self.array, other), False, device=self.backend)

    def __eq__(self, other): return self._compare(other, lambda a, b: a == b)  # noqa: E731
    def __ne__(self, other): return self._compare(other, lambda a, b: a != b)
    def __lt__(self, other): return self._compare(other, lambda a, b: a < b)
    def __le__(self, other): return self._compare(other, lambda a, b: a <= b)
    def __gt__(self, other): return self._compare(other, lambda a, b: a > b)
    def __ge__(self, other): return self._compare(other, lambda a, b: a >= b)
    __hash__ = object.__hash__

    # -- methods mirroring xpnet.nn.functional (PyTorch's names; axis= / keepdims= too) ------
    def sum(self, dim=None, keepdim=None, *, axis=None, keepdims=None, dtype=None):
        return _ops().sum(self, dim, keepdim, axis=axis, keepdims=keepdims, dtype=dtype)

    def mean(self, dim=None, keepdim=None, *, axis=None, keepdims=None, dtype=None):
        return _ops().mean(self, dim, keepdim, axis=axis, keepdims=keepdims, dtype=dtype)

    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """As ``torch.Tensor.max``: the largest element, ``(values, indices)`` along ``dim``,
        or the elementwise maximum with another tensor."""
        return _ops().max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops().min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops().amax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amin(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops().amin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> "Tensor":
        """Indices of the maxima (int64, no gradient)."""
        return _ops().argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> "Tensor":
        return _ops().argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def all(self, dim=None, keepdim=False) -> "Tensor":
        """Whether every element (along ``dim``) is true; a boolean tensor, no gradient."""
        return Tensor.from_array(self.xp.all(self.array, axis=dim, keepdims=keepdim),
                                 device=self.backend)

    def any(self, dim=None, keepdim=False) -> "Tensor":
        """Whether some element (along ``dim``) is true; a boolean tensor, no gradient."""
        return Tensor.from_array(self.xp.any(self.array, axis=dim, keepdims=keepdim),
                                 device=self.backend)

    def reshape(self, *shape): return _ops().reshape(self, *shape)
    def view(self, *shape): return _ops().reshape(self, *shape)
    def flatten(self, start_dim=0, end_dim=-1): return _ops().flatten(self, start_dim, end_dim)
    def unsqueeze(self, dim): return _ops().unsqueeze(self, dim)
    def squeeze(self, dim=None): return _ops().squeeze(self, dim)
    def transpose(self, dim0=-2, dim1=-1): return _ops().transpose(self, dim0, dim1)
    def permute(self, *dims): return _ops().permute(self, *dims)
    def exp(self): return _ops().exp(self)
    def log(self): return _ops().log(self)
    def sqrt(self): return _ops().sqrt(self)
    def abs(self): return _ops().abs(self)
    def clip(self, min=None, max=None): return _ops().clip(self, min, max)  # noqa: A002
    clamp = clip
    def relu(self): return _ops().relu(self)
    def sigmoid(self): return _ops().sigmoid(self)
    def tanh(self): return _ops().tanh(self)
    def matmul(self, other): return _ops().matmul(self, other)

    def softmax(self, dim=None, *, axis=None):
        return _ops().softmax(self, dim, axis=axis)

    def log_softmax(self, dim=None, *, axis=None):
        return _ops().log_softmax(self, dim, axis=axis)

    @property
    def T(self):  # noqa: N802  (PyTorch's name)
        if self.ndim != 2:
            raise ValueError(f"Tensor.T: expects a 2-D tensor, got {self.ndim}-D; use permute")
        return _ops().transpose(self, 0, 1)

    @property
    def mT(self):  # noqa: N802  (the Array API's and PyTorch's name)
        """The last two axes swapped."""
        return _ops().transpose(self, -2, -1)


def _is_dtype(value) -> bool:
    """Whether a positional argument of ``to`` is a dtype (any spelling) rather than a device."""
    if isinstance(value, (int, _Backend)):
        return False
    try:
        return _backend.dtype_name(value) in _backend.DTYPES
    except Exception:   # noqa: BLE001 - not a dtype of any library: a device
        return False


def _to_arguments(args, kwargs):
    """(device, dtype) from the forms of ``Tensor.to``."""
    unknown = set(kwargs) - {"device", "dtype", "memory_format"}
    if unknown:
        raise TypeError(f"to: unexpected keyword argument(s) {sorted(unknown)}; expected device=, "
                        f"dtype=, non_blocking=, copy=")
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    if len(args) > 2:
        raise TypeError(f"to: takes at most 2 positional arguments (device, dtype), got "
                        f"{len(args)}")
    if args and isinstance(args[0], Tensor):
        if len(args) > 1:
            raise TypeError("to: to(other) takes no other positional argument")
        return args[0].backend, args[0].dtype
    for i, value in enumerate(args):
        if value is None:
            continue
        if _is_dtype(value):
            if dtype is not None:
                raise TypeError(f"to: dtype given twice ({dtype!r} and {value!r})")
            dtype = value
        elif i == 0:
            device = _cuda_flag(value) if isinstance(value, int) and \
                not isinstance(value, bool) else value
        else:
            raise TypeError(f"to: the second positional argument must be a dtype, got {value!r}")
    return device, dtype


def _cuda_flag(device) -> str:
    if device is None:
        return "cuda"
    if isinstance(device, int) and not isinstance(device, bool):
        return f"cuda:{device}"
    return str(device)


def _host_data(data) -> np.ndarray:
    """``data`` as a NumPy array of numbers, or a clear error (ragged lists, strings, objects)."""
    try:
        host = np.asarray(data)
    except ValueError:
        raise ValueError("tensor: nested lists must be rectangular (every row the same length), "
                         "got ragged data") from None
    if host.dtype.kind not in "biufc":
        raise TypeError(f"tensor: data must be numbers (bool, int, float), got "
                        f"{type(data).__name__} of dtype {host.dtype}")
    return host


def check_requires_grad(owner: str, dtype) -> None:
    """Only floating-point tensors can require gradients (as in PyTorch)."""
    if not is_floating(dtype):
        raise TypeError(f"{owner}: only floating-point tensors can require gradients, got dtype "
                        f"{_backend.dtype_name(dtype)}")


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)

