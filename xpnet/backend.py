"""The only module that knows array libraries.

A *device flag* is a string that names where arrays live:

==================  ===================  ===========================================
flag                namespace            notes
==================  ===================  ===========================================
``cpu``             NumPy                always available
``cuda[:N]``        CuPy                 needs ``pip install "xpnet[cuda]"`` and a GPU
``strict``          array-api-strict     the standard and nothing more
``strict:device1``  array-api-strict     its second device, as if device memory
``torch``           PyTorch (compat)     optional; ``torch:cuda[:N]`` for its GPU
==================  ===================  ===========================================

``strict:device1`` runs the GPU's code paths on the CPU: its arrays live on array-api-strict's
``Device('device1')``, which refuses an implicit conversion to NumPy, and xpnet treats them as
memory the host cannot read for free (:attr:`Backend.on_host` is False): one slab per op, no
host-side checks inside a step, values read back only by an explicit transfer
(:func:`to_numpy`, ``Tensor.numpy()``/``.item()``/``.tolist()``/``.cpu()``), which copies to
array-api-strict's CPU device first, as a GPU copies to the host. Every test runs on it.

Checks a GPU cannot make without stalling the step (a label outside its classes) are *deferred*
on such a device (:meth:`Backend.defer_check`): the op keeps the few device values that decide
the check, and the next host read on that device (or :meth:`Backend.synchronize`) reads them and
raises the error the op would have raised, as PyTorch raises a CUDA device-side assert at the
next synchronisation. No step waits for the host because of a check.

:func:`resolve` (public as ``xpnet.device``) turns a flag into a :class:`Backend`, xpnet's device
object: the namespace ``xp`` plus the library's native device. Every spelling of one device
(``'cuda'`` and ``'cuda:0'``, ``'torch'`` and ``'torch:cpu'``) gives the *same* object, however
it is reached (a flag, or an array through :func:`backend_of`), so tensors compare backends by
identity. Like ``torch.device`` it compares equal to its flag string (``t.device == 'cpu'``)
and works as a ``with`` block that sets the default device.

Everything above this module gets ``xp`` from the arrays it is handed and never imports an array
library itself. This module changes no speed: what makes a device fast lives on the floors above
it and plugs in here — the 'cpu' device's namespace (:func:`register_namespace`, from
``xpnet.cpu``) — or in :mod:`xpnet.kernels` (the compilers).
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "Backend", "resolve", "resolve_or_skip", "backend_of", "canonical", "default_device",
    "set_default_device", "available_devices", "to_numpy", "from_numpy", "dtype", "is_array",
    "library_of", "DType", "as_dtype", "dtype_name", "register_namespace",
    "discard_deferred_checks",
]

_ENV_VAR = "XPNET_DEVICE"
_NO_SCOPE = contextlib.nullcontext()
_STRICT_DEVICE = "strict:device1"   # array-api-strict's second device, memory the host cannot read
# the real floating dtypes by name, narrowest first, and the half-precision ones among them
FLOATING_NAMES = ("float16", "bfloat16", "float32", "float64")
HALF_NAMES = ("float16", "bfloat16")


@dataclass(frozen=True, eq=False)
class Backend:
    """A device: the array namespace ``xp`` and the library's native device object.

    One object per device (see :func:`resolve`); it compares equal to each spelling of its flag
    (``xpnet.device('cuda') == 'cuda:0'``), prints as the canonical flag, and is hashable, as
    ``torch.device`` is. ``type`` is the flag's family ('cpu', 'cuda', 'strict', 'torch') and
    ``index`` the GPU number (None off the GPU).
    """

    name: str          # canonical flag: 'cpu', 'strict', 'cuda:0', 'torch', 'torch:cuda:0'
    library: str       # 'numpy', 'array_api_strict', 'cupy', 'torch'
    xp: Any            # the Array API namespace
    device: Any        # what ``device=`` takes in creation calls

    def __repr__(self):
        return f"device({self.name!r})"

    def __str__(self):
        return self.name

    def __eq__(self, other):
        if isinstance(other, Backend):
            return self is other
        if isinstance(other, str):
            try:
                return canonical(other) == self.name
            except ValueError:
                return False
        return NotImplemented

    def __hash__(self):
        return hash(self.name)

    def __reduce__(self):
        # one object per device (ops compare them by identity): a copy of a module
        # (copy.deepcopy, as TransformerEncoder makes of its layer) or a pickle comes back with
        # the same device object
        return (resolve, (self.name,))

    @property
    def type(self) -> str:
        return self.name.split(":")[0]

    @property
    def index(self):
        """The GPU number ('cuda:1' -> 1, 'torch:cuda:0' -> 0), None off the GPU."""
        return int(self.name.rsplit(":", 1)[1]) if "cuda:" in self.name else None

    @functools.cached_property
    def floating_dtypes(self) -> frozenset:
        """The floating-point dtypes as this library's arrays report them (NumPy and CuPy
        arrays give ``numpy.dtype`` objects, the namespaces scalar types), checked per op."""
        found = set()
        for name in FLOATING_NAMES:
            if hasattr(self.xp, name):
                found.add(getattr(self.xp, name))
                if self.library in ("numpy", "cupy"):
                    found.add(np.dtype(name))
        return frozenset(found)

    @property
    def on_host(self) -> bool:
        """True when arrays live in host memory (NumPy, array-api-strict's CPU device, PyTorch
        on the CPU): reading them back is free, and cache-sized chunks beat one huge op. False on
        a GPU and on 'strict:device1', which stands for one in the tests."""
        return self.library == "numpy" or self.name == "strict" or (
            self.library == "torch" and self.device.type == "cpu")

    def scope(self):
        """A ``with`` block under which new arrays land on this device.

        array-api-compat's creation functions ignore ``device=`` on CuPy (they allocate on the
        *current* GPU), so ops, optimizers and creation calls run inside this block; on every
        other library it is a no-op. It is built once per device (ops enter it on every call):
        with one GPU visible, the current device can only be that one and the block is a no-op;
        otherwise it is one ``cupy.cuda.Device``, shared by every thread (CuPy keeps the stack
        of previous devices per thread, and switches only when the current device differs)."""
        return self._scope

    @functools.cached_property
    def _scope(self):
        if self.library != "cupy":
            return _NO_SCOPE
        import cupy
        if cupy.cuda.runtime.getDeviceCount() == 1:
            return _NO_SCOPE
        return cupy.cuda.Device(self.device.id)

    # -- checks the device makes and the host reads later ---------------------------------------
    def defer_check(self, values, verdict: Callable) -> None:
        """Keep a check that would need a host read now for the next host read on this device.

        ``values`` is a device array or a tuple of them (a few elements each: a count, a
        minimum and a maximum), computed by the op on the device without waiting for it;
        ``verdict(*host_values)`` gets them as NumPy arrays and returns the exception to raise,
        or None. The next :func:`to_numpy` of an array of this device (``.item()``,
        ``.numpy()``, ``.tolist()``, ``.cpu()``, printing) or :meth:`synchronize` reads them
        first and raises the first error found, as PyTorch raises a CUDA device-side assert at
        the next synchronisation; the checks read are then forgotten. A loop that never reads a
        value back reads the checks once every 64 of them, so their memory stays bounded.
        """
        with _deferred_lock:     # never appended to a list that a reader has just taken
            pending = _deferred.setdefault(self.name, [])
            pending.append((values if isinstance(values, tuple) else (values,), verdict))
            full = len(pending) >= _MAX_DEFERRED
        if full:
            self.run_deferred_checks()

    def run_deferred_checks(self) -> None:
        """Read the checks deferred on this device and raise the first failure (a host read;
        cheap when nothing is pending)."""
        if not _deferred.get(self.name):
            return
        with _deferred_lock:
            pending, _deferred[self.name] = _deferred[self.name], []
        for values, verdict in pending:
            error = verdict(*(_copy_to_host(v) for v in values))
            if error is not None:
                raise error

    def synchronize(self) -> None:
        """Wait until this device has finished its queued work, then raise what a deferred check
        found (as ``torch.cuda.synchronize()`` raises a device-side assert)."""
        if self.library == "cupy":
            self.device.synchronize()
        elif self.library == "torch" and self.device.type == "cuda":
            import torch
            torch.cuda.synchronize(self.device)
        self.run_deferred_checks()

    # -- host <-> device --------------------------------------------------------------------
    def asarray(self, host, dtype=None):
        """Copy a NumPy array (or nested lists) onto this backend.

        Always a copy, also on 'cpu' (as ``torch.tensor``): parameters and optimizer state are
        updated in place, which must never write into the caller's array.
        """
        host = np.asarray(host)
        name = None if dtype is None else dtype_name(dtype)
        if name is not None and getattr(self.xp, name, None) is None:
            raise self.missing_dtype("Tensor", name)
        if self.library == "numpy":
            return np.array(host, dtype=None if name is None else np.dtype(name), copy=True)
        if name == "bfloat16":   # NumPy has none: made from float32, which holds it exactly
            import torch
            return self.asarray(host.astype(np.float32)).to(torch.bfloat16)
        if name is not None:
            host = host.astype(np.dtype(name), copy=False)
        if self.library == "cupy":
            import cupy  # the compat namespace need not re-export cupy.cuda
            with self.scope():
                return cupy.asarray(host)
        if self.library == "torch":
            import torch
            if self.device.type == "cpu":
                return torch.tensor(host)  # a copy, as on every backend
            if not host.flags.writeable:  # torch.from_numpy warns on read-only buffers
                host = host.copy()
            return torch.from_numpy(np.ascontiguousarray(host)).to(self.device)
        return self.xp.asarray(host, device=self.device, copy=True)

    def floating_names(self) -> list:
        """The floating dtypes this device's library has, by name."""
        return [n for n in FLOATING_NAMES if getattr(self.xp, n, None) is not None]

    def missing_dtype(self, op, name) -> TypeError:
        """The error for a dtype this device's library lacks, naming the op and what it has."""
        library = LIBRARY_NAMES.get(self.library, self.library)
        return TypeError(f"{op}: dtype {name} is not supported on device '{self.name}' "
                         f"({library} has no {name}); supported floating dtypes: "
                         f"{', '.join(self.floating_names())}")

    def dtype(self, name, op="dtype"):
        """The namespace's dtype object for any spelling (``'float32'``, ``xpnet.float32``); a
        TypeError naming ``op`` and this device's floating dtypes when its library lacks it."""
        name = as_dtype(name).name
        found = getattr(self.xp, name, None)
        if found is None:
            raise self.missing_dtype(op, name)
        return found

    # ``with xpnet.device("cuda"): ...`` makes this the default device inside the block; the
    # previous defaults live on a stack, so blocks nest (also blocks of the same device)
    def __enter__(self):
        _default.append(self.name)
        return self

    def __exit__(self, *exc):
        _default.pop()
        return False


