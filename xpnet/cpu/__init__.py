"""What makes the 'cpu' device fast, and never changes a result.

==================  ======================================================================
module              what it does
==================  ======================================================================
``namespace``       NumPy as the 'cpu' device's namespace, its hottest Python wrappers bypassed
``threads``         BLAS threads (:func:`set_num_threads`) and the slab threads
``memory``          one host allocator: a step's large arrays kept for the next (:func:`empty_cache`)
``slabs``           a batch cut into cache-sized slabs, run on the slab threads
``numba``           the Numba compiler of :mod:`xpnet.kernels` for NumPy (``xpnet[fast]``)
``blas``            NumPy's own sgemm, for compiled loop nests (a recurrence's whole time loop)
==================  ======================================================================

Importing this package plugs it in: the namespace into :mod:`xpnet.backend`, the compiler into
:mod:`xpnet.kernels` (``XPNET_COMPILER=none`` leaves the plain NumPy calls, the reference).
"""
from .. import backend as _backend
from . import namespace, threads, memory, slabs, numba
from .memory import ALLOCATOR, empty_cache
from .threads import SLAB_THREADS, set_num_threads, get_num_threads

__all__ = ["set_num_threads", "get_num_threads", "empty_cache", "SLAB_THREADS", "ALLOCATOR",
           "namespace", "threads", "memory", "slabs", "numba"]

_backend.register_namespace("numpy", namespace.namespace)
numba.register()
