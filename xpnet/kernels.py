"""One registry for the computations a library may compile: fused elementwise functions and loop
nests.

An op writes its math once, against the Array API, as ``fn(xp, *arrays)``: that plain call is the
*reference*, and it is what runs wherever no compiler is registered (array-api-strict, PyTorch,
NumPy without ``xpnet[fast]``, ``XPNET_COMPILER=none``). Two decorators mark a function as one
that a compiler may replace:

- :func:`fuse` — an elementwise function, compiled as ONE kernel (``cupy.fuse`` on CuPy, the
  Numba tracer on NumPy) instead of one launch or one NumPy pass per operator;
- :func:`loops` — an Array API function paired with the same computation written as plain
  ``for`` loops over array elements (index arithmetic an elementwise kernel cannot express, such
  as a convolution's col2im), compiled by Numba on NumPy.

Compilers are not known here: they register themselves (:func:`register_compiler`) from the
floors that own them (``xpnet.cpu.numba`` for NumPy, ``xpnet.cuda.fusion`` for CuPy). Both
kinds of kernel share one first-call path: the first call for a library compiles (one thread at
a time, under :data:`COMPILE_LOCK`), and a compiler's refusal — at compile time or at a call
with new argument types — runs the reference instead, with a warning, once per library and
argument dtypes (float16 refused does not switch the float32 kernel off). Dtypes a compiler
declares it never takes (``declines``: Numba has no float16 arithmetic) run the reference without
the warning: a known gap, not a surprise. A compiled kernel never changes a result beyond floating-point rounding: every
kernel is tested against its reference (``tests/kernels/``).
"""
from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from typing import Callable, NamedTuple

from .backend import library_of

__all__ = ["fuse", "loops", "register_compiler", "compiler", "compiler_for", "forget",
           "fused_functions", "compiled_functions", "COMPILE_LOCK"]

FUSE, LOOPS = "fuse", "loops"

# first calls of every kernel, and a compiler's own building (tracing, writing a module), one
# thread at a time: host threads (xpnet.cpu.threads.SlabThreads) may meet a new kernel together.
# Re-entrant, so a compiler may take it again; one lock, so there is no lock order to get wrong.
COMPILE_LOCK = threading.RLock()


class Compiler(NamedTuple):
    compile: Callable          # compile(source) -> kernel, called with the arrays as fn's are
    refusals: Callable         # refusals() -> the exception types that mean "cannot compile this"
    declines: frozenset = frozenset()   # dtype names it never takes: refused without a warning


_COMPILERS: dict = {}          # (kind, library) -> Compiler
_KERNELS: dict = {FUSE: [], LOOPS: []}
_MISSING = object()


def register_compiler(library: str, compile_fn, refusals=lambda: (TypeError, NotImplementedError),
                      kind: str = FUSE, declines=()) -> None:
    """Compile kernels of ``kind`` ('fuse' or 'loops') for arrays of ``library`` ('numpy',
    'cupy', ...) with ``compile_fn(source) -> kernel``; ``refusals()`` gives the exception types
    that mean the compiler cannot take a function (the reference then runs, with a warning).
    ``declines`` names dtypes the compiler is known never to take ('float16' for Numba): a call
    with such an argument that the compiler refuses runs the reference without the warning.
    ``compile_fn=None`` removes the compiler. Kernels already compiled for the library are
    forgotten, so the next call compiles with the new one."""
    if kind not in _KERNELS:
        raise ValueError(f"register_compiler: kind must be 'fuse' or 'loops', got {kind!r}")
    if compile_fn is None:
        _COMPILERS.pop((kind, library), None)
    else:
        _COMPILERS[kind, library] = Compiler(compile_fn, refusals,
                                             frozenset(str(d) for d in declines))
    for call in _KERNELS[kind]:
        call.kernels.pop(library, None)
        call.refused.clear()


def compiler(library: str, kind: str = FUSE) -> Compiler | None:
    """The compiler registered for ``library``'s kernels of ``kind``, or None (the references
    run)."""
    return _COMPILERS.get((kind, library))


@contextlib.contextmanager
def compiler_for(library: str, compile_fn, refusals=lambda: (TypeError, NotImplementedError),
                 kind: str = FUSE, declines=()):
    """Inside a ``with`` block, compile ``library``'s kernels of ``kind`` with ``compile_fn``
    (None: run the references); afterwards the previous compiler and the kernels it had
    compiled are back, as if the block had not run.

    >>> import numpy as np
    >>> with compiler_for("numpy", None):      # plain NumPy calls, whatever is installed
    ...     pass
    """
    previous = _COMPILERS.get((kind, library))
    saved = [(call, dict(call.kernels), set(call.refused)) for call in _KERNELS[kind]]
    register_compiler(library, compile_fn, refusals, kind, declines)
    try:
        yield
    finally:
        if previous is None:
            _COMPILERS.pop((kind, library), None)
        else:
            _COMPILERS[kind, library] = previous
        for call, compiled, refused in saved:
            call.kernels.clear()
            call.kernels.update(compiled)
            call.refused.clear()
            call.refused.update(refused)