class DType:
    """A dtype as xpnet names it (``xpnet.float32``, ...), what ``Tensor.dtype`` returns.

    Like ``torch.float32`` it is one object per dtype; it compares equal to every spelling of
    its name (``'float32'``, ``numpy.float32``, the namespace's dtype), and ``numpy.dtype(d)``
    accepts it. Wherever xpnet takes a dtype, a DType or a string works.
    """

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"xpnet.{self.name}"

    def __str__(self):
        return self.name

    def __eq__(self, other):
        if isinstance(other, DType):
            return self is other
        try:
            return dtype_name(other) == self.name
        except Exception:
            return False

    def __hash__(self):
        return hash(self.name)

    @property
    def is_floating_point(self) -> bool:
        return self.name in FLOATING_NAMES

    @property
    def dtype(self):
        """The NumPy dtype (so that ``numpy.dtype(xpnet.float32)`` works)."""
        return np.dtype(self.name)

    @property
    def itemsize(self) -> int:
        return 2 if self.name == "bfloat16" else np.dtype(self.name).itemsize


DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "bfloat16", "float32", "float64", "complex64", "complex128")
DTYPES = {name: DType(name) for name in DTYPE_NAMES}


def as_dtype(dtype) -> DType:
    """The :class:`DType` for any spelling; TypeError listing the known names otherwise."""
    name = dtype_name(dtype)
    found = DTYPES.get(name)
    if found is None:
        raise TypeError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPE_NAMES)} "
                        f"(as a string or xpnet.<name>)")
    return found


