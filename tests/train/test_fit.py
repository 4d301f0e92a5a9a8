import math
import os
import types

import numpy as np
import pytest

import xpnet
from xpnet import nn, optim
from xpnet.data import ArrayDataset, DataLoader, make_circles
from xpnet.train import (EarlyStopping, History, LambdaCallback, ModelCheckpoint, evaluate, fit,
                         load_checkpoint, predict, save_checkpoint)


def _mlp(device, hidden=16):
    xpnet.manual_seed(0)
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, 2)).to(device)


def test_fit_trains_an_mlp_on_circles_to_99_percent(device):
    X, y = make_circles(n_samples=300, noise=0.05, factor=0.5, seed=0)
    model = _mlp(device)
    history = fit(model, (X, y), loss="cross_entropy", epochs=40, batch_size=32, seed=0,
                  optimizer=optim.Adam(model.parameters(), lr=0.02), verbose=0)
    assert history["loss"][-1] < history["loss"][0] / 5
    assert history["accuracy"][-1] >= 0.99
    assert evaluate(model, (X, y))["accuracy"] >= 0.99


def test_one_seed_gives_the_same_training_on_every_device(device):
    X, y = make_circles(n_samples=64, noise=0.1, seed=1)

    def run(dev):
        model = _mlp(dev)
        fit(model, (X, y), loss="cross_entropy", epochs=2, batch_size=16, seed=3, verbose=0,
            optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        return [p.numpy() for p in model.parameters()]

    for ours, reference in zip(run(device), run("cpu")):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


def test_history_records_validation_metrics_and_lr(device):
    X, y = make_circles(n_samples=64, seed=0)
    model = _mlp(device)
    history = fit(model, (X, y), val=(X, y), loss=nn.CrossEntropyLoss(), epochs=3, verbose=0,
                  optimizer=optim.SGD(model.parameters(), lr=0.05))
    assert history.epochs == [1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s", "time"):
        assert len(history[key]) == 3 and all(math.isfinite(v) for v in history[key])
    assert history["lr"] == [0.05] * 3
    final = evaluate(model, (X, y), loss="cross_entropy")
    assert final["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, device):
    X, y = make_circles(n_samples=64, seed=0)
    model = _mlp(device)
    opt = optim.SGD(model.parameters(), lr=0.01)
    path = tmp_path / "last.npz"
    fit(model, (X, y), loss="cross_entropy", optimizer=opt, epochs=1, verbose=0,
        callbacks=[ModelCheckpoint(path, monitor="loss")])
    good = path.read_bytes()
    X_bad = X.copy()
    X_bad[5, 0] = np.nan
    history = fit(model, (X_bad, y), loss="cross_entropy", optimizer=opt, epochs=4, verbose=0,
                  initial_epoch=1, callbacks=[ModelCheckpoint(path, monitor="loss")], log_every=1)
    assert history.stop_reason is not None and "nan" in history.stop_reason.lower()
    assert len(history) == 1  # stopped in its first epoch
    assert path.read_bytes() == good
    assert not [f for f in os.listdir(tmp_path) if f != "last.npz"]


def test_early_stopping_stops_and_restores_the_best_weights(device):
    X, y = make_circles(n_samples=64, seed=0)
    model = _mlp(device)
    seen = []
    stopper = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    # lr so large the loss gets worse, so patience runs out quickly
    history = fit(model, (X, y), loss="cross_entropy", epochs=30, verbose=0, batch_size=64,
                  optimizer=optim.SGD(model.parameters(), lr=50.0),
                  callbacks=[stopper, LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
                      ({k: v.numpy().copy() for k, v in model.state_dict().items()}, logs)))])
    assert len(history) < 30 and history.stop_reason.startswith("early stopping")
    best = min(range(len(seen)), key=lambda i: seen[i][1]["loss"])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), seen[best][0][key])


