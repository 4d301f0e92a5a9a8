"""CPU threads: how many threads NumPy's BLAS uses, and the host threads that run a loop's
independent pieces (a convolution's slabs) side by side. Nothing here changes a result.
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
from typing import Callable

import numpy as np

from .namespace import is_cpu

__all__ = ["set_num_threads", "get_num_threads", "SlabThreads", "SLAB_THREADS",
           "threads_from_environment", "numpy_openblas"]

_THREADS_VAR = "XPNET_NUM_THREADS"


def _blas_pools():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError as exc:  # a dependency; only a broken install lacks it
        raise RuntimeError("set_num_threads: needs threadpoolctl "
                           "(pip install threadpoolctl)") from exc
    return ThreadpoolController().select(user_api="blas")


def set_num_threads(n: int) -> None:
    """Threads of the CPU's BLAS (NumPy's OpenBLAS or MKL), as ``torch.set_num_threads``.

    NumPy's BLAS starts one thread per core. On a machine where another process keeps a core
    busy, those threads wait on each other and GEMMs slow down several-fold; one thread per
    *free* core is the fix. ``XPNET_NUM_THREADS=N`` in the environment applies it when xpnet is
    imported (the CLI included). GPU devices are not affected.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _blas_pools().limit(limits=n)


def get_num_threads() -> int:
    """The BLAS thread count in use (the largest, if several BLAS libraries are loaded)."""
    return max((pool.num_threads for pool in _blas_pools().lib_controllers), default=1)


def numpy_openblas() -> list:
    """threadpoolctl's controllers of the OpenBLAS in NumPy's own install, its wheels'
    (numpy/ and numpy.libs/ on Linux and Windows, numpy/.dylibs/ on macOS): not SciPy's or
    PyTorch's BLAS in the same process. Empty without threadpoolctl or with another BLAS."""
    try:
        controllers = _blas_pools().lib_controllers
    except RuntimeError:
        return []
    home = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy")
    return [c for c in controllers
            if c.internal_api == "openblas" and (c.filepath or "").startswith(home)]


def threads_from_environment() -> None:
    value = os.environ.get(_THREADS_VAR, "").strip()
    if not value:
        return
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"${_THREADS_VAR}: expected a positive integer, got {value!r}")
    set_num_threads(n)


# -- host threads for slab loops -------------------------------------------------------------

_SLAB_THREAD_NAME = "xpnet-slab"


class SlabThreads:
    """Runs a loop over independent pieces of work (the cache-sized slabs of a convolution) on
    as many host threads as NumPy's BLAS may use, each piece's GEMM single-threaded meanwhile.

    A slab is a memory-bound copy (im2col, col2im) and a GEMM. With BLAS threading each GEMM,
    the copies run on one core while the others wait; with one slab per thread, copies and
    GEMMs run on every core at once (the MNIST CNN's step −17 % at batch 64 and −18 % at 256
    on 2 cores, against the slabs in order in one process). The
    pieces must write disjoint memory; reductions over them are left to the caller, in piece
    order, so results do not depend on the thread count.

    OpenBLAS's own worker threads keep spinning on their cores for ~0.1 s after each threaded
    GEMM, where they would take the cores from these threads (the step was 35 % *slower*
    with them): a loop therefore asks OpenBLAS to stop its workers first
    (``blas_thread_shutdown_``, what it does itself before a ``fork``; it starts them again for
    the next threaded GEMM). So the loops are spread only over the OpenBLAS that NumPy's wheels
    bring on Linux (pthreads build, found once through threadpoolctl), and only while no other
    non-daemon Python thread runs (one might be inside a BLAS call); everywhere else, with one
    BLAS thread (``xpnet.set_num_threads``, ``XPNET_NUM_THREADS``) or with ``enabled`` set to
    False, the pieces run in order in the caller. A loop started while another runs (a nested
    loop) runs in its caller too; a forked child starts its own threads."""

    def __init__(self):
        self._blas, self._blas_found = None, False
        self.enabled = True       # False: every loop in order, in its caller
        self._forget()

    def _forget(self):
        """A fresh lock and no worker threads (also in a forked child, which has neither)."""
        self._lock, self._pool, self._size = threading.Lock(), None, 0

    def numpy_blas(self):
        """threadpoolctl's controller of the OpenBLAS in NumPy's own install (its wheels'), when
        it can be driven as above; None otherwise."""
        if not self._blas_found:
            self._blas_found = True
            own = [c for c in numpy_openblas() if sys.platform.startswith("linux")
                   and getattr(c, "threading_layer", None) == "pthreads"
                   and hasattr(c.dynlib, "blas_thread_shutdown_")]
            self._blas = own[0] if own else None
        return self._blas

    def threads(self, xp) -> int:
        """Threads a loop of :meth:`run` may use for arrays of namespace ``xp``: the BLAS
        thread count for NumPy's, when it can be driven (see the class); 1 otherwise."""
        if not is_cpu(xp):
            return 1
        blas = self.numpy_blas()
        if not self.enabled or blas is None or not self._alone():
            return 1
        return max(1, blas.get_num_threads())

    @staticmethod
    def _alone() -> bool:
        """No other thread that could be inside a BLAS call: every thread but the caller and
        these loops' is a daemon (tqdm's monitor, a notebook kernel's, multiprocessing's)."""
        me = threading.current_thread()
        return all(t is me or t.daemon or t.name.startswith(_SLAB_THREAD_NAME)
                   for t in threading.enumerate())

    def run(self, work: Callable, count: int, threads: int) -> None:
        """``work(k, slot)`` for every k in ``range(count)``, on up to ``threads`` threads (the
        caller's among them); ``slot`` < ``threads`` numbers the thread, for per-thread scratch
        buffers. Pieces are taken in order by whichever thread is free; the first exception
        stops the others' next pieces and is raised here once all have stopped."""
        threads = min(threads, count)
        blas = self.numpy_blas()
        if threads < 2 or blas is None or not self._lock.acquire(blocking=False):
            for k in range(count):
                work(k, 0)
            return
        try:
            pool = self._workers(threads - 1)
            pieces, failed = itertools.count(), []

            def loop(slot):
                for k in pieces:
                    if k >= count or failed:
                        return
                    try:
                        work(k, slot)
                    except BaseException as exc:      # handed to the caller below
                        failed.append(exc)
                        return

            before = blas.get_num_threads()
            blas.set_num_threads(1)
            blas.dynlib.blas_thread_shutdown_()       # its spinning workers off the cores
            try:
                helpers = [pool.submit(loop, slot) for slot in range(1, threads)]
                loop(0)
                for helper in helpers:
                    while True:
                        try:
                            helper.result()
                            break
                        except BaseException as exc:  # Ctrl-C while waiting: stop, then raise
                            failed.append(exc)
            finally:
                blas.set_num_threads(before)
            if failed:
                raise failed[0]
        finally:
            self._lock.release()

    def _workers(self, n):
        from concurrent.futures import ThreadPoolExecutor
        if self._pool is None or self._size < n:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._pool, self._size = ThreadPoolExecutor(n, thread_name_prefix=_SLAB_THREAD_NAME), n
        return self._pool


SLAB_THREADS = SlabThreads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=SLAB_THREADS._forget)
