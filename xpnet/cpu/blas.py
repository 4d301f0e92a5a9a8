"""NumPy's own single-precision GEMM, for loop nests compiled by Numba: a whole recurrence in one
compiled call instead of two Python calls per time step.

A recurrent layer's time step is a small GEMM (``h_{t-1} @ W_hh^T``, 32×128 by 128×512 for an
LSTM piece at batch 64) and a cell. Run from Python, a step's calls hand the GIL to the other
slab thread and back twice; on two cores that cost the LSTM's recurrence a fifth of its time
(the 2-core VM of ``benchmarks/RESULTS.md``). A loop nest that calls the GEMM itself runs every
step without the GIL.

:func:`matmul_into` is that call, written as a helper for :func:`xpnet.kernels.loops`
(``loop_fn.helpers``, with ``loop_fn.blas = True``): ``c = a @ b`` through the ``sgemm`` of the
OpenBLAS that NumPy's wheels bring, the very function ``numpy.matmul`` calls for these arrays,
so the results are the same bits (for two rows or more: NumPy multiplies a single row by a
GEMV, whose last bits may differ). Only that library is taken: its ILP64 symbols (suffixed
``64_``) say that its integers are 64-bit. Where it is not found (NumPy built on MKL, Accelerate
or a system BLAS) :func:`library` is None, nothing is compiled, and the loop nests run as their
references, per-step NumPy calls, with the same results.
"""
from __future__ import annotations

from .threads import numpy_openblas

__all__ = ["library", "numba_declaration", "matmul_into", "sgemm"]

# the symbols of OpenBLAS's ILP64 builds (NumPy's wheels: scipy-openblas64), 64-bit integers
_SYMBOLS = ("scipy_cblas_sgemm64_", "cblas_sgemm64_")
_FOUND: list = []                       # [(path, symbol) or None], filled once


def library():
    """(path, symbol) of the ILP64 ``cblas_sgemm`` in the BLAS NumPy loaded, found once through
    threadpoolctl; None when there is none."""
    if not _FOUND:
        _FOUND.append(_find())
    return _FOUND[0]


def _find():
    try:
        own = numpy_openblas()     # only NumPy's own: SciPy's or PyTorch's BLAS may differ
    except Exception:              # threadpoolctl confused: no compiled recurrences
        return None
    for c in own:
        for symbol in _SYMBOLS:
            if hasattr(c.dynlib, symbol):
                return c.filepath, symbol
    return None


def numba_declaration() -> str | None:
    """Source lines that define ``sgemm`` in a generated Numba module (an external function,
    linked by name, so Numba caches the machine code); None without :func:`library`."""
    found = library()
    if found is None:
        return None
    path, symbol = found
    return ("import llvmlite.binding as _llvm\n"
            "from numba import types as _t\n\n"
            f"_llvm.load_library_permanently({path!r})\n"
            f"sgemm = _t.ExternalFunction({symbol!r}, _t.void(\n"
            "    _t.int32, _t.int32, _t.int32, _t.int64, _t.int64, _t.int64, _t.float32,\n"
            "    _t.uintp, _t.int64, _t.uintp, _t.int64, _t.float32, _t.uintp, _t.int64))\n\n")


# ``matmul_into`` calls it; defined by :func:`numba_declaration` in the module that compiles the
# helper (there is no Python form: called from Python, the helper fails on None)
sgemm = None


def matmul_into(c, a, b):
    """``c[...] = a @ b`` for float32 2-D arrays whose rows are contiguous (unit column stride),
    one CBLAS sgemm call: a helper for compiled loop nests, where ``sgemm`` is the external
    function of :func:`numba_declaration`; CBLAS's row-major and no-transpose are 101 and 111
    (the helper's source is compiled alone, without this module's other names)."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if (k > 1 and a.strides[1] != 4) or (n > 1 and (b.strides[1] != 4 or c.strides[1] != 4)):
        raise ValueError("matmul_into: rows must be contiguous float32")
    # a leading dimension is at least the row length, also for a one-row view
    lda, ldb, ldc = max(k, a.strides[0] // 4), max(n, b.strides[0] // 4), max(n, c.strides[0] // 4)
    sgemm(101, 111, 111, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 0.0,
          c.ctypes.data, ldc)
