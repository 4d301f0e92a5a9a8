"""Padding, as ``torch.nn.functional.pad``.

``pad`` lists (before, after) pairs from the last axis backwards: (left, right, top, bottom, ...).

    constant:   y = value outside, y[before : before + n] = x          (negative pads crop)
    reflect:    y[-k] = x[k],      y[n - 1 + k] = x[n - 1 - k]          (the edge not repeated)
    replicate:  y[-k] = x[0],      y[n - 1 + k] = x[n - 1]
    circular:   y[-k] = x[n - k],  y[n - 1 + k] = x[k - 1]

Backward of constant padding: grad_x = grad_y[before : before + n] (zero where x was cropped);
the other modes are gathers along each padded axis (:func:`xpnet.ops.indexing.index_select`),
whose gradient sums the copies back.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function, Tensor
from .indexing import index_select

MODES = ("constant", "reflect", "replicate", "circular")


class ConstantPad(Function):
    """``x`` (in_shape) placed in a block of ``value`` (out_shape): y[dst] = x[src], slices of
    each axis; with ``adjoint``, the gradient of that as an op (for create_graph):
    grad_x[src] = grad_y[dst]."""

    name = "pad"

    def __init__(self, in_shape, out_shape, src, dst, value, adjoint=False):
        self.in_shape, self.out_shape = in_shape, out_shape
        self.src, self.dst, self.value, self.adjoint = src, dst, value, adjoint

    def forward(self, x):
        if self.adjoint:
            return self._place(x, self.in_shape, self.src, self.dst, 0)
        return self._place(x, self.out_shape, self.dst, self.src, self.value)

    def backward(self, grad_y):
        if self.adjoint:
            return self._place(grad_y, self.out_shape, self.dst, self.src, 0)
        return self._place(grad_y, self.in_shape, self.src, self.dst, 0)

    def _place(self, a, shape, into, source, value):
        y = self.xp.full(shape, value, dtype=a.dtype, device=a.device)
        y[into] = a[source]
        return y

    def backward_on_tensors(self, grads):
        twin = ConstantPad(self.in_shape, self.out_shape, self.src, self.dst, 0, not self.adjoint)
        return (twin(grads[0]),)


def _pairs(pad, ndim):
    if isinstance(pad, Tensor) or not isinstance(pad, (tuple, list)) or any(
            isinstance(p, bool) or not isinstance(p, numbers.Integral) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2 or len(pad) // 2 > ndim:
        raise ValueError(f"pad: pad must hold an even number of ints, at most 2 per axis "
                         f"({2 * ndim} for a {ndim}-D input), got {len(pad)}: {tuple(pad)}")
    # (axis, before, after), the last axis first
    return [(ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)]


def _source(mode, n, before, after):
    """The input positions each output position of a non-constant mode copies."""
    positions = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(positions, 0, n - 1)
    if mode == "circular":
        return positions % n
    period = 2 * (n - 1)            # reflect: ... 2 1 0 1 2 ... n-1 n-2 ...
    folded = np.abs(positions) % period if period else np.zeros_like(positions)
    return np.where(folded < n, folded, period - folded)


def pad(input: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:  # noqa: A002
    """Pad ``input`` by ``pad`` = (left, right, top, bottom, ...) entries, the last axis first,
    as ``torch.nn.functional.pad``. ``mode``: 'constant' (with ``value``; negative pads crop),
    'reflect' (pads smaller than the axis), 'replicate' or 'circular' (pads no larger than the
    axis).

    >>> x = xpnet.tensor([[1.0, 2.0, 3.0]])
    >>> pad(x, (1, 2)).tolist(), pad(x, (2, 0), mode="reflect").tolist()
    ([[0.0, 1.0, 2.0, 3.0, 0.0, 0.0]], [[3.0, 2.0, 1.0, 2.0, 3.0]])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"pad: input must be a Tensor, got {type(input).__name__}")
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(MODES)}, got {mode!r}")
    pairs = _pairs(pad, input.ndim)
    shape = input.shape
    if mode == "constant":
        out_shape, src, dst = list(shape), [slice(None)] * input.ndim, [slice(None)] * input.ndim
        for axis, before, after in pairs:
            n = shape[axis]
            size = n + before + after
            if size < 0:
                raise ValueError(f"pad: the pads {(before, after)} crop more than the {n} entries "
                                 f"of axis {axis}")
            out_shape[axis] = size
            start, stop = max(-before, 0), n - max(-after, 0)
            src[axis] = slice(start, max(stop, start))
            dst[axis] = slice(max(before, 0), max(before, 0) + max(stop - start, 0))
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"pad: value must be a number, got {type(value).__name__}")
        if not input.dtype.is_floating_point and value != int(value):
            raise TypeError(f"pad: value {value} does not fit the integer dtype of the input")
        fill = value if input.dtype.is_floating_point else int(value)
        return ConstantPad(shape, tuple(out_shape), tuple(src), tuple(dst), fill)(input)
    y = input
    for axis, before, after in pairs:
        n = shape[axis]
        if before < 0 or after < 0:
            raise ValueError(f"pad: {mode} padding takes non-negative pads, got "
                             f"{(before, after)} for axis {axis}")
        limit = n - 1 if mode == "reflect" else n
        if max(before, after) > limit or n == 0:
            raise ValueError(f"pad: {mode} padding of axis {axis} (size {n}) must be at most "
                             f"{limit} on each side, got {(before, after)}")
        if before or after:
            index = Tensor(_source(mode, n, before, after), device=input.backend, dtype="int64")
            y = index_select(y, axis, index)
    return y
