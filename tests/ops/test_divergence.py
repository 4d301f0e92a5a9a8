import warnings

import numpy as np
import pytest

import xpnet
import xpnet.nn.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs


KL_REDUCTIONS = ["mean", "batchmean", "sum", "none"]


def _kl_inputs(device, input_rows=3, target_rows=3, log_target=False, seed=11):
    """log q (input) and p (target) as distributions over 4 classes, one target entry 0."""
    rng = np.random.default_rng(seed)
    log_q = np.log(rng.dirichlet(np.ones(4), size=input_rows))
    p = rng.dirichlet(np.ones(4), size=target_rows)
    p[0, 1] = 0.0
    if log_target:
        p = np.log(p + 0.1)
    return (xpnet.tensor(log_q, device=device, requires_grad=True),
            xpnet.tensor(p, device=device, requires_grad=True))


def _kl_reference(log_q, p, reduction, log_target):
    pointwise = np.exp(p) * (p - log_q) if log_target else \
        np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - log_q), 0.0)
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray,
            "batchmean": lambda a: a.sum() / log_q.shape[0]}[reduction](pointwise)


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
def test_kl_div_matches_numpy_and_finite_differences(device, reduction, log_target):
    log_q, p = _kl_inputs(device, log_target=log_target)
    expected = _kl_reference(log_q.numpy(), p.numpy(), reduction, log_target)
    assert_close(F.kl_div(log_q, p, reduction, log_target), expected, rtol=1e-12, atol=1e-15)
    if log_target:
        gradcheck(F.kl_div, log_q, p, reduction=reduction, log_target=True)
    else:   # the target gradient jumps at p = 0: check it away from there
        gradcheck(F.kl_div, log_q, p.detach(), reduction=reduction)
        positive, = random_inputs(device, (3, 4), low=0.1, high=0.9, seed=12)
        gradcheck(F.kl_div, log_q, positive, reduction=reduction)


def test_kl_div_batchmean_is_the_kl_divergence_per_sample(device):
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    q = np.array([[0.9, 0.1], [0.5, 0.5]])
    exact = np.mean([np.sum(a * np.log(a / b)) for a, b in zip(p, q)])
    got = F.kl_div(xpnet.tensor(np.log(q), device=device), xpnet.tensor(p, device=device),
                   reduction="batchmean")
    assert_close(got, exact, rtol=1e-6)


@pytest.mark.parametrize("shapes", [(1, 3), (3, 1)], ids=["input_broadcasts", "target_broadcasts"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
def test_kl_div_matches_torch_also_when_broadcasting(device, reduction, log_target, shapes):
    torch = pytest.importorskip("torch")
    log_q, p = _kl_inputs(device, *shapes, log_target=log_target)
    tq, tp = (torch.tensor(t.numpy(), requires_grad=True) for t in (log_q, p))
    y = F.kl_div(log_q, p, reduction, log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch's notes on 'mean' and on broadcasting
        ty = torch.nn.functional.kl_div(tq, tp, reduction=reduction, log_target=log_target)
    assert_close(y, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    grad_y = np.random.default_rng(13).standard_normal(y.shape)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    assert_close(log_q.grad, tq.grad.numpy(), rtol=1e-12, atol=1e-15)
    ours, theirs = p.grad.numpy(), tp.grad.numpy()
    if not log_target:
        # where the target is 0 its gradient (log p + 1 - log q) is -inf from the right:
        # xpnet gives 0, as PyTorch's kl_div_target_backward did; PyTorch 2 gives nan
        zero = np.broadcast_to(p.numpy() == 0, ours.shape)
        assert np.all(ours[zero] == 0) and np.all(np.isnan(theirs[zero]))
        ours, theirs = ours[~zero], theirs[~zero]
    assert_close(ours, theirs, rtol=1e-12, atol=1e-15)


def test_kl_div_rejects_bad_input(device):
    log_q, p = _kl_inputs(device)
    with pytest.raises(ValueError, match=r"^kl_div: reduction must be 'mean', 'batchmean', "
                                         r"'sum' or 'none', got 'avg'$"):
        F.kl_div(log_q, p, reduction="avg")
    with pytest.raises(ValueError, match=r"^kl_div: input and target must broadcast together, "
                                         r"got input \(3, 4\) and target \(2, 4\)$"):
        F.kl_div(log_q, p[:2])
    with pytest.raises(TypeError, match=r"^kl_div: target must be a Tensor, got ndarray$"):
        F.kl_div(log_q, p.numpy())
