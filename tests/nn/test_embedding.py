import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close


def test_embedding_layer_looks_up_rows_and_trains_only_the_rows_it_used(device):
    layer = nn.Embedding(10, 4, device=device, dtype="float64")
    ids = np.array([[1, 2], [2, 9]])
    y = layer(xpnet.tensor(ids, device=device))
    assert y.shape == (2, 2, 4)
    assert_close(y, layer.weight.numpy()[ids])
    y.sum().backward()
    counts = np.bincount(ids.ravel(), minlength=10).astype(np.float64)
    assert_close(layer.weight.grad, np.repeat(counts[:, None], 4, axis=1))


def test_weights_are_standard_normal_and_the_padding_row_starts_at_zero():
    layer = nn.Embedding(400, 50, padding_idx=-1)
    w = layer.weight.numpy()
    assert layer.padding_idx == 399
    assert np.all(w[399] == 0)
    assert abs(w[:399].mean()) < 0.02 and w[:399].std() == pytest.approx(1.0, abs=0.02)


def test_embedding_matches_torch_with_loaded_weights(device):
    torch = pytest.importorskip("torch")
    ref = torch.nn.Embedding(7, 3, padding_idx=0, dtype=torch.float64)
    layer = nn.Embedding(7, 3, padding_idx=0, device=device, dtype="float64")
    layer.load_state_dict(ref.state_dict())
    ids = np.array([0, 5, 5, 2])
    (ref(torch.tensor(ids)) ** 2).sum().backward()
    y = layer(xpnet.tensor(ids, device=device))
    (y * y).sum().backward()
    assert_close(y, ref(torch.tensor(ids)).detach().numpy())
    assert_close(layer.weight.grad, ref.weight.grad.numpy())


def test_float_ids_are_rejected_with_a_hint(device):
    layer = nn.Embedding(5, 2, device=device)
    with pytest.raises(TypeError, match=r"Embedding\(5, 2\): embedding: indices must be integers, "
                                        r"got dtype float32; convert them with .astype\('int64'\)"):
        layer(xpnet.tensor([1.0, 2.0], device=device))


def test_bad_construction_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be in \[-5, 5\), got 5"):
        nn.Embedding(5, 2, padding_idx=5)
    assert repr(nn.Embedding(5, 2, padding_idx=1)) == "Embedding(5, 2, padding_idx=1)"
