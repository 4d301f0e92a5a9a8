import numpy as np
import pytest

import xpnet
from xpnet.optim.adagrad import Adagrad
from xpnet.testing import assert_close

from ._quadratic import MINIMUM, START, run

SETTINGS = [dict(lr=0.1), dict(lr=0.1, lr_decay=0.01, weight_decay=0.1,
                                initial_accumulator_value=0.1, eps=1e-8)]


def test_adagrad_first_step_is_lr_times_the_sign_of_the_gradient(device):
    # s = g², so the first step is lr·g/|g| (up to eps)
    p = run(xpnet, lambda ps: Adagrad(ps, lr=0.1), 1, device)
    g = np.array([3.0 * 1.5 + 0.5 * -0.5 - 1.0, 0.5 * 1.5 - 0.5 + 2.0])
    assert_close(p, START.ravel() - 0.1 * np.sign(g), rtol=1e-9)


def test_adagrad_converges_on_a_quadratic(device):
    assert_close(run(xpnet, lambda ps: Adagrad(ps, lr=0.5), 300, device), MINIMUM, atol=1e-4)


@pytest.mark.parametrize("settings", SETTINGS)
def test_adagrad_matches_torch(device, settings):
    torch = pytest.importorskip("torch")
    mine = run(xpnet, lambda ps: Adagrad(ps, **settings), 6, device)
    theirs = run(torch, lambda ps: torch.optim.Adagrad(ps, **settings), 6)
    assert_close(mine, theirs, rtol=1e-12)


def test_adagrad_rejects_bad_settings():
    p = [xpnet.nn.Parameter(xpnet.zeros(2))]
    with pytest.raises(ValueError, match="Adagrad: lr_decay must be >= 0, got -1"):
        Adagrad(p, lr_decay=-1)
    with pytest.raises(ValueError, match="Adagrad: initial_accumulator_value must be >= 0"):
        Adagrad(p, initial_accumulator_value=-0.5)
