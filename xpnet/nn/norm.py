"""BatchNorm1d, BatchNorm2d, LayerNorm."""
from __future__ import annotations

from .. import ops
from . import init
from ..checks import number, positive_int
from .module import Buffer, Module, Parameter


class _BatchNorm(Module):
    _dims: tuple = ()
    _shapes = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, device=None,
                 dtype=None):
        layer = type(self).__name__
        num_features = positive_int(layer, "num_features", num_features)
        eps = number(layer, "eps", eps, minimum=0)
        if momentum is not None:
            momentum = number(layer, "momentum", momentum)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(init.ones((num_features,), device, dtype)) if affine else None
        self.bias = Parameter(init.zeros((num_features,), device, dtype)) if affine else None
        if track_running_stats:
            self.running_mean = Buffer(init.zeros((num_features,), device, dtype))
            self.running_var = Buffer(init.ones((num_features,), device, dtype))
            self.num_batches_tracked = Buffer(0, device=device, dtype="int64")
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        # the layout (1-D or 2-D) and num_features are this layer's facts, not the op's
        if x.ndim not in self._dims or x.shape[1] != self.num_features:
            raise self._error(f"input must be {self._shapes.format(c=self.num_features)}, "
                              f"got {x.shape}")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array = self.num_batches_tracked.array + 1
            if momentum is None:  # cumulative moving average: reads the counter (a host sync)
                momentum = 1.0 / int(self.num_batches_tracked.item())
        return ops.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              use_batch, 0.0 if momentum is None else momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per channel C.

    Args:
        num_features: C.
        eps: added to the variance (default 1e-5).
        momentum: weight of the new batch in the running statistics (default 0.1; None for a
            cumulative average).
        affine: learn weight (ones) and bias (zeros) per channel (default True).
        track_running_stats: keep running_mean, running_var and num_batches_tracked buffers and
            use them in eval (default True); otherwise always use the batch's statistics.

    Shape: (N, C) or (N, C, L) -> same
    """

    _dims = (2, 3)
    _shapes = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C (arguments as BatchNorm1d).

    Shape: (N, C, H, W) -> same
    """

    _dims = (4,)
    _shapes = "(N, {c}, H, W)"


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` axes.

    Args:
        normalized_shape: an int or a tuple: the trailing shape to normalise over.
        eps: added to the variance (default 1e-5).
        elementwise_affine: learn weight (ones) and bias (zeros) of normalized_shape.
        bias: learn the bias (default True; needs elementwise_affine).

    Shape: (*, *normalized_shape) -> same
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, device=None, dtype=None):
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(positive_int("LayerNorm", "normalized_shape", s)
                                      for s in normalized_shape)
        self.eps = number("LayerNorm", "eps", eps, minimum=0)
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(init.ones(self.normalized_shape, device, dtype)) \
            if elementwise_affine else None
        self.bias = Parameter(init.zeros(self.normalized_shape, device, dtype)) \
            if elementwise_affine and bias else None

    def forward(self, x):
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalise each sample's channels in ``num_groups`` groups (Wu & He), then a learned
    per-channel scale and shift. Shape: (N, C, *) -> same"""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 bias: bool = True, *, device=None, dtype=None):
        self.num_groups = positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = positive_int("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups must divide num_channels, got "
                             f"num_groups={num_groups} and num_channels={num_channels}")
        self.eps = number("GroupNorm", "eps", eps, minimum=0)
        self.affine = affine
        self.weight = Parameter(init.ones((num_channels,), device, dtype)) if affine else None
        self.bias = Parameter(init.zeros((num_channels,), device, dtype)) \
            if affine and bias else None

    def forward(self, x):
        return ops.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None or not self.affine}")
