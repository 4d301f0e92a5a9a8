"""PyTorch's ``torch.accelerator`` (2.6+): which accelerator this process would use.

xpnet's one accelerator is the 'cuda' device (CuPy on an NVIDIA GPU); without CuPy or a GPU
there is none and :func:`current_accelerator` returns None, as PyTorch does on a CPU-only
machine. The usual idiom carries over:

>>> import xpnet
>>> acc = current_accelerator()
>>> device = acc.type if is_available() else "cpu"
>>> xpnet.device(device).type in ("cpu", "cuda")
True
"""
from __future__ import annotations

from . import backend as _backend
from . import cuda as _cuda

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "synchronize"]


def is_available() -> bool:
    """Whether an accelerator (a GPU through CuPy) can be used."""
    return _cuda.is_available()


def current_accelerator(check_available: bool = False):
    """The accelerator as a device object (``xpnet.device('cuda')``), or None when there is
    none. ``check_available`` is PyTorch's argument: with no GPU the answer is None either way."""
    if not _cuda.is_available():
        return None
    return _backend.resolve(f"cuda:{_cuda.current_device()}")


def device_count() -> int:
    """How many accelerators (GPUs) are visible; 0 without one."""
    return _cuda.device_count()


def current_device_index() -> int:
    """The number of the GPU in use; -1 without one (PyTorch's answer on a CPU-only machine)."""
    return _cuda.current_device() if _cuda.is_available() else -1


def synchronize(device=None) -> None:
    """Wait for the accelerator's queued work; does nothing without one."""
    _cuda.synchronize(device)
