import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

OPS = {"sum": (F.sum, np.sum), "mean": (F.mean, np.mean), "max": (F.max, np.max),
       "min": (F.min, np.min)}
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), ()]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=repr)
@pytest.mark.parametrize("name", OPS)
def test_reduction_matches_numpy(device, name, axis, keepdims):
    op, reference = OPS[name]
    x, = random_inputs(device, (2, 3, 4))
    expected = reference(x.numpy(), axis=axis, keepdims=keepdims)
    assert_close(op(x, axis=axis, keepdims=keepdims), np.asarray(expected), rtol=1e-12)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, True), ((0, -1), False)], ids=repr)
@pytest.mark.parametrize("name", OPS)
def test_reduction_matches_finite_differences(device, name, axis, keepdims):
    x, = random_inputs(device, (2, 3, 2))
    gradcheck(OPS[name][0], x, axis=axis, keepdims=keepdims)


def test_tensor_methods_reduce_like_the_functions(device):
    x, = random_inputs(device, (2, 3))
    host = x.numpy()
    assert_close(x.sum(1), host.sum(1), rtol=1e-12)
    assert_close(x.mean(), host.mean(), rtol=1e-12)
    assert_close(x.max(0, keepdims=True), host.max(0, keepdims=True))
    assert_close(x.min(-1), host.min(-1))


def test_max_and_min_share_the_gradient_among_ties(device):
    x = xpnet.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 0.0]], device=device, requires_grad=True)
    (F.max(x, axis=1) + F.min(x, axis=1)).sum().backward()
    assert_close(x.grad, np.array([[1.0, 0.5, 0.5], [1.0, 0.5, 0.5]], np.float32))


def test_mean_gradient_is_one_over_the_count(device):
    x = xpnet.zeros(2, 5, device=device, requires_grad=True)
    F.mean(x, axis=1).sum().backward()
    assert_close(x.grad, np.full((2, 5), 0.2, np.float32))


@pytest.mark.parametrize("name", OPS)
def test_reduction_rejects_an_axis_out_of_range(device, name):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(ValueError, match=rf"{name}: axis must be an int in \[-2, 2\) for a 2-D "
                                         rf"tensor, got 2"):
        OPS[name][0](x, axis=2)


def test_reduction_rejects_repeated_axes(device):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(ValueError, match=r"sum: axis has repeated entries: \(1, -1\)"):
        F.sum(x, axis=(1, -1))


def test_mean_and_max_reject_empty_axes(device):
    x = xpnet.zeros(2, 0, device=device)
    with pytest.raises(ValueError, match=r"mean: cannot average over an empty axis, got shape"):
        F.mean(x, axis=1)
    with pytest.raises(ValueError, match=r"max: cannot reduce over an empty axis"):
        F.max(x)


def test_reductions_match_torch(device):
    torch = pytest.importorskip("torch")
    x, = random_inputs(device, (3, 4))
    tx = torch.tensor(x.numpy(), requires_grad=True)
    (F.sum(x, 0) * F.mean(x, 0) + F.max(x, 0) - F.min(x, 0)).sum().backward()
    (tx.sum(0) * tx.mean(0) + tx.amax(0) - tx.amin(0)).sum().backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12)