def forget(call: Callable) -> None:
    """Drop a kernel made by :func:`fuse` or :func:`loops` from the registry (a throwaway
    kernel, as tests make)."""
    for registered in _KERNELS.values():
        if call in registered:
            registered.remove(call)


def _kernel(kind: str, reference: Callable, source: Callable, instead: str) -> Callable:
    """The callable both decorators return: ``call(xp, *args)`` runs the compiled kernel for the
    library of ``args[0]`` when there is one, the reference otherwise."""
    def call(xp, *args):
        library = library_of(args[0])
        kernel = call.kernels.get(library, _MISSING)
        if kernel is _MISSING:
            kernel = _first_call(call, library)
        if kernel is None or (call.refused and _signature(library, args) in call.refused):
            return reference(xp, *args)
        try:
            return kernel(*args)
        except _COMPILERS[kind, library].refusals() as exc:
            # typing failed for these argument types, before anything was written: remembered
            # for this library and these dtypes only (float16 does not switch float32 off)
            signature = _signature(library, args)
            call.refused.add(signature)
            if _COMPILERS[kind, library].declines.isdisjoint(signature[1:]):
                _warn_refused(library, source.__name__, exc, instead)
            return reference(xp, *args)

    def _first_call(call, library):
        with COMPILE_LOCK:
            kernel = call.kernels.get(library, _MISSING)
            if kernel is _MISSING:
                kernel = call.kernels[library] = _compile(kind, library, source, instead)
        return kernel

    functools.update_wrapper(call, reference)
    call.reference, call.source, call.kernels, call.refused = reference, source, {}, set()
    _KERNELS[kind].append(call)
    return call


def _signature(library, args) -> tuple:
    return (library, *(str(getattr(a, "dtype", type(a).__name__)) for a in args))


def _compile(kind, library, source, instead):
    compiler = _COMPILERS.get((kind, library))
    if compiler is None:
        return None
    try:
        return compiler.compile(source)
    except compiler.refusals() as exc:
        _warn_refused(library, source.__name__, exc, instead)
        return None


def _warn_refused(library, name, exc, instead):
    warnings.warn(f"xpnet: the {library} compiler could not compile {name} "
                  f"({type(exc).__name__}: {exc}); {instead}", RuntimeWarning, stacklevel=4)


def fuse(fn: Callable) -> Callable:
    """Compile an elementwise function of arrays into one kernel where the library can.

    ``fn(xp, *args)`` is written once against the Array API. On CuPy it is compiled by
    ``cupy.fuse`` (one launch instead of one per operator), on NumPy by Numba with
    ``xpnet[fast]``; everywhere else it is called as is, and that plain call is the reference
    the fused kernel is tested against. Use elementwise operators and ``xp`` functions that
    ``cupy.fuse`` supports (exp, log, tanh, sqrt, abs, maximum, minimum, where, arithmetic,
    comparisons), and no arithmetic between two Python numbers inside the function: CuPy types
    such an operation as float16 (compute coefficients on the host and pass them in).

    Should the compiler refuse a function (a tracing or compilation error), it runs unfused
    (same results, more launches) and a warning says so, once; any other error (out of memory,
    a CUDA fault) propagates.
    """
    return _kernel(FUSE, fn, fn, "running it unfused")


def loops(loop_fn: Callable) -> Callable:
    """Pair an Array API function with the same computation written as plain loops.

    ``@loops(loop_fn)`` on ``fn(xp, *args)``, where ``loop_fn(*args)`` does what ``fn`` does
    with ``for`` loops over array elements (scalars, indexing and ``range`` only): on NumPy
    arrays with the CPU compiler (``xpnet[fast]``) the call runs ``loop_fn`` compiled by Numba,
    one pass through memory; everywhere else ``fn`` runs, and it is the reference the compiled
    loops are tested against. Both forms write their results into argument arrays and return
    nothing. Loops the compiler refuses run as ``fn``, with a warning, once. A function the
    loops call (a scalar formula shared by two loop nests) is listed in ``loop_fn.helpers``
    and compiled with them.
    """
    def wrap(fn):
        call = _kernel(LOOPS, fn, loop_fn, f"running {fn.__name__} as array calls")
        call.loops = loop_fn
        return call
    return wrap


def fused_functions() -> list:
    """Every function made by :func:`fuse` so far (each has ``.reference``, the plain one)."""
    return list(_KERNELS[FUSE])


def compiled_functions() -> list:
    """Every function made by :func:`loops` (each has ``.reference`` and ``.loops``)."""
    return list(_KERNELS[LOOPS])
