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

:func:`resolve` (public as ``xpnet.device``) turns a flag into a :class:`Backend`, xpnet's device
object: the namespace ``xp`` plus the library's native device. Every spelling of one device
(``'cuda'`` and ``'cuda:0'``, ``'torch'`` and ``'torch:cpu'``) gives the *same* object, however
it is reached (a flag, or an array through :func:`backend_of`), so tensors compare backends by
identity. Like ``torch.device`` it compares equal to its flag string (``t.device == 'cpu'``)
and works as a ``with`` block that sets the default device.

Everything above this module gets ``xp`` from the arrays it is handed and never imports an array
library itself. It also owns the compilers: :func:`fuse` (an elementwise function as one
kernel: ``cupy.fuse`` on CuPy, Numba on NumPy) and :func:`compiled` (an Array API function
paired with the same computation as plain loops, compiled by Numba on NumPy).
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "Backend", "resolve", "resolve_or_skip", "backend_of", "canonical", "default_device",
    "set_default_device", "available_devices", "to_numpy", "from_numpy", "fuse", "dtype",
    "is_array", "register_compiler", "DType", "as_dtype", "set_num_threads", "get_num_threads",
]

_ENV_VAR = "XPNET_DEVICE"
_NO_SCOPE = contextlib.nullcontext()


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
        return int(self.name.rsplit(":", 1)[1]) if self.name[-1].isdigit() else None

    @functools.cached_property
    def floating_dtypes(self) -> frozenset:
        """The floating-point dtypes as this library's arrays report them (NumPy and CuPy
        arrays give ``numpy.dtype`` objects, the namespaces scalar types), checked per op."""
        found = set()
        for name in ("float16", "bfloat16", "float32", "float64"):
            if hasattr(self.xp, name):
                found.add(getattr(self.xp, name))
                if self.library in ("numpy", "cupy"):
                    found.add(np.dtype(name))
        return frozenset(found)

    @property
    def on_host(self) -> bool:
        """True when arrays live in host memory (NumPy, array-api-strict, PyTorch on the CPU):
        reading them back is free, and cache-sized chunks beat one huge op."""
        return self.library in ("numpy", "array_api_strict") or (
            self.library == "torch" and self.device.type == "cpu")

    def scope(self):
        """A ``with`` block under which new arrays land on this device.

        array-api-compat's creation functions ignore ``device=`` on CuPy (they allocate on the
        *current* GPU), so ops, optimizers and creation calls run inside this block; on every
        other library it is a no-op."""
        if self.library != "cupy":
            return _NO_SCOPE
        import cupy
        return cupy.cuda.Device(self.device.id)

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
        """The namespace's dtype object for any spelling (``'float32'``, ``xpnet.float32``)."""
        name = as_dtype(name).name
        try:
            return getattr(self.xp, name)
        except AttributeError:
            raise TypeError(f"dtype {name} is not available on device {self.name!r}") from None

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
        return self.name in ("float16", "bfloat16", "float32", "float64")

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
                      f"'torch' or 'torch:cuda[:N]'")


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
    if flag in ("cpu", "strict"):
        return flag
    if flag == "cuda" or flag.startswith("cuda:"):
        return f"cuda:{_parse_index(flag, flag[5:])}"
    if flag == "torch" or flag.startswith("torch:"):
        rest = flag[6:]
        if rest in ("", "cpu"):
            return "torch"
        if rest == "cuda" or rest.startswith("cuda:"):
            return f"torch:cuda:{_parse_index(flag, rest[5:])}"
    raise _unknown(flag)


def _numpy_namespace():
    """NumPy >= 2.1 is an Array API namespace itself: used directly (with the Python wrappers of
    its hottest functions bypassed, see :mod:`xpnet._fast_numpy`), it saves array-api-compat's
    wrapper and NumPy's own (a few µs) on every call, which is most of an op's cost on small
    tensors; older NumPy goes through array-api-compat."""
    major, minor = (int(p) for p in np.__version__.split(".")[:2])
    if (major, minor) >= (2, 1) and os.environ.get("XPNET_NUMPY_COMPAT", "") != "1":
        from . import _fast_numpy
        return _fast_numpy.namespace()
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


# -- CPU threads ------------------------------------------------------------------------------

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


