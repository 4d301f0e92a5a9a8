"""Losses: mse, binary cross-entropy (on probabilities and on logits), fused cross-entropy."""
from __future__ import annotations

import math

from ..autograd import Function, Tensor
from .activation import logistic

_REDUCTIONS = ("mean", "sum", "none")
_TINY = 1e-44  # below e^-100 (also once rounded to float32), so the clip at -100 decides


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


class _Loss(Function):
    """Elementwise loss with a reduction; subclasses give ``loss`` and ``grad`` per element."""

    def __init__(self, reduction):
        self.reduction = reduction

    def check_same_shape(self, x, target):
        if tuple(x.shape) != tuple(target.shape):
            raise ValueError(f"{self.op_name}: input and target must have the same shape, got "
                             f"input {tuple(x.shape)} and target {tuple(target.shape)}")

    def reduce(self, elementwise):
        self.count = math.prod(elementwise.shape)  # not .size: a method on torch tensors
        if self.reduction == "mean":
            return self.xp.mean(elementwise)
        if self.reduction == "sum":
            return self.xp.sum(elementwise)
        return elementwise

    def scale(self, grad_y):
        return grad_y / self.count if self.reduction == "mean" else grad_y


class MSELoss(_Loss):
    name = "mse_loss"

    def forward(self, x, target):
        self.check_same_shape(x, target)
        self.diff = x - target
        return self.reduce(self.diff * self.diff)

    def backward(self, grad_y):
        g = 2.0 * self.diff * self.scale(grad_y)
        return g, -g


class BCELoss(_Loss):
    """-(t·log p + (1 - t)·log(1 - p)), logs clamped at -100 as in PyTorch."""

    name = "binary_cross_entropy"

    def forward(self, p, target):
        self.check_same_shape(p, target)
        xp = self.xp
        self.p, self.target = p, target
        # floor at _TINY before the log: the same result, without log(0)'s warning
        log_p = xp.maximum(xp.log(xp.maximum(p, _TINY)), -100.0)
        log_1mp = xp.maximum(xp.log(xp.maximum(1.0 - p, _TINY)), -100.0)
        return self.reduce(-(target * log_p + (1.0 - target) * log_1mp))

    def backward(self, grad_y):
        p, t = self.p, self.target
        eps = 1e-12
        denom = self.xp.maximum(p * (1.0 - p), eps)
        return self.scale(grad_y) * (p - t) / denom, None


