"""PyTorch's Tensor methods that scripts written for PyTorch call, each one implementation (an
alias of the xpnet op where one exists), mixed into :class:`xpnet.autograd.tensor.Tensor`.

The functions here that are also top-level names (``xpnet.mm``, ``xpnet.norm``, ...) are
defined once at module level; the methods call them.

In-place methods (``add_``, ``fill_``, ``x -= y``, ``x[i] = v``, ...) follow PyTorch's rules:

* on a leaf that requires grad while gradients are recorded they raise ``RuntimeError`` (wrap
  the update in ``with xpnet.no_grad():``, as optimizers and initialisers do);
* when no graph is involved (inside ``no_grad()``, or neither the tensor nor the operand takes
  part in one) the new values are written into the tensor's array (``array[...] = value``), so
  every Tensor sharing that array (``detach()``, ``from_numpy``, a basic-index view) sees them,
  on every backend;
* when a graph is involved (a non-leaf tensor, or an operand that requires grad) the result is
  computed out of place and the tensor takes the result's array and graph node (the op records
  a stand-in for the old value, so the graph has no cycle); ops recorded earlier keep the old
  array.

An op recorded before the change keeps the node it consumed (each op records its inputs' nodes,
``Function.input_edges``), so ``z = y * 3; y.mul_(5); z.backward()`` gives PyTorch's gradient.
One difference from PyTorch remains: there is no version counter, so a tensor changed in place
*outside* a graph after an op saved its array for backward is not detected.
"""
from __future__ import annotations

import builtins
import math
import numbers
from typing import NamedTuple

from .. import backend as _backend
from . import grad_mode as _grad_mode


def _ops():
    from .. import ops  # ops import Tensor, so the import is deferred to the first call
    return ops


def _tensor_class():
    from .tensor import Tensor
    return Tensor


def _int(op, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")
    return int(value)


def _dim(op, dim, ndim):
    dim = _int(op, "dim", dim)
    bound = builtins.max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(f"{op}: dim must be in [{-bound}, {bound}) for a {ndim}-D tensor, "
                         f"got {dim}")
    return dim % bound


def _sizes(op, sizes) -> tuple:
    """Sizes given as ints or as one tuple/list of ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return tuple(_int(op, "sizes", n) for n in sizes)


def _slice(x, dim, start, stop):
    return x[(slice(None),) * dim + (slice(start, stop),)]


def _needs_graph(x) -> bool:
    return x.requires_grad and _grad_mode._enabled[0]


# -- top-level functions that the methods call ----------------------------------------------

def mm(input, mat2):  # noqa: A002  (PyTorch's argument name)
    """Matrix product of two 2-D tensors, as ``torch.mm`` (``matmul`` broadcasts; this checks).

    >>> import xpnet
    >>> mm(xpnet.ones(2, 3), xpnet.ones(3, 4)).shape
    (2, 4)
    """
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: both inputs must be 2-D, got shapes {input.shape} and "
                         f"{mat2.shape}; matmul broadcasts batches")
    return _ops().matmul(input, mat2)


def bmm(input, mat2):  # noqa: A002
    """Batched matrix product of (B, n, m) and (B, m, p) tensors, as ``torch.bmm``."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: inputs must be 3-D with the same batch size, got shapes "
                         f"{input.shape} and {mat2.shape}")
    return _ops().matmul(input, mat2)


def norm(input, p="fro", dim=None, keepdim=False):  # noqa: A002
    """The vector p-norm over ``dim`` (every element by default), as ``torch.norm``: ``p`` is
    ``'fro'`` or 2 (Euclidean), 1, ``inf``, ``-inf``, 0 (count of non-zeros) or any other
    number. The gradient of the 2-norm at exactly zero is NaN here (PyTorch's is 0).

    >>> import xpnet
    >>> norm(xpnet.tensor([3.0, 4.0])).item()
    5.0
    """
    ops = _ops()
    if p == "fro" or p == 2:
        return ops.sqrt(ops.sum(input * input, dim, keepdim))
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise ValueError(f"norm: p must be 'fro' or a number, got {p!r}")
    if p == math.inf:
        return ops.amax(ops.abs(input), dim, keepdim)
    if p == -math.inf:
        return ops.amin(ops.abs(input), dim, keepdim)
    if p == 0:
        return ops.sum(ops.astype(input != 0, input.dtype), dim, keepdim)
    if p == 1:
        return ops.sum(ops.abs(input), dim, keepdim)
    return ops.pow(ops.sum(ops.pow(ops.abs(input), float(p)), dim, keepdim), 1.0 / p)


def narrow(input, dim, start, length):  # noqa: A002
    """``length`` entries of axis ``dim`` from ``start`` (negative counts from the end)."""
    d = _dim("narrow", dim, input.ndim)
    n = input.shape[d]
    start, length = _int("narrow", "start", start), _int("narrow", "length", length)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} and length {length} must lie within axis "
                         f"{dim} of size {n}")
    return _slice(input, d, start, start + length)


