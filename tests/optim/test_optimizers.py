import math

import numpy as np
import pytest

import xpnet
from xpnet import nn, optim
from xpnet.optim import clip_grad_norm_, clip_grad_value_
from xpnet.testing import assert_close

W0 = np.array([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, weight_decay=0.05)),
    (optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    (optim.Adam, dict(lr=0.05, amsgrad=True)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, weight_decay=0.1)),
    (optim.RMSprop, dict(lr=0.01, centered=True, alpha=0.9)),
]
IDS = [f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in CASES]


def _loss(w):
    """A fixed non-quadratic objective: sum(w^4)/4 + sum(w * c)."""
    c = xpnet.tensor(np.array([[0.3, -0.2, 0.1], [0.0, 0.5, -0.4]]), dtype="float64",
                     device=w.device)
    return (w * w * w * w).sum() / 4.0 + (w * c).sum()


def _grad(w):
    return w ** 3 + np.array([[0.3, -0.2, 0.1], [0.0, 0.5, -0.4]])


def _run_xpnet(cls, kw, device, steps=6):
    w = nn.Parameter(xpnet.tensor(W0, dtype="float64", device=device))
    opt = cls([w], **kw)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(w).backward()
        opt.step()
        trajectory.append(w.numpy().copy())
    return np.array(trajectory)


def _reference(cls, kw, steps=6):
    """PyTorch's update rules, written out in NumPy."""
    w = W0.copy()
    lr, wd = kw["lr"], kw.get("weight_decay", 0.0)
    buf = m = v = vmax = sq = gavg = None
    out = []
    for t in range(1, steps + 1):
        g = _grad(w)
        if cls is optim.SGD:
            g = g + wd * w
            mom = kw.get("momentum", 0.0)
            if mom:
                buf = g.copy() if buf is None else mom * buf + (1 - kw.get("dampening", 0.0)) * g
                g = g + mom * buf if kw.get("nesterov") else buf
            w = w - lr * g
        elif cls in (optim.Adam, optim.AdamW):
            b1, b2 = kw.get("betas", (0.9, 0.999))
            if cls is optim.AdamW:
                w = w * (1 - lr * kw.get("weight_decay", 1e-2))
            else:
                g = g + wd * w
            m = (1 - b1) * g if m is None else b1 * m + (1 - b1) * g
            v = (1 - b2) * g * g if v is None else b2 * v + (1 - b2) * g * g
            vmax = v if vmax is None else np.maximum(vmax, v)
            denom = np.sqrt(vmax if kw.get("amsgrad") else v) / math.sqrt(1 - b2 ** t) + 1e-8
            w = w - lr / (1 - b1 ** t) * m / denom
        else:
            alpha = kw.get("alpha", 0.99)
            g = g + wd * w
            sq = (1 - alpha) * g * g if sq is None else alpha * sq + (1 - alpha) * g * g
            avg = sq
            if kw.get("centered"):
                gavg = (1 - alpha) * g if gavg is None else alpha * gavg + (1 - alpha) * g
                avg = sq - gavg * gavg
            avg = np.sqrt(avg) + 1e-8
            if kw.get("momentum"):
                buf = g / avg if buf is None else kw["momentum"] * buf + g / avg
                w = w - lr * buf
            else:
                w = w - lr * g / avg
        out.append(w.copy())
    return np.array(out)


@pytest.mark.parametrize("cls, kw", CASES, ids=IDS)
def test_optimizer_follows_the_pytorch_update_rule(device, cls, kw):
    assert_close(_run_xpnet(cls, kw, device), _reference(cls, kw), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, kw", CASES, ids=IDS)
def test_optimizer_matches_torch_optim(cls, kw):
    torch = pytest.importorskip("torch")
    w = torch.tensor(W0, requires_grad=True)
    c = torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.5, -0.4]], dtype=torch.float64)
    opt = getattr(torch.optim, cls.__name__)([w], **kw)
    trajectory = []
    for _ in range(6):
        opt.zero_grad()
        ((w ** 4).sum() / 4 + (w * c).sum()).backward()
        opt.step()
        trajectory.append(w.detach().numpy().copy())
    assert_close(_run_xpnet(cls, kw, "cpu"), np.array(trajectory), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, kw", CASES[2:3] + CASES[7:8] + CASES[11:12])
def test_state_dict_round_trip_continues_identically(device, cls, kw, tmp_path):
    straight = _run_xpnet(cls, kw, device, steps=6)[-1]
    w = nn.Parameter(xpnet.tensor(W0, dtype="float64", device=device))
    opt = cls([w], **kw)
    for _ in range(3):
        opt.zero_grad()
        _loss(w).backward()
        opt.step()
    xpnet.save({"w": w, "opt": opt.state_dict()}, tmp_path / "s.npz")
    saved = xpnet.load(tmp_path / "s.npz", device=device)
    w2 = nn.Parameter(saved["w"])
    opt2 = cls([w2], **kw)
    opt2.load_state_dict(saved["opt"])
    for _ in range(3):
        opt2.zero_grad()
        _loss(w2).backward()
        opt2.step()
    assert_close(w2, straight, rtol=1e-12, atol=1e-14)


def test_optimizer_state_follows_the_model_to_another_device():
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = xpnet.randn(4, 3)
    model(x).sum().backward()
    opt.step()
    model.to("strict")
    opt.zero_grad()
    model(x.to("strict")).sum().backward()
    opt.step()
    for p in model.parameters():
        state = opt.state[id(p)]
        assert xpnet.backend.backend_of(state["exp_avg"]).name == "strict"
        assert state["step"] == 2
    opt.to("cpu")
    assert all(xpnet.backend.backend_of(s["exp_avg"]).name == "cpu" for s in opt.state.values())


def test_parameters_without_gradients_are_skipped(device):
    a = nn.Parameter(xpnet.tensor([1.0, 2.0], device=device))
    b = nn.Parameter(xpnet.tensor([3.0], device=device))
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * a).sum().backward()
    opt.step()
    assert_close(a, np.array([0.0, 0.0], np.float32))
    assert_close(b, np.array([3.0], np.float32))
    assert id(b) not in opt.state


