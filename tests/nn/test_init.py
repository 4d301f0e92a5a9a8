import math

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.backend import available_devices
from xpnet.nn import init

SHAPE = (256, 400)          # 102 400 samples: the sample std is within ~0.5% of the true one
CONV_SHAPE = (64, 32, 3, 3)  # fan_in 32·9 = 288, fan_out 64·9 = 576


def host(t):
    return t.numpy().astype(np.float64)


def assert_std(values, expected, rel=0.05):
    assert abs(values.std() / expected - 1) < rel, (values.std(), expected)


def test_uniform_and_normal_have_the_requested_statistics(device):
    u = init.uniform(SHAPE, -2.0, 4.0, device=device)
    assert u.device == device and u.shape == SHAPE and str(u.numpy().dtype) == "float32"
    values = host(u)
    assert values.min() >= -2.0 and values.max() < 4.0
    assert abs(values.mean() - 1.0) < 0.05
    assert_std(values, 6.0 / math.sqrt(12))
    n = host(init.normal(SHAPE, 3.0, 0.5, device=device, dtype="float64"))
    assert abs(n.mean() - 3.0) < 0.01
    assert_std(n, 0.5)


def test_zeros_and_ones_are_filled_on_the_device(device):
    z, o = init.zeros((2, 3), device=device), init.ones((4,), device=device, dtype="float64")
    assert z.device == o.device == device
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(o.numpy(), np.ones(4))


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier_uses_fan_in_plus_fan_out_of_the_receptive_field(device, gain):
    std = gain * math.sqrt(2.0 / (288 + 576))
    u = host(init.xavier_uniform(CONV_SHAPE, gain, device=device))
    assert np.abs(u).max() <= std * math.sqrt(3) and np.abs(u).max() > 0.99 * std * math.sqrt(3)
    assert_std(u, std)
    assert_std(host(init.xavier_normal(CONV_SHAPE, gain, device=device)), std)


@pytest.mark.parametrize("mode, fan", [("fan_in", 288), ("fan_out", 576)])
@pytest.mark.parametrize("nonlinearity, a, gain", [
    ("relu", 0.0, math.sqrt(2.0)),
    ("leaky_relu", 0.0, math.sqrt(2.0)),          # a = 0: a leaky ReLU with slope 0 is a ReLU
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)),  # what PyTorch's Linear/Conv default uses
    ("tanh", 0.0, 5 / 3),
])
def test_kaiming_uses_the_chosen_fan_and_gain(device, mode, fan, nonlinearity, a, gain):
    std = gain / math.sqrt(fan)
    u = host(init.kaiming_uniform(CONV_SHAPE, a, mode, nonlinearity, device=device))
    assert np.abs(u).max() <= std * math.sqrt(3)
    assert_std(u, std)
    assert_std(host(init.kaiming_normal(CONV_SHAPE, a, mode, nonlinearity, device=device)), std)


@pytest.mark.parametrize("shape", [(40, 10), (10, 40), (12, 3, 2, 2), (8, 8)])
def test_orthogonal_gives_orthonormal_rows_or_columns(device, shape):
    q = init.orthogonal(shape, device=device, dtype="float64")
    assert q.device == device and q.shape == shape
    flat = q.numpy().reshape(shape[0], -1)
    rows, cols = flat.shape
    gram = flat.T @ flat if rows >= cols else flat @ flat.T  # Q^T Q = I tall, Q Q^T = I wide
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)
    scaled = init.orthogonal((6, 4), gain=3.0, device=device).numpy().astype(np.float64)
    np.testing.assert_allclose(scaled.T @ scaled, 9.0 * np.eye(4), atol=1e-4)


def test_calculate_gain_follows_pytorch():
    assert init.calculate_gain("linear") == init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))


def test_calculate_gain_matches_torch_for_every_name():
    torch = pytest.importorskip("torch")
    for name in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid", "tanh", "relu", "selu"]:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    for slope in (None, 0, 0.2, 3):
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope))


