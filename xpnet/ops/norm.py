"""Batch and layer normalisation, each one Function with the closed-form backward (and group
normalisation, a layer norm over a view of the channels).

With x̂ = (x - mean)·invstd over M values and y = w·x̂ + b, the gradient of the input is

    grad_x = w·invstd · (g - mean(g) - x̂·mean(g·x̂))

(the two means remove the directions the normalisation cannot change). For batch norm w, invstd
and both means are per channel, so the whole thing is one fused elementwise pass
``g·k + x·c1 + c0`` with per-channel constants k, c1, c0.
"""
from __future__ import annotations

import math

from .. import kernels
from ..autograd import Function, Tensor
from ..checks import describe, integer, number
from .window import require_tensors


@kernels.fuse
def _scale_shift(xp, x, scale, shift):
    return x * scale + shift


@kernels.fuse
def _centred_square(xp, x, mean):
    d = x - mean
    return d * d


@kernels.fuse
def _centred_product(xp, g, x, mean):
    return g * (x - mean)


@kernels.fuse
def _batch_norm_grad(xp, g, x, k, c1, c0):
    return g * k + x * c1 + c0


@kernels.fuse
def _layer_norm_grad(xp, dxhat, xhat, invstd, mean_dxhat, mean_dxhat_xhat):
    return invstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


def _empty_gradients(xp, grad_y, x_shape, param_shape, needs):
    """The gradients of a normalisation of an empty input: all zeros (nothing reaches them)."""
    def zeros(shape, need):
        return xp.zeros(shape, dtype=grad_y.dtype, device=grad_y.device) if need else None
    return zeros(x_shape, needs[0]), zeros(param_shape, needs[1]), zeros(param_shape, needs[2])


