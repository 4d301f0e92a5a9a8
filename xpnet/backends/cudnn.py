"""``torch.backends.cudnn``: accepted, with no effect, because xpnet does not call cuDNN.

- ``benchmark``: PyTorch times cuDNN's convolution algorithms and keeps the fastest; xpnet's
  convolution is one algorithm (im2col + one matmul), so there is nothing to choose.
- ``deterministic``: PyTorch then avoids cuDNN kernels whose sums run in a varying order;
  xpnet has no such kernel (no atomic scatter: gradients accumulate over strided slices), so
  its results do not depend on this flag.
- ``enabled``, ``allow_tf32``: stored; no cuDNN kernel runs either way.

Each must be a bool (anything else is a TypeError); reading gives back what was set.
"""
import sys

from ._knobs import Knobs

_KNOBS = ("benchmark", "deterministic", "enabled", "allow_tf32")
benchmark = False
deterministic = False
enabled = True
allow_tf32 = True


def is_available() -> bool:
    """False: xpnet does not use cuDNN."""
    return False


def version():
    """None: xpnet does not use cuDNN (PyTorch answers None when cuDNN is missing)."""
    return None


sys.modules[__name__].__class__ = Knobs
