import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close, random_inputs


def test_max_pool2d_layer_halves_and_takes_window_maxima(device):
    x = xpnet.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), device=device)
    assert_close(nn.MaxPool2d(2)(x), np.array([[[[5, 7], [13, 15]]]], np.float32))
    assert_close(nn.AvgPool2d(2)(x), np.array([[[[2.5, 4.5], [10.5, 12.5]]]], np.float32))


def test_pool_layers_take_pytorch_arguments(device):
    x, = random_inputs(device, (2, 3, 7, 7), requires_grad=False)
    assert nn.MaxPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 4, 4)
    assert nn.AvgPool2d((2, 3), stride=1, count_include_pad=False)(x).shape == (2, 3, 6, 5)
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert list(nn.MaxPool2d(2).parameters()) == []


def test_pool_layers_match_torch(device):
    torch = pytest.importorskip("torch")
    host = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    x = xpnet.tensor(host, device=device)
    assert_close(nn.MaxPool2d(3, 2, 1)(x), torch.nn.MaxPool2d(3, 2, 1)(torch.tensor(host)).numpy())
    assert_close(nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x),
                 torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)(torch.tensor(host)).numpy())


def test_pool_layers_name_themselves_in_front_of_the_ops_errors(device):
    with pytest.raises(ValueError, match=r"^MaxPool2d\(kernel_size=\(2, 2\), stride=\(2, 2\), "
                                         r"padding=\(0, 0\)\): max_pool2d: input must be 4-D "
                                         r"\(N, C, H, W\), got shape \(3, 4, 4\)$"):
        nn.MaxPool2d(2)(xpnet.zeros(3, 4, 4, device=device))
    with pytest.raises(ValueError, match=r"^AvgPool2d\(kernel_size=\(5, 5\), stride=\(5, 5\), "
                                         r"padding=\(0, 0\)\): avg_pool2d: the kernel must fit in "
                                         r"the padded input, got kernel \(5, 5\) and padded input "
                                         r"\(4, 4\)$"):
        nn.AvgPool2d(5)(xpnet.zeros(1, 1, 4, 4, device=device))
    with pytest.raises(ValueError, match=r"^MaxPool2d: padding must be between 0 and half"):
        nn.MaxPool2d(2, padding=2)
