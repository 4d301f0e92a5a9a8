"""gather and index_select: values against NumPy and PyTorch, gradients (a scatter-add) by
finite differences to second order, bad inputs."""
import numpy as np
import pytest

import xpnet
import xpnet.nn.functional as F
from xpnet.testing import assert_close, gradcheck, gradgradcheck, random_inputs


def _index(device, values):
    return xpnet.tensor(np.array(values), device=device)


def test_index_select_matches_numpy_and_sums_repeated_gradients(device):
    x, = random_inputs(device, (3, 4))
    index = _index(device, [2, 0, 2])
    assert_close(F.index_select(x, 0, index), x.numpy()[[2, 0, 2]], rtol=0, atol=0)
    assert_close(x.index_select(-1, index), x.numpy()[:, [2, 0, 2]], rtol=0, atol=0)
    F.index_select(x, 1, index).sum().backward()
    assert_close(x.grad, np.tile([1.0, 0.0, 2.0, 0.0], (3, 1)))


def test_gather_matches_numpy_take_along_axis_with_a_smaller_index(device):
    x, = random_inputs(device, (3, 4))
    index = np.array([[0, 0, 3], [1, 2, 1]])
    expected = np.take_along_axis(x.numpy()[:2], index, axis=1)
    assert_close(F.gather(x, 1, _index(device, index)), expected, rtol=0, atol=0)
    assert_close(x.gather(0, _index(device, [[2, 0, 1, 1]])),
                 np.take_along_axis(x.numpy(), np.array([[2, 0, 1, 1]]), axis=0), rtol=0, atol=0)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_and_index_select_gradients_to_second_order(device, dim):
    x, = random_inputs(device, (3, 4))
    gather_index = _index(device, [[2, 0, 2], [1, 1, 0]])
    select_index = _index(device, [1, 1, 0, 2])
    assert gradcheck(lambda t: F.gather(t, dim, gather_index), x)
    assert gradgradcheck(lambda t: F.gather(t, dim, gather_index) ** 2, x)
    assert gradcheck(lambda t: F.index_select(t, dim, select_index), x)
    assert gradgradcheck(lambda t: F.index_select(t, dim, select_index) ** 3, x)


def test_gather_and_index_select_match_pytorch(device):
    torch = pytest.importorskip("torch")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for call in (lambda m, t, i: m.gather(t, 1, i([[3, 0], [1, 1], [2, 2]])),
                 lambda m, t, i: t.gather(0, i([[0, 2, 1, 0]])),
                 lambda m, t, i: m.index_select(t, 0, i([2, 2])),
                 lambda m, t, i: t.index_select(1, i(1))):
        ours = call(xpnet, xpnet.tensor(a, device=device), lambda v: _index(device, v))
        theirs = call(torch, torch.tensor(a), lambda v: torch.tensor(v))
        assert isinstance(ours, xpnet.Tensor) and ours.shape == tuple(theirs.shape)
        assert ours.dtype == "float32"
        assert_close(ours, theirs.numpy(), rtol=0, atol=0)


def test_gather_and_index_select_reject_bad_indices(device):
    x, = random_inputs(device, (3, 4))
    with pytest.raises(TypeError, match=r"index_select: index must be an integer tensor, got "
                                        r"dtype float64; convert it with .long\(\)"):
        F.index_select(x, 0, x[0])
    with pytest.raises(ValueError, match=r"index_select: index must be 1-D \(or 0-D\), got "
                                         r"shape \(1, 2\)"):
        F.index_select(x, 0, _index(device, [[0, 1]]))
    with pytest.raises(ValueError, match="gather: index must have as many axes as input"):
        F.gather(x, 1, _index(device, [0, 1]))
    with pytest.raises(ValueError, match="gather: index must be no larger than input"):
        F.gather(x, 1, _index(device, [[0]] * 4))
    with pytest.raises(IndexError, match=r"gather: dim must be an int in \[-2, 2\)"):
        F.gather(x, 2, _index(device, [[0]]))
    with pytest.raises(TypeError, match="gather: index must be a Tensor of integers, got list"):
        F.gather(x, 0, [[0]])
    if xpnet.device(device).on_host:   # checked where reading the index back costs nothing
        with pytest.raises(IndexError, match=r"index_select: index must be in \[0, 3\), got "
                                             r"values from -1 to 0"):
            F.index_select(x, 0, _index(device, [0, -1]))
        with pytest.raises(IndexError, match=r"gather: index must be in \[0, 4\), got values "
                                             r"from 0 to 4"):
            F.gather(x, 1, _index(device, [[0, 4]]))
