import math

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import nn
from xpnet.testing import assert_close, gradcheck, random_inputs


def affine(x, layer):
    y = x @ layer.weight.numpy().T
    return y + layer.bias.numpy() if layer.bias is not None else y


@pytest.mark.parametrize("batch", [(5,), (2, 7), ()])
def test_linear_maps_the_last_axis_of_any_batch_shape(device, batch, rng):
    layer = nn.Linear(3, 4, device=device)
    x = rng.standard_normal(batch + (3,)).astype(np.float32)
    y = layer(xpnet.tensor(x, device=device))
    assert y.shape == batch + (4,) and y.device == device
    assert_close(y, affine(x, layer), rtol=1e-5, atol=1e-6)


def test_linear_parameters_have_pytorchs_shapes_and_count(device):
    layer = nn.Linear(3, 4, device=device)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (4,)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.num_parameters() == 16
    assert repr(layer) == "Linear(in_features=3, out_features=4, bias=True)"


def test_linear_default_init_is_uniform_within_one_over_sqrt_in_features(device):
    layer = nn.Linear(400, 300, device=device)
    bound = 1 / math.sqrt(400)
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
    assert np.abs(weight).max() > 0.999 * bound  # the whole interval is used
    assert abs(weight.std() / (bound / math.sqrt(3)) - 1) < 0.05
    assert abs(weight.mean()) < 0.01 * bound


def test_linear_without_bias_is_a_plain_matrix_product(device, rng):
    layer = nn.Linear(3, 2, bias=False, device=device)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=False)"
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert_close(layer(xpnet.tensor(x, device=device)), x @ layer.weight.numpy().T, rtol=1e-5)


def test_linear_float64_layer_passes_gradcheck_and_fills_weight_gradients(device):
    layer = nn.Linear(3, 2, device=device, dtype="float64")
    x, = random_inputs(device, (4, 3))
    gradcheck(layer, x)
    layer.zero_grad()  # gradcheck's own backward pass filled them
    layer(x).sum().backward()
    assert_close(layer.weight.grad, np.ones((4, 2)).T @ x.numpy(), rtol=1e-12)
    assert_close(layer.bias.grad, np.full(2, 4.0), rtol=1e-12)


def test_linear_rejects_a_wrong_feature_size_naming_the_layer_and_shapes(device):
    layer = nn.Linear(3, 4, device=device)
    message = (r"^Linear\(in_features=3, out_features=4, bias=True\): linear: x.shape\[-1\] must "
               r"equal weight.shape\[1\] = 3 \(in_features\), got x \(2, 5\) and weight \(4, 3\)$")
    with pytest.raises(ValueError, match=message):
        layer(xpnet.ones(2, 5, device=device))


@pytest.mark.parametrize("args, error, message", [
    ((0, 4), ValueError, r"^Linear: in_features must be a positive int, got 0$"),
    ((3, -1), ValueError, r"^Linear: out_features must be a positive int, got -1$"),
    ((2.5, 3), TypeError, r"^Linear: in_features must be a positive int, got 2.5 \(float\)$"),
    ((3, "4"), TypeError, r"^Linear: out_features must be a positive int, got '4' \(str\)$"),
])
def test_linear_rejects_non_positive_sizes(args, error, message):
    with pytest.raises(error, match=message):
        nn.Linear(*args)


def test_linear_matches_torch_with_the_same_weights(device, rng):
    torch = pytest.importorskip("torch")
    reference = torch.nn.Linear(3, 4, dtype=torch.float64)
    layer = nn.Linear(3, 4, device=device, dtype="float64")
    layer.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    x = rng.standard_normal((2, 5, 3))
    x_torch = torch.tensor(x, requires_grad=True)
    reference(x_torch).pow(2).sum().backward()
    x_ours = xpnet.tensor(x, device=device, requires_grad=True)
    (layer(x_ours) ** 2).sum().backward()
    assert_close(layer(x_ours), reference(x_torch).detach().numpy(), rtol=1e-12)
    assert_close(x_ours.grad, x_torch.grad.numpy(), rtol=1e-12)
    assert_close(layer.weight.grad, reference.weight.grad.numpy(), rtol=1e-12)
    assert_close(layer.bias.grad, reference.bias.grad.numpy(), rtol=1e-12)


