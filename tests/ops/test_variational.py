import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs


def test_reparameterize_is_mu_plus_sigma_times_the_devices_normal_draw(device):
    mu, logvar = random_inputs(device, (5, 3), (5, 3), seed=1)
    state = xpnet.get_rng_state()
    z = F.reparameterize(mu, logvar)
    xpnet.set_rng_state(state)
    eps = xpnet.randn(5, 3, device=device, dtype="float64").numpy()   # the same draw
    assert_close(z, mu.numpy() + np.exp(0.5 * logvar.numpy()) * eps, rtol=1e-12)
    grad_z = np.random.default_rng(2).standard_normal((5, 3))
    z.backward(xpnet.tensor(grad_z, device=device))
    assert_close(mu.grad, grad_z, rtol=1e-12)
    assert_close(logvar.grad, 0.5 * grad_z * np.exp(0.5 * logvar.numpy()) * eps, rtol=1e-12)


def test_reparameterize_matches_finite_differences_for_a_fixed_draw(device):
    mu, logvar = random_inputs(device, (2, 3), (2, 3), seed=3)

    def fixed_draw(mu, logvar):
        xpnet.manual_seed(11)        # the same ε at every evaluation
        return F.reparameterize(mu, logvar)

    gradcheck(fixed_draw, mu, logvar)


def test_reparameterize_samples_have_the_right_moments(device):
    mu = xpnet.full((20_000, 2), 3.0, dtype="float64", device=device)
    logvar = xpnet.full((20_000, 2), np.log(4.0), dtype="float64", device=device)
    z = F.reparameterize(mu, logvar).numpy()
    assert abs(z.mean() - 3) < 0.05 and abs(z.std() - 2) < 0.05


@pytest.mark.parametrize("reduction", ["sum", "batchmean", "mean", "none"])
def test_gaussian_kl_matches_the_closed_form_and_finite_differences(device, reduction):
    mu, logvar = random_inputs(device, (4, 3), (4, 3), seed=4)
    m, lv = mu.numpy(), logvar.numpy()
    pointwise = -0.5 * (1 + lv - m ** 2 - np.exp(lv))
    expected = {"sum": pointwise.sum(), "batchmean": pointwise.sum() / 4,
                "mean": pointwise.mean(), "none": pointwise}[reduction]
    assert_close(F.gaussian_kl(mu, logvar, reduction), expected, rtol=1e-12)
    gradcheck(F.gaussian_kl, mu, logvar, reduction=reduction)


def test_gaussian_kl_equals_torch_distributions_kl(device):
    torch = pytest.importorskip("torch")
    mu, logvar = random_inputs(device, (3, 2), (3, 2), seed=5)
    tm, tlv = (torch.tensor(t.numpy(), requires_grad=True) for t in (mu, logvar))
    normal = torch.distributions.Normal
    theirs = torch.distributions.kl_divergence(normal(tm, torch.exp(0.5 * tlv)),
                                               normal(torch.zeros(3, 2), torch.ones(3, 2))).sum()
    ours = F.gaussian_kl(mu, logvar)
    assert_close(ours, theirs.detach().numpy(), rtol=1e-12)
    ours.backward()
    theirs.backward()
    assert_close(mu.grad, tm.grad.numpy(), rtol=1e-12)
    assert_close(logvar.grad, tlv.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("op", [F.reparameterize, F.gaussian_kl])
def test_variational_ops_reject_mismatched_shapes(device, op):
    mu, logvar = random_inputs(device, (4, 3), (4, 2))
    with pytest.raises(ValueError, match=rf"^{op.__name__}: mu and logvar must have the same "
                                         r"shape, got mu \(4, 3\) and logvar \(4, 2\)$"):
        op(mu, logvar)


def test_gaussian_kl_rejects_an_unknown_reduction(device):
    mu, logvar = random_inputs(device, (4, 3), (4, 3))
    with pytest.raises(ValueError, match=r"^gaussian_kl: reduction must be one of"):
        F.gaussian_kl(mu, logvar, reduction="avg")



@pytest.mark.parametrize("op", [F.reparameterize, F.gaussian_kl], ids=lambda op: op.__name__)
def test_variational_ops_refuse_integer_input(device, op):
    mu = xpnet.zeros(2, 3, device=device, dtype="int64")
    with pytest.raises(TypeError, match=rf"^{op.__name__}: mu must be floating-point, got dtype "
                                        r"int64; convert it with .float\(\)$"):
        op(mu, xpnet.zeros(2, 3, device=device))
