"""Adam and AdamW (decoupled weight decay), exactly PyTorch's rule with bias correction."""
from __future__ import annotations

import math

from .. import backend as _backend
from .optimizer import Optimizer, _check


@_backend.fuse
def adam_update(xp, p, grad, m, v, beta1, beta2, step_size, sqrt_bias2, eps, weight_decay,
                decay):
    """One Adam step for one parameter, all in one kernel on CuPy.

    g = grad + weight_decay·p (Adam's L2) ; p·decay first (AdamW's decoupled decay, else 1)
    m = β1·m + (1 − β1)·g ;  v = β2·v + (1 − β2)·g²
    p ← p − step_size · m / (√v / √(1 − β2^t) + eps),  step_size = lr / (1 − β1^t)
    """
    g = grad + weight_decay * p
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * (g * g)
    p = p * decay - step_size * m / (xp.sqrt(v) / sqrt_bias2 + eps)
    return p, m, v


@_backend.fuse
def adam_amsgrad_update(xp, p, grad, m, v, v_max, beta1, beta2, step_size, sqrt_bias2, eps,
                        weight_decay, decay):
    """Adam with AMSGrad: the denominator uses the running maximum of v."""
    g = grad + weight_decay * p
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * (g * g)
    v_max = xp.maximum(v_max, v)
    p = p * decay - step_size * m / (xp.sqrt(v_max) / sqrt_bias2 + eps)
    return p, m, v, v_max


class Adam(Optimizer):
    """Adam (Kingma & Ba): moments of the gradient with bias correction.

    Args:
        lr: step size (default 1e-3).
        betas: decay rates of the first and second moments (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty added to the gradient (AdamW decouples it).
        amsgrad: use the maximum of past second moments.
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def validate(self, group):
        super().validate(group)
        b1, b2 = group["betas"]
        _check(self.name, 0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0,
               f"betas must be in [0, 1), got {tuple(group['betas'])}")

    def init_state(self, p, state, group):
        xp = p.backend.xp
        state["exp_avg"] = xp.zeros_like(p.data)
        state["exp_avg_sq"] = xp.zeros_like(p.data)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.data)

    def update(self, p, grad, state, group):
        xp = p.backend.xp
        t = state["step"]
        lr, eps = float(group["lr"]), float(group["eps"])
        beta1, beta2 = (float(b) for b in group["betas"])
        wd = float(group["weight_decay"])
        # bias corrections as Python floats from the Python step count: no device sync
        step_size = lr / (1.0 - beta1 ** t)
        sqrt_bias2 = math.sqrt(1.0 - beta2 ** t)
        l2, decay = (0.0, 1.0 - lr * wd) if self.decoupled else (wd, 1.0)
        if group["amsgrad"]:
            (p.data, state["exp_avg"], state["exp_avg_sq"],
             state["max_exp_avg_sq"]) = adam_amsgrad_update(
                xp, p.data, grad, state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"],
                beta1, beta2, step_size, sqrt_bias2, eps, l2, decay)
        else:
            p.data, state["exp_avg"], state["exp_avg_sq"] = adam_update(
                xp, p.data, grad, state["exp_avg"], state["exp_avg_sq"], beta1, beta2,
                step_size, sqrt_bias2, eps, l2, decay)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p ← p·(1 − lr·wd)`` before the
    Adam step, instead of adding ``wd·p`` to the gradient. Default weight_decay 1e-2."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
