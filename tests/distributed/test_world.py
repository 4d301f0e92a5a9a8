import os
import subprocess
import sys
from pathlib import Path

import pytest

import xpnet
from xpnet import distributed as dist
from xpnet.distributed import world

from .fakes import FakeComm, install_fake_mpi

_LAUNCH = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
           "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS")


@pytest.fixture(autouse=True)
def _not_launched(monkeypatch):
    for name in _LAUNCH:
        monkeypatch.delenv(name, raising=False)


def _without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)   # makes `import mpi4py` fail


def test_importing_xpnet_imports_neither_mpi4py_nor_cupy():
    code = ("import sys, xpnet, xpnet.distributed, xpnet.data; "
            "xpnet.distributed.world_size(); "
            "print(sorted(m for m in ('mpi4py', 'cupy') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_process_not_launched_by_mpiexec_is_a_world_of_one():
    assert not dist.is_initialized()
    w = dist.init()
    assert (w.backend, w.rank, w.size, w.local_rank, w.comm) == ("single", 0, 1, 0, None)
    assert (dist.rank(), dist.world_size(), dist.local_rank()) == (0, 1, 0)
    assert dist.is_initialized() and dist.init() is w
    dist.barrier()
    assert sys.excepthook is sys.__excepthook__ or not getattr(sys.excepthook, "_xpnet_abort",
                                                               False)


def test_rank_initialises_the_world_on_first_use():
    assert dist.rank() == 0 and dist.is_initialized()


@pytest.mark.parametrize("environ, expected", [
    ({"PMI_RANK": "1", "PMI_SIZE": "4"}, ("PMI_RANK", 4)),
    ({"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2"}, ("OMPI_COMM_WORLD_RANK", 2)),
    ({"PMIX_RANK": "3"}, ("PMIX_RANK", None)),
    ({"MV2_COMM_WORLD_RANK": "0", "MV2_COMM_WORLD_SIZE": "8"}, ("MV2_COMM_WORLD_RANK", 8)),
    ({"MPI_LOCALRANKID": "0", "MPI_LOCALNRANKS": "2"}, ("MPI_LOCALRANKID", 2)),
    ({"HOME": "/root"}, None),
])
def test_the_launcher_is_recognised_from_the_environment(environ, expected):
    assert world.launch_environment(environ) == expected


def test_a_multi_rank_launch_without_mpi4py_says_how_to_install_it(monkeypatch):
    _without_mpi4py(monkeypatch)
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"xpnet.distributed: a launch by mpiexec \(PMI_RANK "
                                           r"is set\) needs mpi4py, which is not installed; "
                                           r'pip install "xpnet\[mpi\]"'):
        dist.init()


def test_mpiexec_with_one_rank_and_no_mpi4py_is_a_world_of_one(monkeypatch):
    _without_mpi4py(monkeypatch)
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setenv("PMI_SIZE", "1")
    assert dist.init().size == 1


def test_asking_for_mpi_without_mpi4py_is_a_clear_error(monkeypatch):
    _without_mpi4py(monkeypatch)
    dist.world_size()                     # an implicit world of one first ...
    with pytest.raises(RuntimeError, match=r"backend='mpi' needs mpi4py, which is not "
                                           r"installed; pip install"):
        dist.init("mpi")                  # ... then MPI, explicitly


def test_init_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match=r"init: backend must be None, 'mpi' or 'nccl', got "
                                         r"'gloo'"):
        dist.init("gloo")


def test_under_mpiexec_the_world_comes_from_mpi(monkeypatch):
    comm = FakeComm(rank=1, size=2, local_rank=1)
    install_fake_mpi(monkeypatch, comm)
    w = dist.init()
    assert (w.backend, dist.rank(), dist.world_size(), dist.local_rank()) == ("mpi", 1, 2, 1)
    dist.barrier()
    assert comm.calls == [("Barrier",)]


def test_an_uncaught_exception_prints_its_traceback_and_aborts_every_rank(monkeypatch,
                                                                           capsys):
    comm = FakeComm(rank=1, size=2)
    install_fake_mpi(monkeypatch, comm)
    dist.init()
    try:
        raise ValueError("a bad batch on rank 1")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    err = capsys.readouterr().err
    assert comm.aborted == 1
    assert "xpnet.distributed: rank 1 of 2 raised; aborting the job" in err
    assert "ValueError: a bad batch on rank 1" in err and "Traceback" in err


def test_a_world_of_one_keeps_the_usual_excepthook(monkeypatch):
    install_fake_mpi(monkeypatch, FakeComm(rank=0, size=1), environ=(("PMI_RANK", "0"),))
    assert dist.init().size == 1
    assert not getattr(sys.excepthook, "_xpnet_abort", False)


def test_each_rank_picks_the_gpu_of_its_local_rank(monkeypatch):
    install_fake_mpi(monkeypatch, FakeComm(rank=3, size=4, local_rank=1))
    monkeypatch.setattr(world, "_visible_gpus", lambda flag: 2)
    assert dist.local_device("cuda") == "cuda:1"
    assert dist.local_device("torch:cuda") == "torch:cuda:1"
    assert dist.local_device("cuda:0") == "cuda:0"          # an explicit choice is kept
    assert dist.local_device("cpu") == "cpu"


def test_ranks_beyond_the_visible_gpus_wrap_around(monkeypatch):
    install_fake_mpi(monkeypatch, FakeComm(rank=1, size=2, local_rank=1))
    monkeypatch.setattr(world, "_visible_gpus", lambda flag: 1)   # one GPU per rank
    assert dist.local_device("cuda") == "cuda:0"


def test_ranks_on_one_machine_share_its_cores_unless_a_thread_count_is_set(monkeypatch):
    set_to = []
    monkeypatch.setattr(xpnet.cpu, "set_num_threads", set_to.append)
    assert world.share_cores(2, environ={}, cores=8) == 4 and set_to == [4]
    assert world.share_cores(3, environ={}, cores=2) == 1 and set_to == [4, 1]
    assert world.share_cores(1, environ={}, cores=8) is None           # a rank alone: all cores
    for name in ("XPNET_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        assert world.share_cores(2, environ={name: "2"}, cores=8) is None
    assert set_to == [4, 1]


def test_under_mpiexec_each_rank_gets_its_share_of_the_cores(monkeypatch):
    for name in ("XPNET_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    set_to = []
    monkeypatch.setattr(xpnet.cpu, "set_num_threads", set_to.append)
    monkeypatch.setattr(world.os, "cpu_count", lambda: 4)
    install_fake_mpi(monkeypatch, FakeComm(rank=1, size=2, local_rank=1))
    assert dist.init().blas_threads == 2 and set_to == [2]
