"""Loss layers: thin Modules over the fused losses in xpnet.functional."""
from __future__ import annotations

from .. import ops
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """mean((input - target)²). Shape: input (*), target (*) -> scalar"""

    def forward(self, input, target):  # noqa: A002
        return ops.mse_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Log loss on probabilities. Shape: input (*), target (*) -> scalar"""

    def forward(self, input, target):  # noqa: A002
        return ops.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Log loss on logits (sigmoid fused in, stable). Shape: input (*), target (*) -> scalar"""

    def forward(self, input, target):  # noqa: A002
        return ops.binary_cross_entropy_with_logits(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits. Shape: input (N, C), target (N,) integers -> scalar"""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.label_smoothing = label_smoothing

    def extra_repr(self):
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return super().extra_repr() + smoothing

    def forward(self, input, target):  # noqa: A002
        return ops.cross_entropy(input, target, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood on log-probabilities. Shape: (N, C), (N,) -> scalar"""

    def forward(self, input, target):  # noqa: A002
        return ops.nll_loss(input, target, self.reduction)
