"""The only module that knows array libraries.

A *device flag* is a string that names where arrays live:

============  ===================  ===========================================
flag          namespace            notes
============  ===================  ===========================================
``cpu``       NumPy                always available
``cuda[:N]``  CuPy                 needs ``pip install "xpnet[cuda]"`` and a GPU
``strict``    array-api-strict     the standard and nothing more
``torch``     PyTorch (compat)     optional; ``torch:cuda[:N]`` for its GPU
============  ===================  ===========================================

:func:`resolve` turns a flag into a :class:`Backend` (namespace + native device), cached, so
tensors can compare backends by identity. Everything above this module gets ``xp`` from the arrays
it is handed and never imports an array library itself.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "Backend", "resolve", "resolve_or_skip", "backend_of", "default_device", "set_default_device",
    "available_devices", "to_numpy", "from_numpy", "fuse", "rand", "manual_seed", "dtype", "is_array",
]

_ENV_VAR = "XPNET_DEVICE"


@dataclass(frozen=True, eq=False)
class Backend:
    """A resolved device flag: the array namespace ``xp`` and the native device object."""

    name: str          # canonical flag: 'cpu', 'strict', 'cuda:0', 'torch', 'torch:cuda:0'
    library: str       # 'numpy', 'array_api_strict', 'cupy', 'torch'
    xp: Any            # the Array API namespace
    device: Any        # what ``device=`` takes in creation calls

    def __repr__(self):
        return f"Backend({self.name!r})"

    @property
    def on_host(self) -> bool:
        """True when arrays live in host memory (NumPy, array-api-strict, PyTorch on the CPU):
        reading them back is free, and cache-sized chunks beat one huge op."""
        return self.library in ("numpy", "array_api_strict") or (
            self.library == "torch" and self.device.type == "cpu")

    def __str__(self):
        return self.name

    # -- host <-> device --------------------------------------------------------------------
    def asarray(self, host, dtype=None):
        """Copy a NumPy array (or nested lists) onto this backend.

        Always a copy, also on 'cpu' (as ``torch.tensor``): parameters and optimizer state are
        updated in place, which must never write into the caller's array.
        """
        host = np.asarray(host)
        if self.library == "numpy":
            return np.array(host, dtype=None if dtype is None else np.dtype(dtype_name(dtype)),
                            copy=True)
        if dtype is not None:
            host = host.astype(np.dtype(dtype_name(dtype)), copy=False)
        if self.library == "cupy":
            import cupy  # the compat namespace need not re-export cupy.cuda
            with cupy.cuda.Device(self.device.id):
                return cupy.asarray(host)
        if self.library == "torch":
            import torch
            if self.device.type == "cpu":
                return torch.tensor(host)  # a copy, as on every backend
            if not host.flags.writeable:  # torch.from_numpy warns on read-only buffers
                host = host.copy()
            return torch.from_numpy(np.ascontiguousarray(host)).to(self.device)
        return self.xp.asarray(host, device=self.device, copy=True)

    def dtype(self, name):
        """The namespace's dtype object for a name such as ``'float32'``."""
        return getattr(self.xp, dtype_name(name))

    # ``with xpnet.device("cuda"): ...`` makes this the default device inside the block
    def __enter__(self):
        object.__setattr__(self, "_previous", _default[0])
        _default[0] = self.name
        return self

    def __exit__(self, *exc):
        _default[0] = self._previous
        return False


def dtype_name(dtype) -> str:
    """'float32' for any spelling of a dtype: a string, a NumPy dtype, or a namespace dtype."""
    if isinstance(dtype, str):
        return dtype
    name = getattr(dtype, "name", None)  # NumPy / CuPy dtypes; strict dtypes have _np_dtype
    if name is None and hasattr(dtype, "_np_dtype"):
        name = dtype._np_dtype.name
    if name is None:
        name = str(dtype).replace("torch.", "")
    return name


def _check_gpu_count(library: str, index: int, count: int, flag: str):
    if count == 0:
        raise RuntimeError(f"device {flag!r}: {library} sees no GPU; use --device cpu")
    if index >= count:
        raise RuntimeError(f"device {flag!r}: GPU index {index} does not exist; "
                           f"{count} GPU(s) visible (cuda:0 .. cuda:{count - 1})")


