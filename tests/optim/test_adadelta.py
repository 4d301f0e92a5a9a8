import numpy as np
import pytest

import xpnet
from xpnet.optim.adadelta import Adadelta
from xpnet.testing import assert_close

from ._quadratic import MINIMUM, START, run

SETTINGS = [dict(), dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)]


def test_adadelta_moves_towards_the_minimum_of_a_quadratic(device):
    # Adadelta's steps start at about sqrt(eps): it approaches slowly, but it must approach
    start = np.linalg.norm(START.ravel() - MINIMUM)
    end = run(xpnet, lambda ps: Adadelta(ps, lr=1.0, rho=0.9, eps=1e-3), 600, device)
    assert np.linalg.norm(end - MINIMUM) < 0.2 * start


@pytest.mark.parametrize("settings", SETTINGS)
def test_adadelta_matches_torch(device, settings):
    torch = pytest.importorskip("torch")
    mine = run(xpnet, lambda ps: Adadelta(ps, **settings), 6, device)
    theirs = run(torch, lambda ps: torch.optim.Adadelta(ps, **settings), 6)
    assert_close(mine, theirs, rtol=1e-12)


def test_adadelta_keeps_pytorchs_state_names():
    p = xpnet.nn.Parameter(xpnet.ones(2))
    opt = Adadelta([p])
    p.grad = xpnet.ones(2)
    opt.step()
    assert sorted(opt.state_dict()["state"][0]) == ["acc_delta", "square_avg", "step"]


def test_adadelta_rejects_rho_outside_0_1():
    with pytest.raises(ValueError, match=r"Adadelta: rho must be in \[0, 1\], got 1.5"):
        Adadelta([xpnet.nn.Parameter(xpnet.zeros(2))], rho=1.5)
