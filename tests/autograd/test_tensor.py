"""A PyTorch user's first snippets: PyTorch's spellings on Tensor, functional and Module, each
checked against torch (same values, shapes and return types) on every device."""
import numpy as np
import pytest

import xpnet
import xpnet.nn.functional as F
from xpnet import nn
from xpnet.testing import assert_close


def _pair(device, shape=(2, 3, 4)):
    torch = pytest.importorskip("torch")
    host = np.random.default_rng(0).standard_normal(shape)
    return xpnet.tensor(host, dtype="float64", device=device), torch.tensor(host)


def _same(ours, theirs):
    assert ours.shape == tuple(theirs.shape)
    assert_close(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_size_numel_and_dim_answer_as_torch(device):
    x, t = _pair(device)
    assert x.size() == tuple(t.size()) and isinstance(x.size(), tuple)
    assert x.size(0) == t.size(0) and x.size(-1) == t.size(-1) and isinstance(x.size(1), int)
    assert x.numel() == t.numel() and x.dim() == t.dim() and x.ndim == 3
    with pytest.raises(IndexError, match=r"size: dim must be an int in \[-3, 3\) for a 3-D "
                                         r"tensor, got 3"):
        x.size(3)


@pytest.mark.parametrize("name, args", [
    ("view", (6, 4)), ("view", (-1,)), ("reshape", ((4, 6),)), ("flatten", ()), ("flatten", (1,)),
    ("flatten", (0, 1)), ("unsqueeze", (0,)), ("unsqueeze", (-1,)), ("unsqueeze", (2,)),
    ("transpose", (0, 2)), ("permute", (2, 0, 1)), ("sum", (1,)), ("mean", (-1,)),
    ("amax", (0,)), ("amin", ((0, 2),)), ("softmax", (1,)), ("log_softmax", (-1,)),
])
def test_tensor_methods_match_torch(device, name, args):
    x, t = _pair(device)
    _same(getattr(x, name)(*args), getattr(t, name)(*args))


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
def test_dim_and_keepdim_keywords_match_torch(device, name):
    x, t = _pair(device)
    _same(getattr(x, name)(dim=1, keepdim=True), getattr(t, name)(dim=1, keepdim=True))
    _same(getattr(F, name)(x, dim=(0, 2)), getattr(t, name)(dim=(0, 2)))


def test_squeeze_drops_size_one_axes_as_torch(device):
    x, t = _pair(device, (2, 1, 3, 1))
    for args in ((), (1,), (-1,), (0,), ((1, 3),)):
        _same(x.squeeze(*args), t.squeeze(*args))


def test_cat_stack_and_functional_softmax_match_torch(device):
    torch = pytest.importorskip("torch")
    (a, ta), (b, tb) = _pair(device, (2, 3)), _pair(device, (2, 3))
    _same(F.cat([a, b], dim=1), torch.cat([ta, tb], dim=1))
    _same(F.cat([a, b]), torch.cat([ta, tb]))
    _same(F.stack([a, b], dim=-1), torch.stack([ta, tb], dim=-1))
    _same(F.softmax(a, dim=1), torch.nn.functional.softmax(ta, dim=1))
    _same(F.log_softmax(a, dim=0), torch.nn.functional.log_softmax(ta, dim=0))
    _same(a.clamp(-0.5, 0.5), ta.clamp(-0.5, 0.5))
    _same(a.mT, ta.mT)


def test_max_without_dim_is_a_0d_tensor_and_with_dim_a_pair(device):
    x, t = _pair(device)
    _same(x.max(), t.max())
    values, indices = x.max(dim=2)
    t_values, t_indices = t.max(dim=2)
    _same(values, t_values)
    np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())


def test_dtype_objects_are_accepted_and_compare_as_torch_dtypes_do(device):
    x = xpnet.zeros(2, 3, dtype=xpnet.float64, device=device)
    assert x.dtype == xpnet.float64 and x.dtype == "float64" and x.dtype != xpnet.float32
    assert x.dtype is xpnet.float64 and repr(x.dtype) == "xpnet.float64"
    assert xpnet.tensor([1, 2], device=device).dtype == xpnet.int64
    assert (x > 0).dtype == xpnet.bool and xpnet.float32.is_floating_point
    assert x.float().dtype == xpnet.float32 and x.to(dtype=xpnet.float32).dtype == "float32"
    assert np.dtype(xpnet.float32) == np.float32 and x.dtype == x.array.dtype
    with pytest.raises(TypeError, match=r"unknown dtype 'float8'; expected one of bool, int8"):
        xpnet.zeros(2, dtype="float8", device=device)


def test_backward_takes_the_gradient_by_torchs_name(device):
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    (x * x).backward(gradient=xpnet.tensor([1.0, 0.5], device=device))
    assert x.grad.tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match=r"backward: gradient must have the tensor's shape "
                                         r"\(2,\), got \(3,\)"):
        (x * x).backward(xpnet.ones(3, device=device))
    with pytest.raises(TypeError, match=r"backward: gradient must be a Tensor of shape \(2,\), "
                                        r"got list"):
        (x * x).backward([1.0, 1.0])


def test_cpu_and_cuda_move_tensors_and_modules():
    x = xpnet.ones(2, device="strict")
    assert x.cpu().device == "cpu" and x.cpu().tolist() == [1.0, 1.0]
    model = nn.Linear(2, 1, device="strict")
    assert model.cpu() is model and model.weight.device == "cpu"
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"device 'cuda' needs CuPy"):
            x.cuda()
        with pytest.raises(RuntimeError, match=r"device 'cuda:1' needs CuPy"):
            model.cuda(1)


def test_nn_functional_is_the_functional_module():
    import xpnet.functional
    assert xpnet.nn.functional is xpnet.functional is F
    assert F.relu is xpnet.functional.relu and "ops" not in xpnet.__all__


def test_a_plain_list_of_layers_on_a_module_is_refused_with_the_fix():
    class Net(nn.Module):
        def __init__(self):
            self.layers = [nn.Linear(2, 2), nn.Linear(2, 2)]

    with pytest.raises(TypeError, match=r"Net: attribute 'layers' is a plain list of layers or "
                                        r"parameters, which \(as in PyTorch\) would not be "
                                        r"registered.*use nn.ModuleList\(\[...\]\)"):
        Net()

    class Good(nn.Module):
        def __init__(self):
            self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.scales = nn.ParameterList([xpnet.ones(2)])
            self.sizes = [2, 2]            # a list of plain values is fine

    assert [n for n, _ in Good().named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "scales.0"]
