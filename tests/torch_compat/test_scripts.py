"""Five PyTorch-style scripts (scripts/) run unchanged under ``python -m xpnet.torch_compat``,
and, where PyTorch is installed, under the real PyTorch with the same losses.

Each script is written as a PyTorch user writes it (``import torch``, ``DataLoader``,
``.to(device)``, ``loss.item()``, ``p.data``, ``model.train()/eval()``, ``torch.no_grad()``)
and builds its data with NumPy from a seed, so both runs see the same data. xpnet's and
PyTorch's random streams differ, so both runs start from the same weights: the first run
(xpnet's) saves its initial state dict to ``--init init.npz`` and the PyTorch run loads it.
What stays random differs per script, and so does the comparison:

- mnist, word_language_model: compared with ``--dropout 0`` (and no shuffling), which leaves
  nothing random: every printed loss agrees to 2e-5 relative (float32 rounding over a few
  dozen steps). The xpnet-only run keeps dropout and shuffling and must learn.
- time_sequence_prediction (float64, LBFGS, nothing random): every loss to 1e-9 relative.
- vae: ``torch.randn_like`` samples the latent code, so losses agree only in range: each
  epoch's average and test loss within 3% relative (the runs differ by under 1%).
- dcgan: the noise is ``torch.randn``, so only the first D(x) (real images, same weights)
  is exact (to the 4 printed decimals); the other values must stay within 0.1 (losses) and
  0.05 (mean discriminator outputs) of PyTorch's, about three times the spread the different
  noise gives.

Without PyTorch (CI), the xpnet runs still run and must give finite, decreasing losses.
mnist's ``--save-model`` (``torch.save(model.state_dict(), "mnist_cnn.pt")``) is expected to
fail while ``xpnet.save`` refuses a path named .pt.
"""
import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet

SCRIPTS = Path(__file__).parent / "scripts"
HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed: the "
                                                         "reference run needs it")

RUNNER = [sys.executable, "-m", "xpnet.torch_compat"]
RUN_TORCH = [sys.executable, "-m", "xpnet", "run-torch"]   # the same runner, the CLI spelling
PYTORCH = [sys.executable]


