import gzip
import json
import os
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
    from xpnet import backend, cpu
    threads = cpu.SLAB_THREADS.threads(backend.resolve("cpu").xp)
    assert f"convolution slabs on {threads} thread" in text


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "argument --epochs: must be a positive int, got 0"),
    ("--epochs", "-1", "argument --epochs: must be a positive int, got -1"),
    ("--batch-size", "0", "argument --batch-size: must be a positive int, got 0"),
    ("--lr", "0", "argument --lr: must be a positive finite number, got 0"),
    ("--lr", "inf", "argument --lr: must be a positive finite number, got inf"),
    ("--lr", "fast", "argument --lr: must be a positive number, got 'fast'"),
    ("--log-every", "0", "argument --log-every: must be a positive int, got 0"),
])
def test_bad_options_are_refused_naming_the_option(tmp_path, capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "mnist-mlp", option, value, "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xpnet: error: ") and message in err[0]
    assert not (tmp_path / "run").exists()


def test_an_out_that_is_a_file_is_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    code = main(["train", "mnist-mlp", "--out", str(tmp_path / "taken"), "--quiet"])
    assert code == 2
    assert f"xpnet: error: --out {tmp_path / 'taken'} is a file" in capsys.readouterr().err


def _run(tmp_path, *extra, recipe="mnist-mlp"):
    return main(["train", recipe, "--batch-size", "64", "--data", str(tmp_path), "--out",
                 str(tmp_path / "run"), "--quiet", *extra])


def test_resume_refuses_changed_settings_and_another_recipe(tmp_path, capsys):
    write_idx(tmp_path)
    assert _run(tmp_path, "--epochs", "1") == 0
    ckpt = str(tmp_path / "run" / "checkpoint.npz")
    capsys.readouterr()
    assert _run(tmp_path, "--epochs", "2", "--resume", ckpt, "--lr", "0.01") == 2
    assert ("xpnet: error: --lr 0.01 differs from the checkpoint's 0.001; a resumed run "
            "continues its saved training") in capsys.readouterr().err
    assert _run(tmp_path, "--epochs", "2", "--resume", ckpt, recipe="mnist-cnn") == 2
    assert ("was saved by recipe mnist-mlp, not mnist-cnn; resume it with `xpnet train "
            "mnist-mlp`") in capsys.readouterr().err
    assert _run(tmp_path, "--resume", str(tmp_path / "missing.npz")) == 2
    assert "--resume" in capsys.readouterr().err


def test_resuming_a_finished_run_has_nothing_to_do_and_extending_it_restarts_the_cosine(
        tmp_path, capsys):
    write_idx(tmp_path)
    assert _run(tmp_path, "--epochs", "1") == 0
    ckpt = str(tmp_path / "run" / "checkpoint.npz")
    before = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert _run(tmp_path, "--resume", ckpt) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == before
    assert _run(tmp_path, "--resume", ckpt, "--epochs", "2") == 0
    err = capsys.readouterr().err
    assert "epochs 2-2 anneal again from lr 0.001 to 0 (a warm restart)" in err
    history = json.loads((tmp_path / "run" / "history.json").read_text())["history"]
    assert history["lr"][1] == pytest.approx(0.0, abs=1e-9)   # annealed to 0 again, not climbing


def test_extending_an_unfinished_cosine_run_is_refused(tmp_path, capsys):
    write_idx(tmp_path)
    assert _run(tmp_path, "--epochs", "3", "--limit", "64") == 0
    ckpt_path = tmp_path / "run" / "checkpoint.npz"
    import xpnet
    state = xpnet.load(ckpt_path)          # pretend it stopped after its first epoch
    state["epoch"] = 1
    xpnet.save(state, ckpt_path)
    capsys.readouterr()
    assert _run(tmp_path, "--resume", str(ckpt_path), "--epochs", "5") == 2
    assert "planned for 3 epochs and 1 are done; finish it first" in capsys.readouterr().err


