"""What makes the 'cuda' device fast and never changes a result: CuPy's fusion compiler,
registered with :mod:`xpnet.kernels` for CuPy arrays (:mod:`xpnet.cuda.fusion`). Nothing here
imports CuPy until a kernel meets a CuPy array."""
from . import fusion

fusion.register()