def dtype_name(dtype) -> str:
    """'float32' for any spelling of a dtype: a string, a NumPy dtype, or a namespace dtype."""
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, np.generic):   # numpy.float32 itself
        return np.dtype(dtype).name
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
                      f"'torch' or 'torch:cuda[:N]' (or 'strict:device1', the test device that "
                      f"stands for device memory)")


def _parse_index(flag: str, rest: str) -> int:
    if rest == "":
        return 0
    if not rest.isdigit():
        raise _unknown(flag)
    return int(rest)


@functools.lru_cache(maxsize=None)
def canonical(flag: str) -> str:
    """The one name of a device flag, without importing anything: 'cuda' -> 'cuda:0',
    'torch:cpu' -> 'torch', 'torch:cuda' -> 'torch:cuda:0'; ValueError for an unknown flag.

    >>> canonical("cuda"), canonical(" CPU ")
    ('cuda:0', 'cpu')
    """
    flag = flag.strip().lower()
    if flag in ("cpu", "strict", _STRICT_DEVICE):
        return flag
    if flag == "strict:cpu":
        return "strict"
    if flag == "cuda" or flag.startswith("cuda:"):
        return f"cuda:{_parse_index(flag, flag[5:])}"
    if flag == "torch" or flag.startswith("torch:"):
        rest = flag[6:]
        if rest in ("", "cpu"):
            return "torch"
        if rest == "cuda" or rest.startswith("cuda:"):
            return f"torch:cuda:{_parse_index(flag, rest[5:])}"
    raise _unknown(flag)


