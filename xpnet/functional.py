"""``import xpnet.functional as F``: every differentiable op, by its PyTorch-style name."""
from .ops import *  # noqa: F401,F403
from .ops import __all__  # noqa: F401