class BCEWithLogitsLoss(_Loss):
    """max(x, 0) - x·t + log(1 + e^-|x|); gradient sigmoid(x) - t."""

    name = "binary_cross_entropy_with_logits"

    def forward(self, x, target):
        self.check_same_shape(x, target)
        xp = self.xp
        self.x, self.target = x, target
        loss = xp.maximum(x, 0.0) - x * target + xp.log1p(xp.exp(-xp.abs(x)))
        return self.reduce(loss)

    def backward(self, grad_y):
        sig = logistic(self.xp, self.x)
        return self.scale(grad_y) * (sig - self.target), None


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over classes (axis 1).

    Forward: loss_i = logsumexp(x_i) - x_i[y_i]. Backward: (softmax(x) - one_hot(y)) · grad.
    Integer labels (N,) or class probabilities (N, C) as the target.
    """

    name = "cross_entropy"

    def __init__(self, reduction, label_smoothing):
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, logits, target):
        xp = self.xp
        if logits.ndim != 2:
            raise ValueError(f"cross_entropy: logits must be (N, C), got {tuple(logits.shape)}; "
                             f"flatten extra axes first")
        n, c = logits.shape
        if xp.isdtype(target.dtype, "integral"):
            if tuple(target.shape) != (n,):
                raise ValueError(f"cross_entropy: integer labels must have shape ({n},) to match "
                                 f"logits {tuple(logits.shape)}, got {tuple(target.shape)}")
            _check_label_range(self.op_name, self.backend, target, c)
            classes = xp.arange(c, dtype=target.dtype, device=target.device)
            target = xp.astype(xp.reshape(target, (n, 1)) == classes, logits.dtype)
        elif tuple(target.shape) != (n, c):
            raise ValueError(f"cross_entropy: probability targets must have the logits' shape "
                             f"{(n, c)}, got {tuple(target.shape)}")
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + self.label_smoothing / c
        shifted = logits - xp.max(logits, axis=1, keepdims=True)
        log_z = xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        log_p = shifted - log_z
        self.log_p, self.target, self.n = log_p, target, n
        loss = -xp.sum(target * log_p, axis=1)
        if self.reduction == "mean":
            return xp.sum(loss) / n
        return xp.sum(loss) if self.reduction == "sum" else loss

    def backward(self, grad_y):
        xp = self.xp
        grad = xp.exp(self.log_p) * xp.sum(self.target, axis=1, keepdims=True) - self.target
        if self.reduction == "mean":
            return grad * (grad_y / self.n), None
        if self.reduction == "sum":
            return grad * grad_y, None
        return grad * xp.reshape(grad_y, (-1, 1)), None


class NLLLoss(Function):
    """-log_probs[i, y_i], averaged or summed."""

    name = "nll_loss"

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, log_probs, target):
        xp = self.xp
        if log_probs.ndim != 2 or tuple(target.shape) != (log_probs.shape[0],):
            raise ValueError(f"nll_loss: expected log_probs (N, C) and labels (N,), got "
                             f"{tuple(log_probs.shape)} and {tuple(target.shape)}")
        n, c = log_probs.shape
        if not xp.isdtype(target.dtype, "integral"):
            raise TypeError(f"nll_loss: labels must be integers, got dtype {target.dtype}")
        _check_label_range(self.op_name, self.backend, target, c)
        classes = xp.arange(c, dtype=target.dtype, device=target.device)
        self.one_hot = xp.astype(xp.reshape(target, (n, 1)) == classes, log_probs.dtype)
        self.n = n
        loss = -xp.sum(self.one_hot * log_probs, axis=1)
        if self.reduction == "mean":
            return xp.sum(loss) / n
        return xp.sum(loss) if self.reduction == "sum" else loss

    def backward(self, grad_y):
        xp = self.xp
        if self.reduction == "none":
            return -self.one_hot * xp.reshape(grad_y, (-1, 1)), None
        scale = grad_y / self.n if self.reduction == "mean" else grad_y
        return -self.one_hot * scale, None


def _check_label_range(op, backend, labels, num_classes):
    # Only where the labels live in host memory: on a GPU the check would stall the step.
    if backend.on_host and math.prod(labels.shape):
        xp = backend.xp
        lo, hi = int(xp.min(labels)), int(xp.max(labels))
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{op}: labels must be in [0, {num_classes}), got values "
                             f"from {lo} to {hi}")


def _as_target(op, target) -> Tensor:
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    return target


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error ``mean((input - target)**2)``."""
    _check_reduction("mse_loss", reduction)
    return MSELoss(reduction)(input, _as_target("mse_loss", target))


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Log loss on probabilities in (0, 1): -(t·log p + (1-t)·log(1-p))."""
    _check_reduction("binary_cross_entropy", reduction)
    return BCELoss(reduction)(input, _as_target("binary_cross_entropy", target))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     reduction: str = "mean") -> Tensor:
    """Log loss on logits, stable for any magnitude; gradient sigmoid(x) - t."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    return BCEWithLogitsLoss(reduction)(
        input, _as_target("binary_cross_entropy_with_logits", target))


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy on logits (N, C) with integer labels (N,) or probabilities (N, C).

    One fused op: its gradient is ``(softmax(input) - one_hot(target)) / N``.

    >>> cross_entropy(logits, labels).item()     # doctest: +SKIP
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return CrossEntropy(reduction, float(label_smoothing))(
        input, _as_target("cross_entropy", target))


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Negative log-likelihood of integer labels under log-probabilities (N, C)."""
    _check_reduction("nll_loss", reduction)
    return NLLLoss(reduction)(input, _as_target("nll_loss", target))
