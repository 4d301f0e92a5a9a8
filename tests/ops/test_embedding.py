import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

IDS = np.array([[0, 3, 3], [4, 0, 1]])


def test_embedding_gathers_rows_like_numpy_indexing(device):
    weight = random_inputs(device, (5, 4))[0]
    ids = xpnet.tensor(IDS, device=device)
    y = F.embedding(ids, weight)
    assert y.shape == (2, 3, 4)
    assert_close(y, weight.numpy()[IDS])


def test_embedding_gradient_adds_up_repeated_ids_like_np_add_at(device):
    weight = random_inputs(device, (5, 4))[0]
    grad = np.random.default_rng(1).standard_normal((2, 3, 4))
    y = F.embedding(xpnet.tensor(IDS, device=device), weight)
    y.backward(xpnet.tensor(grad, dtype="float64", device=device))
    expected = np.zeros((5, 4))
    np.add.at(expected, IDS, grad)
    assert_close(weight.grad, expected, rtol=1e-12)


def test_embedding_matches_finite_differences(device):
    weight = random_inputs(device, (5, 3))[0]
    ids = xpnet.tensor(IDS, device=device)
    gradcheck(lambda w: F.embedding(ids, w), weight)


def test_the_padding_row_gets_no_gradient(device):
    weight = random_inputs(device, (5, 2))[0]
    F.embedding(xpnet.tensor(IDS, device=device), weight, padding_idx=3).sum().backward()
    expected = np.zeros((5, 2))
    np.add.at(expected, IDS, 1.0)
    expected[3] = 0.0
    assert_close(weight.grad, expected)


def test_non_integer_indices_are_rejected(device):
    weight = random_inputs(device, (5, 2))[0]
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float32"):
        F.embedding(xpnet.tensor([[0.0, 1.0]], device=device), weight)


def test_out_of_range_indices_are_rejected(device):
    # in host memory at once; on a device at the next host read (the .numpy() below)
    weight = random_inputs(device, (5, 2))[0]
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 5\), got values "
                                         r"from 0 to 7"):
        F.embedding(xpnet.tensor([0, 7], device=device), weight).numpy()
