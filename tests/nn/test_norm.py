import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close, random_inputs


def test_batch_norm_has_pytorch_parameters_and_buffers(device):
    layer = nn.BatchNorm2d(3, device=device)
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked"]
    assert_close(layer.weight, np.ones(3, np.float32))
    assert_close(layer.running_var, np.ones(3, np.float32))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    bare = nn.BatchNorm1d(3, affine=False, track_running_stats=False, device=device)
    assert list(bare.parameters()) == [] and list(bare.buffers()) == []


def test_batch_norm2d_trains_on_batch_statistics_and_evaluates_on_running_ones(device):
    layer = nn.BatchNorm2d(2, momentum=0.5, device=device)
    x, = random_inputs(device, (4, 2, 3, 3), dtype="float32", requires_grad=False)
    y = layer(x)
    assert_close(y.numpy().mean(axis=(0, 2, 3)), np.zeros(2), atol=1e-6)
    host = x.numpy()
    assert_close(layer.running_mean, 0.5 * host.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-7)
    assert int(layer.num_batches_tracked.item()) == 1
    layer.eval()
    rm, rv = layer.running_mean.numpy(), layer.running_var.numpy()
    expected = (host - rm.reshape(1, 2, 1, 1)) / np.sqrt(rv.reshape(1, 2, 1, 1) + 1e-5)
    assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)
    assert int(layer.num_batches_tracked.item()) == 1


def test_batch_norm_without_running_statistics_always_uses_the_batch(device):
    layer = nn.BatchNorm1d(3, track_running_stats=False, device=device).eval()
    x, = random_inputs(device, (5, 3), requires_grad=False)
    assert_close(layer(x).numpy().mean(axis=0), np.zeros(3), atol=1e-6)


def test_batch_norm_momentum_none_is_a_cumulative_average(device):
    layer = nn.BatchNorm1d(2, momentum=None, device=device)
    a, b = random_inputs(device, (4, 2), (4, 2), dtype="float32", requires_grad=False)
    layer(a)
    layer(b)
    expected = (a.numpy().mean(axis=0) + b.numpy().mean(axis=0)) / 2
    assert_close(layer.running_mean, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 2, 3))])
def test_batch_norm_layers_match_torch_through_training_and_eval(device, cls, shape):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, cls)(3)
    mine = getattr(nn, cls)(3, device=device)
    rng = np.random.default_rng(1)
    for _ in range(3):
        host = rng.standard_normal(shape).astype(np.float32) * 2 + 1
        assert_close(mine(xpnet.tensor(host, device=device)),
                     theirs(torch.from_numpy(host)).detach().numpy(), rtol=1e-4, atol=1e-5)
    for key, value in theirs.state_dict().items():
        assert_close(mine.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6)
    mine.eval(), theirs.eval()
    assert_close(mine(xpnet.tensor(host, device=device)),
                 theirs(torch.from_numpy(host)).detach().numpy(), rtol=1e-4, atol=1e-5)
    mine.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


def test_layer_norm_normalises_the_trailing_axes_and_matches_torch(device):
    layer = nn.LayerNorm((3, 4), device=device)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (3, 4)),
                                                                  ("bias", (3, 4))]
    x, = random_inputs(device, (2, 3, 4), dtype="float32", requires_grad=False)
    y = layer(x).numpy()
    assert_close(y.mean(axis=(1, 2)), np.zeros(2), atol=1e-6)
    torch = pytest.importorskip("torch")
    assert_close(y, torch.nn.LayerNorm((3, 4))(torch.from_numpy(x.numpy())).detach().numpy(),
                 rtol=1e-5, atol=1e-6)


def test_norm_layers_name_themselves_in_errors(device):
    with pytest.raises(ValueError, match=r"^BatchNorm2d\(3, eps=1e-05, momentum=0.1, affine=True, "
                                         r"track_running_stats=True\): input must be "
                                         r"\(N, 3, H, W\), got \(4, 2, 5, 5\)$"):
        nn.BatchNorm2d(3, device=device)(xpnet.zeros(4, 2, 5, 5, device=device))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3, .*\): input must be "
                                         r"\(N, 3\) or \(N, 3, L\), got \(4, 3, 2, 2\)"):
        nn.BatchNorm1d(3, device=device)(xpnet.zeros(4, 3, 2, 2, device=device))
    with pytest.raises(ValueError, match=r"^LayerNorm\(\(5,\), eps=1e-05, elementwise_affine=True\): "
                                         r"layer_norm: input must end in normalized_shape \(5,\), "
                                         r"got shape \(2, 4\)$"):
        nn.LayerNorm(5, device=device)(xpnet.zeros(2, 4, device=device))


@pytest.mark.parametrize("make,error,message", [
    (lambda: nn.BatchNorm2d(3, eps=-1), ValueError, r"^BatchNorm2d: eps must be >= 0, got -1$"),
    (lambda: nn.BatchNorm1d(3, momentum="0.1"), TypeError,
     r"^BatchNorm1d: momentum must be a number, got '0.1' \(str\)$"),
    (lambda: nn.LayerNorm(3, eps="1e-5"), TypeError,
     r"^LayerNorm: eps must be a number >= 0, got '1e-5' \(str\)$"),
], ids=["negative-eps", "string-momentum", "string-eps"])
def test_norm_layers_refuse_bad_eps_and_momentum(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("shape, groups", [((2, 6, 3, 4), 3), ((3, 4, 5), 1), ((2, 4), 4)])
def test_group_norm_matches_pytorch_with_gradients(device, shape, groups):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.GroupNorm(groups, shape[1]).double()
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5), theirs.bias.uniform_(-0.5, 0.5)
    ours = nn.GroupNorm(groups, shape[1], device=device, dtype="float64")
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    x, = random_inputs(device, shape, seed=4)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert_close(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(5).standard_normal(shape)
    y.backward(xpnet.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert_close(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_group_norm_has_second_derivatives(device):
    from xpnet.testing import gradgradcheck
    x, w, b = random_inputs(device, (2, 4, 3), (4,), (4,), seed=6)
    assert gradgradcheck(lambda x, w, b: xpnet.nn.functional.group_norm(x, 2, w, b), x, w, b)


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.GroupNorm(4, 6), ValueError, r"GroupNorm: num_groups must divide num_channels, "
                                             r"got num_groups=4 and num_channels=6"),
    (lambda: nn.GroupNorm(0, 6), ValueError, r"GroupNorm: num_groups must be a positive int"),
    (lambda: nn.GroupNorm(2, 4)(xpnet.ones(2, 6, 3)), ValueError,
     r"group_norm: weight must have shape \(6,\), got \(4,\)"),
    (lambda: xpnet.nn.functional.group_norm(xpnet.ones(2, 6), 4), ValueError,
     r"group_norm: num_groups must divide the number of channels, got 6 channels"),
])
def test_group_norm_refuses_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()
