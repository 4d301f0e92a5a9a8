"""The GPU compiler behind :func:`xpnet.kernels.fuse`: ``cupy.fuse``, one kernel launch for a
whole elementwise function instead of one per operator (a launch costs about 20 µs of host
time, which bounds small models). Loop kernels (:func:`xpnet.kernels.loops`) have their own
compiler, :mod:`xpnet.cuda.loops`."""
from __future__ import annotations

from .. import kernels

__all__ = ["compile_fused", "refusals", "register"]


class _FusionNamespace:
    """``cupy`` as a fused function sees it, plus the Array API's ``astype`` (CuPy's fusion
    has the method ``x.astype`` but no function)."""

    def __init__(self, cupy):
        self._cupy = cupy

    def __getattr__(self, name):
        return getattr(self._cupy, name)

    @staticmethod
    def astype(x, dtype, copy=True):
        return x.astype(dtype)


def compile_fused(fn):
    """``cupy.fuse`` of ``fn(cupy, *arrays)``."""
    import cupy
    xp = _FusionNamespace(cupy)

    def bound(*args):
        return fn(xp, *args)
    bound.__name__ = bound.__qualname__ = fn.__name__   # cupy.fuse names the kernel from it
    return cupy.fuse(kernel_name=f"xpnet_{fn.__name__}")(bound)


def refusals():
    """What ``cupy.fuse`` raises while tracing or compiling (NVRTC); out-of-memory (a
    MemoryError) and CUDA errors (RuntimeErrors) are not among them and propagate."""
    from cupy.cuda.compiler import CompileException
    return (CompileException, NotImplementedError, TypeError, ValueError, AttributeError)


def register() -> None:
    kernels.register_compiler("cupy", compile_fused, refusals, kind=kernels.FUSE)