def _threads_from_environment() -> None:
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

    def _numpy_blas(self):
        """threadpoolctl's controller of the OpenBLAS in NumPy's own install (its wheels'), when
        it can be driven as above; None otherwise."""
        if not self._blas_found:
            self._blas_found = True
            try:
                controllers = _blas_pools().lib_controllers
            except RuntimeError:
                controllers = []
            # numpy/ and numpy.libs/ (Linux wheels), numpy/.dylibs/ (macOS)
            home = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy")
            own = [c for c in controllers if sys.platform.startswith("linux")
                   and (c.filepath or "").startswith(home)
                   and c.internal_api == "openblas"
                   and getattr(c, "threading_layer", None) == "pthreads"
                   and hasattr(c.dynlib, "blas_thread_shutdown_")]
            self._blas = own[0] if own else None
        return self._blas

    def threads(self, xp) -> int:
        """Threads a loop of :meth:`run` may use for arrays of namespace ``xp``: the BLAS
        thread count for NumPy's, when it can be driven (see the class); 1 otherwise."""
        if xp is not _resolve("cpu").xp:
            return 1
        blas = self._numpy_blas()
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
        blas = self._numpy_blas()
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


# -- arrays -> backends ---------------------------------------------------------------------

def _library(array) -> str:
    return type(array).__module__.split(".")[0]


def backend_of(array) -> Backend:
    """The :class:`Backend` an array belongs to (raises TypeError for non-arrays)."""
    module = _library(array)
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
                    f"got {type(array).__name__}")


def is_array(obj) -> bool:
    return _library(obj) in ("numpy", "array_api_strict", "cupy", "torch") \
        and hasattr(obj, "shape")


def to_numpy(array) -> np.ndarray:
    """A NumPy copy (or view, for NumPy input) of any supported array, for logging and saving."""
    module = _library(array)
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


class HostRecycler:
    """Large NumPy arrays kept after their last use and handed out again: host memory that a
    training step allocates afresh every time (activations, gradients: ~70 MB a step for the
    MNIST CNN at batch 64) would otherwise be page-faulted in anew each step, which on the
    test VMs costs more than the passes that write it (the step −18 % with glibc told to keep
    its memory, −23 % at batch 256 with this pool).

    An array is handed out again only when nothing but this pool refers to it (its reference
    count): a tensor, a view, a graph or a variable that still holds it keeps it from reuse.
    Arrays under ``minimum`` bytes are left to NumPy; at most ``limit`` bytes are kept, free
    arrays of other shapes making room for new ones. ``clear()`` lets them all go. As PyTorch's
    caching allocator on a GPU, the memory of the largest step stays with the process."""

    def __init__(self, limit=1 << 29, minimum=1 << 20):
        self.pool, self.kept, self.limit, self.minimum = {}, 0, limit, minimum
        self._free_refs = self._refs([np.empty(0)])

    @staticmethod
    def _refs(stack):
        for array in stack:          # the count a free array shows in _first_free's loop
            return sys.getrefcount(array)

    def _first_free(self, stack):
        for array in stack:
            if sys.getrefcount(array) == self._free_refs:
                return array
        return None

    def empty(self, shape, dtype):
        """An uninitialised C-contiguous NumPy array (a kept one when one is free)."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.minimum:
            return np.empty(shape, dtype)
        key = (tuple(shape), dtype)
        stack = self.pool.get(key)
        if stack is not None:
            array = self._first_free(stack)
            if array is not None:
                return array
        array = np.empty(shape, dtype)
        if self.kept + nbytes > self.limit:
            self._make_room(nbytes)
        if self.kept + nbytes <= self.limit:
            self.pool.setdefault(key, []).append(array)
            self.kept += nbytes
        return array

    def _make_room(self, nbytes):
        for key in list(self.pool):
            stack = self.pool[key]
            while self.kept + nbytes > self.limit:
                array = self._first_free(stack)
                if array is None:
                    break
                # by identity (list.remove would compare arrays elementwise)
                del stack[next(i for i, a in enumerate(stack) if a is array)]
                self.kept -= array.nbytes
                del array
            if not stack:
                del self.pool[key]
            if self.kept + nbytes <= self.limit:
                return

    def clear(self):
        self.pool.clear()
        self.kept = 0


RECYCLER = HostRecycler()


def host_empty(xp, shape, dtype, device=None):
    """``xp.empty(shape, dtype)``, from :data:`RECYCLER` when the arrays are NumPy's."""
    if xp is _resolve("cpu").xp:
        return RECYCLER.empty(shape, dtype)
    return xp.empty(shape, dtype=dtype, device=device)


