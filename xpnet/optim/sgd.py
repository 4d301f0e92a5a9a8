"""SGD with momentum, Nesterov momentum and weight decay, exactly PyTorch's rule."""
from __future__ import annotations

from .. import kernels
from ..checks import number
from .optimizer import Optimizer, _check, with_l2


# In place (see the kernel contract in optimizer.py): on NumPy that saves an allocation and a
# pass through memory per temporary (the MLP benchmark's step -15%).

def sgd_step(xp, p, g, lr, decay):
    """p ← p − lr·g"""
    p -= lr * g


def momentum_step(xp, p, g, buf, lr, momentum, grad_scale, decay):
    """buf ← momentum·buf + grad_scale·g ;  p ← p − lr·buf  (grad_scale = 1 − dampening)"""
    buf *= momentum
    buf += grad_scale * g
    p -= lr * buf


def nesterov_step(xp, p, g, buf, lr, momentum, grad_scale, decay):
    """buf ← momentum·buf + grad_scale·g ;  p ← p − lr·(g + momentum·buf)"""
    buf *= momentum
    buf += grad_scale * g
    p -= lr * (g + momentum * buf)


# one kernel per variant (on CuPy), chosen in Python so no variant pays for an option it lacks
_KERNELS = {(kind, l2): kernels.fuse(with_l2(fn) if l2 else fn)
            for kind, fn in (("plain", sgd_step), ("momentum", momentum_step),
                             ("nesterov", nesterov_step))
            for l2 in (False, True)}


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's momentum convention.

    ``g = ∇ + weight_decay·p``; ``buf = momentum·buf + (1 − dampening)·g`` (the first step sets
    ``buf = g``); ``p ← p − lr·buf``, or ``p ← p − lr·(g + momentum·buf)`` with Nesterov.

    Args:
        lr: learning rate (default 1e-3, as PyTorch).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening = 0).

    >>> model = xpnet.nn.Linear(3, 1)
    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def validate(self, group):
        super().validate(group)
        number(self.name, "momentum", group["momentum"], minimum=0)
        number(self.name, "dampening", group["dampening"], minimum=0)
        _check(self.name, not group["nesterov"] or (group["momentum"] > 0
                                                    and group["dampening"] == 0),
               "nesterov needs momentum > 0 and dampening = 0")

    def state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] else ()

    def update(self, p, grad, state, group):
        xp = p.backend.xp
        lr, momentum, wd = float(group["lr"]), float(group["momentum"]), float(group["weight_decay"])
        if momentum == 0.0:
            _KERNELS["plain", wd != 0.0](xp, p.array, grad, lr, wd)
            return
        buf = state.get("momentum_buffer")
        grad_scale = 1.0 - float(group["dampening"])
        if buf is None:  # first step: buf = g exactly (0·zeros + 1·g)
            buf = state["momentum_buffer"] = xp.zeros_like(p.array)
            grad_scale = 1.0
        kind = "nesterov" if group["nesterov"] else "momentum"
        _KERNELS[kind, wd != 0.0](xp, p.array, grad, buf, lr, momentum, grad_scale, wd)
