import numpy as np
import pytest

from xpnet import optim
from xpnet.testing import assert_close

from ._problem import W0, W_STAR, ids, numpy_grad, parameter, resumed, run, run_torch, steps

CASES = [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1),
    dict(lr=0.01, momentum=0.5),
    dict(lr=0.01, centered=True, alpha=0.9),
    dict(lr=0.01, centered=True, momentum=0.7, weight_decay=0.05),
]


def reference(kw, n=5):
    """PyTorch's RMSprop, written out in NumPy."""
    lr, alpha, eps = kw["lr"], kw.get("alpha", 0.99), kw.get("eps", 1e-8)
    momentum = kw.get("momentum", 0.0)
    w, square_avg, grad_avg, buf, out = W0.copy(), 0.0, 0.0, 0.0, []
    for _ in range(n):
        g = numpy_grad(w) + kw.get("weight_decay", 0.0) * w
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        grad_avg = alpha * grad_avg + (1 - alpha) * g
        variance = square_avg - grad_avg ** 2 if kw.get("centered") else square_avg
        avg = np.sqrt(variance) + eps
        if momentum:
            buf = momentum * buf + g / avg
            w = w - lr * buf
        else:
            w = w - lr * g / avg
        out.append(w)
    return np.array(out)


@pytest.mark.parametrize("kw", CASES, ids=ids(CASES))
def test_rmsprop_follows_the_pytorch_update_rule(device, kw):
    assert_close(run(optim.RMSprop, kw, device), reference(kw), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", CASES, ids=ids(CASES))
def test_rmsprop_matches_torch_optim(kw):
    theirs = run_torch("RMSprop", kw)
    assert_close(run(optim.RMSprop, kw, "cpu"), theirs, rtol=1e-10, atol=1e-12)


def test_rmsprop_converges_near_the_minimum_in_float32(device):
    w = parameter(device, "float32")
    steps(optim.RMSprop([w], lr=0.05, alpha=0.9), w, 100)
    assert np.abs(w.numpy() - W_STAR).max() < 0.05


def test_rmsprop_state_dict_round_trip_continues_identically(device, tmp_path):
    kw = CASES[4]
    assert_close(resumed(optim.RMSprop, kw, device, tmp_path),
                 run(optim.RMSprop, kw, device, 6)[-1], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kw, message", [
    (dict(alpha=1.5), r"^RMSprop: alpha must be in \[0, 1\], got 1.5$"),
    (dict(momentum=-0.1), r"^RMSprop: momentum must be >= 0, got -0.1$"),
    (dict(eps=-1.0), r"^RMSprop: eps must be >= 0, got -1.0$"),
    (dict(lr=-0.01), r"^RMSprop: lr must be >= 0, got -0.01$"),
])
def test_rmsprop_rejects_bad_hyperparameters_with_clear_messages(kw, message):
    with pytest.raises(ValueError, match=message):
        optim.RMSprop([parameter("cpu")], **kw)
