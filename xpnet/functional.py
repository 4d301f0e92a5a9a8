"""``import xpnet.functional as F`` is ``xpnet.nn.functional`` itself (one module, two
spellings): see :mod:`xpnet.nn.functional`."""
import sys

from .nn import functional as _functional

sys.modules[__name__] = _functional
