"""CUDA kernels written as text, in the form ``cupy.ElementwiseKernel`` takes: a
:class:`Source` (parameters, a body run once per index ``i``, an optional preamble of helper
functions) and :func:`kernel`, which compiles it once per process (CuPy caches the binary on disk).

The text uses only C that a host compiler also takes (``__device__`` aside), and arrays only
through the documented ``CArray`` interface (``shape()``, ``operator[]`` with a
multi-dimensional index, strides handled by CuPy), so each kernel is tested on the CPU: compiled
with a C++ compiler against a stand-in ``CArray`` and compared with its Array API reference
(``tests/cuda/``).
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["Source", "kernel"]


class Source(NamedTuple):
    name: str              # the kernel's name (as the profiler shows it)
    in_params: str         # CuPy's spelling: 'raw T image, int64 stride_h, ...'
    out_params: str
    body: str              # run for each i in range(size)
    preamble: str = ""     # __device__ helper functions

    def params(self) -> list:
        """(type, name, raw, output) of every parameter, inputs then outputs."""
        found = []
        for output, group in enumerate((self.in_params, self.out_params)):
            for spec in filter(None, (p.strip() for p in group.split(","))):
                words = spec.split()
                found.append((words[-2], words[-1], words[0] == "raw", bool(output)))
        return found


_COMPILED: dict = {}


def kernel(source: Source):
    """The ``cupy.ElementwiseKernel`` of ``source`` (made once)."""
    compiled = _COMPILED.get(source.name)
    if compiled is None:
        import cupy
        compiled = _COMPILED[source.name] = cupy.ElementwiseKernel(
            source.in_params, source.out_params, source.body, source.name,
            preamble=source.preamble)
    return compiled
