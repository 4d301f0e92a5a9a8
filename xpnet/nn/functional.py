"""``import xpnet.nn.functional as F``: every differentiable op, by its PyTorch name.

The one public name of the functional module (``xpnet.functional`` is this same module, for
short imports). The ops themselves live in ``xpnet.ops``, which is internal.

>>> import xpnet.nn.functional as F
>>> F.relu(xpnet.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""
from ..ops import *  # noqa: F401,F403
from ..ops import __all__, clamp  # noqa: F401
from ..autograd.creation import one_hot  # noqa: E402,F401  (no gradient: a creation function)
from .adaptive import adaptive_avg_pool2d  # noqa: E402,F401  (composed of avg_pool2d)
