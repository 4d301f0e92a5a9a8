import numpy as np
import pytest

import xpnet
from xpnet.data import ArrayDataset, Dataset, TensorDataset


def test_array_dataset_returns_rows_of_every_array():
    X = np.arange(12.0).reshape(6, 2)
    y = np.arange(6)
    ds = ArrayDataset(X, y)
    assert len(ds) == 6
    x5, y5 = ds[5]
    assert x5.tolist() == [10.0, 11.0] and int(y5) == 5
    assert ds[-1][1] == 5


def test_array_dataset_uses_float32_features_and_int64_labels():
    ds = ArrayDataset(np.zeros((3, 2)), np.array([1, 2, 3], dtype=np.uint8))
    assert ds.arrays[0].dtype == np.float32 and ds.arrays[1].dtype == np.int64


def test_array_dataset_keeps_tensors_as_they_are(device):
    x = xpnet.zeros(4, 3, dtype="float64", device=device)
    ds = TensorDataset(x, np.arange(4))
    assert ds.arrays[0] is x and ds[0][0].device == device


def test_array_dataset_rejects_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"same first dimension, got shapes \[\(5, 2\), \(4,\)\]"):
        ArrayDataset(np.zeros((5, 2)), np.zeros(4))


def test_array_dataset_rejects_no_arrays_and_0d_arrays():
    with pytest.raises(ValueError, match="at least one array"):
        ArrayDataset()
    with pytest.raises(ValueError, match="must have a first"):
        ArrayDataset(np.float32(1.0))


@pytest.mark.parametrize("index, error, message", [
    (3, IndexError, r"^ArrayDataset: index must be in \[-3, 3\), got 3$"),
    (-4, IndexError, r"^ArrayDataset: index must be in \[-3, 3\), got -4$"),
    ("0", TypeError, r"^ArrayDataset: index must be an int, got '0' \(str\)$"),
])
def test_array_dataset_refuses_a_bad_index(index, error, message):
    with pytest.raises(error, match=message):
        ArrayDataset(np.zeros(3))[index]


def test_the_base_dataset_must_be_subclassed():
    with pytest.raises(NotImplementedError):
        len(Dataset())
