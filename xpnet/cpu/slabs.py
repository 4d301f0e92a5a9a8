"""Slabs: a batch cut into pieces of a few samples whose working set fits in cache, run side by
side on the host's threads, each with its own scratch buffer.

An op that works on a whole batch at once (a convolution's im2col and GEMM) is written once, as
a function of a sample range; :class:`Slabs` decides the ranges and runs them. On a GPU, and
wherever arrays are not in host memory, there is one range, the whole batch, run in the caller:
the op's reference form. In host memory the ranges are cache-sized and, on the 'cpu' device,
spread over :data:`xpnet.cpu.threads.SLAB_THREADS`. Each range writes its own rows, and
reductions over ranges are left to the caller in range order, so results do not depend on how
the work was cut or on the thread count.
"""
from __future__ import annotations

from typing import Callable

from .memory import empty
from .threads import SLAB_THREADS

__all__ = ["Slabs", "SLAB_ELEMENTS"]

SLAB_ELEMENTS = 1 << 19   # a slab's working set, in elements (2 MB of float32): stays in cache


class Slabs:
    """The sample ranges ``(start, stop)`` of a batch of ``n`` samples for arrays of ``backend``,
    each holding at most :data:`SLAB_ELEMENTS` elements of work (``per_sample`` per sample;
    always at least one sample). One range, the whole batch, off the host.

    >>> import xpnet
    >>> Slabs(xpnet.device("cpu"), 10, per_sample=1 << 17).ranges
    [(0, 4), (4, 8), (8, 10)]
    """

    def __init__(self, backend, n: int, per_sample: int):
        self.xp = backend.xp
        size = max(1, n if not backend.on_host else min(n, SLAB_ELEMENTS // max(1, per_sample)))
        self.size = size
        self.ranges = [(start, min(n, start + size)) for start in range(0, n, size)]

    def __len__(self):
        return len(self.ranges)

    def __getitem__(self, k):
        return self.ranges[k]

    def run(self, work: Callable, scratch: Callable | None = None) -> None:
        """``work(k, buffer)`` for every range k, on the host's slab threads where they apply
        (in order, in the caller, elsewhere). ``scratch()`` makes each thread's own buffer
        before the threads start (``buffer`` is None without it)."""
        count = len(self.ranges)
        threads = SLAB_THREADS.threads(self.xp) if count > 1 else 1
        buffers = [scratch() for _ in range(min(threads, count))] if scratch else None
        SLAB_THREADS.run(lambda k, slot: work(k, buffers[slot] if buffers else None),
                         count, threads)

    def empty(self, shape, dtype, device=None):
        """An uninitialised array for the whole batch's result, from the host allocator on the
        'cpu' device."""
        return empty(self.xp, shape, dtype, device)
