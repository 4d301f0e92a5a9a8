import numpy as np
import pytest

import xpnet
from xpnet.data import ArrayDataset, DataLoader, Dataset


def _data(n=10):
    X = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    return X, np.arange(n)


def test_batches_are_tensors_on_the_device_with_float32_and_int64(device):
    loader = DataLoader(ArrayDataset(*_data()), batch_size=4, device=device)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    for x, y in batches:
        assert isinstance(x, xpnet.Tensor) and x.device == device and y.device == device
        assert xpnet.backend.dtype_name(x.dtype) == "float32"
        assert xpnet.backend.dtype_name(y.dtype) == "int64"
    assert np.concatenate([y.numpy() for _, y in batches]).tolist() == list(range(10))
    assert batches[1][0].numpy()[0].tolist() == [12.0, 13.0, 14.0]


def test_drop_last_skips_the_short_batch(device):
    loader = DataLoader(ArrayDataset(*_data()), batch_size=4, drop_last=True, device=device)
    assert len(loader) == 2
    assert [x.shape[0] for x, _ in loader] == [4, 4]


def test_shuffle_visits_every_sample_once_per_epoch_and_epochs_differ(device):
    X, y = _data(23)
    loader = DataLoader(ArrayDataset(X, y), batch_size=5, shuffle=True, seed=3, device=device)
    orders = []
    for _ in range(2):
        labels, rows = [], []
        for x, t in loader:
            labels.append(t.numpy())
            rows.append(x.numpy())
        order = np.concatenate(labels)
        assert sorted(order.tolist()) == list(range(23))
        np.testing.assert_array_equal(np.concatenate(rows), X[order].astype(np.float32))
        orders.append(order.tolist())
    assert orders[0] != orders[1] and orders[0] != list(range(23))


def test_the_same_seed_gives_the_same_batch_order_on_every_device():
    X, y = _data(50)
    orders = {}
    for flag in ("cpu", "strict", "torch"):
        try:
            name = xpnet.device(flag).name
        except RuntimeError:
            continue
        loader = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True, seed=42, device=name)
        orders[flag] = [[t.numpy().tolist() for _, t in loader] for _epoch in range(2)]
    assert len(orders) >= 2
    first = orders["cpu"]
    assert all(o == first for o in orders.values())


def test_without_a_seed_the_order_follows_manual_seed():
    ds = ArrayDataset(*_data(30))

    def order():
        return [t.numpy().tolist() for _, t in DataLoader(ds, batch_size=30, shuffle=True)]
    xpnet.manual_seed(7)
    a = order()
    xpnet.manual_seed(7)
    assert order() == a


def test_the_arrays_are_copied_to_the_device_once(device, monkeypatch):
    ds = ArrayDataset(*_data())
    backend = xpnet.device(device)
    calls = []
    original = type(backend).asarray

    def counting(self, host, dtype=None):
        calls.append(np.shape(host))
        return original(self, host, dtype)
    monkeypatch.setattr(type(backend), "asarray", counting)
    loader = DataLoader(ds, batch_size=3, shuffle=True, seed=0, device=device)
    for _ in range(2):
        list(loader)
    # two arrays once (on 'cpu' the NumPy arrays themselves), then one permutation per epoch
    copies = [] if device == "cpu" else [(10, 3), (10,)]
    assert calls == copies + [(10,), (10,)]
    list(DataLoader(ds, batch_size=5, device=device))  # a second loader reuses the copy
    assert len(calls) == len(copies) + 2


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_batch_is_never_a_view_of_the_data(device, shuffle):
    X, y = _data()
    ds = ArrayDataset(X.astype(np.float32), y)
    loader = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=0, device=device)

    def epoch():     # the epoch's rows, in the data's order (shuffled epochs differ in order)
        rows = np.concatenate([b.numpy() for b, _ in loader])
        return rows[np.argsort(rows[:, 0])]
    with xpnet.no_grad():
        for batch, _ in loader:
            batch.mul_(0.0)
    np.testing.assert_array_equal(epoch(), X.astype(np.float32))
    np.testing.assert_array_equal(ds.arrays[0], X.astype(np.float32))


def test_on_the_cpu_the_data_is_read_where_it_is_not_copied():
    import tracemalloc
    X = np.ones((4096, 512), np.float32)                 # 8 MB
    loader = DataLoader(ArrayDataset(X, np.zeros(4096, np.int64)), batch_size=64, shuffle=True,
                        seed=0, device="cpu")
    tracemalloc.start()
    try:
        for _ in loader:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20      # batches of 128 kB and the permutation, no 8 MB copy


def test_a_tensor_dataset_already_on_the_device_is_not_copied(device, monkeypatch):
    x = xpnet.tensor(np.ones((6, 2)), device=device)
    backend = xpnet.device(device)
    monkeypatch.setattr(type(backend), "asarray", lambda *a, **k: pytest.fail("copied"))
    (batch,) = next(iter(DataLoader(ArrayDataset(x), batch_size=4, device=device)))
    assert batch.shape == (4, 2) and batch.device == device


class Squares(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float64), i


def test_a_generic_dataset_is_collated_on_the_host(device):
    loader = DataLoader(Squares(), batch_size=3, shuffle=True, seed=1, device=device)
    assert len(loader) == 3
    seen = []
    for x, y in loader:
        assert x.device == device and xpnet.backend.dtype_name(x.dtype) == "float32"
        assert xpnet.backend.dtype_name(y.dtype) == "int64"
        np.testing.assert_array_equal(x.numpy()[:, 1], y.numpy() ** 2)
        seen += y.numpy().tolist()
    assert sorted(seen) == list(range(7))


