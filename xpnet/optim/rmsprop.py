"""RMSprop (Hinton), exactly PyTorch's rule: optional momentum and centring."""
from __future__ import annotations

from .. import backend as _backend
from .optimizer import Optimizer, _check


@_backend.fuse
def rmsprop_square_avg(xp, p, grad, square_avg, alpha, weight_decay):
    """g = grad + wd·p;  square_avg = α·square_avg + (1 − α)·g²"""
    g = grad + weight_decay * p
    return g, alpha * square_avg + (1.0 - alpha) * (g * g)


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square of recent gradients.

    ``s = α·s + (1 − α)·g²``; ``p ← p − lr·g / (√s + eps)`` (with ``s − ḡ²`` when centred, and a
    momentum buffer of those steps when momentum > 0).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def validate(self, group):
        super().validate(group)
        _check(self.name, 0.0 <= group["alpha"] <= 1.0,
               f"alpha must be in [0, 1], got {group['alpha']}")
        _check(self.name, group["momentum"] >= 0,
               f"momentum must be >= 0, got {group['momentum']}")

    def init_state(self, p, state, group):
        xp = p.backend.xp
        state["square_avg"] = xp.zeros_like(p.data)
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p.data)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p.data)

    def update(self, p, grad, state, group):
        xp = p.backend.xp
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        g, state["square_avg"] = rmsprop_square_avg(xp, p.data, grad, state["square_avg"],
                                                    alpha, float(group["weight_decay"]))
        avg = state["square_avg"]
        if group["centered"]:
            state["grad_avg"] = alpha * state["grad_avg"] + (1.0 - alpha) * g
            avg = avg - state["grad_avg"] * state["grad_avg"]
        avg = xp.sqrt(avg) + eps
        if group["momentum"] > 0:
            state["momentum_buffer"] = float(group["momentum"]) * state["momentum_buffer"] + g / avg
            p.data = p.data - lr * state["momentum_buffer"]
        else:
            p.data = p.data - lr * (g / avg)