_NAMESPACES: dict = {}   # library -> a factory of its namespace, registered from above


def register_namespace(library: str, factory: Callable) -> None:
    """Use ``factory()`` as the Array API namespace of ``library``'s device, in place of
    array-api-compat's. Devices are built once, so this must come before the first
    :func:`resolve` of the device: ``xpnet.cpu`` registers NumPy itself for 'cpu' (with the
    Python wrappers of its hottest functions bypassed) when ``xpnet`` is imported. Results are
    identical, only the cost of a call changes."""
    _NAMESPACES[library] = factory


def _numpy_namespace():
    """NumPy >= 2.1 is an Array API namespace itself: used directly (through the factory that
    ``xpnet.cpu`` registers) it saves array-api-compat's wrapper on every call, which is most of
    an op's cost on small tensors; older NumPy, or ``XPNET_NUMPY_COMPAT=1``, goes through
    array-api-compat."""
    major, minor = (int(p) for p in np.__version__.split(".")[:2])
    factory = _NAMESPACES.get("numpy")
    if (major, minor) >= (2, 1) and os.environ.get("XPNET_NUMPY_COMPAT", "") != "1":
        return factory() if factory is not None else np
    import array_api_compat.numpy as xp
    return xp


@functools.lru_cache(maxsize=None)
def _resolve(name: str) -> Backend:
    """The Backend of a canonical name, built once (this is where libraries are imported)."""
    if name == "cpu":
        return Backend("cpu", "numpy", _numpy_namespace(), "cpu")
    if name == "strict":
        try:
            import array_api_strict as xp
        except ImportError:
            raise RuntimeError("device 'strict' needs array-api-strict, which is not installed; "
                               'pip install "xpnet[test]"') from None
        return Backend("strict", "array_api_strict", xp, xp.Device("CPU_DEVICE"))
    if name == _STRICT_DEVICE:
        xp = _resolve("strict").xp
        return Backend(name, "array_api_strict", xp, xp.Device("device1"))
    flag = "cuda" if name == "cuda:0" else name   # the spelling users type, in messages
    if name.startswith("cuda:"):
        index = int(name[5:])
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
        return Backend(name, "cupy", xp, cupy.cuda.Device(index))
    # torch, torch:cuda:N
    try:
        import torch
    except ImportError:
        raise RuntimeError(f"device {flag!r} needs PyTorch, which is not installed; "
                           'pip install "xpnet[compare]"') from None
    import array_api_compat.torch as xp
    if name == "torch":
        return Backend("torch", "torch", xp, torch.device("cpu"))
    index = int(name.rsplit(":", 1)[1])
    _check_gpu_count("PyTorch", index, torch.cuda.device_count(), flag)
    return Backend(name, "torch", xp, torch.device("cuda", index))


def resolve(device=None) -> Backend:
    """The device object for a flag (``None`` means :func:`default_device`); public as
    ``xpnet.device``.

    >>> resolve("strict").xp.__name__
    'array_api_strict'
    >>> resolve("cpu") == "cpu", resolve("cpu") is resolve(" cpu")
    (True, True)
    """
    if isinstance(device, Backend):
        return device
    if device is None:
        device = default_device()
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    return _resolve(canonical(device))


