"""ci/gpu-all.sh end to end in its dry-run mode (the CPU, tiny sizes), so that the one GPU call
a task gets is known to work before any GPU time is spent."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and coreutils' timeout")
def test_the_gpu_script_runs_end_to_end_in_dry_run_mode(tmp_path):
    env = dict(os.environ, XPNET_GPU_DRY_RUN="1", OUT=str(tmp_path), PYTHON=sys.executable,
               PYTHONPATH=str(ROOT))
    done = subprocess.run(["bash", str(ROOT / "ci" / "gpu-all.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(os.listdir(tmp_path))
    assert names == ["bench.jsonl", "info.txt", "junit.xml", "recipes.log", "suite.log",
                     "summary.txt"]
    assert len(names) <= 8                       # what the device tool brings back
    summary = (tmp_path / "summary.txt").read_text()
    assert "suite (-m gpu):" in summary and "fusion fallback warnings: 0" in summary
    assert summary.count("test accuracy") == 2   # mnist-cnn and mnist-lstm
    for bench in ("mlp batch 8", "cnn batch 8", "lstm batch 8"):
        assert bench + ": xpnet/torch" in summary or (
            "torch" not in (tmp_path / "info.txt").read_text())
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()