def run(command, script, *args, cwd):
    """The script's stdout; the run must succeed."""
    result = subprocess.run([*command, str(SCRIPTS / script), *map(str, args)],
                            capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, f"{script} failed:\n{result.stderr}"
    return result.stdout


def numbers(text, pattern):
    """Every match of ``pattern`` in ``text`` as floats (one list per group when several)."""
    found = re.findall(pattern, text, flags=re.MULTILINE)
    assert found, f"no line matches {pattern!r} in:\n{text}"
    rows = [[float(v) for v in (row if isinstance(row, tuple) else (row,))] for row in found]
    assert all(math.isfinite(v) for row in rows for v in row), rows
    return rows if isinstance(found[0], tuple) else [row[0] for row in rows]


def assert_close(mine, theirs, rel, what):
    assert len(mine) == len(theirs), (what, mine, theirs)
    for i, (a, b) in enumerate(zip(mine, theirs)):
        assert abs(a - b) <= rel * max(1.0, abs(b)), f"{what}[{i}]: xpnet {a}, PyTorch {b}"


# mnist ------------------------------------------------------------------------------------
MNIST_TRAIN = r"^Train Epoch: \d+ .*Loss: (\S+)$"
MNIST_TEST = r"^Test set: Average loss: (\S+), Accuracy: (\d+)/64"


def test_mnist_learns_under_the_runner(tmp_path):
    out = run(RUNNER, "mnist.py", cwd=tmp_path)   # dropout and shuffling on
    train, test = numbers(out, MNIST_TRAIN), numbers(out, MNIST_TEST)
    assert len(train) == 16 and len(test) == 2
    assert test[1][0] < test[0][0] < train[0]          # test loss falls, below the first loss
    assert test[1][1] > test[0][1] and test[1][1] >= 25   # better than 1 in 10 by far
    assert len(numbers(out, r"^Epoch \d last batch loss: (\d\.\d{4})$")) == 2   # '{:.4f}'


def test_mnist_saves_its_model_with_torch_save_in_pytorchs_format(tmp_path):
    run(RUNNER, "mnist.py", "--epochs", 1, "--train-size", 16, "--save-model", cwd=tmp_path)
    saved = xpnet.load(tmp_path / "mnist_cnn.pt")
    assert list(saved)[:2] == ["conv1.weight", "conv1.bias"]
    assert tuple(saved["fc2.weight"].shape) == (10, 32)
    if HAVE_TORCH:     # the file is torch.save's: PyTorch itself reads it, weights only
        import torch
        theirs = torch.load(tmp_path / "mnist_cnn.pt", weights_only=True)
        assert list(theirs) == list(saved)
        np.testing.assert_array_equal(theirs["fc2.weight"].numpy(), saved["fc2.weight"].numpy())


@needs_torch
def test_mnist_matches_pytorch(tmp_path):
    args = ("--dropout", 0, "--no-shuffle", "--init", tmp_path / "init.npz")
    mine, theirs = (run(command, "mnist.py", *args, cwd=tmp_path) for command in (RUNNER, PYTORCH))
    assert_close(numbers(mine, MNIST_TRAIN), numbers(theirs, MNIST_TRAIN), 2e-5, "train loss")
    assert_close([row[0] for row in numbers(mine, MNIST_TEST)],
                 [row[0] for row in numbers(theirs, MNIST_TEST)], 2e-5, "test loss")
    assert [row[1] for row in numbers(mine, MNIST_TEST)] == \
        [row[1] for row in numbers(theirs, MNIST_TEST)]


# vae ----------------------------------------------------------------------------------------
VAE_EPOCH = r"^====> Epoch: \d+ Average loss: (\S+)$"
VAE_TEST = r"^====> Test set loss: (\S+)$"


def test_vae_learns_under_the_runner_and_matches_pytorch_in_range(tmp_path):
    init = tmp_path / "init.npz"
    mine = run(RUNNER, "vae.py", "--init", init, cwd=tmp_path)
    epochs, tests = numbers(mine, VAE_EPOCH), numbers(mine, VAE_TEST)
    assert len(epochs) == len(tests) == 3
    assert epochs == sorted(epochs, reverse=True) and tests == sorted(tests, reverse=True)
    assert epochs[-1] < 0.9 * epochs[0]
    if not HAVE_TORCH:
        return
    theirs = run(PYTORCH, "vae.py", "--init", init, cwd=tmp_path)
    assert_close(epochs, numbers(theirs, VAE_EPOCH), 0.03, "epoch loss")
    assert_close(tests, numbers(theirs, VAE_TEST), 0.03, "test loss")


# word language model ------------------------------------------------------------------------
WLM_TRAIN = r"batches \| lr \S+ \| loss\s+(\S+) \|"
WLM_VALID = r"valid loss\s+(\S+) \|"
WLM_TEST = r"End of training \| test loss\s+(\S+) \|"


def test_word_language_model_learns_under_the_runner(tmp_path):
    # dropout on, tied weights, the best model saved with torch.save to an open file and
    # loaded back with torch.load
    out = run(RUNNER, "word_language_model.py", "--tied", "--save", tmp_path / "model.pt",
              cwd=tmp_path)
    train, valid, test = (numbers(out, p) for p in (WLM_TRAIN, WLM_VALID, WLM_TEST))
    assert len(train) == 30 and len(valid) == 2 and len(test) == 1
    assert abs(train[0] - math.log(10)) < 0.05            # starts at chance over 10 words
    assert valid[-1] < train[0] - 0.5 and test[0] == min(valid)
    # generation (torch.multinomial over exp(log-probabilities), input.fill_): the chain's
    # likely successors, 2 of 10 words, follow far more often than by chance
    words = re.search(r"^\| Generated: ([\d ]+)$", out, flags=re.MULTILINE).group(1).split()
    assert len(words) == 50 and all(0 <= int(w) < 10 for w in words)
    likely = numbers(out, r"^\| Likely transitions: (\d+)/49$")[0]
    assert likely >= 20


@needs_torch
def test_word_language_model_matches_pytorch(tmp_path):
    args = ("--tied", "--dropout", 0, "--save", tmp_path / "model.pt",
            "--init", tmp_path / "init.npz")
    mine, theirs = (run(command, "word_language_model.py", *args, cwd=tmp_path)
                    for command in (RUNNER, PYTORCH))
    for pattern, what in ((WLM_TRAIN, "train loss"), (WLM_VALID, "valid loss"),
                          (WLM_TEST, "test loss")):
        assert_close(numbers(mine, pattern), numbers(theirs, pattern), 2e-5, what)


# dcgan ------------------------------------------------------------------------------------
DCGAN = r"Loss_D: (\S+) Loss_G: (\S+) D\(x\): (\S+) D\(G\(z\)\): (\S+) / (\S+)$"


def test_dcgan_steps_under_the_runner_and_match_pytorch_in_range(tmp_path):
    init = tmp_path / "init.npz"
    mine = numbers(run(RUNNER, "dcgan.py", "--init", init, cwd=tmp_path), DCGAN)
    assert len(mine) == 8
    d_x = [row[2] for row in mine]
    assert d_x[-1] > d_x[0] + 0.02                         # D learns to call real images real
    if not HAVE_TORCH:
        return
    theirs = numbers(run(PYTORCH, "dcgan.py", "--init", init, cwd=tmp_path), DCGAN)
    assert len(theirs) == 8
    assert abs(mine[0][2] - theirs[0][2]) <= 1.5e-4       # D(x) before any noise is drawn
    for step, (a, b) in enumerate(zip(mine, theirs)):
        for i, limit in enumerate((0.1, 0.1, 0.05, 0.05, 0.05)):
            assert abs(a[i] - b[i]) <= limit, f"step {step} value {i}: xpnet {a}, PyTorch {b}"


# time sequence prediction -----------------------------------------------------------------
TSP_LOSS = r"^loss: (\S+)$"
TSP_TEST = r"^test loss: (\S+)$"


def test_time_sequence_prediction_learns_under_the_runner_and_matches_pytorch(tmp_path):
    init = tmp_path / "init.npz"
    mine = run(RUN_TORCH, "time_sequence_prediction.py", "--init", init, cwd=tmp_path)
    losses, tests = numbers(mine, TSP_LOSS), numbers(mine, TSP_TEST)
    assert len(losses) == 18 and len(tests) == 3      # 3 LBFGS steps of 6 closure calls
    assert tests == sorted(tests, reverse=True) and tests[-1] < 0.1 * losses[0]
    if not HAVE_TORCH:
        return
    theirs = run(PYTORCH, "time_sequence_prediction.py", "--init", init, cwd=tmp_path)
    assert_close(losses, numbers(theirs, TSP_LOSS), 1e-9, "loss")
    assert_close(tests, numbers(theirs, TSP_TEST), 1e-9, "test loss")
