import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, gradgradcheck, random_inputs

OPS = {"sum": (F.sum, np.sum), "mean": (F.mean, np.mean), "amax": (F.amax, np.max),
       "amin": (F.amin, np.min)}
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), ()]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=repr)
@pytest.mark.parametrize("name", OPS)
def test_reduction_matches_numpy(device, name, axis, keepdims):
    op, reference = OPS[name]
    x, = random_inputs(device, (2, 3, 4))
    expected = np.asarray(reference(x.numpy(), axis=axis, keepdims=keepdims))
    assert_close(op(x, axis=axis, keepdims=keepdims), expected, rtol=1e-12)
    assert_close(op(x, dim=axis, keepdim=keepdims), expected, rtol=1e-12)   # PyTorch's names


@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, True), ((0, -1), False)], ids=repr)
@pytest.mark.parametrize("name", OPS)
def test_reduction_matches_finite_differences(device, name, axis, keepdims):
    x, = random_inputs(device, (2, 3, 2))
    gradcheck(OPS[name][0], x, axis=axis, keepdims=keepdims)


def test_tensor_methods_reduce_like_the_functions(device):
    x, = random_inputs(device, (2, 3))
    host = x.numpy()
    assert_close(x.sum(1), host.sum(1), rtol=1e-12)
    assert_close(x.sum(dim=1, keepdim=True), host.sum(1, keepdims=True), rtol=1e-12)
    assert_close(x.mean(), host.mean(), rtol=1e-12)
    assert_close(x.amax(0, keepdim=True), host.max(0, keepdims=True))
    assert_close(x.amin(-1), host.min(-1))
    assert_close(x.max(), host.max()) and x.max().shape == ()


def test_amax_and_amin_share_the_gradient_among_ties(device):
    x = xpnet.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 0.0]], device=device, requires_grad=True)
    (F.amax(x, dim=1) + F.amin(x, dim=1)).sum().backward()
    assert_close(x.grad, np.array([[1.0, 0.5, 0.5], [1.0, 0.5, 0.5]], np.float32))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_along_a_dim_return_values_and_indices_as_torch(device, name, keepdim):
    x = xpnet.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 0.0]], device=device, requires_grad=True)
    result = getattr(x, name)(dim=1, keepdim=keepdim)
    values, indices = result
    assert result.values is values and result.indices is indices
    pick = np.max if name == "max" else np.min
    arg = np.argmax if name == "max" else np.argmin
    host = x.numpy()
    assert_close(values, pick(host, axis=1, keepdims=keepdim))
    assert indices.dtype == xpnet.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.numpy(), arg(host, axis=1, keepdims=keepdim))
    values.sum().backward()              # the gradient goes to the index returned, the first
    expected = np.zeros((2, 3), np.float32)
    expected[0, 1 if name == "max" else 0] = 1.0
    expected[1, 0 if name == "max" else 1] = 1.0
    assert_close(x.grad, expected)
    assert_close(getattr(F, name)(x, axis=1, keepdims=keepdim).values, values)   # the same


def test_max_and_min_along_a_dim_match_torch_values_indices_and_gradients(device):
    torch = pytest.importorskip("torch")
    x, = random_inputs(device, (3, 4, 2))
    tx = torch.tensor(x.numpy(), requires_grad=True)
    ours = [F.max(x, 1), F.min(x, -1, keepdim=True)]
    theirs = [torch.max(tx, 1), torch.min(tx, -1, keepdim=True)]
    for (v, i), (tv, ti) in zip(ours, theirs):
        assert_close(v, tv.detach().numpy(), rtol=1e-12)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        assert v.shape == tuple(tv.shape) and i.shape == tuple(ti.shape)
    (ours[0].values.sum() + 2.0 * ours[1].values.sum()).backward()
    (theirs[0].values.sum() + 2.0 * theirs[1].values.sum()).backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12)


def test_max_of_two_tensors_is_the_elementwise_maximum(device):
    a = xpnet.tensor([1.0, 5.0], device=device)
    b = xpnet.tensor([3.0, 2.0], device=device)
    assert F.max(a, b).tolist() == [3.0, 5.0] and a.min(b).tolist() == [1.0, 2.0]


def test_max_with_indices_matches_finite_differences(device):
    x, = random_inputs(device, (3, 4))
    gradcheck(lambda t: F.max(t, 1).values, x)
    gradcheck(lambda t: F.min(t, 0, keepdim=True).values, x)


