import math

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close, random_inputs


def test_conv2d_has_pytorch_parameter_names_shapes_and_init(device):
    layer = nn.Conv2d(4, 6, (3, 2), groups=2, device=device)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [
        ("weight", (6, 2, 3, 2)), ("bias", (6,))]
    bound = 1 / math.sqrt(2 * 3 * 2)               # fan_in = in_channels / groups · KH · KW
    for p in layer.parameters():
        host = p.numpy()
        assert np.all(np.abs(host) <= bound) and np.abs(host).max() > 0.5 * bound
    assert nn.Conv2d(1, 2, 3, bias=False, device=device).bias is None
    assert layer.device == device


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1),
                                    dict(padding="same", dilation=2)], ids=repr)
def test_conv2d_output_shape(device, kwargs):
    layer = nn.Conv2d(3, 5, 3, device=device, **kwargs)
    x, = random_inputs(device, (2, 3, 9, 8), dtype="float32", requires_grad=False)
    y = layer(x)
    assert y.shape == (2, 5) + layer.output_shape(9, 8)


def test_conv2d_loads_a_torch_state_dict_and_matches_its_output(device):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Conv2d(2, 4, 3, stride=2, padding=1)
    mine = nn.Conv2d(2, 4, 3, stride=2, padding=1, device=device)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    host = np.random.default_rng(0).standard_normal((2, 2, 7, 7)).astype(np.float32)
    y = mine(xpnet.tensor(host, device=device))
    assert_close(y, theirs(torch.from_numpy(host)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_conv2d_names_the_layer_in_front_of_the_ops_channel_check(device):
    layer = nn.Conv2d(3, 4, 3, device=device)
    x = xpnet.zeros(8, 1, 28, 28, device=device)
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 4, kernel_size=\(3, 3\), stride=\(1, 1\)\): "
                                         r"conv2d: input must have weight.shape\[1\] \* groups = 3 "
                                         r"channels, got input \(8, 1, 28, 28\)"):
        layer(x)


def test_conv2d_rejects_input_that_is_not_4d(device):
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 4, kernel_size=\(3, 3\), stride=\(1, 1\)\): "
                                         r"conv2d: input must be 4-D \(N, C, H, W\), got shape "
                                         r"\(1, 28, 28\)$"):
        nn.Conv2d(1, 4, 3, device=device)(xpnet.zeros(1, 28, 28, device=device))


def test_conv2d_rejects_a_kernel_larger_than_the_padded_input(device):
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 1, kernel_size=\(5, 5\), stride=\(1, 1\), "
                                         r"padding=\(1, 1\)\): conv2d: the kernel must fit in the "
                                         r"padded input, got kernel \(5, 5\)"):
        nn.Conv2d(1, 1, 5, padding=1, device=device)(xpnet.zeros(1, 1, 2, 2, device=device))


def test_conv2d_rejects_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match=r"^Conv2d: groups must divide in_channels and "
                                         r"out_channels, got groups=3 for 4 and 6 channels$"):
        nn.Conv2d(4, 6, 3, groups=3)


def test_conv2d_rejects_same_padding_with_a_stride():
    with pytest.raises(ValueError, match=r"^Conv2d: padding='same' needs stride 1, got stride "
                                         r"\(2, 2\)$"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")


def test_a_small_cnn_loss_falls_in_a_few_sgd_steps(device):
    import xpnet.functional as F
    model = nn.Sequential(nn.Conv2d(1, 4, 3, device=device), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 5 * 5, 3, device=device))
    rng = np.random.default_rng(0)
    x = xpnet.tensor(rng.standard_normal((6, 1, 12, 12)), device=device, dtype="float32")
    y = xpnet.tensor(np.array([0, 1, 2, 0, 1, 2]), device=device)
    losses = []
    for _ in range(8):
        loss = F.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.array = p.array - 0.2 * p.grad.array
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


# -- ConvTranspose2d ------------------------------------------------------------------------------

def test_conv_transpose2d_has_pytorch_parameter_names_shapes_and_init(device):
    layer = nn.ConvTranspose2d(4, 6, (3, 2), groups=2, device=device)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [
        ("weight", (4, 3, 3, 2)), ("bias", (6,))]
    bound = 1 / math.sqrt(3 * 3 * 2)      # fan_in = weight.shape[1] · KH · KW, as torch computes
    for p in layer.parameters():
        host = p.numpy()
        assert np.all(np.abs(host) <= bound) and np.abs(host).max() > 0.5 * bound
    assert nn.ConvTranspose2d(1, 2, 3, bias=False, device=device).bias is None
    assert layer.device == device


TRANSPOSED = [dict(in_channels=3, out_channels=2, kernel_size=4, stride=2, padding=1),
              dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1,
                   output_padding=1, groups=2),
              dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(1, 2),
                   dilation=(2, 1), bias=False)]


