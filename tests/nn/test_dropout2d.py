import numpy as np
import pytest

import xpnet
from xpnet.nn.dropout2d import Dropout2d, dropout2d


def test_dropout2d_zeroes_whole_channels_and_scales_the_rest(device):
    x = xpnet.ones(8, 16, 3, 3, device=device, requires_grad=True)
    y = Dropout2d(0.25)(x)
    values = y.numpy().reshape(8, 16, 9)
    assert np.all(values.std(axis=-1) == 0)                # one draw per (sample, channel)
    assert np.all((values == 0) | np.isclose(values, 1 / 0.75))
    assert 0 < (values[:, :, 0] == 0).sum() < 8 * 16
    y.sum().backward()
    assert np.array_equal(x.grad.numpy(), y.numpy())     # grad is the scaled mask


def test_dropout2d_is_the_identity_in_eval_mode_or_with_p_zero(device):
    x = xpnet.randn(2, 3, 4, 4, device=device)
    assert Dropout2d(0.5).eval()(x) is x
    assert dropout2d(x, 0.0) is x


def test_dropout2d_takes_an_unbatched_input(device):
    y = dropout2d(xpnet.ones(32, 2, 2, device=device), 0.5).numpy()
    assert y.shape == (32, 2, 2) and np.all(y.reshape(32, 4).std(axis=-1) == 0)


def test_dropout2d_keeps_about_one_minus_p_of_the_channels():
    kept = (dropout2d(xpnet.ones(100, 100, 1, 1), 0.3).numpy() > 0).mean()
    assert abs(kept - 0.7) < 0.03


def test_dropout2d_repr_and_arguments_match_torch():
    torch = pytest.importorskip("torch")
    assert repr(Dropout2d(0.2)) == repr(torch.nn.Dropout2d(0.2))
    t = torch.nn.Dropout2d(0.5).eval()(torch.ones(1, 2, 2, 2))
    assert Dropout2d(0.5).eval()(xpnet.ones(1, 2, 2, 2)).tolist() == t.tolist()


def test_dropout2d_rejects_bad_p_and_shapes():
    with pytest.raises(ValueError, match=r"Dropout2d: p must be in \[0, 1\), got 1"):
        Dropout2d(1.0)
    with pytest.raises(ValueError, match=r"dropout2d: input must be \(N, C, H, W\) or \(C, H, W\)"):
        dropout2d(xpnet.ones(3, 4), 0.5)
