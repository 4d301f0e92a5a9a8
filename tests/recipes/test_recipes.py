"""Short versions of the recipes through the command line (a few steps each, on small data
made here): each writes its checkpoint, history and pictures, and its loss falls."""
import json

import numpy as np
import pytest

import xpnet
from xpnet.cli import main

from ..test_cli import write_idx


def _history(out):
    return json.loads((out / "history.json").read_text())["history"]


def _text(folder):
    """A small text with structure (repeated words), as Tiny Shakespeare's stand-in."""
    rng = np.random.default_rng(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis"]
    text = "\n".join(" ".join(rng.choice(words, 8)) for _ in range(400)) + "\n"
    (folder / "input.txt").write_text(text)
    return text


def test_char_transformer_trains_and_writes_a_sample(tmp_path, capsys):
    _text(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "char-transformer", "--epochs", "2", "--limit", "480",
                 "--data", str(tmp_path), "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    history = _history(out)
    assert history["val_loss"][1] < history["val_loss"][0] < np.log(16)   # below uniform guessing
    assert "validation loss" in printed and (out / "sample.txt").read_text().strip()
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "curves.png",
                                                     "history.json", "sample.txt"]


@pytest.mark.parametrize("recipe, pictures", [
    ("mnist-vae", ["reconstructions.png", "samples.png"]),
    ("mnist-vae-2d", ["latent_grid.png", "reconstructions.png", "samples.png"])])
def test_the_vae_recipes_train_and_write_their_pictures(tmp_path, capsys, recipe, pictures):
    write_idx(tmp_path, n_train=512, n_test=128)
    out = tmp_path / "run"
    assert main(["train", recipe, "--epochs", "2", "--data", str(tmp_path), "--out", str(out),
                 "--quiet"]) == 0
    history = _history(out)
    assert history["val_loss"][1] < history["val_loss"][0] < 600       # nats per image
    assert "test loss" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["checkpoint.npz", "curves.png", "history.json"] + pictures)


def test_the_gan_recipe_trains_and_writes_samples_for_any_classifier(tmp_path, capsys):
    write_idx(tmp_path, n_train=256, n_test=64)
    out = tmp_path / "run"
    assert main(["train", "mnist-gan", "--epochs", "2", "--limit", "256", "--data",
                 str(tmp_path), "--out", str(out), "--quiet"]) == 0
    history = _history(out)
    assert all(0.0 < v < 1.0 for v in history["d_real"] + history["d_fake"])
    assert all(np.isfinite(history["d_loss"] + history["g_loss"]))
    images = np.load(out / "samples.npz")["images"]
    assert images.shape == (10000, 1, 28, 28) and 0.0 <= images.min() and images.max() <= 1.0
    assert {"samples_epoch1.png", "samples_epoch2.png", "discriminator.png",
            "checkpoint.npz"} <= {p.name for p in out.iterdir()}
    state = xpnet.load(out / "checkpoint.npz")
    assert state["epoch"] == 2 and "d_optimizer" in state["extra"]
    assert "scoring skipped with --limit" in capsys.readouterr().out


def test_a_gan_run_resumes_where_it_stopped(tmp_path, capsys):
    write_idx(tmp_path, n_train=256, n_test=64)
    out = tmp_path / "run"
    args = ["train", "mnist-gan", "--limit", "128", "--data", str(tmp_path), "--out", str(out),
            "--quiet"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2", "--resume", str(out / "checkpoint.npz")]) == 0
    assert json.loads((out / "history.json").read_text())["epochs"] == [1, 2]