def test_resuming_from_a_checkpoint_continues_exactly(tmp_path, device):
    X, y = make_circles(n_samples=96, noise=0.1, seed=2)

    def setup():
        model = _mlp(device)
        return model, optim.Adam(model.parameters(), lr=0.01)

    xpnet.manual_seed(7)
    model, opt = setup()
    loader = DataLoader(ArrayDataset(X, y), batch_size=32, shuffle=True, device=device)
    straight = fit(model, loader, loss="cross_entropy", optimizer=opt, epochs=4, verbose=0)
    expected = [p.numpy() for p in model.parameters()]

    xpnet.manual_seed(7)
    model, opt = setup()
    loader = DataLoader(ArrayDataset(X, y), batch_size=32, shuffle=True, device=device)
    fit(model, loader, loss="cross_entropy", optimizer=opt, epochs=2, verbose=0,
        callbacks=[ModelCheckpoint(tmp_path / "ckpt.npz", monitor="loss")])
    model, opt = setup()  # a fresh process, in effect
    state = load_checkpoint(tmp_path / "ckpt.npz", model, opt)
    loader = DataLoader(ArrayDataset(X, y), batch_size=32, shuffle=True, device=device)
    loader.set_epoch(state["epoch"]) if hasattr(loader, "set_epoch") else None
    resumed = fit(model, loader, loss="cross_entropy", optimizer=opt, epochs=4, verbose=0,
                  initial_epoch=state["epoch"], history=state["history"])
    assert resumed.epochs == [1, 2, 3, 4]
    np.testing.assert_allclose(resumed["loss"], straight["loss"], rtol=1e-5)
    for got, want in zip(model.parameters(), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_predict_concatenates_batches_in_order(device):
    model = _mlp(device)
    X = np.random.default_rng(0).standard_normal((70, 2)).astype(np.float32)
    out = predict(model, X, batch_size=32)
    with xpnet.no_grad():
        whole = model(xpnet.tensor(X, device=device))
    np.testing.assert_allclose(out.numpy(), whole.numpy(), rtol=1e-5, atol=1e-6)
    assert out.device == model.device


def test_fit_rejects_unknown_losses_metrics_and_data():
    model = _mlp("cpu")
    opt = optim.SGD(model.parameters(), lr=0.1)
    X, y = make_circles(n_samples=8, seed=0)
    with pytest.raises(ValueError, match="fit: loss must be one of 'cross_entropy', .* or a callable, got 'hinge'"):
        fit(model, (X, y), loss="hinge", optimizer=opt)
    with pytest.raises(ValueError, match="fit: unknown metric 'f1'"):
        fit(model, (X, y), loss="cross_entropy", optimizer=opt, metrics=["f1"])
    with pytest.raises(TypeError, match="fit: data must be a DataLoader"):
        fit(model, X, loss="cross_entropy", optimizer=opt)
    with pytest.raises(ValueError, match=r"Linear\(in_features=2, out_features=16, bias=True\): "
                                         r"linear: x.shape\[-1\] must equal"):
        fit(model, (np.zeros((4, 3), np.float32), y[:4]), loss="cross_entropy", optimizer=opt)


def test_history_saves_loads_and_plots(tmp_path):
    h = History()
    h.append(1, {"loss": 1.0, "accuracy": 0.5})
    h.append(2, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6})
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back.epochs == [1, 2] and back["loss"] == [1.0, 0.5]
    assert math.isnan(back["val_loss"][0]) and back["val_loss"][1] == 0.6
    png = h.plot(tmp_path / "curves.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_save_checkpoint_does_not_move_the_model(tmp_path, device):
    model = _mlp(device)
    save_checkpoint(tmp_path / "c.npz", model, epoch=3)
    assert model.device == xpnet.device(device).name
    other = _mlp("cpu")
    for p in other.parameters():
        p.array = p.array * 0
    assert load_checkpoint(tmp_path / "c.npz", other)["epoch"] == 3
    for a, b in zip(other.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_scheduler_can_step_after_every_batch():
    X, y = make_circles(n_samples=64, seed=0)
    model = _mlp("cpu")
    opt = optim.SGD(model.parameters(), lr=0.1)
    steps = 2 * 4  # 2 epochs of 64 / 16 batches
    sched = optim.CosineAnnealingLR(opt, T_max=steps)
    history = fit(model, (X, y), loss="cross_entropy", optimizer=opt, epochs=2, batch_size=16,
                  scheduler=sched, schedule_per="step", verbose=0)
    assert sched.last_epoch == steps
    assert history["lr"][0] == pytest.approx(0.05)        # half-way down the cosine
    assert history["lr"][1] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="fit: schedule_per must be 'epoch' or 'step'"):
        fit(model, (X, y), loss="cross_entropy", optimizer=opt, schedule_per="batch")


def test_the_metrics_count_what_numpy_counts(device):
    """accuracy: arg-max hits for (N, C) scores (ties: the first class, as argmax), thresholded
    hits for one score per sample; mae: the summed absolute error. 0-d Tensors on the device."""
    from xpnet.train.metrics import accuracy, mae
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((9, 4))
    scores[0] = [1.0, 3.0, 3.0, 0.0]                                # a tie: class 1 wins
    labels = rng.integers(0, 4, 9)
    labels[0] = 1
    got = accuracy(xpnet.tensor(scores, device=device), xpnet.tensor(labels, device=device))
    assert got.shape == () and got.device == xpnet.device(device)
    assert got.item() == np.sum(np.argmax(scores, axis=1) == labels)
    logits, targets = rng.standard_normal((9, 1)), rng.integers(0, 2, (9, 1)).astype(float)
    hits = accuracy(xpnet.tensor(logits, device=device), xpnet.tensor(targets, device=device))
    assert hits.item() == np.sum((logits[:, 0] > 0) == (targets[:, 0] > 0.5))
    probabilities = 1 / (1 + np.exp(-logits))
    assert accuracy(xpnet.tensor(probabilities, device=device),
                    xpnet.tensor(targets, device=device), threshold=0.5).item() == hits.item()
    error = mae(xpnet.tensor(logits, device=device), xpnet.tensor(targets[:, 0], device=device))
    assert error.item() == pytest.approx(np.abs(logits - targets).sum(), rel=1e-12)


class _HalfStep:
    """A custom step: plain SGD at lr 0.1 by hand, logging the loss twice and its half."""

    names = {"loss": 0, "half": 1, "again": 0}

    def __call__(self, trainer, x, y):
        loss = xpnet.functional.cross_entropy(trainer.model(x), y)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        with xpnet.no_grad():
            return xpnet.functional.stack([loss.detach(), loss.detach() * 0.5])


def test_a_custom_step_makes_the_update_and_logs_its_statistics_per_step(device):
    X, y = make_circles(n_samples=64, noise=0.05, factor=0.5, seed=0)
    model = _mlp(device)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.StepLR(opt, step_size=4, gamma=0.5)
    history = fit(model, (X, y), optimizer=opt, epochs=2, batch_size=16, shuffle=False,
                  verbose=0, step=_HalfStep(), scheduler=sched, schedule_per="step")
    reference = _mlp(device)                     # the same updates, by hand
    ref_opt = optim.SGD(reference.parameters(), lr=0.1)
    ref_sched = optim.StepLR(ref_opt, step_size=4, gamma=0.5)
    losses = []
    for _ in range(2):
        for x, t in DataLoader(ArrayDataset(X, y), batch_size=16, device=device):
            losses.append(float(_HalfStep()(types.SimpleNamespace(model=reference,
                                                                  optimizer=ref_opt), x, t)
                                .numpy()[0]))
            ref_sched.step()
    assert history["loss"] == pytest.approx([np.mean(losses[:4]), np.mean(losses[4:])],
                                            rel=1e-5)
    assert history["again"] == history["loss"]
    assert history["half"] == pytest.approx([v / 2 for v in history["loss"]], rel=1e-6)
    assert history["lr"] == pytest.approx([0.05, 0.025])    # the scheduler stepped per step
    assert "accuracy" not in history                         # the step's statistics only
    for mine, theirs in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_fit_needs_a_loss_or_a_step_with_names():
    model = _mlp("cpu")
    opt = optim.SGD(model.parameters(), lr=0.1)
    data = make_circles(n_samples=8, seed=0)
    with pytest.raises(TypeError, match=r"^fit: loss must be given"):
        fit(model, data, optimizer=opt, verbose=0)
    with pytest.raises(TypeError, match=r"^fit: step must be a callable step\(trainer, x, y\) "
                                        r"with a non-empty 'names'"):
        fit(model, data, optimizer=opt, verbose=0, step=lambda trainer, x, y: None)
