import math

import pytest

from xpnet import optim

from ._problem import parameter

SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
    ("CosineAnnealingLR", dict(T_max=10)),
]
SCHEDULE_IDS = [f"{name}-{kw}" for name, kw in SCHEDULES]


def closed_form(name, kw, epoch, base=0.2):
    if name == "StepLR":
        return base * kw.get("gamma", 0.1) ** (epoch // kw["step_size"])
    if name == "ExponentialLR":
        return base * kw["gamma"] ** epoch
    eta_min = kw.get("eta_min", 0.0)
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / kw["T_max"])) / 2


def _ours(name, kw, epochs):
    opt = optim.SGD([parameter("cpu")], lr=0.2)
    sched = getattr(optim, name)(opt, **kw)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [lrs[-1]]
    return lrs


@pytest.mark.parametrize("name, kw", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedulers_follow_the_closed_form(name, kw):
    assert _ours(name, kw, 12) == pytest.approx([closed_form(name, kw, e) for e in range(13)],
                                                rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name, kw", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedulers_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.2)
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **kw)
    theirs = [sched.get_last_lr()[0]]
    for _ in range(12):
        opt.step()
        sched.step()
        theirs.append(opt.param_groups[0]["lr"])
    assert _ours(name, kw, 12) == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_scheduler_sets_every_groups_lr_from_its_own_base():
    opt = optim.SGD([{"params": [parameter("cpu")]}, {"params": [parameter("cpu")], "lr": 1.0}],
                    lr=0.2)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    assert sched.get_last_lr() == [0.1, 0.5]
    assert sched.base_lrs == [0.2, 1.0]


def test_scheduler_state_dict_round_trip_resumes_the_schedule():
    opt = optim.SGD([parameter("cpu")], lr=0.2)
    sched = optim.CosineAnnealingLR(opt, T_max=8)
    for _ in range(3):
        sched.step()
    saved, opt_saved = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 3
    opt2 = optim.SGD([parameter("cpu")], lr=0.2)
    opt2.load_state_dict(opt_saved)
    sched2 = optim.CosineAnnealingLR(opt2, T_max=8)
    sched2.load_state_dict(saved)
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == closed_form(
        "CosineAnnealingLR", dict(T_max=8), 4)


PLATEAUS = [
    dict(factor=0.5, patience=1),
    dict(mode="max", factor=0.5, patience=0, cooldown=1),
    dict(patience=2, threshold=0.1, threshold_mode="abs", min_lr=0.002),
    dict(patience=0, threshold=0.05),
]
METRICS = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.5, 0.49, 0.6, 0.61, -0.2, -0.21, -0.1, -0.1]


@pytest.mark.parametrize("kw", PLATEAUS, ids=[str(kw) for kw in PLATEAUS])
def test_reduce_lr_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    opt = optim.SGD([parameter("cpu")], lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, **kw)
    w = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([w], lr=1.0)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for metric in METRICS:
        sched.step(metric)
        tsched.step(metric)
        assert sched.get_last_lr() == pytest.approx([topt.param_groups[0]["lr"]], rel=1e-12)


def test_reduce_lr_on_plateau_waits_for_patience_then_reduces():
    opt = optim.SGD([parameter("cpu")], lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    lrs = []
    for metric in (1.0, 0.9, 0.95, 0.97, 0.96, 0.99):
        sched.step(metric)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize("make, error, message", [
    (lambda o: optim.StepLR(o, step_size=0), ValueError,
     r"^StepLR: step_size must be a positive int, got 0$"),
    (lambda o: optim.StepLR(o, step_size="2"), TypeError,
     r"^StepLR: step_size must be a positive int, got '2' \(str\)$"),
    (lambda o: optim.ExponentialLR(o, gamma="0.9"), TypeError,
     r"^ExponentialLR: gamma must be a number, got '0.9' \(str\)$"),
    (lambda o: optim.ReduceLROnPlateau(o, patience=-1), ValueError,
     r"^ReduceLROnPlateau: patience must be a non-negative int, got -1$"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), ValueError,
     r"^CosineAnnealingLR: T_max must be >= 1, got 0$"),
    (lambda o: optim.ReduceLROnPlateau(o, factor=2.0), ValueError,
     r"^ReduceLROnPlateau: factor must be in \(0, 1\), got 2.0$"),
    (lambda o: optim.ReduceLROnPlateau(o, mode="up"), ValueError,
     r"^ReduceLROnPlateau: mode must be 'min' or 'max', got 'up'$"),
    (lambda o: optim.StepLR(object(), step_size=1), TypeError,
     r"^StepLR: expected an xpnet optimizer, got object$"),
])
def test_schedulers_reject_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(optim.SGD([parameter("cpu")], lr=0.1))


