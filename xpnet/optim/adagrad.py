"""Adagrad (Duchi et al.), exactly PyTorch's rule."""
from __future__ import annotations

from .optimizer import Optimizer, _check


class Adagrad(Optimizer):
    """Scale each coordinate's step by the root of its summed squared gradients.

    ``g = ∇ + weight_decay·p``; ``clr = lr / (1 + (t - 1)·lr_decay)``; ``s ← s + g²``;
    ``p ← p − clr·g / (√s + eps)``.

    Args:
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: the starting value of ``s`` (default 0).
        eps: added to the denominator (default 1e-10).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps))

    def validate(self, group):
        super().validate(group)
        _check(self.name, group["lr_decay"] >= 0,
               f"lr_decay must be >= 0, got {group['lr_decay']}")
        _check(self.name, group["initial_accumulator_value"] >= 0,
               f"initial_accumulator_value must be >= 0, got "
               f"{group['initial_accumulator_value']}")

    def state_names(self, group):
        return ("sum",)

    def init_state(self, p, state, group):
        xp = p.backend.xp
        state["sum"] = xp.full_like(p.array, float(group["initial_accumulator_value"]))

    def update(self, p, grad, state, group):
        xp = p.backend.xp
        wd = float(group["weight_decay"])
        if wd != 0.0:
            grad = grad + wd * p.array
        clr = float(group["lr"]) / (1.0 + (state["step"] - 1) * float(group["lr_decay"]))
        state["sum"] += grad * grad
        p.array -= clr * (grad / (xp.sqrt(state["sum"]) + float(group["eps"])))