def matmul_into(xp, out, a, b):
    """``out[...] = a @ b``. NumPy writes the product straight into ``out`` (no temporary, no
    copy: a pass over a convolution's output saved per slab); elsewhere (the Array API has no
    ``out=``) the product is computed and copied in."""
    if out.__class__ is np.ndarray and a.__class__ is np.ndarray and b.__class__ is np.ndarray:
        np.matmul(a, b, out=out)
    else:
        out[...] = xp.matmul(a, b)


def dtype(name, device=None):
    """The dtype object named ``name`` in the namespace of ``device``."""
    return resolve(device).dtype(name)


# -- fusion ---------------------------------------------------------------------------------

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


def _cupy_compiler(fn):
    """``cupy.fuse`` of ``fn(cupy, *arrays)``, and the errors that mean "cannot compile this"."""
    import cupy
    xp = _FusionNamespace(cupy)

    def bound(*args):
        return fn(xp, *args)
    bound.__name__ = bound.__qualname__ = fn.__name__   # cupy.fuse names the kernel from it
    kernel = cupy.fuse(kernel_name=f"xpnet_{fn.__name__}")(bound)
    return kernel


def _cupy_refusals():
    # what cupy.fuse raises while tracing or compiling (nvrtc); out-of-memory (a MemoryError)
    # and CUDA errors (RuntimeErrors) are not among them and propagate
    from cupy.cuda.compiler import CompileException
    return (CompileException, NotImplementedError, TypeError, ValueError, AttributeError)


def _numba_compiler(fn):
    """Numba for NumPy arrays (``xpnet[fast]``): see :mod:`xpnet._numba`."""
    from ._numba import compile_fused
    return compile_fused(fn)


def _numba_refusals():
    from ._numba import refusals
    return refusals()


# library -> (compile(fn) -> kernel, refusals() -> the exception types that mean "cannot compile")
_COMPILERS: dict = {"cupy": (_cupy_compiler, _cupy_refusals)}


def _cpu_compiler_wanted() -> bool:
    """Numba compiles the fused functions on NumPy when it is installed (``xpnet[fast]``),
    unless ``XPNET_COMPILER=none`` (plain NumPy calls, the reference)."""
    import importlib.util
    choice = os.environ.get("XPNET_COMPILER", "auto").strip().lower()
    if choice not in ("auto", "numba", "none"):
        raise ValueError(f"XPNET_COMPILER must be 'auto', 'numba' or 'none', got {choice!r}")
    if choice == "none":
        return False
    found = importlib.util.find_spec("numba") is not None
    if choice == "numba" and not found:
        raise RuntimeError('XPNET_COMPILER=numba needs Numba, which is not installed; '
                           'pip install "xpnet[fast]"')
    return found


if _cpu_compiler_wanted():
    _COMPILERS["numpy"] = (_numba_compiler, _numba_refusals)


def register_compiler(library: str, compile_fn, refusals=lambda: (TypeError, NotImplementedError)):
    """Compile fused functions for arrays of ``library`` ('numpy', 'cupy', ...) with
    ``compile_fn(fn) -> kernel``; ``refusals()`` gives the exception types that mean the
    compiler cannot take a function (it then runs unfused, with a warning). ``compile_fn=None``
    removes the compiler."""
    if compile_fn is None:
        _COMPILERS.pop(library, None)
    else:
        _COMPILERS[library] = (compile_fn, refusals)
    for call in _FUSED:
        call.kernels.pop(library, None)


_FUSED: list = []   # every function made by fuse(), for tests that trace them all


