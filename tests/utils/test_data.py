import numpy as np
import pytest

import xpnet
from xpnet.utils.data import (BatchSampler, DataLoader, RandomSampler, SequentialSampler,
                              Subset, SubsetRandomSampler, TensorDataset, random_split)


def _dataset(n=10):
    return TensorDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n))


def test_random_split_gives_disjoint_subsets_covering_the_dataset():
    parts = random_split(_dataset(), [3, 7], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))


def test_random_split_takes_fractions_with_pytorchs_rounding():
    torch = pytest.importorskip("torch")
    for fractions in ([0.8, 0.2], [0.34, 0.33, 0.33], [0.5, 0.5]):
        mine = [len(p) for p in random_split(_dataset(), fractions)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(10), fractions)]
        assert mine == theirs


def test_random_split_refuses_lengths_that_do_not_add_up():
    with pytest.raises(ValueError, match="random_split: the lengths \\[3, 3\\] sum to 6, but the "
                                         "dataset has 10 samples"):
        random_split(_dataset(), [3, 3])


def test_a_subset_loads_on_every_device_with_a_subset_random_sampler(device):
    ds = _dataset()
    train = Subset(ds, [1, 3, 5, 7])
    assert train[1][1] == 3
    batches = list(DataLoader(train, batch_size=3, device=device))
    assert [b[1].tolist() for b in batches] == [[1, 3, 5], [7]]
    assert batches[0][0].device == device and batches[0][0].dtype == xpnet.float32
    loader = DataLoader(ds, batch_size=4, device=device, sampler=SubsetRandomSampler([0, 2, 4, 6]))
    first = [t for _, y in loader for t in y.tolist()]
    second = [t for _, y in loader for t in y.tolist()]
    assert sorted(first) == sorted(second) == [0, 2, 4, 6] and len(loader) == 1


def test_samplers_follow_pytorchs_rules():
    torch = pytest.importorskip("torch")
    data = range(7)
    assert list(SequentialSampler(data)) == list(torch.utils.data.SequentialSampler(data))
    assert sorted(RandomSampler(data)) == list(range(7)) and len(RandomSampler(data)) == 7
    drawn = list(RandomSampler(data, replacement=True, num_samples=20))
    assert len(drawn) == 20 and all(0 <= i < 7 for i in drawn)
    for drop_last in (False, True):
        mine = list(BatchSampler(SequentialSampler(data), 3, drop_last))
        theirs = list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(data), 3,
                                                    drop_last))
        assert mine == theirs and len(BatchSampler(range(7), 3, drop_last)) == len(theirs)


def test_a_sampler_and_shuffle_are_refused_together_as_in_pytorch():
    with pytest.raises(ValueError, match="sampler and shuffle=True are mutually exclusive"):
        DataLoader(_dataset(), shuffle=True, sampler=SubsetRandomSampler([0]))


def test_a_bad_generator_is_refused():
    with pytest.raises(TypeError, match="RandomSampler: generator must be None"):
        RandomSampler(range(3), generator=42)
