import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close

SETTINGS = [dict(scale_factor=2), dict(size=(5, 7)), dict(scale_factor=(1.5, 2.0), mode="bilinear"),
            dict(size=6, mode="bilinear", align_corners=True)]


@pytest.mark.parametrize("kwargs", SETTINGS, ids=["nearest_x2", "nearest_size", "bilinear",
                                                  "align_corners"])
def test_upsample_equals_torch_forward_backward_and_repr(device, kwargs):
    torch = pytest.importorskip("torch")
    host = np.random.default_rng(0).standard_normal((2, 3, 4, 3))
    x = xpnet.tensor(host, device=device, requires_grad=True)
    tx = torch.tensor(host, requires_grad=True)
    mine, theirs = nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs)
    assert repr(mine) == repr(theirs) and list(mine.parameters()) == []
    y, ty = mine(x), theirs(tx)
    assert_close(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    grad_y = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_upsample_repeats_each_pixel(device):
    x = xpnet.tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), device=device)
    assert nn.Upsample(scale_factor=2)(x).tolist() == [[[[1, 1, 2, 2], [1, 1, 2, 2],
                                                         [3, 3, 4, 4], [3, 3, 4, 4]]]]


def test_upsample_names_itself_in_front_of_the_ops_errors(device):
    with pytest.raises(ValueError, match=r"^Upsample\(scale_factor=2.0, mode='bicubic'\): "
                                         r"interpolate: mode must be one of \('nearest', "
                                         r"'bilinear'\), got 'bicubic'$"):
        nn.Upsample(scale_factor=2, mode="bicubic")(xpnet.zeros(1, 1, 2, 2, device=device))
    with pytest.raises(ValueError, match=r"^Upsample\(size=4, mode='nearest'\): interpolate: "
                                         r"input must be 4-D"):
        nn.Upsample(size=4)(xpnet.zeros(1, 2, 2, device=device))
