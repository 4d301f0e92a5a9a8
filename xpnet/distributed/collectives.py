"""Collectives on Tensors and Modules: all_reduce, broadcast, parameter broadcast, gradient
averaging in packed buckets, and host sums for logs."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from .comm import IDENTITY, communicator
from .world import world

__all__ = ["all_reduce", "broadcast", "broadcast_parameters", "broadcast_object",
           "average_gradients", "average_buffers", "all_reduce_sums", "BUCKET_BYTES"]

BUCKET_BYTES = 25 * 2 ** 20   # PyTorch DDP's default bucket: big enough for full bandwidth
_OPS = ("sum", "mean")


def _check_tensor(name, tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: tensor must be an xpnet Tensor, got {type(tensor).__name__}; "
                        f"wrap arrays with xpnet.tensor(...), or sum host numbers with "
                        f"all_reduce_sums")


def _store(tensor, result):
    """Put ``result`` into the tensor's own array (as PyTorch's collectives do, so views and
    other holders of the array see it); rebind ``.data`` where the array cannot be written."""
    if result is tensor.array:
        return
    try:
        tensor.array[...] = result
    except (ValueError, TypeError, RuntimeError):   # a read-only NumPy view, for one
        tensor.array = result


def all_reduce(tensor: Tensor, op: str = "sum") -> Tensor:
    """Sum (or average, ``op='mean'``) ``tensor`` over every rank, in place; returns it.

    The identity in a world of one.

    >>> import xpnet
    >>> t = all_reduce(xpnet.tensor([1.0, 2.0]), op="mean")
    >>> t.tolist()
    [1.0, 2.0]
    """
    _check_tensor("all_reduce", tensor)
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be 'sum' or 'mean', got {op!r}")
    backend = tensor.backend
    if op == "mean" and not backend.xp.isdtype(tensor.array.dtype, ("real floating",
                                                               "complex floating")):
        raise TypeError(f"all_reduce: op='mean' needs a floating-point tensor, got "
                        f"{_backend.dtype_name(tensor.array.dtype)}; use op='sum' and divide")
    if tensor.array.dtype == backend.xp.bool:
        raise TypeError("all_reduce: cannot sum a bool tensor; convert it to an integer dtype")
    comm = communicator(backend)
    if comm is IDENTITY:
        return tensor
    with backend.scope():
        result = comm.all_reduce(tensor.array)
        if op == "mean":
            result /= world().size
        _store(tensor, result)
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``tensor`` on every rank with rank ``src``'s values, in place; returns it.

    >>> import xpnet
    >>> broadcast(xpnet.tensor([3.0])).tolist()
    [3.0]
    """
    _check_tensor("broadcast", tensor)
    size = world().size
    if isinstance(src, bool) or not isinstance(src, numbers.Integral) or not 0 <= src < size:
        raise ValueError(f"broadcast: src must be a rank in 0..{size - 1}, got {src!r}")
    comm = communicator(tensor.backend)
    if comm is IDENTITY:
        return tensor
    with tensor.backend.scope():
        _store(tensor, comm.broadcast(tensor.array, int(src)))
    return tensor


def _tensors(name, source) -> list:
    """The tensors of a Module (parameters, then buffers), of a state dict, or of an
    iterable of Tensors."""
    if hasattr(source, "parameters") and hasattr(source, "buffers"):
        return list(source.parameters()) + list(source.buffers())
    values = source.values() if isinstance(source, dict) else source
    if isinstance(values, Tensor) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a Module, a state dict or an iterable of Tensors, "
                        f"got {type(source).__name__}")
    tensors = list(values)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
    return tensors


def broadcast_parameters(module, src: int = 0) -> None:
    """Give every rank rank ``src``'s parameters *and* buffers (BatchNorm's running
    statistics), so that data-parallel training starts from one model.

    ``module`` is a Module, a state dict or an iterable of Tensors.
    """
    for t in _tensors("broadcast_parameters", module):
        broadcast(t, src)


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s Python object (pickled by mpi4py) on every rank: a run folder's name, a
    decision taken on rank 0. The object itself in a world of one."""
    w = world()
    if w.size == 1:
        return obj
    return w.comm.bcast(obj, root=src)


def _numel(tensor) -> int:
    return int(np.prod(tensor.shape, dtype=np.int64))


def _buckets(tensors, arrays, bucket_bytes):
    """Indices into ``tensors`` grouped by (device, dtype), cut into buckets of at most
    ``bucket_bytes`` (a tensor larger than that is a bucket of its own). The order is the
    tensors' order, identical on every rank, which is what keeps the buffers aligned."""
    groups: dict = {}
    for i, (t, a) in enumerate(zip(tensors, arrays)):
        groups.setdefault((t.backend.name, _backend.dtype_name(a.dtype)), []).append(i)
    for (_, dtype), members in groups.items():
        itemsize = np.dtype(dtype).itemsize
        bucket, filled = [], 0
        for i in members:
            nbytes = _numel(tensors[i]) * itemsize
            if bucket and filled + nbytes > bucket_bytes:
                yield bucket
                bucket, filled = [], 0
            bucket.append(i)
            filled += nbytes
        if bucket:
            yield bucket


