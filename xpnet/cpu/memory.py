"""Host memory: one allocator that keeps a training step's large NumPy arrays for the next step.

Nothing here changes a result: an array handed out again is uninitialised, exactly as a fresh
``numpy.empty`` would be. ``empty_cache()`` (PyTorch's name) lets everything kept go.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from .namespace import is_cpu

__all__ = ["HostAllocator", "ALLOCATOR", "empty", "empty_cache", "matmul_into", "product_buffer"]


class HostAllocator:
    """Large NumPy arrays kept after their last use and handed out again: host memory that a
    training step allocates afresh every time (activations, gradients: ~70 MB a step for the
    MNIST CNN at batch 64) would otherwise be page-faulted in anew each step, which on the
    test VMs costs more than the passes that write it (the step −18 % with glibc told to keep
    its memory, −23 % at batch 256 with this pool).

    An array is handed out again only when nothing but this pool refers to it (its reference
    count): a tensor, a view, a graph or a variable that still holds it keeps it from reuse.
    Arrays under ``minimum`` bytes are left to NumPy; at most ``limit`` bytes are kept, free
    arrays of other shapes making room for new ones. ``clear()`` lets them all go. As PyTorch's
    caching allocator on a GPU, the memory of the largest step stays with the process, except
    around an evaluation pass: ``fit`` and ``evaluate`` empty the pool before it (training's
    arrays would sit unused beside the pass's larger batches, at the run's peak) and after it."""

    def __init__(self, limit=1 << 29, minimum=1 << 20):
        self.pool, self.kept, self.limit, self.minimum = {}, 0, limit, minimum
        self._free_refs = self._refs([np.empty(0)])

    @staticmethod
    def _refs(stack):
        for array in stack:          # the count a free array shows in _first_free's loop
            return sys.getrefcount(array)

    def _first_free(self, stack):
        for array in stack:
            if sys.getrefcount(array) == self._free_refs:
                return array
        return None

    def empty(self, shape, dtype):
        """An uninitialised C-contiguous NumPy array (a kept one when one is free)."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.minimum:
            return np.empty(shape, dtype)
        key = (tuple(shape), dtype)
        stack = self.pool.get(key)
        if stack is not None:
            array = self._first_free(stack)
            if array is not None:
                return array
        array = np.empty(shape, dtype)
        if self.kept + nbytes > self.limit:
            self._make_room(nbytes)
        if self.kept + nbytes <= self.limit:
            self.pool.setdefault(key, []).append(array)
            self.kept += nbytes
        return array

    def _make_room(self, nbytes):
        for key in list(self.pool):
            stack = self.pool[key]
            while self.kept + nbytes > self.limit:
                array = self._first_free(stack)
                if array is None:
                    break
                # by identity (list.remove would compare arrays elementwise)
                del stack[next(i for i, a in enumerate(stack) if a is array)]
                self.kept -= array.nbytes
                del array
            if not stack:
                del self.pool[key]
            if self.kept + nbytes <= self.limit:
                return

    def clear(self):
        self.pool.clear()
        self.kept = 0


ALLOCATOR = HostAllocator()


def empty(xp, shape, dtype, device=None):
    """``xp.empty(shape, dtype)``, from :data:`ALLOCATOR` when the arrays are the 'cpu'
    device's (NumPy's); elsewhere the library allocates (CuPy has its own memory pool)."""
    if is_cpu(xp):
        return ALLOCATOR.empty(shape, dtype)
    return xp.empty(shape, dtype=dtype, device=device)


def matmul_into(xp, out, a, b):
    """``out[...] = a @ b``. NumPy writes the product straight into ``out`` (no temporary, no
    copy: a pass over a convolution's output saved per slab); elsewhere (the Array API has no
    ``out=``) the product is computed and copied in."""
    if out.__class__ is np.ndarray and a.__class__ is np.ndarray and b.__class__ is np.ndarray:
        np.matmul(a, b, out=out)
    else:
        out[...] = xp.matmul(a, b)


def product_buffer(xp, shape, dtype):
    """A NumPy array that :func:`matmul_into` writes products straight into (a loop's one buffer
    for every iteration's product), for the 'cpu' device's namespace; None elsewhere, where
    ``matmul_into`` would copy the product in and a new array per product is cheaper."""
    return np.empty(shape, dtype) if is_cpu(xp) else None


def empty_cache() -> None:
    """Let every host array the allocator keeps go (as ``torch.cuda.empty_cache`` does for
    PyTorch's GPU pool), and give the C library's free heap memory back to the system; arrays
    still in use stay alive with their users."""
    ALLOCATOR.clear()
    _trim_heap()


def _trim_heap():
    """glibc's ``malloc_trim(0)``: freed arrays below its mmap threshold (which grows to 32 MB
    as large arrays are freed) stay in its heap, resident, until trimmed. Elsewhere nothing."""
    trim = _MALLOC_TRIM[0]
    if trim is None:
        trim = _MALLOC_TRIM[0] = _find_malloc_trim()
    if trim:
        trim(0)


def _find_malloc_trim():
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        return getattr(ctypes.CDLL(None), "malloc_trim", False)   # musl has none
    except OSError:
        return False


_MALLOC_TRIM: list = [None]

