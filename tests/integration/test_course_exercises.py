"""Course exercises worked by hand, checked against xpnet's autograd on every device."""
import math

import numpy as np

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck


def _scalar(value, device):
    return xpnet.tensor([value], device=device, dtype="float64", requires_grad=True)


def _descend(w0, alpha, steps, device, stop_above=math.inf):
    """Gradient descent on f(w) = 0.25w⁴ − 1.5w³ − 1.25w² + 6w; the gradient from autograd."""
    w, iterates = _scalar(w0, device), []
    for _ in range(steps):
        f = 0.25 * w ** 4 - 1.5 * w ** 3 - 1.25 * w ** 2 + 6.0 * w
        f.backward()
        with xpnet.no_grad():
            w = w - alpha * w.grad
        w.requires_grad_()
        iterates.append(w.item())
        if not math.isfinite(iterates[-1]) or abs(iterates[-1]) > stop_above:
            break
    return iterates


def test_gradient_descent_on_a_quartic_follows_the_hand_computed_iterates(device):
    # f'(w) = w³ − 4.5w² − 2.5w + 6, α = 1/20, exact fractions:
    # w0 = 2:  f'(2) = 8 − 18 − 5 + 6 = −9                   -> w1 = 2 + 9/20 = 49/20 = 2.45
    # w1 = 49/20:
    #   f'(w1) = 117649/8000 − 216090/8000 − 49000/8000 + 48000/8000 = −99441/8000
    #                                                        -> w2 = 491441/160000 = 3.07150625
    # w2 = 491441/160000:
    #   w2² = 241514256481/25600000000, w2³ = 118690007719279121/4096000000000000,
    #   f'(w2) = −62076480947040879/4096000000000000 ≈ −15.155390856211152
    #   -> w3 = 313694272947040879/81920000000000000 ≈ 3.8292757928105576
    iterates = _descend(2.0, 0.05, 3, device)
    expected = [49 / 20, 491441 / 160000, 313694272947040879 / 81920000000000000]
    assert_close(np.array(iterates), np.array(expected), rtol=0, atol=1e-9)


def test_gradient_descent_with_a_large_step_blows_up(device):
    # α = 0.5: w1 = 2 + 4.5 = 6.5, f'(6.5) = 74.25 -> w2 = −30.625, and |w| grows cubically after
    iterates = _descend(2.0, 0.5, 20, device, stop_above=1e6)
    assert iterates[:2] == [6.5, -30.625]
    assert not math.isfinite(iterates[-1]) or abs(iterates[-1]) > 1e6
    assert len(iterates) < 20


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_two_three_one_sigmoid_network_gradients_match_the_chain_rule(device):
    x = np.array([[0.35], [0.9]])
    y = 0.5
    w1 = np.array([[0.1, 0.8], [0.4, 0.6], [0.3, -0.2]])
    b1 = np.array([[0.1], [-0.2], [0.05]])
    w2 = np.array([[0.3, -0.9, 0.5]])
    b2 = np.array([[0.2]])

    # by hand: forward, then δ_out = (ŷ − y)·ŷ(1 − ŷ), δ_h = W2ᵀ δ_out ⊙ h(1 − h)
    h = _sigmoid(w1 @ x + b1)
    y_hat = _sigmoid(w2 @ h + b2)
    delta_out = (y_hat - y) * y_hat * (1.0 - y_hat)
    delta_h = (w2.T @ delta_out) * h * (1.0 - h)
    expected = {"w2": delta_out @ h.T, "b2": delta_out, "w1": delta_h @ x.T, "b1": delta_h}

    params = {name: xpnet.tensor(value, device=device, requires_grad=True)
              for name, value in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))}
    xt = xpnet.tensor(x, device=device)
    h_t = F.sigmoid(params["w1"] @ xt + params["b1"])
    y_hat_t = F.sigmoid(params["w2"] @ h_t + params["b2"])
    loss = 0.5 * (y_hat_t - y) ** 2
    loss.sum().backward()
    assert_close(loss, 0.5 * (y_hat - y) ** 2, rtol=1e-14)
    for name, grad in expected.items():
        assert_close(params[name].grad, grad, rtol=1e-12, atol=1e-15, msg=name)


def test_gradient_of_a_squared_linear_form(device):
    # L = (w1·x + w2·y)²: ∂L/∂w1 = 2(w1·x + w2·y)·x, ∂L/∂w2 = 2(w1·x + w2·y)·y
    x, y = 3.0, -2.0
    w1, w2 = _scalar(0.5, device), _scalar(1.5, device)
    loss = (w1 * x + w2 * y) ** 2
    loss.backward()
    assert_close(loss, [2.25], rtol=1e-15)                    # (1.5 − 3)² = 2.25
    assert_close(w1.grad, [2 * (0.5 * x + 1.5 * y) * x], rtol=1e-15)   # −9
    assert_close(w2.grad, [2 * (0.5 * x + 1.5 * y) * y], rtol=1e-15)   # 6
    assert w1.grad.item() == -9.0 and w2.grad.item() == 6.0
    gradcheck(lambda a, b: (a * x + b * y) ** 2, _scalar(0.5, device), _scalar(1.5, device))
