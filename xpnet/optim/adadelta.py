"""Adadelta (Zeiler), exactly PyTorch's rule."""
from __future__ import annotations

from .optimizer import Optimizer, _check


class Adadelta(Optimizer):
    """Steps sized by the ratio of running RMS of past updates to that of gradients.

    ``g = ∇ + weight_decay·p``; ``v ← ρ·v + (1 − ρ)·g²``;
    ``Δ = √(u + eps) / √(v + eps) · g``; ``u ← ρ·u + (1 − ρ)·Δ²``; ``p ← p − lr·Δ``.

    Args:
        lr: scale of the update (default 1.0).
        rho: smoothing constant of both running averages (default 0.9).
        eps: added inside the roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def validate(self, group):
        super().validate(group)
        _check(self.name, 0.0 <= group["rho"] <= 1.0,
               f"rho must be in [0, 1], got {group['rho']}")

    def state_names(self, group):
        return ("square_avg", "acc_delta")

    def init_state(self, p, state, group):
        xp = p.backend.xp
        state["square_avg"] = xp.zeros_like(p.array)
        state["acc_delta"] = xp.zeros_like(p.array)

    def update(self, p, grad, state, group):
        xp = p.backend.xp
        rho, eps, wd = float(group["rho"]), float(group["eps"]), float(group["weight_decay"])
        if wd != 0.0:
            grad = grad + wd * p.array
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1.0 - rho) * (grad * grad)
        delta = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * grad
        acc_delta *= rho
        acc_delta += (1.0 - rho) * (delta * delta)
        p.array -= float(group["lr"]) * delta
