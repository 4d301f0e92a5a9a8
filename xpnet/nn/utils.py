"""PyTorch's ``torch.nn.utils``: gradient clipping and flattening parameters into one vector.

The clipping functions are :mod:`xpnet.optim.clip`'s (one implementation, two paths).
"""
from __future__ import annotations

from .. import ops
from ..autograd import Tensor, no_grad
from ..optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]


def _tensors(owner, parameters):
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: parameters must be Tensors (model.parameters()), got "
                            f"{type(p).__name__} at position {i}")
    return params


def _same_device(owner, params):
    devices = sorted({str(p.device) for p in params})
    if len(devices) > 1:
        raise TypeError(f"{owner}: parameters are on different devices {devices}; move the "
                        f"model with .to(...)")


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and joined into one 1-D Tensor, in the order given.

    Differentiable, as in PyTorch (gradients flow back to each parameter).

    >>> import xpnet
    >>> layer = xpnet.nn.Linear(2, 3)
    >>> parameters_to_vector(layer.parameters()).shape
    (9,)
    """
    params = _tensors("parameters_to_vector", parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    _same_device("parameters_to_vector", params)
    return ops.cat([ops.reshape(p, -1) for p in params])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in the order given
    (the inverse of :func:`parameters_to_vector`; not recorded by autograd).

    The values are copied, so later in-place updates of a parameter do not reach ``vec``.
    """
    owner = "vector_to_parameters"
    if not isinstance(vec, Tensor):
        raise TypeError(f"{owner}: vec must be a Tensor, got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"{owner}: vec must be 1-D, got shape {vec.shape}")
    params = _tensors(owner, parameters)
    total = sum(p.numel() for p in params)
    if total != vec.shape[0]:
        raise ValueError(f"{owner}: vec has {vec.shape[0]} elements, the parameters {total}")
    _same_device(owner, [vec, *params])
    xp, start = vec.xp, 0
    with no_grad():
        for p in params:
            stop = start + p.numel()
            piece = xp.reshape(vec.array[start:stop], p.shape)
            p.array = xp.astype(piece, p.array.dtype, copy=True)
            start = stop
