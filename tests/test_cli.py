import gzip
import json
import struct

import numpy as np
import pytest

from xpnet.cli import main


def write_idx(folder, n_train=256, n_test=128, seed=0):
    """Tiny MNIST-format files: class k images are a bright k-th horizontal band plus noise."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k:4 + 2 * k, 4:24] = 255
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.mark.parametrize("recipe", ["mnist-mlp", "mnist-cnn"])
def test_train_writes_checkpoint_history_and_curves_and_reports_accuracy(tmp_path, capsys, recipe):
    write_idx(tmp_path)
    out = tmp_path / "run"
    code = main(["train", recipe, "--epochs", "2", "--batch-size", "32", "--data", str(tmp_path),
                 "--out", str(out), "--device", "cpu", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    accuracy = float(printed.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 80.0  # the bands make the task easy
    history = json.loads((out / "history.json").read_text())
    assert history["epochs"] == [1, 2] and len(history["history"]["val_accuracy"]) == 2
    assert (out / "checkpoint.npz").stat().st_size > 0
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_continues_after_the_saved_epoch(tmp_path, capsys):
    write_idx(tmp_path)
    out = tmp_path / "run"
    args = ["train", "mnist-mlp", "--batch-size", "64", "--data", str(tmp_path), "--out", str(out),
            "--quiet"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2", "--resume", str(out / "checkpoint.npz")]) == 0
    history = json.loads((out / "history.json").read_text())
    assert history["epochs"] == [1, 2]
    assert "resumed from" in capsys.readouterr().err


def test_an_unknown_device_is_a_clear_error(tmp_path, capsys):
    write_idx(tmp_path)
    code = main(["train", "mnist-mlp", "--device", "tpu", "--data", str(tmp_path), "--quiet"])
    assert code == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


def test_info_lists_versions_and_devices(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("xpnet ")
    assert "numpy " in text and "devices: cpu" in text