def test_param_groups_take_their_own_learning_rates(device):
    a = nn.Parameter(xpnet.tensor([1.0], device=device))
    b = nn.Parameter(xpnet.tensor([1.0], device=device))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a + b).sum().backward()
    opt.step()
    assert_close(a, np.array([0.9], np.float32))
    assert_close(b, np.array([0.5], np.float32))


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), "SGD: lr must be >= 0, got -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "SGD: nesterov needs momentum > 0 and dampening = 0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "SGD: momentum must be >= 0, got -1"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"Adam: betas must be in \[0, 1\), got \(1.0, 0.999\)"),
    (lambda p: optim.Adam(p, eps=-1e-8), "Adam: eps must be >= 0, got -1e-08"),
    (lambda p: optim.AdamW(p, weight_decay=-0.1), "AdamW: weight_decay must be >= 0, got -0.1"),
    (lambda p: optim.RMSprop(p, alpha=1.5), r"RMSprop: alpha must be in \[0, 1\], got 1.5"),
    (lambda p: optim.SGD(p + p, lr=0.1), "SGD: optimizer got a parameter twice"),
    (lambda p: optim.SGD([], lr=0.1), "SGD: got an empty parameter list"),
])
def test_invalid_optimizer_arguments_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make(nn.Linear(2, 2).parameters())


def test_a_non_tensor_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="SGD: parameters must be Tensors .* got ndarray"):
        optim.SGD([np.zeros(3)], lr=0.1)


def test_clip_grad_norm_scales_to_the_max_norm_and_returns_the_total(device):
    a = nn.Parameter(xpnet.tensor([3.0, 0.0], device=device))
    b = nn.Parameter(xpnet.tensor([[4.0]], device=device))
    (a * a / 2.0).sum().backward()          # grad a = a
    (b * b / 2.0).sum().backward()          # grad b = b
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    assert_close(a.grad, np.array([0.6, 0.0], np.float32), rtol=1e-5)
    assert_close(b.grad, np.array([[0.8]], np.float32), rtol=1e-5)
    unchanged = clip_grad_norm_([a, b], max_norm=10.0)
    assert unchanged.item() == pytest.approx(1.0, rel=1e-5)
    assert_close(a.grad, np.array([0.6, 0.0], np.float32), rtol=1e-5)
    inf = clip_grad_norm_([a, b], max_norm=0.4, norm_type=math.inf)
    assert inf.item() == pytest.approx(0.8, rel=1e-5)
    assert_close(b.grad, np.array([[0.4]], np.float32), rtol=1e-4)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = [nn.Parameter(xpnet.tensor(g * 0, dtype="float64")) for g in grads]
    for p, g in zip(ours, grads):
        p.grad = xpnet.tensor(g)
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(theirs, grads):
        p.grad = torch.tensor(g)
    for norm_type in (2.0, 1.0, math.inf):
        t1 = clip_grad_norm_(ours, 0.5, norm_type)
        t2 = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type)
        assert t1.item() == pytest.approx(t2.item(), rel=1e-10)
        for p, q in zip(ours, theirs):
            assert_close(p.grad, q.grad.numpy(), rtol=1e-10)


def test_clip_grad_value_clamps_each_element(device):
    a = nn.Parameter(xpnet.tensor([1.0, -2.0, 0.1], device=device))
    (a * xpnet.tensor([5.0, 5.0, 0.05], device=device)).sum().backward()
    clip_grad_value_([a], 0.5)
    assert_close(a.grad, np.array([0.5, 0.5, 0.05], np.float32))
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value must be >= 0"):
        clip_grad_value_([a], -1)


def _lrs(scheduler_cls, kw, epochs=7):
    opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=0.2)
    sched = scheduler_cls(opt, **kw)
    out = []
    for _ in range(epochs):
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize("name, kw", [("StepLR", dict(step_size=2, gamma=0.5)),
                                      ("ExponentialLR", dict(gamma=0.9)),
                                      ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01))])
def test_schedulers_give_the_closed_form_learning_rates(name, kw):
    ours = _lrs(getattr(optim, name), kw)
    if name == "StepLR":
        expected = [0.2 * 0.5 ** (e // 2) for e in range(1, 8)]
    elif name == "ExponentialLR":
        expected = [0.2 * 0.9 ** e for e in range(1, 8)]
    else:
        expected = [0.01 + 0.19 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(1, 8)]
    assert ours == pytest.approx(expected, rel=1e-12)
    torch = pytest.importorskip("torch")
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.2)
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **kw)
    theirs = []
    for _ in range(7):
        opt.step()
        sched.step()
        theirs.append(opt.param_groups[0]["lr"])
    if name != "CosineAnnealingLR":  # torch's recursive cosine form drifts past T_max
        assert ours == pytest.approx(theirs, rel=1e-9)
    else:
        assert ours[:5] == pytest.approx(theirs[:5], rel=1e-9)


def test_reduce_lr_on_plateau_waits_for_patience():
    opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for metric in (1.0, 0.9, 0.95, 0.97, 0.96, 0.99):
        sched.step(metric)
    assert opt.param_groups[0]["lr"] == 0.25
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor must be in"):
        optim.ReduceLROnPlateau(opt, factor=2.0)
