"""Kullback-Leibler divergence between discrete distributions, as PyTorch's ``F.kl_div``
(the VAE's KL to N(0, I) in closed form is :func:`~xpnet.ops.variational.gaussian_kl`)::

    kl_div(input, target) = target·(log target - input)      (0 where target is 0)

Half precision reduces in float32: the sum, and the division by a count that float16 cannot hold
past 65504.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from .activation import narrowed, widened
from .loss import _as_target, _Loss

KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def check_kl_reduction(op, reduction):
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'batchmean', 'sum' or 'none', got "
                         f"{reduction!r}")


class KLDivLoss(_Loss):
    """target·(log target - input), 0 where target is 0 (input holds log-probabilities);
    with ``log_target`` the target holds log-probabilities too: exp(target)·(target - input).

    Gradients: -target (or -exp(target)) for the input; log target + 1 - input for the target
    (or exp(target)·(target - input + 1)), as PyTorch, except 0 where the target is 0 (the
    derivative is -inf there; PyTorch 2 gives nan).
    """

    name = "kl_div"
    floating_inputs = {0: "input", 1: "target"}

    def forward(self, x, target):
        xp = self.xp
        try:
            shape = tuple(np.broadcast_shapes(tuple(x.shape), tuple(target.shape)))
        except ValueError:
            raise ValueError(f"kl_div: input and target must broadcast together, got input "
                             f"{tuple(x.shape)} and target {tuple(target.shape)}") from None
        self.x, self.target = x, target
        self.batch = x.shape[0] if x.ndim else 1
        if self.log_target:
            self.p = xp.exp(target)
            loss = self.p * (target - x)
        else:
            positive = target > 0
            self.log_t = xp.log(xp.where(positive, target, 1.0))   # log 1 = 0 where target is 0
            self.positive = positive
            loss = target * (self.log_t - x)
        self.shape = shape
        if self.reduction == "batchmean":
            self.count = self.batch
            return narrowed(xp, xp.sum(widened(xp, loss)) / self.batch, loss)
        if self.reduction in ("mean", "sum"):   # half precision: summed in float32
            return narrowed(xp, self.reduce(widened(xp, loss)), loss)
        return self.reduce(loss)

    def backward(self, grad_y):
        xp = self.xp
        # divided in float32 for half precision: a float16 count past 65504 is inf
        scale = narrowed(xp, widened(xp, grad_y) / self.count, grad_y) \
            if self.reduction in ("mean", "batchmean") else grad_y
        need_x, need_t = self.needs_input_grad
        if self.log_target:
            grad_x = -self.p * scale if need_x else None
            grad_t = self.p * (self.target - self.x + 1.0) * scale if need_t else None
        else:
            grad_x = -self.target * scale if need_x else None
            grad_t = xp.where(self.positive, self.log_t + 1.0 - self.x, 0.0) * scale \
                if need_t else None
        # a gradient shaped like the smaller operand is spread over the broadcast shape
        # (Function then sums it back onto each input)
        if grad_x is not None and tuple(grad_x.shape) != self.shape:
            grad_x = xp.broadcast_to(grad_x, self.shape)
        return grad_x, grad_t


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence KL(target ‖ exp(input)) summed pointwise, as PyTorch's.

    ``input`` holds log-probabilities, ``target`` probabilities (or log-probabilities with
    ``log_target=True``); they broadcast. ``reduction='batchmean'`` divides the sum by
    ``input.shape[0]`` (the mathematical KL per sample); ``'mean'`` by the element count.

    >>> import xpnet
    >>> p = xpnet.tensor([[0.5, 0.5]])
    >>> round(kl_div(xpnet.tensor([[0.9, 0.1]]).log(), p, reduction="batchmean").item(), 4)
    0.5108
    """
    check_kl_reduction("kl_div", reduction)
    return KLDivLoss(reduction, log_target=bool(log_target))(input, _as_target("kl_div", target))
