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


def test_conv2d_names_the_layer_when_the_channel_count_is_wrong(device):
    layer = nn.Conv2d(3, 4, 3, device=device)
    x = xpnet.zeros(8, 1, 28, 28, device=device)
    with pytest.raises(ValueError, match=r"^Conv2d\(in_channels=3\): input must be \(N, 3, H, W\), "
                                         r"got \(8, 1, 28, 28\)$"):
        layer(x)


def test_conv2d_rejects_input_that_is_not_4d(device):
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1\): input must be \(N, 1, H, W\), "
                                         r"got \(1, 28, 28\)"):
        nn.Conv2d(1, 4, 3, device=device)(xpnet.zeros(1, 28, 28, device=device))


def test_conv2d_rejects_a_kernel_larger_than_the_padded_input(device):
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1\): the kernel must fit in the "
                                         r"padded input, got kernel \(5, 5\)"):
        nn.Conv2d(1, 1, 5, padding=1, device=device)(xpnet.zeros(1, 1, 2, 2, device=device))


def test_conv2d_rejects_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=4\): groups must divide "
                                         r"in_channels and out_channels, got groups=3"):
        nn.Conv2d(4, 6, 3, groups=3)


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
            p.data = p.data - 0.2 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