def _torch_lrs(torch, make, epochs, groups=1):
    params = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    opt = torch.optim.SGD([{"params": [p]} for p in params], lr=0.2)
    sched = make(torch.optim.lr_scheduler, opt)
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    return lrs


def _our_lrs(make, epochs, groups=1):
    opt = optim.SGD([{"params": [parameter("cpu")]} for _ in range(groups)], lr=0.2)
    sched = make(optim.lr_scheduler, opt)
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == lrs[-1]
    return lrs


WARMUPS = {
    "lambda": lambda s, o: s.LambdaLR(o, lambda e: 0.9 ** e),
    "lambda-per-group": lambda s, o: s.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: e % 3]),
    "linear-default": lambda s, o: s.LinearLR(o),
    "linear-warmup": lambda s, o: s.LinearLR(o, start_factor=0.1, total_iters=4),
    "linear-decay": lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.25,
                                            total_iters=6),
    "sequential-warmup-cosine": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.2, total_iters=3), s.CosineAnnealingLR(o, T_max=6)],
        milestones=[3]),
    "sequential-three": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.5, total_iters=2), s.ExponentialLR(o, gamma=0.8),
            s.StepLR(o, step_size=2, gamma=0.5)], milestones=[2, 5]),
}


@pytest.mark.parametrize("name", list(WARMUPS))
def test_warmup_schedulers_match_torch(name):
    torch = pytest.importorskip("torch")
    groups = 2 if name == "lambda-per-group" else 1
    ours, theirs = _our_lrs(WARMUPS[name], 12, groups), _torch_lrs(torch, WARMUPS[name], 12, groups)
    assert sum(ours, []) == pytest.approx(sum(theirs, []), rel=1e-12, abs=1e-15)


def test_linear_warmup_then_cosine_follows_the_closed_form():
    lrs = [lr for lr, in _our_lrs(WARMUPS["sequential-warmup-cosine"], 9)]
    warm = [0.2 * (0.2 + 0.8 * e / 3) for e in range(3)]
    cosine = [0.2 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(7)]
    assert lrs == pytest.approx(warm + cosine, rel=1e-12)


def test_linear_lr_state_dict_round_trip_resumes():
    opt = optim.SGD([parameter("cpu")], lr=1.0)
    sched = optim.LinearLR(opt, start_factor=0.25, total_iters=4)
    sched.step()
    saved = sched.state_dict()
    assert "lr_lambdas" not in saved
    opt2 = optim.SGD([parameter("cpu")], lr=1.0)
    sched2 = optim.LinearLR(opt2, start_factor=0.25, total_iters=4)
    sched2.load_state_dict(saved)
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.625)


@pytest.mark.parametrize("make, message", [
    (lambda o: optim.LinearLR(o, start_factor=0.0), r"^LinearLR: start_factor must be in \(0, 1\], "
     r"got 0.0$"),
    (lambda o: optim.LinearLR(o, end_factor=1.5), r"^LinearLR: end_factor must be in \[0, 1\], "
     r"got 1.5$"),
    (lambda o: optim.LinearLR(o, total_iters=0), r"^LinearLR: total_iters must be a positive int, "
     r"got 0$"),
    (lambda o: optim.LambdaLR(o, [lambda e: 1.0, lambda e: 1.0]), r"^LambdaLR: lr_lambda must be a "
     r"callable or a list of 1 callables \(one per parameter group\)"),
    (lambda o: optim.SequentialLR(o, [optim.LinearLR(o)], milestones=[3]),
     r"^SequentialLR: expected one milestone fewer than schedulers, got 1 schedulers and "
     r"milestones \[3\]$"),
    (lambda o: optim.SequentialLR(o, [optim.LinearLR(o), optim.LinearLR(
        optim.SGD([parameter("cpu")], lr=0.1))], milestones=[3]),
     r"^SequentialLR: scheduler 1 must be an LRScheduler of the same optimizer$"),
])
def test_warmup_schedulers_reject_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(optim.SGD([parameter("cpu")], lr=0.1))
