import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import nn
from xpnet.testing import assert_close, random_inputs

# (layer, the functional op it must equal, its repr)
LAYERS = [
    (nn.ReLU(), F.relu, "ReLU()"),
    (nn.LeakyReLU(), lambda x: F.leaky_relu(x, 0.01), "LeakyReLU(negative_slope=0.01)"),
    (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2), "LeakyReLU(negative_slope=0.2)"),
    (nn.Sigmoid(), F.sigmoid, "Sigmoid()"),
    (nn.Tanh(), F.tanh, "Tanh()"),
    (nn.GELU(), F.gelu, "GELU(approximate='none')"),
    (nn.GELU("tanh"), lambda x: F.gelu(x, "tanh"), "GELU(approximate='tanh')"),
    (nn.Softmax(dim=1), lambda x: F.softmax(x, 1), "Softmax(dim=1)"),
    (nn.Softmax(), lambda x: F.softmax(x, -1), "Softmax(dim=-1)"),
    (nn.LogSoftmax(dim=0), lambda x: F.log_softmax(x, 0), "LogSoftmax(dim=0)"),
]


@pytest.mark.parametrize("layer, fn, text", LAYERS, ids=[text for _, _, text in LAYERS])
def test_activation_layer_equals_its_functional_op_forward_and_backward(device, layer, fn, text):
    assert repr(layer) == text
    x, = random_inputs(device, (3, 4, 2), low=-3.0, high=3.0)
    direction = xpnet.tensor(np.random.default_rng(1).standard_normal((3, 4, 2)), device=device)
    y = layer(x)
    (y * direction).sum().backward()
    grad_layer, x.grad = x.grad.numpy().copy(), None
    (fn(x) * direction).sum().backward()
    assert y.device == device and y.shape == x.shape
    assert_close(y, fn(x), rtol=0, atol=0)
    assert_close(grad_layer, x.grad, rtol=0, atol=0)


def test_activations_match_numpy_references(device):
    values = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    x = xpnet.tensor(values, device=device)
    assert_close(nn.ReLU()(x), np.maximum(values, 0))
    assert_close(nn.LeakyReLU(0.1)(x), np.where(values > 0, values, 0.1 * values))
    assert_close(nn.Sigmoid()(x), 1 / (1 + np.exp(-values)), rtol=1e-12)
    assert_close(nn.Tanh()(x), np.tanh(values), rtol=1e-12)
    softmax = np.exp(values) / np.exp(values).sum()
    assert_close(nn.Softmax()(x), softmax, rtol=1e-12)
    assert_close(nn.LogSoftmax()(x), np.log(softmax), rtol=1e-12)


def test_dropout_is_the_identity_in_eval_mode(device):
    layer = nn.Dropout(0.5).eval()
    x = xpnet.ones(64, 64, device=device)
    assert_close(layer(x), np.ones((64, 64), np.float32), rtol=0, atol=0)


def test_dropout_zeroes_about_p_and_scales_the_rest_in_train_mode(device):
    layer = nn.Dropout(0.3)
    assert layer.training and repr(layer) == "Dropout(p=0.3, inplace=False)"
    x = xpnet.ones(200, 100, device=device, requires_grad=True)
    y = layer(x)
    values = y.numpy()
    kept = values != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_allclose(values[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    assert_close(x.grad, values)  # the gradient uses the same mask and scale
    assert not np.array_equal(layer(x).numpy() != 0, kept)  # a fresh mask every call


def test_dropout_follows_the_mode_of_an_enclosing_model(device):
    model = nn.Sequential(nn.Linear(4, 4, device=device), nn.Dropout(0.9))
    x = xpnet.ones(8, 4, device=device)
    model.eval()
    assert_close(model(x), model[0](x), rtol=0, atol=0)
    model.train()
    assert (model(x).numpy() == 0).mean() > 0.5


def test_dropout_rejects_p_outside_zero_to_one():
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\), got 1.0"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\), got -0.1"):
        nn.Dropout(-0.1)


INPLACE = {"ReLU": lambda lib: lib.nn.ReLU(inplace=True),
           "LeakyReLU": lambda lib: lib.nn.LeakyReLU(0.2, inplace=True),
           "Dropout-eval": lambda lib: lib.nn.Dropout(0.5, inplace=True).eval()}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_layers_write_into_their_input_and_keep_gradients_as_pytorch(device, name):
    torch = pytest.importorskip("torch")
    values = np.array([[-1.5, 2.0, 0.5], [3.0, -0.25, -4.0]])

    def run(lib, tensor):
        w = tensor(values, requires_grad=True)
        h = w * 2.0                       # a non-leaf: in place is allowed in a graph
        out = INPLACE[name](lib)(h)
        (out * out).sum().backward()
        return out is h, h, w.grad

    ours = run(xpnet, lambda v, **k: xpnet.tensor(v, device=device, dtype="float64", **k))
    theirs = run(torch, lambda v, **k: torch.tensor(v, dtype=torch.float64, **k))
    assert ours[0] is theirs[0] is True
    for a, b in zip(ours[1:], theirs[1:]):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12)
    assert repr(INPLACE[name](xpnet)) == repr(INPLACE[name](torch))


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_pytorch(device):
    x = xpnet.tensor([1.0, -1.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"ReLU\(inplace=True\): a leaf tensor that requires "
                                           r"grad cannot be changed in place"):
        nn.ReLU(inplace=True)(x)
    with xpnet.no_grad():
        assert nn.ReLU(inplace=True)(x) is x and x.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.LeakyReLU("a"), TypeError, r"LeakyReLU: negative_slope must be a number, got 'a'"),
    (lambda: nn.ReLU(inplace="yes"), TypeError, r"ReLU: inplace must be True or False, got 'yes'"),
    (lambda: nn.Dropout(0.1, inplace=1), TypeError, r"Dropout: inplace must be True or False"),
    (lambda: nn.Softmax(dim="a"), TypeError, r"Softmax: dim must be an int, got 'a' \(str\)"),
    (lambda: nn.LogSoftmax(dim=1.0), TypeError, r"LogSoftmax: dim must be an int, got 1.0"),
    (lambda: nn.GELU("fast"), ValueError, r"GELU: approximate must be 'none' or 'tanh', got 'fast'"),
])
def test_activation_layers_refuse_bad_arguments_when_built(make, error, message):
    with pytest.raises(error, match=message):
        make()
