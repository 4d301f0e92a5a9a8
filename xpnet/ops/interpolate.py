"""Resampling NCHW images by nearest or bilinear interpolation, as PyTorch's ``F.interpolate``.

Both modes are separable: each output row is a fixed combination of input rows, and each output
column of input columns, so y = A_h · x · A_wᵀ with two small (out, in) matrices, and the
gradient is A_hᵀ · grad_y · A_w. An axis that nearest mode enlarges by a whole factor k (each
pixel repeated k times, the common ``Upsample(scale_factor=2)``) is a broadcast instead, and its
gradient a sum over the k copies. The matrices are made on the host with PyTorch's index
arithmetic (in the same floating type, so the same source pixels are picked; float32 for
float16 and bfloat16, as PyTorch's) and kept on the device, one per geometry, so a training step
copies nothing.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend as _backend
from ..autograd import Function, Tensor

_MODES = ("nearest", "bilinear")
_MATRICES: dict = {}          # (device, dtype, axis plan) -> (out, in) matrix on that device
_MAX_MATRICES = 64


def _nearest_sources(size, out, scale):
    """Source index of every output position, as PyTorch's nearest mode picks it."""
    if out == size:
        return np.arange(out)
    if out == 2 * size:
        return np.arange(out) // 2
    step = np.float32(1.0 / scale) if scale else np.float32(size) / np.float32(out)
    sources = np.floor(np.arange(out, dtype=np.float32) * step).astype(np.int64)
    return np.minimum(sources, size - 1)


def _bilinear_matrix(size, out, scale, align_corners, dtype):
    """(out, size) weights of PyTorch's bilinear mode along one axis, computed in ``dtype``."""
    real = np.dtype(dtype).type
    if align_corners:
        step = real(size - 1) / real(out - 1) if out > 1 else real(0)
        source = np.arange(out, dtype=dtype) * step
    else:
        step = real(1.0 / scale) if scale else real(size) / real(out)
        source = np.maximum((np.arange(out, dtype=dtype) + real(0.5)) * step - real(0.5), 0)
    first = np.minimum(np.floor(source).astype(np.int64), size - 1)
    second = np.minimum(first + 1, size - 1)
    weight = np.minimum(np.maximum(source - first, 0), 1).astype(dtype)
    matrix = np.zeros((out, size), dtype=dtype)
    rows = np.arange(out)
    matrix[rows, first] += 1 - weight
    matrix[rows, second] += weight
    return matrix


