"""Loss layers: thin Modules over the fused losses in xpnet.nn.functional (PyTorch's names and
arguments; each argument is checked by the same function the op uses, at construction)."""
from __future__ import annotations

from .. import ops
from ..ops.divergence import check_kl_reduction
from ..ops.loss import _check_ignore_index, _check_reduction, _legacy
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        _check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _no_weight(layer, weight):
    if weight is not None:
        raise NotImplementedError(f"{layer}: per-class weight= is not supported yet; weight the "
                                  f"loss with reduction='none' and a product instead")


class MSELoss(_Loss):
    """mean((input - target)²). Shape: input (*), target (*) -> scalar"""

    def forward(self, input, target):  # noqa: A002
        return ops.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """mean(|input - target|). Shape: input (*), target (*) -> scalar"""

    def forward(self, input, target):  # noqa: A002
        return ops.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above. Shape: input (*), target (*) -> scalar"""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0):
        _legacy("SmoothL1Loss", size_average, reduce, reduction)
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):  # noqa: A002
        return ops.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, then ``delta``-sloped. Shape: input (*), target (*) -> scalar"""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):  # noqa: A002
        return ops.huber_loss(input, target, self.reduction, self.delta)


class _Weighted(_Loss):
    """A binary loss with PyTorch's optional elementwise ``weight`` (kept as a buffer)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        _legacy(type(self).__name__, size_average, reduce, reduction)
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class BCELoss(_Weighted):
    """Log loss on probabilities. Shape: input (*), target (*) -> scalar"""

    def forward(self, input, target):  # noqa: A002
        return ops.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Weighted):
    """Log loss on logits (sigmoid fused in, stable), with PyTorch's ``weight`` and
    ``pos_weight``. Shape: input (*), target (*) -> scalar"""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):  # noqa: A002
        return ops.binary_cross_entropy_with_logits(input, target, self.weight,
                                                    reduction=self.reduction,
                                                    pos_weight=self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits, as ``torch.nn.CrossEntropyLoss``.

    Shape: input (N, C) or (N, C, d1, ...), target (N,) / (N, d1, ...) integer labels or
    probabilities of the input's shape -> scalar (or the labels' shape with reduction='none')
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        _no_weight("CrossEntropyLoss", weight)
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.ignore_index = _check_ignore_index("CrossEntropyLoss", ignore_index)
        self.label_smoothing = label_smoothing

    def extra_repr(self):
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        ignore = f", ignore_index={self.ignore_index}" if self.ignore_index != -100 else ""
        return super().extra_repr() + smoothing + ignore

    def forward(self, input, target):  # noqa: A002
        return ops.cross_entropy(input, target, self.reduction, self.label_smoothing,
                                 self.ignore_index)


class NLLLoss(_Loss):
    """Negative log-likelihood on log-probabilities. Shape: (N, C) or (N, C, d1, ...), labels
    (N,) / (N, d1, ...) -> scalar"""

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        _no_weight("NLLLoss", weight)
        super().__init__(reduction)
        self.ignore_index = _check_ignore_index("NLLLoss", ignore_index)

    def forward(self, input, target):  # noqa: A002
        return ops.nll_loss(input, target, self.reduction, self.ignore_index)


class KLDivLoss(_Loss):
    """KL(target ‖ exp(input)) pointwise: input log-probabilities, target probabilities (or
    log-probabilities with ``log_target``). Use ``reduction='batchmean'`` for the KL per
    sample. Shape: input (*), target broadcastable to it -> scalar (or (*) with 'none')"""

    def __init__(self, *, reduction: str = "mean", log_target: bool = False):
        # keyword-only: PyTorch's first positional arguments are the deprecated size_average
        # and reduce, which xpnet does not take
        check_kl_reduction("KLDivLoss", reduction)   # 'batchmean' too, so not _Loss's check
        self.reduction, self.log_target = reduction, bool(log_target)

    def extra_repr(self):
        return super().extra_repr() + (", log_target=True" if self.log_target else "")

    def forward(self, input, target):  # noqa: A002
        return ops.kl_div(input, target, self.reduction, self.log_target)