def split(tensor, split_size_or_sections, dim=0) -> tuple:
    """Pieces along ``dim``: of ``split_size_or_sections`` entries each (the last may be
    smaller), or of the listed sizes, which must add up to the axis' size; as ``torch.split``."""
    d = _dim("split", dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [_int("split", "sections", s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.min(sizes, default=0) < 0:
            raise ValueError(f"split: sections must be non-negative and add up to {n} (the "
                             f"size of axis {dim}), got {list(sizes)}")
    else:
        size = _int("split", "split_size", split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [builtins.min(size, n - start) for start in range(0, n, size)] or [0]
    pieces, start = [], 0
    for s in sizes:
        pieces.append(_slice(tensor, d, start, start + s))
        start += s
    return tuple(pieces)


def chunk(input, chunks, dim=0) -> tuple:  # noqa: A002
    """``chunks`` pieces along ``dim`` of ceil(n / chunks) entries (fewer pieces when the axis
    is short), as ``torch.chunk``."""
    chunks = _int("chunk", "chunks", chunks)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = _dim("chunk", dim, input.ndim)
    return split(input, builtins.max(1, -(-input.shape[d] // chunks)), d)


def _expanded_shape(op, x, sizes):
    if len(sizes) < x.ndim:
        raise ValueError(f"{op}: the number of sizes ({len(sizes)}) must be at least the "
                         f"tensor's number of axes ({x.ndim}), got {sizes} for shape {x.shape}")
    lead = len(sizes) - x.ndim
    shape = []
    for i, n in enumerate(sizes):
        old = x.shape[i - lead] if i >= lead else None
        if n == -1:
            if old is None:
                raise ValueError(f"{op}: -1 is not allowed for a new leading axis, got {sizes}")
            n = old
        if old is not None and old != n and old != 1:
            raise ValueError(f"{op}: axis {i} of size {old} cannot be expanded to {n} (only "
                             f"axes of size 1 expand), got sizes {sizes} for shape {x.shape}")
        shape.append(n)
    return tuple(shape)


def expand(input, *sizes):  # noqa: A002
    """``input`` broadcast to ``sizes`` (-1 keeps an axis; new axes are added in front), as
    ``torch.Tensor.expand``; the gradient is summed back."""
    shape = _expanded_shape("expand", input, _sizes("expand", sizes))
    if shape == input.shape:
        return input
    if not _needs_graph(input):   # no graph: a broadcast view, as PyTorch's
        xp = input.xp
        with input.backend.scope():
            data = xp.broadcast_to(input.array, shape)
        return _tensor_class().from_array(data, device=input.backend)
    zeros = _filled_like(input, shape, 0)
    return _ops().add(input, zeros)   # Add's backward sums the broadcast axes back


def _filled_like(x, shape, value):
    xp = x.xp
    with x.backend.scope():
        data = xp.full(shape, value, dtype=x.array.dtype, device=x.backend.device)
    return _tensor_class().from_array(data, device=x.backend)


def repeat(input, *sizes):  # noqa: A002
    """The tensor tiled ``sizes[i]`` times along axis i, as ``torch.Tensor.repeat`` (extra
    leading sizes add axes)."""
    sizes = _sizes("repeat", sizes)
    if len(sizes) < input.ndim or builtins.min(sizes, default=0) < 0:
        raise ValueError(f"repeat: give one non-negative count per axis (at least {input.ndim}),"
                         f" got {sizes}")
    ops = _ops()
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    interleaved = builtins.sum(((1, n) for n in shape), ())
    x = ops.reshape(input, interleaved)
    x = expand(x, *builtins.sum(((r, n) for r, n in zip(sizes, shape)), ()))
    return ops.reshape(x, tuple(r * n for r, n in zip(sizes, shape)))


def _dims(op, dims, ndim):
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    return tuple(_dim(op, d, ndim) for d in dims)


def flip(input, dims):  # noqa: A002
    """The order of entries reversed along ``dims`` (an int or a tuple), as ``torch.flip``.

    With a graph the flip is composed of single-entry slices (one per entry), so the gradient
    is exact; without one it is the array library's ``flip``."""
    dims = _dims("flip", dims, input.ndim)
    if not _needs_graph(input):
        with input.backend.scope():
            data = input.xp.flip(input.array, axis=dims) if dims else input.array
        return _tensor_class().from_array(data, device=input.backend)
    x = input
    for d in dims:
        n = x.shape[d]
        x = _ops().concat([_slice(x, d, i, i + 1) for i in range(n - 1, -1, -1)], d)
    return x


def roll(input, shifts, dims=None):  # noqa: A002
    """Entries shifted cyclically by ``shifts`` along ``dims`` (the flattened tensor when
    ``dims`` is None), as ``torch.roll``."""
    if dims is None:
        return _ops().reshape(roll(_ops().reshape(input, (-1,)), shifts, 0), input.shape)
    shifts = shifts if isinstance(shifts, (tuple, list)) else (shifts,)
    dims = _dims("roll", dims, input.ndim)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts and dims must have the same length, got {shifts} and "
                         f"{dims}")
    x = input
    for shift, d in zip(shifts, dims):
        n = x.shape[d]
        k = _int("roll", "shifts", shift) % n if n else 0
        if k:
            x = _ops().concat([_slice(x, d, n - k, n), _slice(x, d, 0, n - k)], d)
    return x


def clone(input):  # noqa: A002
    """A copy with its own array; gradients flow back to ``input``."""
    return _ops().astype(input, input.dtype)   # astype copies on every backend


def square(input):  # noqa: A002
    """``input * input``."""
    return _ops().mul(input, input)


def rsqrt(input):  # noqa: A002
    """``1 / sqrt(input)``."""
    return _ops().div(1.0, _ops().sqrt(input))


def outer(input, vec2):  # noqa: A002
    """The outer product of two 1-D tensors, (n,) and (m,) -> (n, m)."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: both inputs must be 1-D, got shapes {input.shape} and "
                         f"{vec2.shape}")
    return _ops().mul(_ops().unsqueeze(input, 1), _ops().unsqueeze(vec2, 0))


def _count(x, dim):
    if dim is None:
        return x.numel()
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return math.prod(x.shape[_dim("var", d, x.ndim)] for d in dims)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """The variance over ``dim`` (every element by default) with Bessel's correction unless
    ``unbiased=False`` or ``correction=0``, as ``torch.var``.

    >>> import xpnet
    >>> var(xpnet.tensor([1.0, 2.0, 3.0, 4.0])).item()
    1.6666666269302368
    """
    if unbiased is not None and correction is not None:
        raise TypeError("var: pass unbiased= or correction=, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    ops = _ops()
    centred = input - ops.mean(input, dim, True)
    n = _count(input, dim)
    return ops.sum(centred * centred, dim, keepdim) / builtins.max(n - correction, 0)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """The standard deviation (the square root of :func:`var`), as ``torch.std``."""
    return _ops().sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def logsumexp(input, dim, keepdim=False):  # noqa: A002
    """``log(sum(exp(input)))`` over ``dim``, computed stably (the maximum taken out first).

    >>> import xpnet
    >>> round(logsumexp(xpnet.tensor([1000.0, 1000.0]), 0).item(), 2)
    1000.69
    """
    ops = _ops()
    with _grad_mode.no_grad():   # the shift is a constant: its gradient cancels exactly
        shift = ops.amax(input, dim, True)
        shift = ops.where(isfinite(shift), shift, _filled_like(shift, shift.shape, 0))
    out = ops.log(ops.sum(ops.exp(input - shift), dim, True)) + shift
    return out if keepdim else ops.squeeze(out, dim)


def _boolean(x, array):
    return _tensor_class().from_array(array, device=x.backend)


def isnan(input):  # noqa: A002
    """Where ``input`` is NaN (a boolean tensor, no gradient)."""
    with input.backend.scope():
        return _boolean(input, input.xp.isnan(input.array))


def isinf(input):  # noqa: A002
    """Where ``input`` is +inf or -inf (a boolean tensor, no gradient)."""
    with input.backend.scope():
        return _boolean(input, input.xp.isinf(input.array))


def isfinite(input):  # noqa: A002
    """Where ``input`` is neither infinite nor NaN (a boolean tensor, no gradient)."""
    with input.backend.scope():
        return _boolean(input, input.xp.isfinite(input.array))


def equal(input, other) -> bool:  # noqa: A002
    """True when both tensors have the same shape and the same values (``torch.equal``)."""
    if input.shape != other.shape:
        return False
    with input.backend.scope():
        return builtins.bool(input.xp.all(input.array == other.array))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:  # noqa: A002
    """True when ``|input - other| <= atol + rtol * |other|`` everywhere (broadcasting), as
    ``torch.allclose``.

    >>> import xpnet
    >>> allclose(xpnet.tensor([1.0, 2.0]), xpnet.tensor([1.0, 2.0 + 1e-7]))
    True
    """
    xp, a, b = input.xp, input.array, other.array
    with input.backend.scope():
        close = xp.abs(a - b) <= atol + rtol * xp.abs(b)
        if equal_nan:
            close = xp.logical_or(close, xp.logical_and(xp.isnan(a), xp.isnan(b)))
        return builtins.bool(xp.all(close))


# -- more of PyTorch's maths, composed of the ops ----------------------------------------------

def clamp_min(input, min):  # noqa: A002
    """``max(input, min)``, as ``torch.clamp_min``."""
    return _ops().clip(input, min, None)


def clamp_max(input, max):  # noqa: A002
    """``min(input, max)``, as ``torch.clamp_max``."""
    return _ops().clip(input, None, max)


def reciprocal(input):  # noqa: A002
    """``1 / input``."""
    return _ops().div(1.0, input)


def expm1(input):  # noqa: A002
    """``exp(input) - 1`` (composed: not more accurate than that near 0)."""
    return _ops().exp(input) - 1.0


def log2(input):  # noqa: A002
    """The base-2 logarithm."""
    return _ops().log(input) * (1.0 / math.log(2.0))


def log10(input):  # noqa: A002
    """The base-10 logarithm."""
    return _ops().log(input) * (1.0 / math.log(10.0))


def unbind(input, dim=0) -> tuple:  # noqa: A002
    """The slices along ``dim``, that axis removed, as ``torch.unbind``."""
    d = _dim("unbind", dim, input.ndim)
    return tuple(input[(slice(None),) * d + (i,)] for i in range(input.shape[d]))


def movedim(input, source, destination):  # noqa: A002
    """Axes ``source`` moved to ``destination`` (ints or tuples), the others in order."""
    src = _dims("movedim", source, input.ndim)
    dst = _dims("movedim", destination, input.ndim)
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: source and destination must be distinct axes of the same "
                         f"count, got {source!r} and {destination!r}")
    order = [None] * input.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(input.ndim) if i not in src)
    return _ops().permute(input, tuple(o if o is not None else next(rest) for o in order))


def swapaxes(input, axis0, axis1):  # noqa: A002
    """``transpose(input, axis0, axis1)`` (NumPy's name, also PyTorch's)."""
    return _ops().transpose(input, axis0, axis1)


def diff(input, n=1, dim=-1):  # noqa: A002
    """The ``n``-th forward difference along ``dim``, as ``torch.diff`` (no prepend/append)."""
    n = _int("diff", "n", n)
    d = _dim("diff", dim, input.ndim)
    x = input
    for _ in range(n):
        size = x.shape[d]
        if size == 0:
            break
        if input.dtype == "bool":
            x = _boolean(x, x.array[_cut(d, 1, size)] != x.array[_cut(d, 0, size - 1)])
        else:
            x = _slice(x, d, 1, size) - _slice(x, d, 0, size - 1)
    return x


def _cut(dim, start, stop):
    return (slice(None),) * dim + (slice(start, stop), Ellipsis)


def _logical(op, name, *tensors):
    t = tensors[0]
    arrays = [a.array if isinstance(a, _tensor_class()) else a for a in tensors]
    with t.backend.scope():
        arrays = [a if a.dtype == t.xp.bool else a != 0 for a in arrays]
        return _boolean(t, getattr(t.xp, name)(*arrays))


def logical_and(input, other):  # noqa: A002
    """Elementwise 'and' of the truth of two tensors (a boolean tensor)."""
    return _logical("logical_and", "logical_and", input, other)


def logical_or(input, other):  # noqa: A002
    """Elementwise 'or' of the truth of two tensors (a boolean tensor)."""
    return _logical("logical_or", "logical_or", input, other)


def logical_xor(input, other):  # noqa: A002
    """Elementwise 'xor' of the truth of two tensors (a boolean tensor)."""
    return _logical("logical_xor", "logical_xor", input, other)


def logical_not(input):  # noqa: A002
    """Elementwise 'not' of the truth of a tensor (a boolean tensor)."""
    return _logical("logical_not", "logical_not", input)


def all(input, dim=None, keepdim=False):  # noqa: A001,A002
    """Whether every element (along ``dim``) is true; a boolean tensor, as ``torch.all``."""
    with input.backend.scope():
        return _boolean(input, input.xp.all(input.array, axis=dim, keepdims=keepdim))


def any(input, dim=None, keepdim=False):  # noqa: A001,A002
    """Whether some element (along ``dim``) is true; a boolean tensor, as ``torch.any``."""
    with input.backend.scope():
        return _boolean(input, input.xp.any(input.array, axis=dim, keepdims=keepdim))


def count_nonzero(input, dim=None):  # noqa: A002
    """The number of non-zero entries (along ``dim``), int64."""
    return _ops().sum(input if input.dtype == "bool" else input != 0, dim)


def nonzero(input, *, as_tuple=False):  # noqa: A002
    """The indices of the non-zero entries: an (n, ndim) int64 tensor, or with ``as_tuple``
    one 1-D tensor per axis, as ``torch.nonzero`` (the count is read on the host)."""
    xp = input.xp
    with input.backend.scope():
        found = xp.nonzero(input.array if input.ndim else xp.reshape(input.array, (1,)))
        found = [xp.astype(a, xp.int64) for a in found]
        if as_tuple:
            return tuple(_boolean(input, a) for a in found)
        if input.ndim == 0:
            return _boolean(input, xp.zeros((found[0].shape[0], 0), dtype=xp.int64,
                                            device=input.backend.device))
        return _boolean(input, xp.stack(found, axis=1))


def argwhere(input):  # noqa: A002
    """``nonzero(input)``: an (n, ndim) int64 tensor of the non-zero entries' indices."""
    return nonzero(input)


def masked_select(input, mask):  # noqa: A002
    """The entries of ``input`` where ``mask`` (broadcast against it) is true, as a 1-D tensor;
    differentiable."""
    shape = _broadcast_shape("masked_select", input.shape, mask.shape)
    return expand(input, shape)[expand(mask, shape)]


def _broadcast_shape(op, a, b):
    n = builtins.max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    if builtins.any(p != q and 1 not in (p, q) for p, q in zip(a, b)):
        raise ValueError(f"{op}: shapes {a} and {b} cannot be broadcast together")
    return tuple(builtins.max(p, q) if 0 not in (p, q) else 0 for p, q in zip(a, b))


def scatter_add(input, dim, index, src):  # noqa: A002
    """``input`` plus ``src`` summed into the entries ``index`` picks along ``dim``, as
    ``torch.scatter_add`` (``out[..., index[..., j, ...], ...] += src[..., j, ...]``);
    differentiable in ``input`` and ``src``."""
    from ..ops.indexing import GatherPlan, Take, _check_index, _dim as _op_dim, check_range
    _check_index("scatter_add", input, index)
    d = _op_dim("scatter_add", dim, input.ndim)
    if index.ndim != input.ndim or (isinstance(src, _tensor_class()) and src.ndim != input.ndim):
        raise ValueError(f"scatter_add: index and src must have as many axes as input "
                         f"({input.ndim}), got shapes {index.shape} and "
                         f"{getattr(src, 'shape', None)}")
    for i, m in enumerate(index.shape):
        if m > (src.shape[i] if isinstance(src, _tensor_class()) else m) or \
                (i != d and m > input.shape[i]):
            raise ValueError(f"scatter_add: index {index.shape} must be no larger than src "
                             f"{getattr(src, 'shape', None)}, nor than input {input.shape} "
                             f"outside dim {d}")
    check_range("scatter_add", "index", input.backend, index.array, input.shape[d])
    if not isinstance(src, _tensor_class()):
        src = _filled_like(input, index.shape, src)
    elif src.shape != index.shape:
        src = src[tuple(slice(0, m) for m in index.shape)]
    placed = Take(GatherPlan(input.shape, d, index.array), "scatter_add", adjoint=True)(src)
    return _ops().add(input, placed)


def scatter(input, dim, index, src=None, *, value=None, reduce=None):  # noqa: A002
    """``input`` with the entries ``index`` picks along ``dim`` replaced by ``src`` (a tensor)
    or ``value`` (a number), as ``torch.scatter``; differentiable. Where ``index`` repeats an
    entry PyTorch leaves the winner undefined; here the entry gets the mean of its values."""
    if reduce is not None:
        raise ValueError(f"scatter: reduce={reduce!r} is not supported; use scatter_add for sums")
    if (src is None) == (value is None):
        if isinstance(src, numbers.Number) and value is None:
            src, value = None, src
        else:
            raise TypeError("scatter: give src (a tensor) or value (a number)")
    if src is None:
        src = _filled_like(input, index.shape, _cast_value(input, value))
    ones = _filled_like(input, index.shape, 1)
    with _grad_mode.no_grad():
        count = scatter_add(_filled_like(input, input.shape, 0), dim, index, ones)
        hit = _ops().astype(count > 0, input.dtype)
        count = _ops().maximum(count, _filled_like(count, count.shape, 1))
    total = scatter_add(_filled_like(input, input.shape, 0), dim, index, src)
    if input.dtype.is_floating_point:
        total = total / count
    else:
        total = _tensor_class().from_array(input.xp.astype(total.array // count.array,
                                                           input.array.dtype),
                                           device=input.backend)
    return input * (1 - hit) + total


# -- in place --------------------------------------------------------------------------------

def _leaf_error(op):
    return RuntimeError(
        f"{op}: a leaf tensor that requires grad cannot be changed in place while gradients "
        f"are recorded; do it inside 'with xpnet.no_grad():' (as optimizers and initialisers "
        f"do), or use the out-of-place form")


def _snapshot(t):
    """A Tensor standing for ``t`` as it is now (same array, same graph node), so that an
    in-place op records the old value as its input and not ``t`` itself (which would make a
    cycle once ``t`` takes the op's node)."""
    old = _tensor_class().from_array(t.array, t.requires_grad, device=t.backend)
    old.creator, old._output_index = t.creator, t._output_index
    return old


def _in_place(t, op, compute, operator=False):
    """Give ``t`` the value ``compute(t)``, under PyTorch's in-place rules (module docstring).

    For an operator (``t += u``) in a graph, the result is a new Tensor that Python binds to the
    name, and ``t`` itself is left as it was: every op that already took ``t`` keeps its
    history, so gradients stay exact (the ``_`` methods must return ``t`` itself instead)."""
    if _grad_mode._enabled[0]:
        if t.requires_grad and t.creator is None:
            raise _leaf_error(op)
        result = compute(_snapshot(t))
        if t.creator is not None or result.requires_grad:   # a graph: take its node
            _check_result(t, op, result)
            if operator:
                return result if result.dtype == t.dtype else _ops().astype(result, t.dtype)
            if result.dtype != t.dtype:
                result = _ops().astype(result, t.dtype)
            t.array, t.requires_grad = result.array, result.requires_grad
            t.creator, t._output_index = result.creator, result._output_index
            return t
    else:
        result = compute(t)
    _write(t, op, result)
    return t


def _check_result(t, op, result):
    if result.shape != t.shape:
        raise ValueError(f"{op}: the result has shape {result.shape}, which does not fit the "
                         f"tensor's shape {t.shape} (an in-place op cannot grow its tensor)")
    if not t.dtype.is_floating_point and result.dtype.is_floating_point:
        raise _kind_error(t, op)


def _kind_error(t, op):
    return TypeError(f"{op}: a floating-point result cannot be written into a tensor of dtype "
                     f"{_backend.dtype_name(t.dtype)}; convert the tensor first, e.g. "
                     f"t = t.float()")


def _check_operand_kind(t, op, other):
    """Refuse a floating operand for an integer tensor before computing (as PyTorch)."""
    floating = (other.dtype.is_floating_point if isinstance(other, _tensor_class())
                else isinstance(other, numbers.Number) and not isinstance(other, numbers.Integral))
    if floating and not t.dtype.is_floating_point:
        raise _kind_error(t, op)


def _write(t, op, result):
    """Write ``result``'s values into ``t``'s array (every Tensor sharing it sees them)."""
    _check_result(t, op, result)
    xp, value = t.xp, result.array
    with t.backend.scope():
        if value.dtype != t.array.dtype:
            value = xp.astype(value, t.array.dtype)
        try:
            t.array[...] = value
        except (ValueError, TypeError, RuntimeError):   # a read-only or broadcast view: replace it
            t.array = xp.asarray(value, copy=True)


def _number_or_tensor(op, name, value):
    if isinstance(value, _tensor_class()) or (isinstance(value, numbers.Number)):
        return value
    raise TypeError(f"{op}: {name} must be a Tensor or a number, got {type(value).__name__}")


def _scaled(op, other, alpha):
    other = _number_or_tensor(op, "other", other)
    return other if alpha == 1 else other * alpha


def _fill_value(value):
    """A one-element Tensor given as a fill value, as its number (PyTorch takes both)."""
    return value.item() if isinstance(value, _tensor_class()) else value


def _cast_value(t, value):
    """A Python number as the tensor's kind (PyTorch fills an int tensor with int(2.7) = 2)."""
    if isinstance(value, _tensor_class()):
        return value.item()
    if t.dtype == "bool":
        return builtins.bool(value)
    if not t.dtype.is_floating_point and not isinstance(value, numbers.Integral):
        return builtins.int(value)
    return value


class SortResult(NamedTuple):
    """What ``sort`` and ``topk`` return, as PyTorch's ``(values, indices)``."""
    values: object
    indices: object


# -- the mixin -------------------------------------------------------------------------------

_LEGACY_TYPES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                 "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
                 "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
                 "bool": "BoolTensor"}
_FROM_LEGACY = {name: dtype for dtype, name in _LEGACY_TYPES.items()}


class TensorMethods:
    """The PyTorch-named methods of :class:`~xpnet.autograd.tensor.Tensor`."""

    __slots__ = ()

    # -- comparisons (boolean tensors outside the graph), as named methods ----------------------
    def eq(self, other): return self == other
    def ne(self, other): return self != other
    def lt(self, other): return self < other
    def le(self, other): return self <= other
    def gt(self, other): return self > other
    def ge(self, other): return self >= other

    def equal(self, other) -> bool: return equal(self, other)
    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
        return allclose(self, other, rtol, atol, equal_nan)
    def isnan(self): return isnan(self)
    def is_floating_point(self) -> bool: return self.dtype.is_floating_point
    def nelement(self) -> int: return self.numel()
    def element_size(self) -> int: return self.dtype.itemsize
    def square(self): return square(self)
    def rsqrt(self): return rsqrt(self)
    def outer(self, vec2): return outer(self, vec2)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return std(self, dim, unbiased, keepdim, correction=correction)

    def logsumexp(self, dim, keepdim=False): return logsumexp(self, dim, keepdim)
    def isinf(self): return isinf(self)
    def isfinite(self): return isfinite(self)

    def sin(self): return _ops().sin(self)
    def cos(self): return _ops().cos(self)
    def log1p(self): return _ops().log1p(self)
    def expm1(self): return expm1(self)
    def log2(self): return log2(self)
    def log10(self): return log10(self)
    def reciprocal(self): return reciprocal(self)
    def floor(self): return _ops().floor(self)
    def ceil(self): return _ops().ceil(self)
    def trunc(self): return _ops().trunc(self)
    def round(self, *, decimals=0): return _ops().round(self, decimals=decimals)
    def sign(self): return _ops().sign(self)
    def clamp_min(self, min): return clamp_min(self, min)  # noqa: A002
    def clamp_max(self, max): return clamp_max(self, max)  # noqa: A002
    def logical_and(self, other): return logical_and(self, other)
    def logical_or(self, other): return logical_or(self, other)
    def logical_xor(self, other): return logical_xor(self, other)
    def logical_not(self): return logical_not(self)
    def count_nonzero(self, dim=None): return count_nonzero(self, dim)
    def nonzero(self, *, as_tuple=False): return nonzero(self, as_tuple=as_tuple)
    def argwhere(self): return argwhere(self)
    def masked_select(self, mask): return masked_select(self, mask)
    def cumsum(self, dim, dtype=None): return _ops().cumsum(self, dim, dtype=dtype)
    def gather(self, dim, index): return _ops().gather(self, dim, index)
    def index_select(self, dim, index): return _ops().index_select(self, dim, index)
    def scatter_add(self, dim, index, src): return scatter_add(self, dim, index, src)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        return scatter(self, dim, index, src, value=value, reduce=reduce)

    def diff(self, n=1, dim=-1): return diff(self, n, dim)
    def where(self, condition, other): return _ops().where(condition, self, other)
    def type_as(self, other): return self.to(dtype=other.dtype)
    def is_contiguous(self, memory_format=None) -> bool: return True

    @property
    def grad_fn(self):
        """The op that made this tensor (None for a leaf), as PyTorch's ``grad_fn``."""
        return self.creator

    # -- shapes -------------------------------------------------------------------------------
    def unbind(self, dim=0): return unbind(self, dim)
    def movedim(self, source, destination): return movedim(self, source, destination)
    def swapaxes(self, axis0, axis1): return swapaxes(self, axis0, axis1)
    def view_as(self, other): return _ops().reshape(self, other.shape)
    def reshape_as(self, other): return _ops().reshape(self, other.shape)
    def expand(self, *sizes): return expand(self, *sizes)
    def expand_as(self, other): return expand(self, other.shape)
    def repeat(self, *sizes): return repeat(self, *sizes)
    def flip(self, *dims): return flip(self, dims[0] if len(dims) == 1 else dims)
    def roll(self, shifts, dims=None): return roll(self, shifts, dims)
    def narrow(self, dim, start, length): return narrow(self, dim, start, length)
    def split(self, split_size, dim=0): return split(self, split_size, dim)
    def chunk(self, chunks, dim=0): return chunk(self, chunks, dim)

    def contiguous(self):
        """The tensor itself (xpnet's arrays need no separate contiguous copy)."""
        return self

    def t(self):
        """The transpose of a 2-D tensor (0-D and 1-D tensors as they are), as ``Tensor.t``."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 axes, got {self.ndim}-D; use "
                             f"transpose(dim0, dim1)")
        return _ops().transpose(self, 0, 1) if self.ndim == 2 else self

    # -- maths --------------------------------------------------------------------------------
    def pow(self, exponent): return _ops().pow(self, exponent)
    def mm(self, mat2): return mm(self, mat2)
    def bmm(self, mat2): return bmm(self, mat2)
    def add(self, other, alpha=1): return _ops().add(self, _scaled("add", other, alpha))
    def sub(self, other, alpha=1): return _ops().sub(self, _scaled("sub", other, alpha))
    def mul(self, other): return _ops().mul(self, other)
    def div(self, other): return _ops().div(self, other)
    def neg(self): return _ops().neg(self)
    def clone(self): return clone(self)

    def norm(self, p="fro", dim=None, keepdim=False):
        return norm(self, p, dim, keepdim)

    def masked_fill(self, mask, value):
        return _ops().masked_fill(self, mask, _fill_value(value))

    def lerp(self, end, weight):
        """``self + weight * (end - self)``, as ``torch.lerp``."""
        return _ops().add(self, _ops().mul(weight, _ops().sub(end, self)))

    def sort(self, dim=-1, descending=False):
        from .creation import sort
        return sort(self, dim, descending)

    def argsort(self, dim=-1, descending=False):
        from .creation import argsort
        return argsort(self, dim, descending)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002
        from .creation import topk
        return topk(self, k, dim, largest, sorted)

    # -- dtypes -------------------------------------------------------------------------------
    def half(self): return self.astype("float16")
    def bfloat16(self): return self.astype("bfloat16")
    def long(self): return self.astype("int64")
    def int(self): return self.astype("int32")
    def bool(self): return self.astype("bool")

    def type(self, dtype=None):
        """Without an argument, PyTorch's legacy type name ('torch.FloatTensor',
        'torch.cuda.LongTensor'; these strings are PyTorch's because scripts compare them);
        with a dtype (or such a name), the tensor cast to it."""
        name = _backend.dtype_name(self.dtype)
        if dtype is None:
            return f"torch.{'cuda.' if self.is_cuda else ''}{_LEGACY_TYPES.get(name, name)}"
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            legacy = dtype.rsplit(".", 1)[-1]
            if legacy not in _FROM_LEGACY:
                raise TypeError(f"type: unknown tensor type {dtype!r}; expected one of "
                                f"{', '.join('torch.' + n for n in _FROM_LEGACY)}")
            dtype = _FROM_LEGACY[legacy]
        return self if _backend.as_dtype(dtype) == self.dtype else self.astype(dtype)

    # -- new tensors on this one's device, in its dtype ---------------------------------------
    def _new(self, op, sizes, value, dtype, device, requires_grad):
        from .creation import full
        return full(_sizes(op, sizes), value, dtype=dtype or self.dtype,
                    device=device or self.backend, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new("new_zeros", size, 0, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new("new_ones", size, 1, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        """Zeros (xpnet never hands out uninitialised memory)."""
        return self._new("new_empty", size, 0, dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        return self._new("new_full", (size,), fill_value, dtype, device, requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A copy of ``data`` in this tensor's dtype and on its device (unless given)."""
        from .creation import tensor
        if isinstance(data, _tensor_class()):
            data = data.numpy()
        return tensor(data, dtype=dtype or self.dtype, device=device or self.backend,
                      requires_grad=requires_grad)

    # -- in place (module docstring: the autograd rules) ---------------------------------------
    def add_(self, other, alpha=1):
        other = _scaled("add_", other, alpha)
        _check_operand_kind(self, "add_", other)
        return _in_place(self, "add_", lambda t: _ops().add(t, other))

    def sub_(self, other, alpha=1):
        other = _scaled("sub_", other, alpha)
        _check_operand_kind(self, "sub_", other)
        return _in_place(self, "sub_", lambda t: _ops().sub(t, other))

    def mul_(self, other):
        other = _number_or_tensor("mul_", "other", other)
        _check_operand_kind(self, "mul_", other)
        return _in_place(self, "mul_", lambda t: _ops().mul(t, other))

    def div_(self, other):
        other = _number_or_tensor("div_", "other", other)
        if not self.dtype.is_floating_point:   # true division gives floats, as PyTorch refuses
            raise _kind_error(self, "div_")
        return _in_place(self, "div_", lambda t: _ops().div(t, other))

    def pow_(self, exponent):
        return _in_place(self, "pow_", lambda t: _ops().pow(t, exponent))

    def clamp_(self, min=None, max=None):  # noqa: A002
        return _in_place(self, "clamp_", lambda t: _ops().clip(t, min, max))

    clip_ = clamp_

    def neg_(self):
        return _in_place(self, "neg_", lambda t: _ops().neg(t))

    def masked_fill_(self, mask, value):
        value = _fill_value(value)
        return _in_place(self, "masked_fill_", lambda t: _ops().masked_fill(t, mask, value))

    def lerp_(self, end, weight):
        """Move toward ``end`` by ``weight`` in place (an exponential moving average's update)."""
        return _in_place(self, "lerp_", lambda t: TensorMethods.lerp(t, end, weight))

    def clamp_min_(self, min):  # noqa: A002
        return _in_place(self, "clamp_min_", lambda t: clamp_min(t, min))

    def clamp_max_(self, max):  # noqa: A002
        return _in_place(self, "clamp_max_", lambda t: clamp_max(t, max))

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        """``scatter`` in place (``zeros(n, k).scatter_(1, labels[:, None], 1.0)``: one-hot)."""
        return _in_place(self, "scatter_",
                         lambda t: scatter(t, dim, index, src, value=value, reduce=reduce))

    def scatter_add_(self, dim, index, src):
        return _in_place(self, "scatter_add_", lambda t: scatter_add(t, dim, index, src))

    def sin_(self): return _in_place(self, "sin_", lambda t: _ops().sin(t))
    def cos_(self): return _in_place(self, "cos_", lambda t: _ops().cos(t))
    def floor_(self): return _in_place(self, "floor_", lambda t: _ops().floor(t))
    def round_(self): return _in_place(self, "round_", lambda t: _ops().round(t))
    def abs_(self): return _in_place(self, "abs_", lambda t: _ops().abs(t))
    def sqrt_(self): return _in_place(self, "sqrt_", lambda t: _ops().sqrt(t))
    def exp_(self): return _in_place(self, "exp_", lambda t: _ops().exp(t))
    def log_(self): return _in_place(self, "log_", lambda t: _ops().log(t))
    def sigmoid_(self): return _in_place(self, "sigmoid_", lambda t: _ops().sigmoid(t))
    def tanh_(self): return _in_place(self, "tanh_", lambda t: _ops().tanh(t))
    def relu_(self): return _in_place(self, "relu_", lambda t: _ops().relu(t))

    def detach_(self):
        """Cut this tensor from the graph in place (it becomes a leaf that takes no gradient),
        as truncated backpropagation through time does with the hidden state."""
        self.creator, self._output_index, self.requires_grad = None, 0, False
        return self

    def fill_(self, value):
        value = _cast_value(self, value)
        return _in_place(self, "fill_", lambda t: _filled_like(t, t.shape, value))

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src):
        """Copy ``src``'s values (broadcast to this shape, cast to this dtype, moved from any
        device) into this tensor; the gradient flows to ``src``."""
        if not isinstance(src, _tensor_class()):
            raise TypeError(f"copy_: src must be a Tensor, got {type(src).__name__}")
        if src.backend is not self.backend:
            src = src.to(self.backend)

        def compute(t):
            value = src if src.dtype == t.dtype else _ops().astype(src, t.dtype)
            try:
                return expand(value, t.shape)
            except ValueError:
                raise ValueError(f"copy_: src of shape {src.shape} does not broadcast to the "
                                 f"tensor's shape {t.shape}") from None
        return _in_place(self, "copy_", compute)

    # ``t += u`` and friends: in place without a graph (a parameter update under no_grad), a new
    # Tensor with one, so that ops which already used ``t`` keep their history
    def __iadd__(self, other):
        other = _scaled("+=", other, 1)
        _check_operand_kind(self, "+=", other)
        return _in_place(self, "+=", lambda t: _ops().add(t, other), operator=True)

    def __isub__(self, other):
        other = _scaled("-=", other, 1)
        _check_operand_kind(self, "-=", other)
        return _in_place(self, "-=", lambda t: _ops().sub(t, other), operator=True)

    def __imul__(self, other):
        other = _number_or_tensor("*=", "other", other)
        _check_operand_kind(self, "*=", other)
        return _in_place(self, "*=", lambda t: _ops().mul(t, other), operator=True)

    def __itruediv__(self, other):
        other = _number_or_tensor("/=", "other", other)
        if not self.dtype.is_floating_point:
            raise _kind_error(self, "/=")
        return _in_place(self, "/=", lambda t: _ops().div(t, other), operator=True)

    def __ipow__(self, exponent):
        return _in_place(self, "**=", lambda t: _ops().pow(t, exponent), operator=True)

    def __setitem__(self, index, value):
        """``x[index] = value`` in place (basic indices, a boolean mask, an integer tensor):
        the autograd rules of the module docstring; with a graph, ``value`` must be a number or
        a tensor that takes no gradient."""
        Tensor = _tensor_class()
        raw_index = _raw_index(index)
        value = _number_or_tensor("__setitem__", "value", value)
        if isinstance(value, Tensor):
            if value.backend is not self.backend:
                raise ValueError(f"__setitem__: value is on {value.device}, the tensor on "
                                 f"{self.device}; move it with .to(...)")
            if _needs_graph(value):
                raise RuntimeError("__setitem__: a value that requires grad cannot be written "
                                   "into a tensor while gradients are recorded yet; use "
                                   "xpnet.where(mask, value, x) or cat")

        def compute(t):
            xp = t.xp
            with t.backend.scope():
                placed = xp.asarray(t.array, copy=True)
                if isinstance(value, Tensor):
                    new = value.array
                    if new.dtype != placed.dtype:
                        new = xp.astype(new, placed.dtype)
                else:
                    new = _cast_value(t, value)
                placed[raw_index] = new
                if not _needs_graph(t):
                    return Tensor.from_array(placed, device=t.backend)
                mask = xp.zeros(t.shape, dtype=xp.bool, device=t.backend.device)
                mask[raw_index] = True
            return _ops().where(Tensor.from_array(mask, device=t.backend),
                                Tensor.from_array(placed, device=t.backend), t)

        if not _grad_mode._enabled[0] or not (self.requires_grad or self.creator is not None):
            _check_index_tensor_device(self, index)
            with self.backend.scope():   # the plain case: write straight into the array
                if isinstance(value, Tensor):
                    new = value.array
                    if new.dtype != self.array.dtype:
                        new = self.xp.astype(new, self.array.dtype)
                else:
                    new = _cast_value(self, value)
                self.array[raw_index] = new
            return
        _in_place(self, "__setitem__", compute)

    def __format__(self, spec):
        """``'{:.4f}'.format(loss)``: a one-element tensor formats as its number."""
        if not spec:
            return str(self)
        if self.numel() == 1:
            return format(self.item(), spec)
        raise TypeError(f"format: the spec {spec!r} applies to one-element tensors, got shape "
                        f"{self.shape}; format t.tolist() or str(t)")


def _check_index_tensor_device(t, index):
    for part in index if isinstance(index, tuple) else (index,):
        if isinstance(part, _tensor_class()) and part.backend is not t.backend:
            raise ValueError(f"__setitem__: the index is on {part.device}, the tensor on "
                             f"{t.device}; move it with .to(...)")


def _raw_index(index):
    """An index with Tensors replaced by their arrays, 0-D integer tensors and NumPy integers
    by ints, and an Ellipsis at the end where none is given (array-api-strict wants full index
    tuples; a boolean mask stays the sole index)."""
    Tensor = _tensor_class()

    def raw(part):
        if isinstance(part, Tensor):
            if part.ndim == 0 and part.dtype != "bool":
                return builtins.int(part.item())
            return part.array
        if isinstance(part, numbers.Integral) and not isinstance(part, builtins.bool):
            return builtins.int(part)
        return part

    if not isinstance(index, tuple):
        part = raw(index)
        if _backend.is_array(part) and _backend.dtype_name(part.dtype) == "bool":
            return part
        return (part, Ellipsis)
    parts = tuple(raw(p) for p in index)
    return parts if Ellipsis in parts else parts + (Ellipsis,)