def test_in_place_versions_refill_the_same_tensor_on_its_device(device):
    t = xpnet.zeros(*CONV_SHAPE, device=device)
    assert init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu") is t
    assert t.device == device and str(t.numpy().dtype) == "float32"
    assert_std(host(t), math.sqrt(2 / 576))
    init.xavier_uniform_(t)
    assert np.abs(host(t)).max() <= math.sqrt(6 / 864)
    assert_std(host(init.xavier_normal_(t, gain=2.0)), 2 * math.sqrt(2 / 864))
    assert_std(host(init.kaiming_uniform_(t, a=1.0)), 1 / math.sqrt(288))
    u = host(init.uniform_(t, -1.0, 1.0))
    assert u.min() >= -1 and u.max() < 1 and abs(u.mean()) < 0.02
    n = host(init.normal_(t, 1.0, 0.1))
    assert abs(n.mean() - 1.0) < 0.005 and abs(n.std() - 0.1) < 0.005
    np.testing.assert_array_equal(host(init.zeros_(t)), 0.0)
    np.testing.assert_array_equal(host(init.ones_(t)), 1.0)
    np.testing.assert_array_equal(host(init.constant_(t, 0.25)), 0.25)
    w = xpnet.zeros(5, 3, device=device, dtype="float64")
    init.orthogonal_(w, gain=2.0)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), 4 * np.eye(3), atol=1e-12)


def test_in_place_fill_of_a_float64_tensor_keeps_full_precision(device):
    t = xpnet.zeros(3, 4, device=device, dtype="float64")
    xpnet.manual_seed(5)
    init.normal_(t)
    expected = np.random.default_rng(5).normal(size=(3, 4))
    np.testing.assert_array_equal(t.numpy(), expected)


def test_in_place_fill_of_a_parameter_keeps_it_a_parameter_in_the_graph(device):
    layer = nn.Linear(3, 2, device=device)
    init.zeros_(layer.bias)
    init.ones_(layer.weight)
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad
    y = layer(xpnet.tensor([[1.0, 2.0, 3.0]], device=device))
    np.testing.assert_array_equal(y.numpy(), [[6.0, 6.0]])


def test_the_same_seed_gives_the_same_weights_on_every_device():
    weights = {}
    for device in available_devices():
        xpnet.manual_seed(7)
        layer = nn.Linear(5, 3, device=device)
        orth = init.orthogonal((4, 4), device=device)
        weights[device] = [layer.weight.numpy(), layer.bias.numpy(), orth.numpy()]
    assert {"cpu", "strict"} <= set(weights)
    for device, arrays in weights.items():
        for got, expected in zip(arrays, weights["cpu"]):
            np.testing.assert_array_equal(got, expected, err_msg=device)
    xpnet.manual_seed(8)
    assert not np.array_equal(nn.Linear(5, 3).weight.numpy(), weights["cpu"][0])


def test_init_lands_on_the_given_device_even_when_the_default_is_another(device):
    xpnet.set_default_device("strict" if device != "strict" else "cpu")
    try:
        tensors = [init.uniform((2, 2), device=device), init.zeros((2,), device=device),
                   init.orthogonal((3, 2), device=device)]
    finally:
        xpnet.set_default_device(None)
    assert [t.device for t in tensors] == [device] * 3


@pytest.mark.parametrize("fn", [init.xavier_uniform, init.xavier_normal, init.kaiming_uniform,
                                init.kaiming_normal])
def test_fan_based_init_rejects_a_one_dimensional_shape(fn):
    with pytest.raises(ValueError, match=r"init: fan in and fan out need a tensor of at least 2 "
                                         r"dimensions, got shape \(5,\)"):
        fn((5,))


def test_fan_based_in_place_init_rejects_a_one_dimensional_tensor(device):
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        init.kaiming_uniform_(xpnet.zeros(4, device=device))


def test_orthogonal_rejects_a_one_dimensional_shape():
    with pytest.raises(ValueError, match=r"orthogonal: needs at least 2 dimensions, got shape "
                                         r"\(3,\)"):
        init.orthogonal((3,))


def test_unknown_nonlinearity_and_mode_are_rejected_by_name():
    with pytest.raises(ValueError, match="calculate_gain: unknown nonlinearity 'swish'; expected "
                                         "one of"):
        init.kaiming_normal((3, 3), nonlinearity="swish")
    with pytest.raises(ValueError, match="kaiming: mode must be 'fan_in' or 'fan_out', got 'fan'"):
        init.kaiming_uniform((3, 3), mode="fan")
    with pytest.raises(TypeError, match=r"^calculate_gain: negative_slope must be a number, got "
                                        r"'x' \(str\)$"):
        init.calculate_gain("leaky_relu", "x")


def test_in_place_init_rejects_a_non_tensor():
    with pytest.raises(TypeError, match="init: expected a Tensor to fill in place, got ndarray"):
        init.zeros_(np.zeros(3))