def test_a_non_finite_loss_stops_with_exit_1_and_claims_no_checkpoint(tmp_path, capsys):
    write_idx(tmp_path)
    code = _run(tmp_path, "--epochs", "2", "--lr", "1e30", "--log-every", "1")
    out = capsys.readouterr().out
    assert code == 1 and "training stopped: the loss became" in out
    assert "no checkpoint (no epoch finished with a finite loss)" in out
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_ctrl_c_says_which_checkpoint_is_kept_and_exits_130(tmp_path, capsys, monkeypatch):
    write_idx(tmp_path)
    from xpnet.train import trainer
    real = trainer.Trainer.train_epoch

    def interrupted_in_epoch_2(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(self, epoch)
    monkeypatch.setattr(trainer.Trainer, "train_epoch", interrupted_in_epoch_2)
    assert _run(tmp_path, "--epochs", "3") == 130
    err = capsys.readouterr().err
    assert (f"xpnet: training was interrupted; the checkpoint of epoch 1 is kept at "
            f"{tmp_path / 'run' / 'checkpoint.npz'}") in err


def test_progress_off_a_terminal_is_plain_lines_within_the_epoch(tmp_path, capsys):
    write_idx(tmp_path, n_train=512)
    code = main(["train", "mnist-mlp", "--epochs", "1", "--batch-size", "32", "--data",
                 str(tmp_path), "--out", str(tmp_path / "run"), "--log-every", "2"])
    assert code == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch 1/1")]
    assert len([line for line in lines if " step " in line]) >= 3      # not one silent epoch
    assert "\r" not in "".join(lines)


def test_a_cpu_run_on_a_busy_machine_gets_a_hint_about_threads(monkeypatch):
    from xpnet.cli import _busy_machine_hint
    for name in ("XPNET_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    hint = _busy_machine_hint("cpu", 1, cores=2, busy=1)
    assert hint == ("note: 1 of this machine's 2 cores are busy with other work; if training "
                    "is slow, XPNET_NUM_THREADS=1 keeps NumPy's BLAS off them")
    assert "XPNET_NUM_THREADS=5" in _busy_machine_hint("strict", 1, cores=8, busy=3)
    assert "XPNET_NUM_THREADS=1" in _busy_machine_hint("cpu", 1, cores=2, busy=4)
    assert _busy_machine_hint("cpu", 1, cores=2, busy=0) is None            # quiet
    assert _busy_machine_hint("cuda:0", 1, cores=2, busy=1) is None         # not the CPU's BLAS
    assert _busy_machine_hint("cpu", 2, cores=2, busy=1) is None            # ranks share cores
    monkeypatch.setenv("XPNET_NUM_THREADS", "1")
    assert _busy_machine_hint("cpu", 1, cores=2, busy=1) is None            # the user chose


def test_the_busy_core_count_sees_a_process_that_spins(tmp_path):
    import subprocess
    import sys
    from xpnet.cli import _busy_cores
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("needs Linux's /proc/loadavg")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time
        time.sleep(0.5)
        assert _busy_cores() >= 1
    finally:
        spinner.kill()
        spinner.wait()


def test_info_says_when_the_default_device_names_no_device(capsys, monkeypatch):
    monkeypatch.setenv("XPNET_DEVICE", "gpu")
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "default device 'gpu' is not usable: unknown device 'gpu'" in text


def test_run_torch_runs_a_pytorch_script_on_xpnet(tmp_path, capsys):
    script = tmp_path / "script.py"
    script.write_text("import sys\nimport torch\n"
                      "x = torch.tensor([1.0, -2.0, 3.0])\n"
                      "print('relu sum', torch.nn.functional.relu(x).sum().item(), sys.argv[1:])\n")
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-m", "xpnet", "run-torch", str(script), "a", "b"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "relu sum 4.0 ['a', 'b']"


def test_the_final_test_figures_are_the_last_epochs_validation_not_a_second_pass(
        tmp_path, capsys, monkeypatch):
    import sys
    fit_module, trainer_module = sys.modules["xpnet.train.fit"], sys.modules["xpnet.train.trainer"]
    passes = []
    original = trainer_module.run_evaluation

    def counting(*args, **kwargs):
        passes.append(kwargs.get("prefix", args[5] if len(args) > 5 else ""))
        return original(*args, **kwargs)
    monkeypatch.setattr(trainer_module, "run_evaluation", counting)
    monkeypatch.setattr(fit_module, "run_evaluation", counting)
    write_idx(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--epochs", "2", "--batch-size", "32", "--data",
                 str(tmp_path), "--out", str(out), "--quiet"]) == 0
    assert passes == ["val_", "val_"]          # one pass over the test set per epoch, no more
    printed = capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())["history"]
    accuracy = float(printed.split("test accuracy ")[1].split("%")[0])
    loss = float(printed.split("test loss ")[1].split()[0])
    assert accuracy == pytest.approx(history["val_accuracy"][-1] * 100, abs=0.005)
    assert loss == pytest.approx(history["val_loss"][-1], abs=5e-5)
