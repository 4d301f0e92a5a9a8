"""Exact resume: training N epochs straight and training k epochs, saving, starting afresh
(another process, or a reset interpreter state), loading and training the rest give
bit-identical weights and optimizer state: dropout masks, shuffles and schedules included."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import xpnet
from xpnet import nn, optim
from xpnet.data import ArrayDataset, DataLoader, make_circles
from xpnet.train import ModelCheckpoint, fit, load_checkpoint


def _setup(device, schedule):
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    model.to(device)
    opt = optim.Adam(model.parameters(), lr=0.02)
    if schedule == "step":
        return model, opt, optim.StepLR(opt, step_size=1, gamma=0.5), "epoch"
    return model, opt, optim.CosineAnnealingLR(opt, T_max=8), "step"   # 2 epochs x 4 batches


def _loader(device):
    X, y = make_circles(n_samples=64, noise=0.1, seed=2)
    return DataLoader(ArrayDataset(X, y), batch_size=16, shuffle=True, device=device)


def _train(device, schedule, epochs, initial_epoch=0, checkpoint=None, resume=None):
    model, opt, scheduler, per = _setup(device, schedule)
    state = {"epoch": 0, "history": None}
    if resume is not None:
        state = load_checkpoint(resume, model, opt, scheduler)
    callbacks = [ModelCheckpoint(checkpoint, monitor="loss")] if checkpoint else []
    fit(model, _loader(device), loss="cross_entropy", optimizer=opt, epochs=epochs,
        initial_epoch=state["epoch"], history=state["history"], scheduler=scheduler,
        schedule_per=per, callbacks=callbacks, verbose=0)
    return model, opt, scheduler


def _snapshot(model, opt, scheduler):
    weights = [p.numpy().copy() for p in model.parameters()]
    moments = [np.asarray(v.numpy()) for s in opt.state_dict()["state"].values()
               for k, v in sorted(s.items()) if hasattr(v, "numpy")]
    return weights, moments, opt.param_groups[0]["lr"], scheduler.last_epoch


def _assert_identical(a, b):
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(x, y)
    assert a[2:] == b[2:]


@pytest.mark.parametrize("schedule", ["step", "cosine"])
@pytest.mark.parametrize("device", ["cpu", "strict"])
def test_a_resumed_run_is_bit_identical_to_a_straight_one(tmp_path, device, schedule):
    xpnet.manual_seed(11)
    straight = _snapshot(*_train(device, schedule, epochs=2))

    xpnet.manual_seed(11)
    _train(device, schedule, epochs=1, checkpoint=tmp_path / "ckpt.npz")
    xpnet.manual_seed(12345)            # a fresh interpreter state: every generator elsewhere
    resumed = _snapshot(*_train(device, schedule, epochs=2, resume=tmp_path / "ckpt.npz"))
    _assert_identical(straight, resumed)


_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    import xpnet
    from train.test_resume import _snapshot, _train
    device, schedule, mode, path = sys.argv[1:5]
    xpnet.manual_seed(11)
    if mode == "first":
        _train(device, schedule, epochs=1, checkpoint=path)
    else:
        weights, moments, lr, last = _snapshot(*_train(device, schedule, epochs=2, resume=path))
        np.savez(path + ".out.npz", *weights, *moments)
        print(json.dumps({{"lr": lr, "last": last, "n": len(weights)}}))
""")


def test_resuming_in_a_fresh_process_is_bit_identical(tmp_path):
    import pathlib
    tests = str(pathlib.Path(__file__).resolve().parents[1])
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT.format(tests=tests))
    path = str(tmp_path / "ckpt.npz")
    for mode in ("first", "second"):
        done = subprocess.run([sys.executable, str(script), "cpu", "step", mode, path],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    xpnet.manual_seed(11)
    weights, moments, lr, last = _snapshot(*_train("cpu", "step", epochs=2))
    saved = np.load(path + ".out.npz")
    arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    assert summary == {"lr": lr, "last": last, "n": len(weights)}
    for got, want in zip(arrays, weights + moments):
        np.testing.assert_array_equal(got, want)


def test_the_checkpoint_holds_the_schedule_after_its_epoch_step(tmp_path):
    xpnet.manual_seed(3)
    _, opt, scheduler = _train("cpu", "step", epochs=1, checkpoint=tmp_path / "c.npz")
    state = xpnet.load(tmp_path / "c.npz")
    assert state["scheduler"]["last_epoch"] == 1 == scheduler.last_epoch
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01)   # 0.02 * 0.5
