import collections

import numpy as np
import pytest

from xpnet.data import ArrayDataset, DataLoader, DistributedSampler, EpochSlices, shard
from xpnet.data.sampler import torch_randperm


def test_torch_randperm_draws_pytorchs_permutation_for_every_seed():
    torch = pytest.importorskip("torch")
    for n in (0, 1, 2, 3, 10, 257, 60_000):
        for seed in (0, 1, 42, -5, 2 ** 32 + 7, 2 ** 63 - 1):
            expected = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
            np.testing.assert_array_equal(torch_randperm(n, seed), expected.numpy(),
                                          err_msg=f"n={n} seed={seed}")


def test_torch_randperm_is_a_permutation_without_torch():
    order = torch_randperm(1000, 3)
    assert order.dtype == np.int64 and sorted(order.tolist()) == list(range(1000))
    assert order.tolist() != list(range(1000))


def test_distributed_sampler_gives_pytorchs_indices_and_length():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    for n in (1, 2, 5, 10, 11, 17, 64):
        for world in (1, 2, 3, 4, 7):
            for shuffle in (True, False):
                for drop_last in (False, True):
                    for rank in range(world):
                        ours = DistributedSampler(n, num_replicas=world, rank=rank,
                                                  shuffle=shuffle, seed=5, drop_last=drop_last)
                        theirs = TorchSampler(range(n), num_replicas=world, rank=rank,
                                              shuffle=shuffle, seed=5, drop_last=drop_last)
                        for epoch in (0, 1, 6):
                            ours.set_epoch(epoch)
                            theirs.set_epoch(epoch)
                            where = f"n={n} world={world} rank={rank} shuffle={shuffle} " \
                                    f"drop_last={drop_last} epoch={epoch}"
                            assert list(ours) == list(theirs), where
                            assert len(ours) == len(theirs), where
    del torch


def test_the_ranks_cover_each_epoch_once_with_wrap_around_padding():
    n, world = 11, 4                               # 12 slots: one sample counted twice
    shares = [DistributedSampler(n, world, r, seed=1) for r in range(world)]
    for epoch in (0, 1):
        for s in shares:
            s.set_epoch(epoch)
        everything = [i for s in shares for i in s]
        counts = collections.Counter(everything)
        assert len(everything) == 12 and set(counts) == set(range(n))
        permutation = torch_randperm(n, 1 + epoch).tolist()
        assert [i for i, c in counts.items() if c == 2] == permutation[:1]
        assert all(len(s) == 3 for s in shares)


def test_drop_last_cuts_the_tail_so_no_sample_repeats():
    shares = [list(DistributedSampler(11, 4, r, drop_last=True)) for r in range(4)]
    everything = [i for share in shares for i in share]
    assert len(everything) == 8 and len(set(everything)) == 8
    assert all(len(share) == 2 for share in shares)


def test_the_epoch_changes_the_order_and_the_same_epoch_repeats_it():
    sampler = DistributedSampler(50, 2, 0, seed=0)
    first, again = list(sampler), list(sampler)
    sampler.set_epoch(1)
    assert first == again and list(sampler) != first
    assert sampler.indices().dtype == np.int64


def test_the_world_of_one_is_the_default():
    sampler = DistributedSampler(range(7), shuffle=False)
    assert (sampler.num_replicas, sampler.rank) == (1, 0)
    assert list(sampler) == list(range(7))


@pytest.mark.parametrize("kwargs, kind, message", [
    ({"num_replicas": 2, "rank": 2}, ValueError, r"rank must be in 0\.\.1, got 2"),
    ({"num_replicas": 0, "rank": 0}, ValueError, r"num_replicas must be >= 1, got 0"),
    ({"num_replicas": 2, "rank": 1.0}, TypeError, r"rank must be an int, got float"),
    ({"seed": "1"}, TypeError, r"seed must be an int, got str"),
])
def test_distributed_sampler_rejects_bad_arguments(kwargs, kind, message):
    with pytest.raises(kind, match=rf"DistributedSampler: {message}"):
        DistributedSampler(10, **kwargs)


def test_distributed_sampler_rejects_an_empty_or_unsized_dataset():
    with pytest.raises(ValueError, match=r"DistributedSampler: the dataset must hold at least "
                                         r"one sample, got 0"):
        DistributedSampler([])
    with pytest.raises(TypeError, match=r"dataset must be a sized dataset or a number"):
        DistributedSampler(iter([1, 2]))


def test_shards_are_contiguous_disjoint_and_cover_the_dataset_exactly():
    for n in (1, 2, 3, 10, 11, 100):
        for world in (1, 2, 3, 4, 7):
            shards = [shard(n, world, r) for r in range(world)]
            assert [i for s in shards for i in s] == list(range(n)), (n, world)
            sizes = [len(s) for s in shards]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_shard_defaults_to_the_world_of_one():
    assert shard(5) == range(0, 5)


def test_shard_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match=r"shard: rank must be in 0\.\.2, got 3"):
        shard(10, 3, 3)


def test_epoch_slices_read_consecutive_slices_and_split_them_across_ranks():
    sampler = EpochSlices(6, num_replicas=1, rank=0)
    assert list(sampler) == [0, 1, 2, 3, 4, 5] and len(sampler) == 6
    sampler.set_epoch(2)
    assert list(sampler) == list(range(12, 18))
    second = EpochSlices(6, num_replicas=2, rank=1)
    second.set_epoch(1)
    assert list(second) == [7, 9, 11] and len(second) == 3
    loader = DataLoader(ArrayDataset(np.arange(24.0)), batch_size=3,
                        sampler=EpochSlices(6, num_replicas=1, rank=0))
    loader.set_epoch(1)
    assert [b[0].numpy().tolist() for b in loader] == [[6.0, 7.0, 8.0], [9.0, 10.0, 11.0]]
    with pytest.raises(ValueError, match=r"^EpochSlices: per_epoch must be an int >= 1, got 0$"):
        EpochSlices(0)