def _unknown(flag: str) -> ValueError:
    return ValueError(f"unknown device {flag!r}; expected 'cpu', 'strict', 'cuda', 'cuda:N', "
                      f"'torch' or 'torch:cuda[:N]'")


def _parse_index(flag: str, rest: str) -> int:
    if rest == "":
        return 0
    if not rest.isdigit():
        raise _unknown(flag)
    return int(rest)


@functools.lru_cache(maxsize=None)
def _resolve(flag: str) -> Backend:
    if flag == "cpu":
        import array_api_compat.numpy as xp
        return Backend("cpu", "numpy", xp, "cpu")
    if flag == "strict":
        try:
            import array_api_strict as xp
        except ImportError:
            raise RuntimeError("device 'strict' needs array-api-strict, which is not installed; "
                               'pip install "xpnet[test]"') from None
        return Backend("strict", "array_api_strict", xp, xp.Device("CPU_DEVICE"))
    if flag == "cuda" or flag.startswith("cuda:"):
        index = _parse_index(flag, flag[5:])
        try:
            import cupy
        except ImportError:
            raise RuntimeError(f"device {flag!r} needs CuPy, which is not installed; "
                               'pip install "xpnet[cuda]"') from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing or broken
            raise RuntimeError(f"device {flag!r}: CuPy cannot reach a GPU ({exc}); "
                               "use --device cpu") from None
        _check_gpu_count("CuPy", index, count, flag)
        import array_api_compat.cupy as xp
        return Backend(f"cuda:{index}", "cupy", xp, cupy.cuda.Device(index))
    if flag == "torch" or flag.startswith("torch:"):
        rest = flag[6:]
        on_gpu = rest == "cuda" or rest.startswith("cuda:")
        if rest not in ("", "cpu") and not on_gpu:  # a bad flag is reported before any import
            raise _unknown(flag)
        index = _parse_index(flag, rest[5:]) if on_gpu else 0
        try:
            import torch
        except ImportError:
            raise RuntimeError(f"device {flag!r} needs PyTorch, which is not installed; "
                               'pip install "xpnet[compare]"') from None
        import array_api_compat.torch as xp
        if not on_gpu:
            return Backend("torch", "torch", xp, torch.device("cpu"))
        _check_gpu_count("PyTorch", index, torch.cuda.device_count(), flag)
        return Backend(f"torch:cuda:{index}", "torch", xp, torch.device("cuda", index))
    raise _unknown(flag)


def resolve(device=None) -> Backend:
    """The :class:`Backend` for a device flag (``None`` means :func:`default_device`).

    >>> resolve("cpu").xp.__name__
    'array_api_compat.numpy'
    """
    if isinstance(device, Backend):
        return device
    if device is None:
        device = default_device()
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    flag = device.strip().lower()
    if flag == "cuda:0" or flag == "torch:cpu":
        flag = {"cuda:0": "cuda", "torch:cpu": "torch"}[flag]
    return _resolve(flag)


def resolve_or_skip(device):
    """Like :func:`resolve`, but skips the calling pytest test when the device is unavailable."""
    import pytest
    try:
        return resolve(device)
    except RuntimeError as exc:
        pytest.skip(str(exc))


_default: list[str | None] = [None]


def default_device() -> str:
    """The device used when none is given: ``set_default_device``, else ``$XPNET_DEVICE``, else 'cpu'."""
    return _default[0] or os.environ.get(_ENV_VAR, "").strip() or "cpu"


def set_default_device(device: str | None) -> None:
    """Set (or, with ``None``, reset) the default device for new tensors and layers."""
    if device is not None:
        resolve(device)  # fail early on a bad flag
    _default[0] = device


def available_devices() -> list[str]:
    """Device flags that resolve on this machine, GPUs enumerated."""
    found = ["cpu"]
    for flag in ("strict", "torch"):
        try:
            resolve(flag)
            found.append(flag)
        except RuntimeError:
            pass
    try:
        import cupy
        found += [f"cuda:{i}" for i in range(cupy.cuda.runtime.getDeviceCount())]
    except Exception:
        pass
    return found


# -- arrays -> backends ---------------------------------------------------------------------

_by_key: dict = {}


