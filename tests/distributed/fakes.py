"""Stand-ins for mpi4py and cupy.cuda.nccl, to test in one process what a real job does.

``FakeComm`` plays rank ``rank`` of ``size`` ranks whose partners all hold ``partner(x)`` of
whatever this rank holds: an allreduce returns ``x + (size - 1)·partner(x)`` and a broadcast
from another rank returns ``partner(x)``; every call is recorded.
"""
import types

import numpy as np


class FakeComm:
    def __init__(self, rank=1, size=2, partner=lambda x: 3 * x, local_rank=None):
        self.rank, self.size, self.partner = rank, size, partner
        self.local_rank = rank if local_rank is None else local_rank
        self.calls = []
        self.aborted = None

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Split_type(self, kind):
        node = FakeComm(self.local_rank, self.size)
        node.Free = lambda: None
        return node

    def Allreduce(self, sendbuf, recvbuf, op=None):
        assert sendbuf is FakeMPI.IN_PLACE and op is FakeMPI.SUM
        assert isinstance(recvbuf, np.ndarray) and recvbuf.flags.c_contiguous
        self.calls.append(("Allreduce", recvbuf.dtype.name, recvbuf.shape))
        recvbuf[...] = recvbuf + (self.size - 1) * self.partner(recvbuf)

    def Bcast(self, buf, root=0):
        assert isinstance(buf, np.ndarray) and buf.flags.c_contiguous
        self.calls.append(("Bcast", buf.dtype.name, buf.shape, root))
        if root != self.rank:
            buf[...] = self.partner(buf)

    def bcast(self, obj, root=0):
        self.calls.append(("bcast", obj, root))
        return obj if root == self.rank else ("from rank", root)

    def Barrier(self):
        self.calls.append(("Barrier",))

    def Abort(self, code):
        self.aborted = code


class FakeMPI(types.ModuleType):
    IN_PLACE = object()
    SUM = object()
    COMM_TYPE_SHARED = 1

    def __init__(self, comm):
        super().__init__("mpi4py.MPI")
        self.COMM_WORLD = comm


def install_fake_mpi(monkeypatch, comm, environ=(("PMI_RANK", "1"), ("PMI_SIZE", "2"))):
    """Make ``from mpi4py import MPI`` give ``FakeMPI(comm)`` and pretend mpiexec started us."""
    package = types.ModuleType("mpi4py")
    package.MPI = FakeMPI(comm)
    monkeypatch.setitem(__import__("sys").modules, "mpi4py", package)
    monkeypatch.setitem(__import__("sys").modules, "mpi4py.MPI", package.MPI)
    for name, value in environ:
        monkeypatch.setenv(name, value)
    return package.MPI


# -- NCCL over CuPy -------------------------------------------------------------------------

class FakeDeviceArray:
    """What the NCCL communicator reads of a CuPy array."""

    def __init__(self, size=6, dtype="float32", device=0, contiguous=True, ptr=4096):
        self.size, self.dtype = size, np.dtype(dtype)
        self.device = types.SimpleNamespace(id=device)
        self.flags = types.SimpleNamespace(c_contiguous=contiguous)
        self.data = types.SimpleNamespace(ptr=ptr)


class FakeCupy:
    """cupy.cuda.Device (records the device current during each NCCL call), the current
    stream, and ascontiguousarray."""

    def __init__(self):
        self.current = []
        self.made_contiguous = []
        cupy = self

        class Device:
            def __init__(self, index):
                self.index = index

            def __enter__(self):
                cupy.current.append(self.index)

            def __exit__(self, *exc):
                cupy.current.pop()

        self.cuda = types.SimpleNamespace(
            Device=Device, get_current_stream=lambda: types.SimpleNamespace(ptr=777))

    def ascontiguousarray(self, array):
        copy = FakeDeviceArray(array.size, array.dtype.name, array.device.id, True, ptr=8192)
        self.made_contiguous.append(copy)
        return copy


def fake_nccl(cupy, fail=None):
    """A cupy.cuda.nccl stand-in whose communicators record (call, args, current device)."""
    module = types.SimpleNamespace(
        NCCL_SUM=0, NCCL_FLOAT16=6, NCCL_FLOAT32=7, NCCL_FLOAT64=8, NCCL_INT8=0,
        NCCL_UINT8=1, NCCL_INT32=2, NCCL_UINT32=3, NCCL_INT64=4, NCCL_UINT64=5,
        available=True, unique_ids=[], made=[])

    def get_unique_id():
        module.unique_ids.append(b"nccl-unique-id")
        return b"nccl-unique-id"

    class NcclCommunicator:
        def __init__(self, ndev, uid, rank):
            if fail is not None:
                raise fail
            self.args, self.device, self.calls = (ndev, uid, rank), cupy.current[-1], []
            module.made.append(self)

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
            self.calls.append(("allReduce", sendbuf, recvbuf, count, datatype, op, stream,
                               cupy.current[-1]))

        def bcast(self, buff, count, datatype, root, stream):
            self.calls.append(("bcast", buff, count, datatype, root, stream, cupy.current[-1]))

    module.get_unique_id = get_unique_id
    module.NcclCommunicator = NcclCommunicator
    return module
