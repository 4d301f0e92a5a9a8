"""The Transformer examples run end to end at tiny sizes (so they do not rot)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script, *args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_char_transformer_example_trains_reports_the_validation_loss_and_samples(tmp_path):
    out = _run("char_transformer.py", "--iters", "6", "--eval-interval", "3", "--layers", "1",
               "--heads", "2", "--embed", "16", "--block-size", "16", "--batch-size", "4",
               "--sample", "30", "--out", str(tmp_path / "history.json"))
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["iter"] == [3, 6]
    loss = float(re.search(r"validation loss (\d+\.\d+) \(all 111,540 characters\)", out)[1])
    assert loss == pytest.approx(history["final_val_loss"], abs=1e-4) and loss < 4.2  # ln 65
    assert len(out.split("---- sample ----")[1]) >= 30


def test_transformer_reverse_example_decodes_unseen_strings():
    out = _run("transformer_reverse.py", "--steps", "4", "--test", "30", "--d-model", "16",
               "--batch-size", "16", "--max-len", "5")
    accuracy = float(re.search(r"exact-sequence accuracy on (\d+) unseen strings: "
                               r"(\d+\.\d+) %", out)[2])
    assert 0.0 <= accuracy <= 100.0
    assert len(re.findall(r"^\d+ -> \d*$", out, flags=re.M)) == 3


def test_sequence_models_compare_example_writes_its_tables_and_figure(tmp_path):
    _run("sequence_models_compare.py", "--lengths", "4", "8", "--repeats", "1",
         "--adding-steps", "2", "--adding-length", "6", "--batch-size", "4", "--out", "compare",
         cwd=tmp_path)
    table = (tmp_path / "compare.md").read_text()
    assert "| 8 |" in table and "| transformer |" in table
    results = json.loads((tmp_path / "compare.json").read_text())
    assert {(r["model"], r["T"]) for r in results["costs"]} == {
        (m, t) for m in ("rnn", "lstm", "gru", "transformer") for t in (4, 8)}
    assert all(r["step_ms"] > 0 and r["peak_MB"] > 0 for r in results["costs"])
    assert (tmp_path / "compare.png").stat().st_size > 1000


def test_gan_modes_example_scores_each_method_and_draws_the_samples(tmp_path):
    out = _run("gan_modes.py", "--seeds", "1", "--steps", "6", "--methods", "non-saturating",
               "wgan-gp", "--out", str(tmp_path))
    results = json.loads((tmp_path / "modes.json").read_text())["results"]
    assert sorted(results) == ["non-saturating", "wgan-gp"]
    for method, runs in results.items():
        (run,) = runs
        assert 0 <= run["modes"] <= 8 and 0.0 <= run["high_quality"] <= 1.0
        assert f"{method}" in out and f"{run['modes']}/8 modes" in out
    assert (tmp_path / "modes.png").stat().st_size > 0


def test_the_mode_score_counts_modes_and_samples_within_three_sigma():
    import importlib.util
    spec = importlib.util.spec_from_file_location("gan_modes", ROOT / "examples" / "gan_modes.py")
    gan_modes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gan_modes)
    modes = gan_modes.MODES
    # 99 samples on mode 0, 1 on mode 3, 100 far away: half the samples are of high quality,
    # and mode 3's one sample of 200 (0.5 %) is under the 1 % that covers a mode
    samples = np.concatenate([np.repeat(modes[:1], 99, axis=0), modes[3:4],
                              np.full((100, 2), 10.0, np.float32)])
    assert gan_modes.score(samples) == (1, 0.5)
    near = modes[5] + np.array([0.05, 0.0], np.float32)           # inside 3σ = 0.06
    far = modes[5] + np.array([0.07, 0.0], np.float32)
    assert gan_modes.score(np.stack([near, far])) == (1, 0.5)