def backend_of(array) -> Backend:
    """The :class:`Backend` an array belongs to (raises TypeError for non-arrays)."""
    cls = type(array)
    module = cls.__module__.split(".")[0]
    if module == "numpy":
        return _resolve("cpu")
    if module == "array_api_strict":
        return _resolve("strict")
    if module == "cupy":
        return _resolve(f"cuda:{array.device.id}")
    if module == "torch":
        dev = array.device
        return _resolve("torch" if dev.type == "cpu" else f"torch:cuda:{dev.index or 0}")
    raise TypeError(f"expected an array from NumPy, CuPy, array-api-strict or PyTorch, "
                    f"got {cls.__name__}")


def is_array(obj) -> bool:
    return type(obj).__module__.split(".")[0] in ("numpy", "array_api_strict", "cupy", "torch") \
        and hasattr(obj, "shape")


def to_numpy(array) -> np.ndarray:
    """A NumPy copy (or view, for NumPy input) of any supported array, for logging and saving."""
    module = type(array).__module__.split(".")[0]
    if module == "numpy":
        return np.asarray(array)
    if module == "cupy":
        return array.get()
    if module == "torch":
        return array.detach().cpu().numpy()
    if module == "array_api_strict":
        return np.from_dlpack(array)
    return np.asarray(array)


def from_numpy(host, device=None, dtype=None):
    """Copy a NumPy array onto ``device`` (a flag or Backend)."""
    return resolve(device).asarray(host, dtype)


def dtype(name, device=None):
    """The dtype object named ``name`` in the namespace of ``device``."""
    return resolve(device).dtype(name)


# -- fusion and randomness ------------------------------------------------------------------

def fuse(fn: Callable) -> Callable:
    """Compile an elementwise function of arrays into one kernel where the library can.

    ``fn(xp, *arrays)`` is written once against the Array API. On CuPy it is compiled by
    ``cupy.fuse`` (one launch instead of one per operator); everywhere else it is called as is,
    and that plain call is the reference the fused kernel is tested against. Use elementwise
    operators and ``xp`` functions that ``cupy.fuse`` supports (exp, log, tanh, sqrt, abs,
    sign, maximum, minimum, arithmetic, comparisons). Should CuPy fail to compile a function,
    it runs unfused (same results, more launches) and a warning says so, once.
    """
    state: dict = {}

    @functools.wraps(fn)
    def call(xp, *arrays):
        if arrays and type(arrays[0]).__module__.startswith("cupy"):
            kernel = state.get("kernel")
            if kernel is None and "failed" not in state:
                import cupy

                def bound(*args):
                    return fn(cupy, *args)
                bound.__name__ = bound.__qualname__ = fn.__name__
                kernel = state["kernel"] = cupy.fuse(kernel_name=f"xpnet_{fn.__name__}")(bound)
            if kernel is not None:
                try:
                    return kernel(*arrays)
                except Exception as exc:  # compilation refused: fall back to the plain call
                    state["failed"], state["kernel"] = repr(exc), None
                    import warnings
                    warnings.warn(f"xpnet: cupy.fuse could not compile {fn.__name__} ({exc}); "
                                  f"running it unfused", RuntimeWarning, stacklevel=2)
        return fn(xp, *arrays)

    call.reference = fn
    return call


_device_generators: dict = {}
_seed: list = [None]


def manual_seed(seed: int) -> None:
    """Reseed the per-device generators used for per-step noise (dropout)."""
    _device_generators.clear()
    _seed[0] = int(seed)
    try:
        import torch
        torch.manual_seed(int(seed))
    except ImportError:
        pass


def rand(backend: Backend, shape, dtype):
    """Uniform [0, 1) samples of ``shape`` made on the device (for per-step noise like dropout).

    NumPy and CuPy draw from a generator kept per device and seeded by :func:`manual_seed`;
    PyTorch uses its own generator; array-api-strict has no randomness, so its samples are drawn
    on the host and copied.
    """
    shape = tuple(int(s) for s in shape)
    if backend.library == "torch":
        import torch
        return torch.rand(shape, dtype=dtype, device=backend.device)
    gen = _device_generators.get(backend.name)
    if backend.library == "cupy":
        import cupy
        with cupy.cuda.Device(backend.device.id):
            if gen is None:
                gen = _device_generators[backend.name] = cupy.random.default_rng(_seed[0])
            return gen.random(shape, dtype=dtype)
    if gen is None:
        gen = _device_generators[backend.name] = np.random.default_rng(_seed[0])
    sample = gen.random(shape, dtype=np.dtype(dtype_name(dtype)))
    return sample if backend.library == "numpy" else backend.asarray(sample)
