"""The training world: one process (identities), or several through xpnet.distributed's
collectives (against the fake two-rank MPI world of tests/distributed, whose partner rank holds
three times this rank's values)."""
import sys

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.data import ArrayDataset, DistributedSampler
from xpnet.train import SingleProcess, TrainingWorld, training_world, world_loader

from ..distributed.fakes import FakeComm, install_fake_mpi


@pytest.fixture
def two_ranks(monkeypatch):
    from xpnet.distributed import world
    for name in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK"):
        monkeypatch.delenv(name, raising=False)
    hook = sys.excepthook
    world._reset()
    comm = FakeComm(rank=0, size=2, partner=lambda x: 3 * x)
    install_fake_mpi(monkeypatch, comm, environ=(("PMI_RANK", "0"), ("PMI_SIZE", "2")))
    world.init()
    yield comm
    world._reset()
    sys.excepthook = hook


def test_one_process_is_a_world_of_identities():
    world = training_world()
    assert isinstance(world, SingleProcess) and world.is_main_process and world.size == 1
    totals = {"loss": 1.5, "count": 8.0}
    assert world.reduce(totals) is totals
    loader = world_loader(ArrayDataset(np.arange(10.0)), 4, shuffle=False)
    assert loader.sampler is None and [b[0].numpy().tolist() for b in loader][-1] == [8.0, 9.0]


def test_a_world_of_two_splits_the_data_by_rank(two_ranks):
    train = world_loader(ArrayDataset(np.arange(10.0)), 2, shuffle=True, seed=3)
    assert isinstance(train.sampler, DistributedSampler)
    assert (train.sampler.rank, train.sampler.num_replicas, train.sampler.seed) == (0, 2, 3)
    test = world_loader(ArrayDataset(np.arange(11.0)), 4, shuffle=False, evaluation=True)
    assert test.sampler == range(0, 6)                  # rank 0's contiguous shard


def test_the_training_world_carries_out_fits_hooks_with_the_collectives(two_ranks):
    world = training_world(bucket_bytes=1024)
    assert isinstance(world, TrainingWorld)
    assert world.is_main_process and (world.rank, world.size) == (0, 2)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    start = [p.numpy().copy() for p in model.parameters()]
    world.start(model)                                  # 4 parameters + 3 buffers from rank 0
    assert [c[0] for c in two_ranks.calls] == ["Bcast"] * 7
    for p, before in zip(model.parameters(), start):    # we are rank 0: unchanged
        np.testing.assert_array_equal(p.numpy(), before)
    for p in model.parameters():
        p.grad = xpnet.ones(*p.shape)
    world.average_gradients(model)
    assert all(p.grad.numpy().tolist() == (2 * np.ones(p.shape)).tolist()
               for p in model.parameters())
    assert world.reduce({"loss": 1.5, "count": 8.0}) == {"loss": 6.0, "count": 32.0}
    world.synchronize_buffers(model)
    assert model[1].running_var.tolist() == [2.0, 2.0]
    world.barrier()
    assert two_ranks.calls[-1] == ("Barrier",)
