"""Define-by-run autograd: Tensor, Function, backward, no_grad."""
from .tensor import Tensor, is_tensor
from .function import Function, sum_to_shape
from .grad_mode import no_grad, enable_grad, is_grad_enabled, set_grad_enabled
from .engine import backward

__all__ = ["Tensor", "is_tensor", "Function", "sum_to_shape", "no_grad", "enable_grad",
           "is_grad_enabled", "set_grad_enabled", "backward"]
