"""RMSprop (Hinton), exactly PyTorch's rule: optional momentum and centring."""
from __future__ import annotations

from .. import backend as _backend
from .optimizer import Optimizer, _check, with_l2


def rmsprop_step(xp, p, g, square_avg, lr, alpha, eps):
    """s ← α·s + (1 − α)·g² ;  p ← p − lr·g / (√s + eps)"""
    square_avg = alpha * square_avg + (1.0 - alpha) * (g * g)
    return p - lr * (g / (xp.sqrt(square_avg) + eps)), square_avg


def centered_step(xp, p, g, square_avg, grad_avg, lr, alpha, eps):
    """As rmsprop_step, with the variance s − ḡ² (ḡ ← α·ḡ + (1 − α)·g) under the root."""
    square_avg = alpha * square_avg + (1.0 - alpha) * (g * g)
    grad_avg = alpha * grad_avg + (1.0 - alpha) * g
    avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
    return p - lr * (g / avg), square_avg, grad_avg


def momentum_step(xp, p, g, square_avg, buf, lr, alpha, eps, momentum):
    """buf ← momentum·buf + g / (√s + eps) ;  p ← p − lr·buf"""
    square_avg = alpha * square_avg + (1.0 - alpha) * (g * g)
    buf = momentum * buf + g / (xp.sqrt(square_avg) + eps)
    return p - lr * buf, square_avg, buf


def centered_momentum_step(xp, p, g, square_avg, grad_avg, buf, lr, alpha, eps, momentum):
    square_avg = alpha * square_avg + (1.0 - alpha) * (g * g)
    grad_avg = alpha * grad_avg + (1.0 - alpha) * g
    buf = momentum * buf + g / (xp.sqrt(square_avg - grad_avg * grad_avg) + eps)
    return p - lr * buf, square_avg, grad_avg, buf


# one kernel per variant (on CuPy), keyed by (centered, momentum, weight decay)
_KERNELS = {(centered, momentum, l2): _backend.fuse(with_l2(fn) if l2 else fn)
            for (centered, momentum), fn in (((False, False), rmsprop_step),
                                             ((True, False), centered_step),
                                             ((False, True), momentum_step),
                                             ((True, True), centered_momentum_step))
            for l2 in (False, True)}

_BUFFERS = {(False, False): ("square_avg",), (True, False): ("square_avg", "grad_avg"),
            (False, True): ("square_avg", "momentum_buffer"),
            (True, True): ("square_avg", "grad_avg", "momentum_buffer")}


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square of recent gradients.

    ``g = ∇ + weight_decay·p``; ``s = α·s + (1 − α)·g²``; ``p ← p − lr·g / (√s + eps)``
    (``s − ḡ²`` under the root when centred; a buffer ``buf = momentum·buf + g / (√· + eps)``
    and ``p ← p − lr·buf`` when momentum > 0).

    Args:
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance instead of the second moment.
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
        centered, momentum = bool(group["centered"]), float(group["momentum"])
        wd = float(group["weight_decay"])
        names = _BUFFERS[centered, momentum > 0]
        if len(names) > 1 and names[-1] not in state or centered and "grad_avg" not in state:
            for name in names:   # an option switched on after the first step (param_groups)
                state.setdefault(name, p.backend.xp.zeros_like(p.data))
        scalars = (float(group["lr"]), float(group["alpha"]), float(group["eps"]))
        if momentum > 0:
            scalars += (momentum,)
        prefix = (p.data, grad, wd) if wd else (p.data, grad)
        new = _KERNELS[centered, momentum > 0, wd != 0.0](
            p.backend.xp, *prefix, *[state[n] for n in names], *scalars)
        p.data = new[0]
        for name, array in zip(names, new[1:]):
            state[name] = array