class BatchNorm(Function):
    """Normalise each channel (axis 1) over the batch and spatial axes.

    Training: batch statistics (biased variance to normalise; the unbiased one goes into the
    running variance, as PyTorch); the running buffers are replaced on the device, no host sync.
    Eval: the running statistics, so the op is an affine map per channel.
    """

    name = "batch_norm"
    floating_inputs = {0: "x"}

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def prepare_rerun(self):
        if self.training:   # forward updated the running statistics once already
            self.running_mean = self.running_var = None

    def forward(self, x, weight, bias):
        xp = self.xp
        if x.ndim not in (2, 3, 4):
            raise ValueError(f"batch_norm: input must be (N, C), (N, C, L) or (N, C, H, W), got "
                             f"shape {tuple(x.shape)}")
        c = x.shape[1]
        for name, t in (("weight", weight), ("bias", bias),
                        ("running_mean", self.running_mean), ("running_var", self.running_var)):
            if t is not None and tuple(t.shape) != (c,):
                raise ValueError(f"batch_norm: {name} must have shape ({c},) for input "
                                 f"{tuple(x.shape)}, got {tuple(t.shape)}")
        axes = (0,) + tuple(range(2, x.ndim))
        count = math.prod(x.shape[a] for a in axes)
        stat_shape = (1, c) + (1,) * (x.ndim - 2)
        self.count = count
        if count == 0:   # an empty batch: an empty output, the running statistics untouched
            self.x_shape, self.c = tuple(x.shape), c   # (as PyTorch)
            return xp.zeros(tuple(x.shape), dtype=x.dtype, device=x.device)
        if self.training:
            if count == 1:
                raise ValueError(f"batch_norm: training needs more than one value per channel, "
                                 f"got input {tuple(x.shape)}")
            mean = xp.mean(x, axis=axes, keepdims=True)
            # biased variance, as xp.var, in two passes over x instead of four
            var = xp.mean(_centred_square(xp, x, mean), axis=axes, keepdims=True)
            if self.running_mean is not None:
                m = self.momentum
                rm, rv = self.running_mean, self.running_var
                new_mean = xp.astype(xp.reshape(mean, (c,)), rm.array.dtype)
                new_var = xp.astype(xp.reshape(var, (c,)), rv.array.dtype)
                rm.array = (1.0 - m) * rm.array + m * new_mean
                rv.array = (1.0 - m) * rv.array + (m * count / (count - 1)) * new_var
        else:
            mean = xp.reshape(self.running_mean.array, stat_shape)
            var = xp.reshape(self.running_var.array, stat_shape)
        invstd = 1.0 / xp.sqrt(var + self.eps)
        w = xp.reshape(weight, stat_shape) if weight is not None else None
        scale = invstd * w if w is not None else invstd
        shift = -mean * scale
        if bias is not None:
            shift = shift + xp.reshape(bias, stat_shape)
        self.x, self.mean, self.invstd, self.scale, self.axes, self.count = (
            x, mean, invstd, scale, axes, count)
        self.has_weight, self.has_bias = weight is not None, bias is not None
        return _scale_shift(xp, x, scale, shift)

    def backward(self, grad_y):
        xp = self.xp
        if self.count == 0:
            return _empty_gradients(xp, grad_y, self.x_shape, (self.c,), self.needs_input_grad)
        x, mean, invstd, scale, axes = self.x, self.mean, self.invstd, self.scale, self.axes
        need_x, need_w, need_b = self.needs_input_grad
        c = x.shape[1]
        sum_g = xp.sum(grad_y, axis=axes, keepdims=True)
        sum_g_xhat = None
        if need_w or (need_x and self.training):
            sum_g_xhat = xp.sum(_centred_product(xp, grad_y, x, mean), axis=axes,
                                keepdims=True) * invstd
        grad_x = None
        if need_x:
            if self.training:
                # grad_x = scale·(g - sum_g/M - x̂·sum_g_x̂/M), x̂ = (x - mean)·invstd, regrouped
                # as g·k + x·c1 + c0 so the pass over x is one fused expression
                a = sum_g / self.count
                b = sum_g_xhat * invstd / self.count
                c1 = -scale * b
                c0 = -scale * a - c1 * mean
                grad_x = _batch_norm_grad(xp, grad_y, x, scale, c1, c0)
            else:
                grad_x = grad_y * scale
        grad_w = xp.reshape(sum_g_xhat, (c,)) if need_w and self.has_weight else None
        grad_b = xp.reshape(sum_g, (c,)) if need_b and self.has_bias else None
        return grad_x, grad_w, grad_b


