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
    # two arrays once, then one permutation per epoch
    assert calls == [(10, 3), (10,), (10,), (10,)]
    list(DataLoader(ds, batch_size=5, device=device))  # a second loader reuses the copy
    assert len(calls) == 4


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


def test_bad_batch_size_is_a_clear_error():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(ArrayDataset(np.zeros(3)), batch_size=0)


def test_tensors_from_another_device_keep_their_dtype(device):
    x = xpnet.tensor(np.arange(4.0).reshape(4, 1), dtype="float64", device="cpu")
    (batch,) = next(iter(DataLoader(ArrayDataset(x), batch_size=4, device=device)))
    assert batch.device == device and xpnet.backend.dtype_name(batch.dtype) == "float64"
    assert batch.numpy().ravel().tolist() == [0.0, 1.0, 2.0, 3.0]