class Interpolate(Function):
    """y = A_h · x · A_wᵀ per image and channel (or a k-fold repeat along an axis)."""

    name = "interpolate"
    floating_inputs = {0: "input"}

    def __init__(self, size, scale_factor, mode, align_corners):
        self.size, self.scale_factor = size, scale_factor
        self.mode, self.align_corners = mode, align_corners

    def output_shape(self, x):
        if x.ndim != 4:
            raise ValueError(f"interpolate: input must be 4-D (N, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        h, w = x.shape[2], x.shape[3]
        if self.size is not None:
            out = self.size
        else:
            out = (math.floor(h * self.scale_factor[0]), math.floor(w * self.scale_factor[1]))
        if min(h, w, *out) < 1:
            raise ValueError(f"interpolate: input and output sizes must be at least 1, got input "
                             f"({h}, {w}) and output {out}")
        return out

    def plan(self, size, out, scale):
        """How one axis is resampled: ("repeat", k) or ("matrix", key)."""
        if out == size:     # PyTorch copies an axis whose size stays, whatever the scale
            return ("repeat", 1)
        if self.mode == "nearest":
            sources = _nearest_sources(size, out, scale)
            if out % size == 0 and np.array_equal(sources, np.arange(out) // (out // size)):
                return ("repeat", out // size)
            return ("matrix", ("nearest", size, out, scale))
        return ("matrix", ("bilinear", size, out, scale, bool(self.align_corners)))

    def matrix(self, key, dtype):
        name = _backend.dtype_name(dtype)
        cache_key = (self.backend.name, name, key)
        matrix = _MATRICES.get(cache_key)
        if matrix is None:
            # half precision: the weights are computed in float32 (as PyTorch's are) and
            # rounded on the device (NumPy has no bfloat16)
            host_name = "float32" if name in _backend.HALF_NAMES else name
            if key[0] == "nearest":
                _, size, out, scale = key
                host = np.zeros((out, size), dtype=host_name)
                host[np.arange(out), _nearest_sources(size, out, scale)] = 1
            else:
                host = _bilinear_matrix(*key[1:], dtype=host_name)
            if len(_MATRICES) >= _MAX_MATRICES:
                _MATRICES.clear()
            matrix = self.backend.asarray(host)
            if host_name != name:
                matrix = self.xp.astype(matrix, dtype)
            _MATRICES[cache_key] = matrix
        return matrix

    def forward(self, x):
        xp = self.xp
        out = self.output_shape(x)
        scales = self.scale_factor or (None, None)
        self.plans = [self.plan(x.shape[2 + a], out[a], scales[a]) for a in (0, 1)]
        self.shape = tuple(x.shape)
        y = self.along(x, 0, transpose=False)
        return self.along(y, 1, transpose=False)

    def along(self, x, axis, transpose):
        """Resample (or, with ``transpose``, apply the adjoint along) axis 2 + ``axis``."""
        xp = self.xp
        kind, value = self.plans[axis]
        n, c, h, w = x.shape
        if kind == "repeat":
            if transpose:   # gradient of a k-fold repeat: the sum over the k copies
                shape = (n, c, h // value, value, w) if axis == 0 else (n, c, h, w // value, value)
                return xp.sum(xp.reshape(x, shape), axis=3 if axis == 0 else 4)
            if value == 1:
                return x
            if axis == 0:
                wide = xp.broadcast_to(xp.reshape(x, (n, c, h, 1, w)), (n, c, h, value, w))
                return xp.reshape(wide, (n, c, h * value, w))
            wide = xp.broadcast_to(xp.reshape(x, (n, c, h, w, 1)), (n, c, h, w, value))
            return xp.reshape(wide, (n, c, h, w * value))
        matrix = self.matrix(value, x.dtype)                      # (out, in)
        if axis == 0:
            return xp.matmul(xp.matrix_transpose(matrix) if transpose else matrix, x)
        return xp.matmul(x, matrix if transpose else xp.matrix_transpose(matrix))

    def backward(self, grad_y):
        grad = self.along(grad_y, 1, transpose=True)
        return self.along(grad, 0, transpose=True)


def _positive_pair(name, value, kind, what):
    """(a, b) from one positive ``kind`` (int or float) or a pair of them."""
    values = value if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or not all(isinstance(v, numbers.Integral if kind is int else
                                              numbers.Real) and not isinstance(v, bool)
                                   and v > 0 for v in values):
        raise ValueError(f"interpolate: {name} must be a positive {what} or a pair of them, "
                         f"got {value!r}")
    return (kind(values[0]), kind(values[1]))


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
                align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None) -> Tensor:
    """Resize NCHW images by nearest-neighbour or bilinear interpolation (PyTorch's results).

    Args:
        input: (N, C, H, W).
        size: the output (Ho, Wo), or one int for both.
        scale_factor: multiplier for H and W (a number or a pair); the output is
            floor(H · scale_factor). Give exactly one of ``size`` and ``scale_factor``.
        mode: ``'nearest'`` or ``'bilinear'``.
        align_corners: bilinear only: map the corner pixels' centres onto each other (True)
            or the corners of the image (False, the default).
        recompute_scale_factor: with ``scale_factor``, interpolate as if the output size had
            been given (PyTorch's option).

    Shape: (N, C, H, W) -> (N, C, Ho, Wo).

    >>> import xpnet
    >>> x = xpnet.tensor([[[[1.0, 2.0]]]])
    >>> interpolate(x, scale_factor=2).tolist()
    [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]]
    """
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {_MODES}, got {mode!r}")
    if align_corners is not None and mode != "bilinear":
        raise ValueError(f"interpolate: align_corners can only be set with mode='bilinear', got "
                         f"align_corners={align_corners!r} with mode={mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"interpolate: exactly one of size and scale_factor must be given, got "
                         f"size={size!r} and scale_factor={scale_factor!r}")
    if size is not None:
        size = _positive_pair("size", size, int, "int")
    else:
        scale_factor = _positive_pair("scale_factor", scale_factor, float, "number")
        if recompute_scale_factor:
            if not isinstance(input, Tensor) or input.ndim != 4:
                raise ValueError(f"interpolate: input must be 4-D (N, C, H, W), got shape "
                                 f"{getattr(input, 'shape', type(input).__name__)}")
            size = (math.floor(input.shape[2] * scale_factor[0]),
                    math.floor(input.shape[3] * scale_factor[1]))
            scale_factor = None
    return Interpolate(size, scale_factor, mode, bool(align_corners))(input)