@pytest.mark.parametrize("kwargs", TRANSPOSED, ids=["dcgan", "groups_output_padding", "dilation"])
def test_conv_transpose2d_equals_torch_with_the_same_weights(device, kwargs):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose2d(**kwargs).double()
    mine = nn.ConvTranspose2d(**kwargs, device=device, dtype="float64")
    assert repr(mine) == repr(theirs)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    host = np.random.default_rng(0).standard_normal((2, kwargs["in_channels"], 5, 4))
    x = xpnet.tensor(host, device=device, requires_grad=True)
    tx = torch.tensor(host, requires_grad=True)
    y, ty = mine(x), theirs(tx)
    assert_close(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad_y = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in theirs.named_parameters():
        assert_close(dict(mine.named_parameters())[name].grad, p.grad.numpy(), rtol=1e-10,
                     atol=1e-12)


def test_conv_transpose2d_reaches_the_output_size_asked_for_as_torch_does(device):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1).double()
    mine = nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, device=device, dtype="float64")
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    host = np.random.default_rng(2).standard_normal((1, 2, 4, 4))
    x = xpnet.tensor(host, device=device)
    for size in [(7, 7), (8, 7), (1, 1, 8, 8)]:
        y = mine(x, output_size=size)
        assert y.shape[2:] == tuple(size[-2:])
        assert_close(y, theirs(torch.tensor(host), output_size=size).detach().numpy(),
                     rtol=1e-10, atol=1e-12)


def test_conv_transpose2d_names_itself_for_an_output_size_out_of_reach(device):
    layer = nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, device=device)
    x = xpnet.zeros(1, 2, 4, 4, device=device)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d\(2, 1, kernel_size=\(3, 3\), "
                                         r"stride=\(2, 2\), padding=\(1, 1\)\): output_size must "
                                         r"be between \(7, 7\) and \(8, 8\) for input "
                                         r"\(1, 2, 4, 4\), got \(9, 7\)$"):
        layer(x, output_size=(9, 7))
    with pytest.raises(ValueError, match=r"output_size must have 2 or 4 entries"):
        layer(x, output_size=(7,))


def test_conv_transpose2d_names_the_layer_in_front_of_the_ops_checks(device):
    layer = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1, device=device)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d\(3, 2, kernel_size=\(4, 4\), "
                                         r"stride=\(2, 2\), padding=\(1, 1\)\): conv_transpose2d: "
                                         r"input must have weight.shape\[0\] = 3 channels, got "
                                         r"input \(1, 1, 5, 5\)"):
        layer(xpnet.zeros(1, 1, 5, 5, device=device))
    with pytest.raises(ValueError, match=r"^ConvTranspose2d\(3, 2, .*\): conv_transpose2d: input "
                                         r"must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)$"):
        layer(xpnet.zeros(3, 5, 5, device=device))


@pytest.mark.parametrize("kwargs, message", [
    (dict(groups=4), r"^ConvTranspose2d: groups must divide in_channels and out_channels, got "
                     r"groups=4 for 2 and 6 channels$"),
    (dict(stride=2, output_padding=2), r"^ConvTranspose2d: output_padding must be smaller than "
                                       r"the stride or the dilation"),
    (dict(padding=(1, -1)), r"^ConvTranspose2d: padding and output_padding must be non-negative"),
], ids=["groups", "output_padding", "padding"])
def test_conv_transpose2d_rejects_bad_arguments_when_built(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.ConvTranspose2d(2, 6, 3, **kwargs)


def test_a_small_generator_fits_a_target_image_in_a_few_adam_steps(device):
    import xpnet.functional as F
    xpnet.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (8, 1, 1)), nn.ConvTranspose2d(8, 4, 4, device=device),
                          nn.BatchNorm2d(4, device=device), nn.ReLU(),
                          nn.ConvTranspose2d(4, 1, 4, 2, 1, device=device), nn.Tanh())
    z = xpnet.randn(6, 8, device=device)
    target = xpnet.tensor(np.linspace(-0.5, 0.5, 64).reshape(1, 1, 8, 8).repeat(6, axis=0),
                          device=device, dtype="float32")
    opt = xpnet.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(10):
        loss = F.mse_loss(model(z), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert model(z).shape == (6, 1, 8, 8) and losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize("layer", [nn.Conv2d, nn.ConvTranspose2d])
@pytest.mark.parametrize("args, error, message", [
    ((2, 0, 3), ValueError, r"out_channels must be a positive int, got 0$"),
    ((2, -4, 3), ValueError, r"out_channels must be a positive int, got -4$"),
    ((2.0, 4, 3), TypeError, r"in_channels must be a positive int, got 2.0 \(float\)$"),
    (("2", 4, 3), TypeError, r"in_channels must be a positive int, got '2' \(str\)$"),
    ((2, 4, 0), ValueError, r"kernel_size must be positive, got \(0, 0\)$"),
    ((2, 4, -1), ValueError, r"kernel_size must be positive, got \(-1, -1\)$"),
    ((2, 4, (3, 0)), ValueError, r"kernel_size must be positive, got \(3, 0\)$"),
    ((2, 4, "3"), TypeError, r"kernel_size must be an int or a pair of ints, got '3'$"),
    ((2, 4, 3, 0), ValueError, r"stride must be positive, got \(0, 0\)$"),
])
def test_conv_layers_refuse_bad_sizes_by_name(layer, args, error, message):
    with pytest.raises(error, match=rf"^{layer.__name__}: " + message):
        layer(*args)


@pytest.mark.parametrize("layer", [nn.Conv2d, nn.ConvTranspose2d])
def test_conv_layers_take_padding_mode_zeros_and_refuse_the_others(layer):
    assert layer(2, 2, 3, padding_mode="zeros").padding_mode == "zeros"
    with pytest.raises(ValueError, match=rf"^{layer.__name__}: padding_mode must be 'zeros' \(the "
                                         rf"only mode xpnet's convolutions have\), got 'reflect'$"):
        layer(2, 2, 3, padding_mode="reflect")