@pytest.mark.parametrize("batch_size, error, message", [
    (0, ValueError, r"^DataLoader: batch_size must be a positive int, got 0$"),
    (-2, ValueError, r"^DataLoader: batch_size must be a positive int, got -2$"),
    ("4", TypeError, r"^DataLoader: batch_size must be a positive int, got '4' \(str\)$"),
    (2.0, TypeError, r"^DataLoader: batch_size must be a positive int, got 2.0 \(float\)$"),
    (True, TypeError, r"^DataLoader: batch_size must be a positive int, got True \(bool\)$"),
])
def test_bad_batch_size_is_a_clear_error(batch_size, error, message):
    with pytest.raises(error, match=message):
        DataLoader(ArrayDataset(np.zeros(3)), batch_size=batch_size)


def test_tensors_from_another_device_keep_their_dtype(device):
    x = xpnet.tensor(np.arange(4.0).reshape(4, 1), dtype="float64", device="cpu")
    (batch,) = next(iter(DataLoader(ArrayDataset(x), batch_size=4, device=device)))
    assert batch.device == device and xpnet.backend.dtype_name(batch.dtype) == "float64"
    assert batch.numpy().ravel().tolist() == [0.0, 1.0, 2.0, 3.0]


# -- samplers ---------------------------------------------------------------------------------

def test_a_distributed_sampler_gives_exactly_its_indices_as_device_batches(device):
    from xpnet.data import DistributedSampler
    X, y = _data(23)
    sampler = DistributedSampler(23, num_replicas=3, rank=1, seed=4)
    loader = DataLoader(ArrayDataset(X, y), batch_size=3, sampler=sampler, device=device)
    expected = list(sampler)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and [t.shape[0] for _, t in batches] == [3, 3, 2]
    assert all(x.device == device for x, _ in batches)
    labels = np.concatenate([t.numpy() for _, t in batches])
    assert labels.tolist() == expected
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in batches]),
                                  X[expected].astype(np.float32))


def test_the_loader_moves_its_sampler_on_an_epoch_per_pass_and_forwards_set_epoch():
    from xpnet.data import DistributedSampler
    X, y = _data(40)
    sampler = DistributedSampler(40, num_replicas=2, rank=0, seed=9)
    loader = DataLoader(ArrayDataset(X, y), batch_size=8, sampler=sampler)

    def labels():
        return np.concatenate([t.numpy() for _, t in loader]).tolist()

    def epoch(e):
        reference = DistributedSampler(40, num_replicas=2, rank=0, seed=9)
        reference.set_epoch(e)
        return list(reference)

    assert labels() == epoch(0) and labels() == epoch(1)   # consecutive passes advance
    loader.set_epoch(5)                                    # as fit() does: 5 epochs done
    assert labels() == epoch(5)
    sampler.set_epoch(2)                                   # PyTorch's idiom still works
    assert labels() == epoch(2)


def test_a_shard_sampler_batches_contiguous_slices_and_the_shards_add_up(device):
    from xpnet.data import shard
    X, y = _data(10)
    seen = []
    for rank in range(3):
        loader = DataLoader(ArrayDataset(X, y), batch_size=3, sampler=shard(10, 3, rank),
                            device=device)
        batches = list(loader)
        assert len(loader) == len(batches)
        seen += np.concatenate([t.numpy() for _, t in batches]).tolist()
        for x, t in batches:
            np.testing.assert_array_equal(x.numpy(), X[t.numpy()].astype(np.float32))
    assert seen == list(range(10))


def test_a_sampler_works_on_a_dataset_of_samples_too():
    class Squares(Dataset):
        def __len__(self):
            return 9

        def __getitem__(self, i):
            return np.float32(i), np.int64(i * i)

    loader = DataLoader(Squares(), batch_size=2, sampler=[8, 1, 4])
    assert len(loader) == 2
    assert [t.numpy().tolist() for _, t in loader] == [[64, 1], [16]]


def test_the_epochs_index_array_goes_to_the_device_once(monkeypatch):
    from xpnet.data import DistributedSampler
    X, y = _data(64)
    loader = DataLoader(ArrayDataset(X, y), batch_size=4,
                        sampler=DistributedSampler(64, 2, 0), device="cpu")
    list(loader)   # the dataset's arrays are now on the device
    backend = type(xpnet.device("cpu"))
    copies = []
    original = backend.asarray
    monkeypatch.setattr(backend, "asarray", lambda self, *a, **k: copies.append(a[0].shape)
                        or original(self, *a, **k))
    assert len(list(loader)) == 8
    assert copies == [(32,)]


def test_a_sampler_with_shuffle_is_rejected():
    with pytest.raises(ValueError, match=r"DataLoader: sampler and shuffle=True are mutually "
                                         r"exclusive"):
        DataLoader(ArrayDataset(*_data()), batch_size=2, shuffle=True, sampler=range(10))
    with pytest.raises(TypeError, match=r"DataLoader: sampler must be an iterable of indices "
                                        r"with a length, got int"):
        DataLoader(ArrayDataset(*_data()), batch_size=2, sampler=3)


def test_a_sampler_index_outside_the_dataset_is_an_error():
    loader = DataLoader(ArrayDataset(*_data(10)), batch_size=2, sampler=[0, 10])
    with pytest.raises(IndexError, match=r"^DataLoader: the sampler's indices must be in "
                                         r"\[0, 10\), got values from 0 to 10$"):
        list(loader)