class LayerNorm(Function):
    """Normalise over the last ``k`` axes of each sample, then w·x̂ + b elementwise."""

    name = "layer_norm"
    floating_inputs = {0: "x"}

    def __init__(self, normalized_shape, eps):
        self.normalized_shape, self.eps = normalized_shape, eps

    def forward(self, x, weight, bias):
        xp = self.xp
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"layer_norm: input must end in normalized_shape "
                             f"{self.normalized_shape}, got shape {tuple(x.shape)}")
        for name, t in (("weight", weight), ("bias", bias)):
            if t is not None and tuple(t.shape) != self.normalized_shape:
                raise ValueError(f"layer_norm: {name} must have shape {self.normalized_shape}, "
                                 f"got {tuple(t.shape)}")
        axes = tuple(range(x.ndim - k, x.ndim))
        self.empty = x.size == 0
        if self.empty:   # nothing to normalise (and no mean of an empty axis to warn about)
            self.x_shape = tuple(x.shape)
            return xp.zeros(tuple(x.shape), dtype=x.dtype, device=x.device)
        mean = xp.mean(x, axis=axes, keepdims=True)
        var = xp.mean(_centred_square(xp, x, mean), axis=axes, keepdims=True)
        invstd = 1.0 / xp.sqrt(var + self.eps)
        xhat = _scale_shift(xp, x, invstd, -mean * invstd)
        self.xhat, self.invstd, self.weight, self.axes = xhat, invstd, weight, axes
        self.has_bias = bias is not None
        y = xhat
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y

    def backward(self, grad_y):
        xp = self.xp
        if self.empty:
            return _empty_gradients(xp, grad_y, self.x_shape, self.normalized_shape,
                                    self.needs_input_grad)
        xhat, invstd, weight, axes = self.xhat, self.invstd, self.weight, self.axes
        need_x, need_w, need_b = self.needs_input_grad
        lead = tuple(range(xhat.ndim - len(axes)))
        grad_w = xp.sum(grad_y * xhat, axis=lead) if need_w and weight is not None else None
        grad_b = xp.sum(grad_y, axis=lead) if need_b and self.has_bias else None
        grad_x = None
        if need_x:
            dxhat = grad_y * weight if weight is not None else grad_y
            grad_x = _layer_norm_grad(xp, dxhat, xhat, invstd,
                                      xp.mean(dxhat, axis=axes, keepdims=True),
                                      xp.mean(dxhat * xhat, axis=axes, keepdims=True))
        return grad_x, grad_w, grad_b


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over axis 1 of (N, C), (N, C, L) or (N, C, H, W) input.

    In training the batch's statistics normalise, and ``running_mean``/``running_var`` (Tensors,
    e.g. a BatchNorm layer's Buffers) are updated in place with ``momentum``; in eval the running
    statistics normalise. ``running_*`` may be None only in training.

    >>> layer = xpnet.nn.BatchNorm1d(3)
    >>> y = batch_norm(xpnet.randn(8, 3), layer.running_mean, layer.running_var, training=True)
    >>> y.shape, bool((y.mean(dim=0).abs() < 1e-6).all())
    ((8, 3), True)
    """
    require_tensors("batch_norm", input=x, running_mean=running_mean, running_var=running_var,
                    weight=weight, bias=bias)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: running_mean and running_var must both be given or both "
                         "be None")
    if not training and running_mean is None:
        raise ValueError("batch_norm: eval mode needs running_mean and running_var; pass "
                         "training=True to normalise with the batch's statistics")
    momentum, eps = number("batch_norm", "momentum", momentum), \
        number("batch_norm", "eps", eps, minimum=0)
    return BatchNorm(running_mean, running_var, bool(training), momentum, eps)(x, weight, bias)


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes; weight and bias of that shape.

    >>> x = xpnet.randn(2, 5, 64)
    >>> layer_norm(x, (64,)).shape == x.shape
    True
    """
    require_tensors("layer_norm", input=x, weight=weight, bias=bias)
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)):
        raise TypeError(f"layer_norm: normalized_shape must be an int or a tuple of ints, got "
                        f"{describe(normalized_shape)}")
    shape = tuple(integer("layer_norm", "each entry of normalized_shape", s, minimum=0)
                  for s in normalized_shape)
    return LayerNorm(shape, number("layer_norm", "eps", eps, minimum=0))(x, weight, bias)


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation (Wu & He): the C channels of x (N, C, *) in ``num_groups`` groups,
    each sample's group normalised over its channels and positions, then per-channel
    ``weight`` and ``bias``: a layer norm of x viewed as (N, G, C/G·∏*), so its gradients (and
    their gradients) are layer norm's.

    >>> group_norm(xpnet.randn(2, 4, 3, 3), 2).shape
    (2, 4, 3, 3)
    """
    from .shape import reshape
    require_tensors("group_norm", input=x, weight=weight, bias=bias)
    groups = integer("group_norm", "num_groups", num_groups, minimum=1)
    if x.ndim < 2:
        raise ValueError(f"group_norm: input must be (N, C, *), got shape {x.shape}")
    n, c = x.shape[0], x.shape[1]
    if c % groups:
        raise ValueError(f"group_norm: num_groups must divide the number of channels, got "
                         f"{c} channels and num_groups={groups}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (c,):
            raise ValueError(f"group_norm: {name} must have shape ({c},), got {p.shape}")
    y = reshape(layer_norm(reshape(x, (n, groups, -1)), (math.prod(x.shape[1:]) // groups,),
                           None, None, eps), x.shape)
    per_channel = (c,) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * reshape(weight, per_channel)
    if bias is not None:
        y = y + reshape(bias, per_channel)
    return y
