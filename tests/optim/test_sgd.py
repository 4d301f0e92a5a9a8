import numpy as np
import pytest

from xpnet import optim
from xpnet.testing import assert_close

from ._problem import W0, W_STAR, ids, numpy_grad, parameter, resumed, run, run_torch, steps

CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1),
]


def reference(kw, n=5):
    """PyTorch's SGD, written out in NumPy (the first momentum step sets buf = g)."""
    w, buf, out = W0.copy(), None, []
    momentum, dampening = kw.get("momentum", 0.0), kw.get("dampening", 0.0)
    for _ in range(n):
        g = numpy_grad(w) + kw.get("weight_decay", 0.0) * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if kw.get("nesterov") else buf
        w = w - kw["lr"] * g
        out.append(w)
    return np.array(out)


@pytest.mark.parametrize("kw", CASES, ids=ids(CASES))
def test_sgd_follows_the_pytorch_update_rule(device, kw):
    assert_close(run(optim.SGD, kw, device), reference(kw), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", CASES, ids=ids(CASES))
def test_sgd_matches_torch_optim(kw):
    theirs = run_torch("SGD", kw)
    assert_close(run(optim.SGD, kw, "cpu"), theirs, rtol=1e-12, atol=1e-14)


def test_sgd_with_momentum_converges_to_the_minimum_in_float32(device):
    w = parameter(device, "float32")
    steps(optim.SGD([w], lr=0.6, momentum=0.6), w, 60)
    assert_close(w, W_STAR.astype(np.float32), atol=1e-4)


@pytest.mark.parametrize("kw", [CASES[3], CASES[4]], ids=ids([CASES[3], CASES[4]]))
def test_sgd_state_dict_round_trip_continues_identically(device, kw, tmp_path):
    assert_close(resumed(optim.SGD, kw, device, tmp_path), run(optim.SGD, kw, device, 6)[-1],
                 rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kw, message", [
    (dict(lr=-0.1), r"^SGD: lr must be >= 0, got -0.1$"),
    (dict(lr=0.1, nesterov=True), r"^SGD: nesterov needs momentum > 0 and dampening = 0$"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     r"^SGD: nesterov needs momentum > 0 and dampening = 0$"),
    (dict(lr=0.1, momentum=-1), r"^SGD: momentum must be >= 0, got -1$"),
    (dict(lr=0.1, dampening=-0.5), r"^SGD: dampening must be >= 0, got -0.5$"),
    (dict(lr=0.1, weight_decay=-1e-4), r"^SGD: weight_decay must be >= 0, got -0.0001$"),
])
def test_sgd_rejects_bad_hyperparameters_with_clear_messages(kw, message):
    with pytest.raises(ValueError, match=message):
        optim.SGD([parameter("cpu")], **kw)