def _average_packed(tensors, arrays, bucket_bytes):
    """The rank average of each array, one allreduce per bucket: the bucket's arrays are
    concatenated into one fresh buffer (never written in place: autograd may share a gradient
    array between tensors), summed, divided by the world size, and handed back as views."""
    size = world().size
    out = [None] * len(arrays)
    for bucket in _buckets(tensors, arrays, bucket_bytes):
        backend = tensors[bucket[0]].backend
        xp = backend.xp
        with backend.scope():
            flat = xp.concat([xp.reshape(arrays[i], (-1,)) for i in bucket])
            flat = communicator(backend).all_reduce(flat)
            if size > 1:
                flat /= size
            start = 0
            for i in bucket:
                stop = start + _numel(tensors[i])
                out[i] = xp.reshape(flat[start:stop], tensors[i].shape)
                start = stop
    return out


def _check_bucket_bytes(name, bucket_bytes):
    if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, numbers.Integral) \
            or bucket_bytes < 1:
        raise ValueError(f"{name}: bucket_bytes must be a positive int, got {bucket_bytes!r}")


def _active(w) -> bool:
    return w.size > 1 or w.nccl_requested


def average_gradients(parameters, bucket_bytes: int = BUCKET_BYTES) -> None:
    """Replace every gradient by its average over the ranks: call it between ``backward()``
    and ``optimizer.step()`` (before gradient clipping).

    ``parameters`` is a Module or an iterable of Parameters. Gradients are packed into one
    contiguous buffer per device and dtype (cut into buckets of about ``bucket_bytes``), each
    bucket is summed by ONE allreduce (MPI, or NCCL on the GPU with no host sync), divided by
    the world size and unpacked into the ``.grad`` tensors. Every parameter that requires a
    gradient takes part; a rank on which it has none contributes zeros (Horovod's rule), so
    the buffers agree on every rank; freeze parameters that a step does not use. The
    identity in a world of one.

    >>> import xpnet
    >>> model = xpnet.nn.Linear(3, 2)
    >>> model(xpnet.ones(4, 3)).sum().backward()
    >>> average_gradients(model)          # a world of one: gradients unchanged
    >>> model.bias.grad.tolist()
    [4.0, 4.0]
    """
    _check_bucket_bytes("average_gradients", bucket_bytes)
    params = [p for p in _tensors("average_gradients", parameters) if p.requires_grad]
    w = world()
    if not params or not _active(w):
        return
    arrays = []
    for p in params:
        if p.grad is not None:
            arrays.append(p.grad.array)
        else:
            with p.backend.scope():
                arrays.append(p.xp.zeros(p.shape, dtype=p.array.dtype, device=p.array.device))
    for p, averaged in zip(params, _average_packed(params, arrays, bucket_bytes)):
        p.grad = Tensor.from_array(averaged, device=p.backend)


def average_buffers(module, bucket_bytes: int = BUCKET_BYTES) -> None:
    """Average a Module's floating-point buffers over the ranks (BatchNorm's running mean and
    variance, each rank having seen other batches), before validation or saving; integer
    buffers (``num_batches_tracked``) are equal on every rank and left alone."""
    _check_bucket_bytes("average_buffers", bucket_bytes)
    w = world()
    buffers = [b for b in module.buffers()
               if b.xp.isdtype(b.array.dtype, "real floating")]
    if not buffers or not _active(w):
        return
    for b, averaged in zip(buffers, _average_packed(buffers, [b.array for b in buffers],
                                                    bucket_bytes)):
        _store(b, averaged)


def _host_number(name, value) -> float:
    if isinstance(value, Tensor):
        value = value.array
    if _backend.is_array(value):
        host = _backend.to_numpy(value)
        if host.size != 1:
            raise ValueError(f"{name}: values must be numbers or one-element arrays, got shape "
                             f"{tuple(host.shape)}")
        return float(host.reshape(()))
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{name}: values must be numbers, got {type(value).__name__}")


def all_reduce_sums(values):
    """Sum a few host numbers over the ranks, in float64, with one allreduce: what ``fit``
    needs to log the same loss and metrics on every rank.

    ``values`` is a number, a list or tuple of numbers, a dict of numbers (device scalars
    and one-element Tensors are read back), or a NumPy array; the result has the same form
    (numbers as Python floats, an array as float64).

    >>> all_reduce_sums({"loss": 2.5, "count": 64})
    {'loss': 2.5, 'count': 64.0}
    """
    name = "all_reduce_sums"
    if isinstance(values, np.ndarray):
        host, rebuild = np.array(values, dtype=np.float64, order="C"), lambda a: a
    elif isinstance(values, dict):
        keys = list(values)
        host = np.array([_host_number(name, values[k]) for k in keys], dtype=np.float64)
        rebuild = lambda a: dict(zip(keys, a.tolist()))  # noqa: E731
    elif isinstance(values, (list, tuple)):
        host = np.array([_host_number(name, v) for v in values], dtype=np.float64)
        rebuild = lambda a: type(values)(a.tolist())  # noqa: E731
    else:
        host = np.array([_host_number(name, values)], dtype=np.float64)
        rebuild = lambda a: float(a[0])  # noqa: E731
    w = world()
    if w.size > 1:
        w.comm.Allreduce(w.mpi.IN_PLACE, host, op=w.mpi.SUM)
    return rebuild(host)
