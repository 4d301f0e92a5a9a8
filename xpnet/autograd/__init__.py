"""Define-by-run autograd: Tensor, Function, backward and grad (to any order), no_grad."""
from .tensor import Tensor, is_tensor
from .function import Function, sum_to_shape
from .grad_mode import no_grad, enable_grad, is_grad_enabled, set_grad_enabled, inference_mode
from .engine import backward, grad

__all__ = ["Tensor", "is_tensor", "Function", "sum_to_shape", "no_grad", "enable_grad",
           "is_grad_enabled", "set_grad_enabled", "inference_mode", "backward", "grad"]
