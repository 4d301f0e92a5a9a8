"""The communicators: routing by device, and the NCCL path against a stand-in for
cupy.cuda.nccl (the real one needs GPUs: see test_multiprocess.py's gpu test)."""
import sys
import types

import numpy as np
import pytest

import xpnet
from xpnet import distributed as dist
from xpnet.backend import Backend
from xpnet.distributed import comm
from xpnet.distributed.world import World

from .fakes import FakeComm, FakeCupy, FakeDeviceArray, FakeMPI, fake_nccl


def _world(rank=1, size=2):
    return World("mpi", rank, size, rank, comm=FakeComm(rank, size), mpi=None)


def _nccl(rank=1, size=2, device=0, fail=None):
    cupy = FakeCupy()
    nccl = fake_nccl(cupy, fail)
    return comm.NcclCommunicator(_world(rank, size), device, nccl=nccl, cupy=cupy), nccl, cupy


def test_rank_0_draws_the_nccl_id_and_mpi_hands_it_to_the_others():
    root, nccl, _ = _nccl(rank=0)
    assert nccl.unique_ids == [b"nccl-unique-id"]
    assert root.comm.args == (2, b"nccl-unique-id", 0)
    other, nccl, _ = _nccl(rank=1, device=1)
    assert nccl.unique_ids == []                              # only rank 0 draws one
    assert other.comm.args == (2, ("from rank", 0), 1)        # what MPI's bcast delivered
    assert other.comm.device == 1                             # joined on its own GPU


def test_a_world_of_one_gpu_needs_no_mpi_for_its_nccl_id():
    world = World("nccl", 0, 1, 0, comm=None)
    cupy = FakeCupy()
    communicator = comm.NcclCommunicator(world, 0, nccl=fake_nccl(cupy), cupy=cupy)
    assert communicator.comm.args == (1, b"nccl-unique-id", 0)


def test_nccl_all_reduce_sums_in_place_on_the_current_stream_of_the_arrays_gpu():
    communicator, nccl, _ = _nccl(device=1)
    array = FakeDeviceArray(size=6, dtype="float32", device=1, ptr=4096)
    assert communicator.all_reduce(array) is array
    assert communicator.comm.calls == [("allReduce", 4096, 4096, 6, nccl.NCCL_FLOAT32,
                                        nccl.NCCL_SUM, 777, 1)]


def test_nccl_broadcast_sends_the_roots_buffer_in_place():
    communicator, nccl, _ = _nccl()
    array = FakeDeviceArray(size=3, dtype="float64", ptr=512)
    assert communicator.broadcast(array, src=1) is array
    assert communicator.comm.calls == [("bcast", 512, 3, nccl.NCCL_FLOAT64, 1, 777, 0)]


def test_a_non_contiguous_array_is_copied_before_nccl_reads_it():
    communicator, _, cupy = _nccl()
    result = communicator.all_reduce(FakeDeviceArray(contiguous=False, dtype="int64"))
    assert result is cupy.made_contiguous[0] and communicator.comm.calls[0][1] == 8192


def test_nccl_rejects_dtypes_it_cannot_carry_and_arrays_on_another_gpu():
    communicator, _, _ = _nccl(device=0)
    with pytest.raises(TypeError, match=r"all_reduce: NCCL cannot carry dtype bool"):
        communicator.all_reduce(FakeDeviceArray(dtype="bool"))
    with pytest.raises(ValueError, match=r"broadcast: the array is on cuda:1, but this rank's "
                                         r"NCCL communicator is on cuda:0"):
        communicator.broadcast(FakeDeviceArray(device=1))


def test_a_rank_that_cannot_join_nccl_is_told_to_use_its_own_gpu():
    with pytest.raises(RuntimeError, match=r"rank 1 could not join NCCL on cuda:0 "
                                           r"\(RuntimeError: duplicate GPU\); every rank needs "
                                           r"a GPU of its own"):
        _nccl(fail=RuntimeError("duplicate GPU"))


def test_cuda_without_nccl_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.delitem(sys.modules, "cupy.cuda", raising=False)
    with pytest.raises(RuntimeError, match=r"device 'cuda' in a distributed job needs NCCL, "
                                           r"which CuPy cannot load .*pip install "
                                           r'"xpnet\[cuda\]" \(it brings nvidia-nccl-cu13\)'):
        comm.import_nccl()
    cuda = types.ModuleType("cupy.cuda")
    cuda.nccl = types.SimpleNamespace(available=False)
    cupy = types.ModuleType("cupy")
    cupy.cuda = cuda
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cuda)
    with pytest.raises(RuntimeError, match=r"needs NCCL, which CuPy cannot load; pip install"):
        comm.import_nccl()


# -- routing ----------------------------------------------------------------------------------

class _Gpu:
    id = 0


_CUDA = Backend("cuda:0", "cupy", None, _Gpu())


@pytest.fixture
def made(monkeypatch):
    """NcclCommunicator replaced by a recorder of (world size, GPU index)."""
    calls = []

    class Recorder:
        def __init__(self, world, index):
            calls.append((world.size, index))

    monkeypatch.setattr(comm, "NcclCommunicator", Recorder)
    return calls


def _install(monkeypatch, world):
    monkeypatch.setattr(dist.world, "_WORLD", [world])


def test_cupy_arrays_go_to_nccl_and_the_others_to_mpi_in_a_world_of_two(monkeypatch, made):
    world = _world(rank=0)
    _install(monkeypatch, world)
    gpu = comm.communicator(_CUDA)
    assert comm.communicator(_CUDA) is gpu and made == [(2, 0)]   # made once, then kept
    host = comm.communicator(xpnet.device("cpu"))
    assert isinstance(host, comm.HostCommunicator)
    assert comm.communicator(xpnet.device("strict")) is host


def test_a_world_of_one_uses_no_engine_unless_nccl_was_asked_for(monkeypatch, made):
    world = World("single")
    _install(monkeypatch, world)
    assert comm.communicator(_CUDA) is comm.IDENTITY
    assert comm.communicator(xpnet.device("cpu")) is comm.IDENTITY
    world.nccl_requested = True
    assert comm.communicator(_CUDA) is not comm.IDENTITY and made == [(1, 0)]


def test_nccl_serves_cupy_devices_only():
    with pytest.raises(ValueError, match=r"NCCL serves CuPy devices \('cuda:N'\), got 'cpu'"):
        comm.nccl_communicator(World("single"), "cpu")


def test_the_host_communicator_reduces_numpy_in_place_and_copies_other_libraries(device):
    host = comm.HostCommunicator(FakeComm(rank=0, size=2, partner=lambda x: x), FakeMPI(None))
    array = xpnet.tensor([[1.0, 2.0], [3.0, 4.0]], device=device).array
    result = host.all_reduce(array)
    assert xpnet.backend.backend_of(result) == device
    assert xpnet.backend.to_numpy(result).tolist() == [[2.0, 4.0], [6.0, 8.0]]
    assert (result is array) == (device == "cpu")
    strided = np.arange(6.0)[::2]                   # not contiguous: reduced in a copy
    assert host.all_reduce(strided).tolist() == [0.0, 4.0, 8.0] and strided[1] == 2.0