def fuse(fn: Callable) -> Callable:
    """Compile an elementwise function of arrays into one kernel where the library can.

    ``fn(xp, *args)`` is written once against the Array API. On CuPy it is compiled by
    ``cupy.fuse`` (one launch instead of one per operator); everywhere else it is called as is
    (unless a compiler is registered for the library), and that plain call is the reference
    the fused kernel is tested against. Use elementwise operators and ``xp`` functions that
    ``cupy.fuse`` supports (exp, log, tanh, sqrt, abs, maximum, minimum, where, arithmetic,
    comparisons), and no arithmetic between two Python numbers inside the function: CuPy types
    such an operation as float16 (compute coefficients on the host and pass them in).

    Should the compiler refuse a function (a tracing or compilation error), it runs unfused
    (same results, more launches) and a warning says so, once; any other error (out of memory,
    a CUDA fault) propagates.
    """
    def call(xp, *args):
        library = _library(args[0]) if args else None
        kernel = call.kernels.get(library, _MISSING)
        if kernel is _MISSING:
            with _COMPILE_LOCK:              # host threads may make the first call together
                kernel = call.kernels.get(library, _MISSING)
                if kernel is _MISSING:
                    kernel = call.kernels[library] = _compile(library, fn)
        if kernel is None:
            return fn(xp, *args)
        try:
            return kernel(*args)
        except _COMPILERS[library][1]() as exc:
            call.kernels[library] = None
            _warn_refused(library, fn.__name__, exc, "running it unfused", stacklevel=2)
            return fn(xp, *args)

    functools.update_wrapper(call, fn)
    call.reference = fn
    call.kernels = {}
    _FUSED.append(call)
    return call


_MISSING = object()
_COMPILE_LOCK = threading.RLock()   # first calls of fused and compiled functions, one at a time


def _warn_refused(library, name, exc, instead, stacklevel):
    import warnings
    warnings.warn(f"xpnet: the {library} compiler could not compile {name} "
                  f"({type(exc).__name__}: {exc}); {instead}", RuntimeWarning,
                  stacklevel=stacklevel + 1)


def _compile(library, fn):
    entry = _COMPILERS.get(library)
    if entry is None:
        return None
    compile_fn, refusals = entry
    try:
        return compile_fn(fn)
    except refusals() as exc:
        _warn_refused(library, fn.__name__, exc, "running it unfused", stacklevel=3)
        return None


def fused_functions() -> list:
    """Every function made by :func:`fuse` so far (each has ``.reference``, the plain one)."""
    return list(_FUSED)


# -- loop nests -------------------------------------------------------------------------------

_LOOP_COMPILERS: dict = {}   # library -> compile(loops) -> kernel
if _cpu_compiler_wanted():
    def _numba_loops(loops):
        from ._numba import compile_loops
        return compile_loops(loops)
    _LOOP_COMPILERS["numpy"] = _numba_loops

_COMPILED: list = []   # every function made by compiled(), for tests that run them all


def compiled(loops: Callable) -> Callable:
    """Pair an Array API function with the same computation written as plain loops.

    ``@compiled(loops)`` on ``fn(xp, *args)``, where ``loops(*args)`` does what ``fn`` does
    with ``for`` loops over array elements (scalars, indexing and ``range`` only): on NumPy
    arrays with the CPU compiler (``xpnet[fast]``) the call runs ``loops`` compiled by Numba,
    one pass through memory; everywhere else ``fn`` runs, and it is the reference the compiled
    loops are tested against. This is for index arithmetic that an elementwise :func:`fuse`
    cannot express, such as adding a convolution's column blocks back onto its input (col2im),
    where NumPy makes one strided pass per kernel tap. Both forms write their results into
    argument arrays and return nothing. Loops the compiler refuses run as ``fn``, with a
    warning, once.
    """
    def wrap(fn):
        def call(xp, *args):
            library = _library(args[0])
            kernel = call.kernels.get(library, _MISSING)
            if kernel is _MISSING:
                with _COMPILE_LOCK:          # slab threads may make the first call together
                    kernel = call.kernels.get(library, _MISSING)
                    if kernel is _MISSING:
                        kernel = call.kernels[library] = _compile_loops(library, loops)
            if kernel is None:
                return fn(xp, *args)
            try:
                kernel(*args)
            except _numba_refusals() as exc:     # typing fails before anything is written
                call.kernels[library] = None
                _warn_refused(library, loops.__name__, exc,
                              f"running {fn.__name__} as array calls", stacklevel=2)
                return fn(xp, *args)
            return None

        functools.update_wrapper(call, fn)
        call.reference, call.loops, call.kernels = fn, loops, {}
        _COMPILED.append(call)
        return call
    return wrap


def _compile_loops(library, loops):
    compile_fn = _LOOP_COMPILERS.get(library)
    if compile_fn is None:
        return None
    try:
        return compile_fn(loops)
    except _numba_refusals() as exc:                # e.g. no source to compile
        _warn_refused(library, loops.__name__, exc, "running the array version", stacklevel=3)
        return None


def compiled_functions() -> list:
    """Every function made by :func:`compiled` (each has ``.reference`` and ``.loops``)."""
    return list(_COMPILED)
