"""The 'cuda' device (CuPy on an NVIDIA GPU): PyTorch's ``torch.cuda`` questions, answered for
CuPy, and what makes the device fast without changing a result: CuPy's fusion compiler and the
hand-written loop kernels (im2col, col2im), registered with :mod:`xpnet.kernels` for CuPy arrays
(:mod:`xpnet.cuda.fusion`, :mod:`xpnet.cuda.loops`), and the Philox generator's kernel behind
the device's random draws (:mod:`xpnet.cuda.philox`).

Nothing here imports CuPy until it is asked a question or a kernel meets a CuPy array, and the
questions never raise when CuPy or a GPU is missing: ``is_available()`` is then False,
``device_count()`` 0, and ``synchronize()``, ``empty_cache()`` and the seeding functions do
nothing. Only ``current_device()`` and ``get_device_name()``, which have no answer without a
GPU, raise a RuntimeError saying so.

>>> device = "cuda" if is_available() else "cpu"    # PyTorch's idiom
>>> import xpnet
>>> xpnet.device(device) == device
True
"""
from __future__ import annotations

import numbers

from . import fusion, loops

fusion.register()
loops.register()

__all__ = ["is_available", "device_count", "current_device", "get_device_name", "synchronize",
           "empty_cache", "manual_seed", "manual_seed_all", "memory_allocated",
           "memory_reserved"]


def _cupy():
    """CuPy when it is installed and sees at least one GPU, else None."""
    try:
        import cupy
        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:   # not installed, no driver, a broken CUDA install: no GPU for us
        return None


def is_available() -> bool:
    """Whether the 'cuda' device can be used: CuPy is installed and sees a GPU."""
    return _cupy() is not None


def device_count() -> int:
    """How many GPUs CuPy sees (0 without CuPy or a GPU)."""
    cupy = _cupy()
    return 0 if cupy is None else int(cupy.cuda.runtime.getDeviceCount())


def _index(owner: str, device) -> int:
    """A GPU number from None (the current GPU), an int, 'cuda:N' or a device object."""
    cupy = _cupy()
    if cupy is None:
        raise RuntimeError(f"xpnet.cuda.{owner}: no GPU is available (CuPy is not installed or "
                           f"sees no GPU); check xpnet.cuda.is_available() first")
    if device is None:
        return int(cupy.cuda.runtime.getDevice())
    if isinstance(device, numbers.Integral) and not isinstance(device, bool):
        index = int(device)
    else:
        from .. import backend
        resolved = backend.resolve(device)
        if resolved.library != "cupy":
            raise ValueError(f"xpnet.cuda.{owner}: expected a GPU ('cuda', 'cuda:N' or an int), "
                             f"got {str(resolved)!r}")
        index = resolved.index or 0
    count = device_count()
    if not 0 <= index < count:
        raise ValueError(f"xpnet.cuda.{owner}: GPU index {index} does not exist; {count} GPU(s) "
                         f"visible")
    return index


def current_device() -> int:
    """The number of the GPU CuPy is using now."""
    return _index("current_device", None)


def get_device_name(device=None) -> str:
    """The GPU's name (``'NVIDIA H100 80GB HBM3'``); ``device`` as in :func:`synchronize`."""
    import cupy
    name = cupy.cuda.runtime.getDeviceProperties(_index("get_device_name", device))["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device=None) -> None:
    """Wait until the GPU (None: the current one; an int, 'cuda:N' or a device) has finished
    its queued work (for timing), then raise the error of any check an op left on it (a label
    out of range), as ``torch.cuda.synchronize`` raises a device-side assert. Does nothing
    without a GPU."""
    if _cupy() is None:
        return
    import cupy
    from .. import backend as _backend
    index = _index("synchronize", device)
    cupy.cuda.Device(index).synchronize()
    _backend.resolve(f"cuda:{index}").run_deferred_checks()


def empty_cache() -> None:
    """Give the GPU memory that CuPy's pools keep for reuse back to the driver (arrays in use
    stay). Does nothing without a GPU."""
    cupy = _cupy()
    if cupy is not None:
        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()


def memory_allocated(device=None) -> int:
    """Bytes of GPU memory held by live CuPy arrays (0 without a GPU)."""
    return 0 if _cupy() is None else int(_pool(device).used_bytes())


def memory_reserved(device=None) -> int:
    """Bytes of GPU memory CuPy's pool holds, in use or kept for reuse (0 without a GPU)."""
    return 0 if _cupy() is None else int(_pool(device).total_bytes())


def _pool(device):
    import cupy
    with cupy.cuda.Device(_index("memory_allocated", device)):
        return cupy.get_default_memory_pool()


def manual_seed(seed: int) -> None:
    """Seed the GPU's random draws (PyTorch's ``torch.cuda.manual_seed``).

    xpnet derives every device's stream from one seed (so one seed gives the same run on every
    device): a seed equal to :func:`xpnet.initial_seed` is already in force and changes nothing;
    another seed reseeds every generator, as :func:`xpnet.manual_seed` does. Works without a
    GPU, as in PyTorch.
    """
    from .. import random
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"xpnet.cuda.manual_seed: seed must be an int, got "
                        f"{type(seed).__name__} {seed!r}")
    if seed != random.initial_seed():
        random.manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    """Seed every GPU's random draws: the same as :func:`manual_seed` (one seed drives every
    xpnet device)."""
    manual_seed(seed)
