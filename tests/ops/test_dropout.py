import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest(device, p):
    x = xpnet.ones(100, 100, device=device, dtype="float64")
    y = F.dropout(x, p).numpy()
    dropped = np.mean(y == 0.0)
    assert abs(dropped - p) < 0.025  # 10_000 draws: the standard deviation is below 0.005
    assert_close(y[y != 0.0], np.full(int(np.sum(y != 0.0)), 1.0 / (1.0 - p)), rtol=1e-15)
    assert abs(y.mean() - 1.0) < 0.05  # inverted dropout keeps the expectation


def test_dropout_is_the_identity_in_eval_mode_and_at_p_zero(device):
    x, = random_inputs(device, (3, 4))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_gradient_is_the_mask_times_the_scale(device):
    x, = random_inputs(device, (4, 5), low=0.5, high=1.0)
    g, = random_inputs(device, (4, 5), seed=1, requires_grad=False)
    y = F.dropout(x, 0.4)
    y.backward(g)
    mask = y.numpy() != 0.0
    assert_close(x.grad, g.numpy() * mask / 0.6, rtol=1e-15)
    assert_close(y, x.numpy() * mask / 0.6, rtol=1e-15)


def test_dropout_matches_finite_differences_with_a_fixed_seed(device):
    x, = random_inputs(device, (2, 3))

    def seeded_dropout(x):
        xpnet.manual_seed(3)  # the same mask on every call
        return F.dropout(x, 0.5)

    gradcheck(seeded_dropout, x)


def test_dropout_is_reproducible_with_manual_seed(device):
    x = xpnet.ones(8, 8, device=device)
    xpnet.manual_seed(7)
    first, second = F.dropout(x).numpy(), F.dropout(x).numpy()
    xpnet.manual_seed(7)
    assert_close(F.dropout(x), first, rtol=0, atol=0)
    assert_close(F.dropout(x), second, rtol=0, atol=0)
    assert not np.array_equal(first, second)  # the stream moves on between calls
    xpnet.manual_seed(8)
    assert not np.array_equal(F.dropout(x).numpy(), first)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_rejects_p_outside_zero_one(device, p):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(ValueError, match=rf"dropout: p must be in \[0, 1\), got {p}"):
        F.dropout(x, p)
