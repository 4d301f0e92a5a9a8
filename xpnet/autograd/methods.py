"""PyTorch's Tensor methods that scripts written for PyTorch call, each one implementation (an
alias of the xpnet op where one exists), mixed into :class:`xpnet.autograd.tensor.Tensor`."""
from __future__ import annotations


class TensorMethods:
    """The PyTorch-named methods of :class:`~xpnet.autograd.tensor.Tensor`."""

    __slots__ = ()