def test_identity_returns_its_input(device):
    x = xpnet.ones(2, 3, device=device)
    assert nn.Identity()(x) is x and repr(nn.Identity()) == "Identity()"


@pytest.mark.parametrize("start_dim, end_dim, shape", [(1, -1, (2, 60)), (0, 1, (6, 4, 5)),
                                                        (1, 2, (2, 12, 5)), (2, 3, (2, 3, 20))])
def test_flatten_merges_the_chosen_axes(device, start_dim, end_dim, shape):
    x = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    y = nn.Flatten(start_dim, end_dim)(xpnet.tensor(x, device=device))
    assert_close(y, x.reshape(shape))
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_flatten_passes_gradients_back_in_the_input_shape(device):
    x, = random_inputs(device, (2, 3, 2))
    gradcheck(nn.Flatten(), x)


def test_mlp_trained_with_hand_written_sgd_reduces_the_loss(device):
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 2.0], [-2.0, -2.0]])
    labels = np.arange(32) % 2
    points = (centres[labels] + 0.5 * rng.standard_normal((32, 2))).astype(np.float32)
    x, y = xpnet.tensor(points, device=device), xpnet.tensor(labels, device=device)
    model = nn.Sequential(nn.Linear(2, 16, device=device), nn.ReLU(),
                          nn.Linear(16, 2, device=device))
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(50):
        loss = loss_fn(model(x), y)
        model.zero_grad()
        loss.backward()
        with xpnet.no_grad():
            for p in model.parameters():
                p.array = p.array - 0.2 * p.grad.array
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, losses
    assert all(p.device == device for p in model.parameters())
    with xpnet.no_grad():
        predicted = F.softmax(model(x)).argmax(axis=1).numpy()
    assert (predicted == labels).all()


def test_unflatten_undoes_flatten_with_gradients_as_torch(device):
    torch = pytest.importorskip("torch")
    host = np.random.default_rng(0).standard_normal((3, 24))
    x = xpnet.tensor(host, device=device, requires_grad=True)
    layer = nn.Unflatten(1, (2, -1, 3))
    assert repr(layer) == repr(torch.nn.Unflatten(1, (2, -1, 3)))
    y = layer(x)
    expected = torch.nn.Unflatten(1, (2, -1, 3))(torch.tensor(host))
    assert_close(y, expected.numpy(), rtol=0, atol=0)
    assert_close(nn.Flatten()(y), host, rtol=0, atol=0)
    (y * y).sum().backward()
    assert_close(x.grad, 2 * host, rtol=1e-12)
    assert nn.Unflatten(-1, (4, 6))(x).shape == (3, 4, 6)


def test_unflatten_names_itself_for_a_bad_dim_or_size(device):
    x = xpnet.zeros(3, 24, device=device)
    with pytest.raises(ValueError, match=r"^Unflatten\(dim=2, unflattened_size=\(4, 6\)\): dim "
                                         r"must be in \[-2, 2\) for a 2-D input, got input "
                                         r"\(3, 24\)$"):
        nn.Unflatten(2, (4, 6))(x)
    with pytest.raises(ValueError, match=r"^Unflatten\(dim=1, unflattened_size=\(5, 5\)\): "
                                         r"reshape: cannot reshape a tensor of shape \(3, 24\)"):
        nn.Unflatten(1, (5, 5))(x)


@pytest.mark.parametrize("make,error,message", [
    (lambda: nn.Flatten("a"), TypeError, r"^Flatten: start_dim must be an int, got 'a' \(str\)$"),
    (lambda: nn.Unflatten(1, (-2, 3)), ValueError,
     r"^Unflatten: each entry of unflattened_size must be an int >= -1, got -2$"),
    (lambda: nn.Unflatten(1, (-1, -1)), ValueError,
     r"^Unflatten: unflattened_size may hold one -1 at most, got \(-1, -1\)$"),
    (lambda: nn.Unflatten(1, 3), TypeError,
     r"^Unflatten: unflattened_size must be a tuple of ints, got 3 \(int\)$"),
], ids=["flatten-string", "unflatten-negative", "unflatten-two-unknowns", "unflatten-int"])
def test_flatten_and_unflatten_refuse_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()
