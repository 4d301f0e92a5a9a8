"""xpnet: a readable deep-learning framework written once against the Python Array API.

The same code trains on NumPy (``cpu``), CuPy (``cuda``) and array-api-strict (``strict``):

>>> import xpnet
>>> x = xpnet.tensor([[1.0, -2.0]], requires_grad=True)
>>> xpnet.functional.relu(x).sum().backward()
>>> x.grad.tolist()
[[1.0, 0.0]]
"""
from . import backend
from .backend import (resolve as device, default_device, set_default_device, available_devices,
                      to_numpy)
from .autograd import Tensor, Function, no_grad, enable_grad, is_grad_enabled
from .autograd.creation import (tensor, zeros, ones, full, zeros_like, ones_like, randn, rand,
                                arange)
from . import random
from .random import manual_seed, seed, initial_seed, get_rng_state, set_rng_state
from . import ops, functional, nn, optim, data, io, models
from .io import save, load
from .train import fit, evaluate, predict, History

__version__ = "0.1.0"

__all__ = [
    "backend", "device", "default_device", "set_default_device", "available_devices", "to_numpy",
    "Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "tensor", "zeros", "ones",
    "full", "zeros_like", "ones_like", "randn", "rand", "arange", "manual_seed", "get_rng_state",
    "set_rng_state", "random", "seed", "initial_seed", "ops", "functional", "nn", "optim", "data", "io", "models", "save", "load",
    "fit", "evaluate", "predict", "History", "__version__",
]
