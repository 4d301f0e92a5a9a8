import pytest

import xpnet
from xpnet.optim.lbfgs import LBFGS
from xpnet.testing import assert_close

from ._quadratic import MINIMUM, run


def test_lbfgs_solves_a_quadratic_in_one_step(device):
    p = run(xpnet, lambda ps: LBFGS(ps, lr=1.0), 1, device, closure_steps=True)
    assert_close(p, MINIMUM, atol=1e-6)


@pytest.mark.parametrize("settings", [dict(), dict(lr=0.5, max_iter=7, history_size=3),
                                      dict(lr=0.3, max_iter=4, max_eval=3)])
def test_lbfgs_matches_torch(device, settings):
    torch = pytest.importorskip("torch")
    mine = run(xpnet, lambda ps: LBFGS(ps, **settings), 3, device, closure_steps=True)
    theirs = run(torch, lambda ps: torch.optim.LBFGS(ps, **settings), 3, closure_steps=True)
    assert_close(mine, theirs, rtol=1e-9, atol=1e-12)


def test_lbfgs_has_pytorchs_defaults():
    group = LBFGS([xpnet.nn.Parameter(xpnet.zeros(2))]).param_groups[0]
    assert (group["lr"], group["max_iter"], group["max_eval"], group["history_size"],
            group["line_search_fn"]) == (1.0, 20, 25, 100, None)


def test_lbfgs_returns_the_first_loss_of_the_step():
    p = xpnet.nn.Parameter(xpnet.tensor([2.0]))
    opt = LBFGS([p])

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0 and abs(p.item()) < 1e-6


def test_lbfgs_refuses_strong_wolfe_groups_and_a_missing_closure():
    p = [xpnet.nn.Parameter(xpnet.zeros(2))]
    with pytest.raises(ValueError, match="LBFGS: line_search_fn='strong_wolfe' is not supported"):
        LBFGS(p, line_search_fn="strong_wolfe")
    with pytest.raises(ValueError, match="LBFGS: doesn't support per-parameter options"):
        LBFGS([{"params": p}, {"params": [xpnet.nn.Parameter(xpnet.zeros(1))]}])
    with pytest.raises(TypeError, match=r"LBFGS: step\(\) needs a closure"):
        LBFGS(p).step(None)
