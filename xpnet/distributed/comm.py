"""Communicators, picked by device: MPI on host buffers, NCCL on CuPy buffers, the identity.

Each has ``all_reduce(array)`` (a sum over the ranks) and ``broadcast(array, src)``, taking and
returning raw arrays of one library: the result is the same array, reduced in place, wherever
the engine can write into it (contiguous NumPy arrays, CuPy arrays), and a new array of the same
library otherwise.
"""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from . import world as _world
from .world import World, local_device, world

__all__ = ["communicator", "HostCommunicator", "NcclCommunicator", "nccl_communicator",
           "IDENTITY"]


class _Identity:
    """A world of one: every collective returns its input."""

    def all_reduce(self, array):
        return array

    def broadcast(self, array, src=0):
        return array

    def __repr__(self):
        return "IdentityCommunicator()"


IDENTITY = _Identity()


def _host_buffer(array):
    """A contiguous, writable NumPy array holding ``array``'s values, and whether it *is*
    ``array`` (then MPI writes the result straight into the caller's memory)."""
    if isinstance(array, np.ndarray) and array.flags.c_contiguous and array.flags.writeable:
        return array, True
    return np.array(_backend.to_numpy(array), order="C", copy=True), False


class HostCommunicator:
    """MPI (mpi4py's buffer interface) over host memory, for cpu, strict and torch arrays.

    NumPy arrays are reduced in place; arrays of other libraries travel through one NumPy copy
    each way (free for array-api-strict and PyTorch on the CPU, a device copy for torch:cuda).
    """

    def __init__(self, comm, mpi):
        self.comm, self.mpi = comm, mpi

    def all_reduce(self, array):
        host, shared = _host_buffer(array)
        self.comm.Allreduce(self.mpi.IN_PLACE, host, op=self.mpi.SUM)
        return host if shared else _backend.backend_of(array).asarray(host)

    def broadcast(self, array, src=0):
        host, shared = _host_buffer(array)
        self.comm.Bcast(host, root=src)
        return host if shared else _backend.backend_of(array).asarray(host)

    def __repr__(self):
        return f"HostCommunicator(size={self.comm.Get_size()})"


# CuPy dtype name -> the name of NCCL's constant in cupy.cuda.nccl
_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
               "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32",
               "uint32": "NCCL_UINT32", "int64": "NCCL_INT64", "uint64": "NCCL_UINT64"}


def import_nccl():
    """``cupy.cuda.nccl``, or a RuntimeError that says how to install NCCL."""
    hint = ('device \'cuda\' in a distributed job needs NCCL, which CuPy cannot load{}; '
            'pip install "xpnet[cuda]" (it brings nvidia-nccl-cu13)')
    try:
        from cupy.cuda import nccl
    except ImportError as exc:
        raise RuntimeError("xpnet.distributed: " + hint.format(f" ({exc})")) from None
    if not getattr(nccl, "available", True):   # CuPy >= 13 imports the module without NCCL
        raise RuntimeError("xpnet.distributed: " + hint.format(""))
    return nccl


class NcclCommunicator:
    """NCCL over CuPy device buffers: one communicator per rank and GPU, bootstrapped by MPI.

    Rank 0 draws NCCL's unique id and MPI broadcasts it; every rank then joins with
    ``NcclCommunicator(world_size, uid, rank)`` on its own GPU. Collectives are enqueued on
    CuPy's current stream, in order with the kernels around them, so nothing waits on the
    host.
    """

    def __init__(self, world: World, device_index: int, nccl=None, cupy=None):
        if cupy is None:
            import cupy
        self.nccl = nccl if nccl is not None else import_nccl()
        self.cupy, self.device_index, self.size = cupy, device_index, world.size
        uid = self.nccl.get_unique_id() if world.rank == 0 else None
        if world.size > 1:
            uid = world.comm.bcast(uid, root=0)
        try:
            with cupy.cuda.Device(device_index):
                self.comm = self.nccl.NcclCommunicator(world.size, uid, world.rank)
        except Exception as exc:
            raise RuntimeError(
                f"xpnet.distributed: rank {world.rank} could not join NCCL on cuda:"
                f"{device_index} ({type(exc).__name__}: {exc}); every rank needs a GPU of its "
                f"own: pick it with xpnet.distributed.local_device('cuda')") from exc

    def _prepare(self, name, array):
        dtype = _backend.dtype_name(array.dtype)
        if dtype not in _NCCL_TYPES:
            raise TypeError(f"{name}: NCCL cannot carry dtype {dtype}; expected one of "
                            f"{sorted(_NCCL_TYPES)}")
        if array.device.id != self.device_index:
            raise ValueError(f"{name}: the array is on cuda:{array.device.id}, but this rank's "
                             f"NCCL communicator is on cuda:{self.device_index}")
        if not array.flags.c_contiguous:
            array = self.cupy.ascontiguousarray(array)
        return array, getattr(self.nccl, _NCCL_TYPES[dtype])

    def all_reduce(self, array):
        array, dtype = self._prepare("all_reduce", array)
        with self.cupy.cuda.Device(self.device_index):
            stream = self.cupy.cuda.get_current_stream().ptr
            self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, dtype,
                                self.nccl.NCCL_SUM, stream)
        return array

    def broadcast(self, array, src=0):
        array, dtype = self._prepare("broadcast", array)
        with self.cupy.cuda.Device(self.device_index):
            stream = self.cupy.cuda.get_current_stream().ptr
            self.comm.bcast(array.data.ptr, array.size, dtype, src, stream)
        return array

    def __repr__(self):
        return f"NcclCommunicator(size={self.size}, device='cuda:{self.device_index}')"


def nccl_communicator(w: World, device) -> NcclCommunicator:
    """This rank's NCCL communicator for ``device`` (a CuPy device flag or Backend), made on
    first use; every rank must reach this point together, as for any collective."""
    backend = _backend.resolve(device)
    if backend.library != "cupy":
        raise ValueError(f"xpnet.distributed: NCCL serves CuPy devices ('cuda:N'), got "
                         f"'{backend.name}'")
    index = backend.device.id
    found = w.nccl.get(index)
    if found is None:
        found = w.nccl[index] = NcclCommunicator(w, index)
    return found


def communicator(backend):
    """The communicator for arrays of ``backend``: NCCL for CuPy (in a world larger than one,
    or whenever ``init('nccl')`` asked for it), MPI for every other library, the identity in a
    world of one."""
    w = world()
    if backend.library == "cupy" and (w.size > 1 or w.nccl_requested):
        return nccl_communicator(w, backend)
    if w.size == 1:
        return IDENTITY
    if w.host is None:
        w.host = HostCommunicator(w.comm, w.mpi)
    return w.host


def init(backend: str | None = None) -> World:
    """:func:`xpnet.distributed.world.init`, and with ``backend='nccl'`` this rank's NCCL
    communicator made at once (on ``cuda:{local_rank}``), as ``torch.distributed`` does."""
    w = _world.init(backend)
    if backend == "nccl":
        nccl_communicator(w, local_device("cuda"))
    return w


init.__doc__ = (_world.init.__doc__ or "") + "\n" + init.__doc__
