"""xpnet: a readable deep-learning framework written once against the Python Array API.

The same code trains on NumPy (``cpu``), CuPy (``cuda``) and array-api-strict (``strict``):

>>> import xpnet
>>> import xpnet.nn.functional as F
>>> x = xpnet.tensor([[1.0, -2.0]], requires_grad=True)
>>> F.relu(x).sum().backward()
>>> x.grad.tolist()
[[1.0, 0.0]]

Public names follow PyTorch: ``xpnet.nn`` (layers; ``xpnet.nn.functional`` the ops),
``xpnet.optim``, ``xpnet.data``, ``xpnet.device(...)`` (a device object, equal to its flag
string), ``xpnet.float32`` (dtype objects, equal to their names), ``xpnet.fit``.
"""
from . import backend, kernels
from . import cpu, cuda         # the speed floors plug themselves into backend and kernels
from .backend import DType as dtype
from .backend import DTYPES as _DTYPES
from .cpu import set_num_threads, get_num_threads
from .backend import (resolve as device, default_device, set_default_device, available_devices,
                      to_numpy)
from .autograd import (Tensor, Function, no_grad, enable_grad, is_grad_enabled, set_grad_enabled,
                       inference_mode)
from .autograd import is_tensor
from .autograd.creation import (tensor, zeros, ones, full, zeros_like, ones_like, randn, rand,
                                arange, full_like, empty, empty_like, linspace, eye, from_numpy,
                                as_tensor, sort, argsort, topk)
from .autograd.random_tensors import (randint, randn_like, rand_like, randint_like, normal,
                                      bernoulli, randperm, multinomial)
from .autograd.methods import (mm, bmm, norm, narrow, split, chunk, flip, roll, clone, isnan,
                               isinf, isfinite, equal, allclose, square, rsqrt, outer, var,
                               std, logsumexp, clamp_min, clamp_max, reciprocal, expm1, log2,
                               log10, unbind, movedim, swapaxes, diff, logical_and, logical_or,
                               logical_xor, logical_not, all, any, count_nonzero, nonzero,
                               argwhere, masked_select, scatter, scatter_add)
from .autograd.methods import expand as broadcast_to   # torch.broadcast_to(input, shape)
from . import random
from .random import manual_seed, seed, initial_seed, get_rng_state, set_rng_state
from . import ops, nn, functional, optim, data, io, models
from .io import save, load, load_state_dict
from .train import fit, evaluate, predict, History
from .nn.summary import summary
from . import accelerator, backends, utils   # PyTorch's module paths (torch.utils.data, ...)
# PyTorch's top-level maths: the same functions as xpnet.nn.functional's
from .ops import (cat, concat, stack, exp, log, sqrt, abs, sigmoid, tanh, relu, softmax,  # noqa: A004
                  log_softmax, sum, mean, max, min, amax, amin, argmax, argmin, where, tril,
                  triu, flatten, reshape, squeeze, unsqueeze, transpose, permute, matmul, clamp,
                  clip, maximum, minimum, pow, masked_fill, sin, cos, log1p, gather,
                  index_select, cumsum, floor, ceil, trunc, round, sign, add, sub, mul, div, neg)

# dtype objects, as torch.float32 (strings such as "float32" are accepted everywhere too)
(bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16, float32,  # noqa: A001
 float64, complex64, complex128) = (_DTYPES[name] for name in backend.DTYPE_NAMES)

# PyTorch's short dtype names (they shadow the builtins only inside this module's namespace)
float, double, half, long, int = float32, float64, float16, int64, int32  # noqa: A001


def numel(input: Tensor) -> int:  # noqa: A002
    """The number of elements of ``input`` (``torch.numel``)."""
    return input.numel()


cpu.threads.threads_from_environment()

__version__ = "0.1.0"

__all__ = [
    "summary", "accelerator", "backends", "utils",
    "backend", "kernels", "cpu", "cuda", "device", "default_device", "set_default_device", "available_devices", "to_numpy",
    "Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "inference_mode", "tensor", "zeros", "ones",
    "full", "zeros_like", "ones_like", "randn", "rand", "arange", "random", "manual_seed", "seed",
    "initial_seed", "get_rng_state", "set_rng_state", "nn", "functional", "optim", "data", "io",
    "models", "save", "load", "load_state_dict", "fit", "evaluate", "predict", "History", "dtype",
    *backend.DTYPE_NAMES, "__version__",
    "set_num_threads", "get_num_threads", "randint", "randn_like", "rand_like", "randint_like",
    "normal", "bernoulli",
    "is_tensor", "full_like", "empty", "empty_like", "linspace", "eye", "from_numpy", "as_tensor",
    "sort", "argsort", "topk", "randperm", "multinomial", "mm", "bmm", "norm", "narrow", "split",
    "chunk", "flip", "roll", "clone", "cat", "concat", "stack", "exp", "log", "sqrt",
    "sigmoid", "tanh", "relu", "softmax", "log_softmax", "mean", "amax", "amin", "argmax",
    "argmin", "where", "tril", "triu", "flatten", "reshape", "squeeze", "unsqueeze", "transpose",
    "permute", "matmul", "clamp", "clip", "maximum", "minimum", "masked_fill", "double", "half",
    "long", "numel", "isnan", "isinf", "isfinite", "equal", "allclose", "square", "rsqrt",
    "outer", "var", "std", "logsumexp", "sin", "cos", "log1p", "gather", "index_select",
    "cumsum", "clamp_min", "clamp_max", "reciprocal", "expm1", "log2", "log10", "unbind",
    "movedim", "swapaxes", "diff", "logical_and", "logical_or", "logical_xor", "logical_not",
    "count_nonzero", "nonzero", "argwhere", "masked_select", "scatter", "scatter_add",
    "broadcast_to", "floor", "ceil", "trunc", "sign", "add", "sub", "mul", "div", "neg",
]   # abs, sum, max, min, pow, round, all, any, float and int are attributes but not
#     star-exported: they would shadow Python's builtins in the importing module