def resolve_or_skip(device):
    """Like :func:`resolve`, but skips the calling pytest test when the device is unavailable."""
    import pytest
    try:
        return resolve(device)
    except RuntimeError as exc:
        pytest.skip(str(exc))


_default: list = []   # a stack: set_default_device sets the bottom, device blocks push and pop
_base: list = [None]


def default_device() -> str:
    """The device used when none is given: the innermost ``with xpnet.device(...)`` block, else
    ``set_default_device``, else ``$XPNET_DEVICE``, else 'cpu'."""
    if _default:
        return _default[-1]
    return _base[0] or os.environ.get(_ENV_VAR, "").strip() or "cpu"


def set_default_device(device: str | None) -> None:
    """Set (or, with ``None``, reset) the default device for new tensors and layers."""
    if device is not None:
        device = resolve(device).name  # fail early on a bad flag
    _base[0] = device


def available_devices() -> list[str]:
    """Device flags that resolve on this machine, GPUs enumerated."""
    found = ["cpu"]
    for flag in ("strict", _STRICT_DEVICE, "torch"):
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

def library_of(array) -> str:
    """The array library's top-level module name: 'numpy', 'cupy', 'array_api_strict', 'torch'
    (the key under which :mod:`xpnet.kernels` registers compilers)."""
    return type(array).__module__.split(".")[0]


def backend_of(array) -> Backend:
    """The :class:`Backend` an array belongs to (raises TypeError for non-arrays)."""
    module = library_of(array)
    if module == "numpy":
        return _resolve("cpu")
    if module == "array_api_strict":
        strict = _resolve("strict")
        return strict if array.device == strict.device else _strict_device_of(array)
    if module == "cupy":
        return _resolve(f"cuda:{array.device.id}")
    if module == "torch":
        dev = array.device
        return _resolve("torch" if dev.type == "cpu" else f"torch:cuda:{dev.index or 0}")
    raise TypeError(f"expected an array from NumPy, CuPy, array-api-strict or PyTorch, "
                    f"got {type(array).__name__}")


def _strict_device_of(array) -> Backend:
    other = _resolve(_STRICT_DEVICE)
    if array.device != other.device:
        raise TypeError(f"xpnet knows array-api-strict's CPU_DEVICE ('strict') and device1 "
                        f"('strict:device1'), got an array on {array.device}")
    return other


def is_array(obj) -> bool:
    return library_of(obj) in ("numpy", "array_api_strict", "cupy", "torch") \
        and hasattr(obj, "shape")


# the array libraries by the names their users know them by, for messages
LIBRARY_NAMES = {"numpy": "NumPy", "cupy": "CuPy", "array_api_strict": "array-api-strict",
                 "torch": "PyTorch"}


def to_numpy(array) -> np.ndarray:
    """A NumPy copy (or view, for NumPy input) of any supported array, for logging and saving.

    This is the host read of every device: the checks deferred on the array's device
    (:meth:`Backend.defer_check`) are read first and raise what they found."""
    if _deferred and library_of(array) != "numpy":
        backend_of(array).run_deferred_checks()
    return _copy_to_host(array)


def _copy_to_host(array) -> np.ndarray:
    module = library_of(array)
    if module == "numpy":
        return np.asarray(array)
    if module == "cupy":
        return array.get()
    if module == "torch":
        array = array.detach().cpu()
        if str(array.dtype) == "torch.bfloat16":   # NumPy has no bfloat16: float32 holds it
            array = array.float()
        return array.numpy()
    if module == "array_api_strict":
        strict = _resolve("strict")
        if array.device != strict.device:   # a device to host copy first, as from a GPU
            array = strict.xp.asarray(array, device=strict.device, copy=True)
        return np.from_dlpack(array)
    return np.asarray(array)


def discard_deferred_checks() -> None:
    """Forget every deferred check unread (the test suite does so between tests, so that one
    test's bad labels are never reported by the next)."""
    with _deferred_lock:
        _deferred.clear()


_MAX_DEFERRED = 64
_deferred: dict = {}          # device name -> [(values, verdict)], see Backend.defer_check
_deferred_lock = threading.Lock()


def from_numpy(host, device=None, dtype=None):
    """Copy a NumPy array onto ``device`` (a flag or Backend)."""
    return resolve(device).asarray(host, dtype)


def dtype(name, device=None):
    """The dtype object named ``name`` in the namespace of ``device``."""
    return resolve(device).dtype(name)