def test_argmax_and_argmin_as_torch(device):
    x = xpnet.tensor([[1.0, 7.0, 3.0], [9.0, 0.0, 4.0]], device=device)
    assert x.argmax().item() == 3 and x.argmin().item() == 4          # of the flattened tensor
    assert F.argmax(x, dim=1).tolist() == [1, 0] and x.argmin(0).tolist() == [0, 1, 0]
    assert x.argmax(1, keepdim=True).shape == (2, 1)
    assert x.argmax(1).dtype == xpnet.int64


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


def test_dim_and_axis_together_are_refused(device):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(TypeError, match=r"sum: pass dim= or axis= \(the same argument\), not both"):
        F.sum(x, dim=0, axis=1)
    with pytest.raises(TypeError, match=r"mean: pass keepdim= or keepdims="):
        x.mean(0, keepdim=True, keepdims=False)
    with pytest.raises(TypeError, match=r"max: dim must be one int when indices are returned"):
        F.max(x, dim=(0, 1))


def test_mean_and_max_reject_empty_axes(device):
    x = xpnet.zeros(2, 0, device=device)
    with pytest.raises(ValueError, match=r"mean: cannot average over an empty axis, got shape"):
        F.mean(x, axis=1)
    with pytest.raises(ValueError, match=r"amax: cannot reduce over an empty axis"):
        F.max(x)
    with pytest.raises(ValueError, match=r"max: cannot reduce over an empty axis"):
        F.max(x, 1)
    with pytest.raises(ValueError, match=r"argmax: cannot take the max of an empty tensor"):
        x.argmax()


def test_reductions_match_torch(device):
    torch = pytest.importorskip("torch")
    x, = random_inputs(device, (3, 4))
    tx = torch.tensor(x.numpy(), requires_grad=True)
    (F.sum(x, 0) * F.mean(x, dim=0) + F.amax(x, 0) - F.amin(x, 0)).sum().backward()
    (tx.sum(0) * tx.mean(dim=0) + tx.amax(0) - tx.amin(0)).sum().backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12)


def test_sum_and_mean_dtypes_follow_pytorch(device):
    torch = pytest.importorskip("torch")
    a = np.array([[1, 0, 3], [2, 2, 0]])
    for dtype in ("bool", "uint8", "int32", "int64", "float32", "float64"):
        x, t = xpnet.tensor(a, device=device).to(dtype), torch.tensor(a).to(getattr(torch, dtype))
        for ours, theirs in ((x.sum(), t.sum()), (xpnet.sum(x, 1), torch.sum(t, 1)),
                             (x.sum(0, keepdim=True), t.sum(0, keepdim=True)),
                             (x.sum(dtype=xpnet.float64), t.sum(dtype=torch.float64))):
            assert ours.dtype == str(theirs.dtype).replace("torch.", ""), dtype
            assert ours.shape == tuple(theirs.shape)
            assert_close(ours, theirs.numpy(), rtol=1e-6, atol=0)
        if dtype.startswith("float"):
            assert_close(x.mean(1), t.mean(1).numpy(), rtol=1e-6)
        else:
            with pytest.raises(TypeError, match=rf"mean: input must be floating-point, got dtype "
                                                rf"{dtype}; convert it with .float\(\)"):
                x.mean()
            assert_close(x.mean(dtype=xpnet.float32), t.mean(dtype=torch.float32).numpy())


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1), (float("inf"), 1)])
def test_normalize_matches_pytorch_and_finite_differences(device, p, dim):
    torch = pytest.importorskip("torch")
    x, = random_inputs(device, (3, 4))
    theirs = torch.nn.functional.normalize(torch.tensor(x.numpy()), p, dim)
    assert_close(F.normalize(x, p, dim), theirs.numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: F.normalize(t, p, dim), x)
    if p != float("inf"):
        assert gradgradcheck(lambda t: F.normalize(t, p=p, dim=dim), x)


def test_normalize_gives_zero_and_a_zero_gradient_for_an_all_zero_row(device):
    torch = pytest.importorskip("torch")
    a = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    x = xpnet.tensor(a, device=device, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y = F.normalize(x)
    (y * xpnet.tensor([[1.0, 2.0, 3.0]], device=device, dtype="float64")).sum().backward()
    (torch.nn.functional.normalize(t) * torch.tensor([[1.0, 2.0, 3.0]],
                                                     dtype=torch.float64)).sum().backward()
    assert_close(y, np.array([[0.0, 0.0, 0.0], [1 / 3, -2 / 3, 2 / 3]]), rtol=1e-12)
    assert_close(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_normalize_rejects_bad_p_and_eps(device):
    x, = random_inputs(device, (3, 4))
    with pytest.raises(ValueError, match="normalize: p must be a positive number, got 0"):
        F.normalize(x, p=0)
    with pytest.raises(ValueError, match="normalize: eps must be a non-negative number, got -1"):
        F.normalize(x, eps=-1)
