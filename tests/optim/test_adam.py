import math

import numpy as np
import pytest

from xpnet import optim
from xpnet.testing import assert_close

from ._problem import W0, W_STAR, ids, numpy_grad, parameter, resumed, run, run_torch, steps

CASES = [
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.05, amsgrad=True)),
    (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.2)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.0)),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
]
IDS = [f"{cls.__name__}-{i}" for (cls, _), i in zip(CASES, ids([kw for _, kw in CASES]))]


def reference(cls, kw, n=5):
    """PyTorch's Adam / AdamW, written out in NumPy (bias corrections from the step count t)."""
    lr, (beta1, beta2) = kw["lr"], kw.get("betas", (0.9, 0.999))
    eps, amsgrad = kw.get("eps", 1e-8), kw.get("amsgrad", False)
    wd = kw.get("weight_decay", 1e-2 if cls is optim.AdamW else 0.0)
    w, m, v, v_max, out = W0.copy(), 0.0, 0.0, 0.0, []
    for t in range(1, n + 1):
        g = numpy_grad(w)
        if cls is optim.AdamW:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = np.maximum(v_max, v)
        denom = np.sqrt(v_max if amsgrad else v) / math.sqrt(1 - beta2 ** t) + eps
        w = w - lr / (1 - beta1 ** t) * m / denom
        out.append(w)
    return np.array(out)


@pytest.mark.parametrize("cls, kw", CASES, ids=IDS)
def test_adam_follows_the_pytorch_update_rule(device, cls, kw):
    assert_close(run(cls, kw, device), reference(cls, kw), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls, kw", CASES, ids=IDS)
def test_adam_matches_torch_optim(cls, kw):
    theirs = run_torch(cls.__name__, kw)
    assert_close(run(cls, kw, "cpu"), theirs, rtol=1e-12, atol=1e-14)


def test_adamw_defaults_to_weight_decay_0_01():
    assert optim.AdamW([parameter("cpu")]).param_groups[0]["weight_decay"] == 1e-2
    assert optim.Adam([parameter("cpu")]).param_groups[0]["weight_decay"] == 0.0


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_adam_converges_near_the_minimum_in_float32(device, cls):
    w = parameter(device, "float32")
    steps(cls([w], lr=0.1, weight_decay=0.0), w, 100)
    assert np.abs(w.numpy() - W_STAR).max() < 0.05


@pytest.mark.parametrize("cls, kw", [CASES[1], CASES[6]], ids=[IDS[1], IDS[6]])
def test_adam_state_dict_round_trip_continues_identically(device, cls, kw, tmp_path):
    assert_close(resumed(cls, kw, device, tmp_path), run(cls, kw, device, 6)[-1],
                 rtol=1e-14, atol=1e-15)


def test_adam_state_dict_holds_the_step_count_and_both_moments(device):
    w = parameter(device)
    opt = optim.Adam([w], amsgrad=True)
    steps(opt, w, 2)
    state = opt.state_dict()["state"][0]
    assert state["step"] == 2
    assert sorted(state) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert state["exp_avg"].device == device and state["exp_avg"].shape == W0.shape


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"^Adam: betas\[0\] must be in \[0, 1\), got 1.0$"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"^Adam: betas\[1\] must be in \[0, 1\), got -0.1$"),
    (lambda p: optim.Adam(p, lr=-1.0), r"^Adam: lr must be >= 0, got -1.0$"),
    (lambda p: optim.Adam(p, eps=-1e-8), r"^Adam: eps must be >= 0, got -1e-08$"),
    (lambda p: optim.AdamW(p, weight_decay=-0.1), r"^AdamW: weight_decay must be >= 0, got -0.1$"),
])
def test_adam_rejects_bad_hyperparameters_with_clear_messages(make, message):
    with pytest.raises(ValueError, match=message):
        make([parameter("cpu")])
