"""ci/gpu-all.sh in its dry-run mode (the CPU, tiny sizes), so that the one GPU call a task gets
is known to work before any GPU time is spent: end to end, and in each way it used to lose its
results (a suite that runs out of time or hangs, missing wheels, a broken Numba, files over the
device tool's size limit). ci/gpu_probe.py on a machine without a GPU."""
import gzip
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "gpu-all.sh"
LIMIT = 15 * 2**20          # what the script keeps each file under (the tool takes 16 MiB)

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def _env(out, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "XPNET_SUITE_DEADLINE", "XPNET_COMPILER")}
    env.update(XPNET_GPU_DRY_RUN="1", OUT=str(out), PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def _run(out, timeout=300, **extra):
    return subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=_env(out, **extra),
                          capture_output=True, text=True, timeout=timeout)


def _shim(folder, module, message):
    """A folder that, put on PYTHONPATH, makes ``import <module>`` raise ImportError."""
    package = folder / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"raise ImportError({message!r})\n")
    return folder


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-all")
    cache = tmp_path_factory.mktemp("cache") / "cupy-cache"
    cache.mkdir()
    (cache / "kernel.cubin").write_bytes(b"\0" * 1000)
    t0 = time.perf_counter()
    done = _run(out, CUPY_CACHE_DIR=str(cache))
    return out, done, time.perf_counter() - t0


def test_the_dry_run_brings_back_every_result(dry_run):
    out, done, seconds = dry_run
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(os.listdir(out))
    assert names == ["bench.jsonl", "cupy-cache.tar.gz", "info.txt", "junit.xml", "probe.json",
                     "runs.log", "suite.log", "summary.txt"]   # 8: what the device tool takes
    assert all((out / n).stat().st_size <= LIMIT for n in names)
    summary = (out / "summary.txt").read_text()
    assert "suite (-m gpu, one process, budget 60 s):" in summary
    assert "failures and errors: 0" in summary
    assert "fusion fallback warnings: 0 (info.txt 0, suite.log 0, runs.log 0)" in summary
    assert summary.count("test accuracy") == 2   # mnist-cnn and mnist-lstm
    assert "probe cpu: all sections ok" in summary
    assert "cupy cache: 1 of 1 files archived" in summary
    for bench in ("mlp batch 8", "cnn batch 8", "lstm batch 8 seq_len 8"):
        assert bench + ": xpnet/torch" in summary or "torch not installed" in (
            out / "info.txt").read_text()
    assert "<testsuite" in (out / "junit.xml").read_text()
    with tarfile.open(out / "cupy-cache.tar.gz") as tar:
        assert [m.name for m in tar.getmembers() if m.isfile()] == ["cupy-cache/kernel.cubin"]
    lines = [json.loads(line) for line in (out / "bench.jsonl").read_text().splitlines()]
    assert sum(1 for r in lines if r.get("summary")) == 4         # only JSON: logs go elsewhere


def test_the_dry_run_probe_compiles_every_fused_kernel_once(dry_run):
    out, done, _ = dry_run
    report = json.loads((out / "probe.json").read_text())
    assert report["available"] is True and report["ok"] is True
    sections = report["sections"]
    assert set(sections) == {"versions", "fused", "labels", "mnist_cnn", "distributed"}
    assert sections["versions"]["env"]["XPNET_COMPILER"] == "none"   # set by the script
    kernels = sections["fused"]["kernels"]
    assert len(kernels) >= 40
    assert {k["engine"] for k in kernels} == {"reference"}             # no compiler: none
    assert all(k["error_over_tolerance"] <= 1 for k in kernels)
    assert sections["labels"]["out_of_range"]["raised"].startswith("IndexError")
    losses = sections["mnist_cnn"]["losses"]
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert sections["distributed"]["broadcast"] == sections["distributed"]["expected"]


def test_the_dry_run_ends_well_inside_two_minutes(dry_run):
    out, done, seconds = dry_run
    stamps = re.findall(r"^\[(\d+)s\] total$", (out / "summary.txt").read_text(), re.MULTILINE)
    own = int(stamps[-1])                                 # the script's own clock
    assert own < 120, f"the dry run took {own} s"


_SLOW_SUITE = """
import time

def test_quick():
    assert 1 + 1 == 2

def test_slow():
    time.sleep(1.5)

def test_after_the_budget():
    assert False, "never started: the budget was spent"

def test_also_after_the_budget():
    assert False, "never started"
"""

_HANGING_SUITE = """
import time

def test_quick():
    assert True

def test_hangs():
    time.sleep(120)

def test_never_reached():
    assert True
"""


def test_a_spent_suite_budget_still_returns_the_summary_and_the_junit_file(tmp_path):
    tests = tmp_path / "suite" / "test_budget.py"
    tests.parent.mkdir()
    tests.write_text(_SLOW_SUITE)
    out = tmp_path / "out"
    done = _run(out, timeout=60, XPNET_GPU_STAGES="suite", XPNET_GPU_SUITE=str(tests),
                XPNET_SUITE_BUDGET="1")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (out / "summary.txt").read_text()
    assert "2 passed, 2 skipped" in summary and "[exit 0]" in summary
    assert "suite budget: 2 tests not run" in summary
    assert "junit.xml: 4 tests, 0 failed, 0 errors, 2 skipped" in summary
    junit = (out / "junit.xml").read_text()
    assert junit.count("<testcase") == 4
    assert junit.count('<skipped type="pytest.skip" message="suite budget spent"') == 2


def test_a_hung_test_is_interrupted_and_junit_still_written(tmp_path):
    tests = tmp_path / "suite" / "test_hang.py"
    tests.parent.mkdir()
    tests.write_text(_HANGING_SUITE)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    done = _run(out, timeout=60, XPNET_GPU_STAGES="suite", XPNET_GPU_SUITE=str(tests),
                XPNET_SUITE_BUDGET="1", XPNET_SUITE_GRACE="2")
    assert time.perf_counter() - t0 < 30                 # not the test's 120 s
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (out / "summary.txt").read_text()
    assert "stopped at its time limit (SIGINT)" in summary and "1 passed" in summary
    assert "interrupted in: " in summary and "test_hang.py:" in summary
    junit = (out / "junit.xml").read_text()
    assert 'name="test_quick"' in junit and "test_never_reached" not in junit
    assert "KeyboardInterrupt" in (out / "suite.log").read_text()


_DEAF_SUITE = """
import signal
import time

def test_fails():
    assert 1 == 2

def test_will_not_stop():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(120)
"""


def test_a_pytest_that_must_be_killed_still_leaves_its_failure_list(tmp_path):
    tests = tmp_path / "suite" / "test_deaf.py"
    tests.parent.mkdir()
    tests.write_text(_DEAF_SUITE)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    done = _run(out, timeout=60, XPNET_GPU_STAGES="suite", XPNET_GPU_SUITE=str(tests),
                XPNET_SUITE_BUDGET="1", XPNET_SUITE_GRACE="1", XPNET_SUITE_KILL="1")
    assert time.perf_counter() - t0 < 30
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (out / "summary.txt").read_text()
    assert "KILLED after its time limit" in summary and "junit.xml MISSING" in summary
    assert "failures and errors: 1 " in summary
    assert re.search(r"^FAILED \S*test_deaf.py::test_fails$", summary, re.MULTILINE)


def test_the_whole_suite_script_takes_a_selection_and_brings_back_the_same_files(tmp_path):
    tests = tmp_path / "suite" / "test_two.py"
    tests.parent.mkdir()
    tests.write_text("def test_passes():\n    pass\n\n"
                     "def test_fails():\n    assert 1 == 2, 'one is not two'\n")
    out = tmp_path / "out"
    command = ["bash", str(ROOT / "ci" / "gpu-suite.sh"), str(tests), "-k", "passes or fails"]
    done = subprocess.run(command, cwd=ROOT, env=_env(out), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(os.listdir(out)) == ["info.txt", "junit.xml", "suite.log", "summary.txt"]
    summary = (out / "summary.txt").read_text()
    assert "1 failed, 1 passed" in summary and "junit.xml: 2 tests, 1 failed" in summary
    assert "failures and errors: 1" in summary and "FAILED " in summary and "test_fails" in summary


def test_missing_wheels_stop_the_script_at_once_with_one_line(tmp_path):
    shim = _shim(tmp_path / "shim", "array_api_strict", "array_api_strict: not installed (shim)")
    (tmp_path / "wheels").mkdir()
    out = tmp_path / "out"
    t0 = time.perf_counter()
    done = _run(out, timeout=60, XPNET_GPU_DRY_RUN="0", XPNET_GPU_WHEELS=str(tmp_path / "wheels"),
                PYTHONPATH=str(shim))
    assert time.perf_counter() - t0 < 20
    assert done.returncode == 2
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and "STOPPED" in lines[0] and "prepare-wheels.sh" in lines[0]
    assert os.listdir(out) == ["summary.txt"]             # nothing else ran
    assert "STOPPED" in (out / "summary.txt").read_text()


def test_a_numba_that_fails_to_import_cannot_matter_in_the_script(tmp_path):
    """The script sets XPNET_COMPILER=none: the probe, fused kernels included, runs as with no
    Numba at all, and records Numba's import error."""
    shim = _shim(tmp_path / "shim", "numba", "numba: built against another NumPy (shim)")
    out = tmp_path / "out"
    done = _run(out, timeout=120, XPNET_GPU_STAGES="probe", PYTHONPATH=f"{shim}{os.pathsep}{ROOT}")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "probe.json").read_text())
    assert "built against another NumPy" in report["sections"]["versions"]["numba"]["error"]
    assert report["ok"] is True, report["summary"]


_BROKEN_NUMBA_CALL = """
import warnings
import numpy as np
import xpnet.functional as F
import xpnet
from xpnet import kernels

@kernels.fuse
def axpy(xp, x, y, a):
    return a * x + y

x, y = np.linspace(-1.0, 1.0, 7), np.ones(7)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)     # a warning may say Numba is broken
    np.testing.assert_allclose(axpy(np, x, y, 2.0), 2.0 * x + y)
    t = xpnet.tensor(x.astype(np.float32))
    np.testing.assert_allclose(F.leaky_relu(t, 0.1).numpy(), np.where(x > 0, x, 0.1 * x),
                               rtol=1e-6)
print("fell back")
"""


def test_a_numba_that_fails_to_import_falls_back_to_the_references(tmp_path):
    shim = _shim(tmp_path / "shim", "numba", "numba: built against another NumPy (shim)")
    env = {k: v for k, v in os.environ.items() if k != "XPNET_COMPILER"}
    env["PYTHONPATH"] = f"{shim}{os.pathsep}{ROOT}"
    env["XPNET_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run([sys.executable, "-c", _BROKEN_NUMBA_CALL], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "fell back" in done.stdout, done.stderr[-3000:]


def test_results_over_the_size_limit_are_cut_compressed_or_trimmed(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    cache.mkdir()
    log = b"".join(b"line %08d of a long log\n" % i for i in range(700_000))   # 17.5 MB
    (out / "suite.log").write_bytes(log)
    xml = b"<testsuite>" + b"<testcase name='x'/>" * 900_000 + b"</testsuite>"  # 18 MB
    (out / "junit.xml").write_bytes(xml)
    rng = __import__("numpy").random.default_rng(0)
    now = time.time()
    for i in range(24):                       # 24 MiB of incompressible kernels, i newest last
        path = cache / f"kernel{i:02d}.cubin"
        path.write_bytes(rng.bytes(2**20))
        os.utime(path, (now - 100 + i, now - 100 + i))
    done = _run(out, timeout=120, XPNET_GPU_STAGES="cache", CUPY_CACHE_DIR=str(cache))
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(p.stat().st_size <= LIMIT for p in out.iterdir())
    kept = (out / "suite.log").read_bytes()
    assert kept.startswith(log[:2**20]) and kept.endswith(log[-2**20:]) and b"bytes cut" in kept
    assert gzip.decompress((out / "junit.xml.gz").read_bytes()) == xml
    with tarfile.open(out / "cupy-cache.tar.gz") as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert 8 <= len(names) < 24 and "cache/kernel23.cubin" in names   # the newest kept
    assert "cache/kernel00.cubin" not in names
    summary = (out / "summary.txt").read_text()
    assert f"cupy cache: {len(names)} of 24 files archived" in summary
    assert "suite.log was" in summary and "junit.xml was" in summary


def _probe_module():
    spec = importlib.util.spec_from_file_location("gpu_probe", ROOT / "ci" / "gpu_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_probe_records_a_missing_gpu_and_exits_0(tmp_path):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here: the probe would use the GPU")
    report = tmp_path / "probe.json"
    done = subprocess.run([sys.executable, str(ROOT / "ci" / "gpu_probe.py"), "--device", "cuda",
                           "--out", str(report)], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["available"] is False and "CuPy" in data["unavailable"]
    assert data["sections"]["versions"]["cupy"]["error"].startswith("ModuleNotFoundError")
    assert "unavailable" in done.stdout


def test_the_probe_names_the_fusion_engine_from_the_compiled_object():
    probe = _probe_module()

    class ElementwiseKernel:
        pass

    class Fusion:                      # what cupy.fuse returns: cupy._core.fusion.Fusion
        def __init__(self, new_fusion, memo):
            self.new_fusion, self._memo = new_fusion, memo

    class NewFusion:
        pass

    name, details = probe.engine(Fusion(None, {("f", 2): (ElementwiseKernel(), {})}), "cupy")
    assert name == "cupy fusion" and details["kernels"] == ["ElementwiseKernel"]
    name, details = probe.engine(Fusion(NewFusion(), {}), "cupy")
    assert name == "cupy new fusion" and details["new_fusion"].endswith("NewFusion")
    assert probe.engine(None, "cupy")[0] == "reference"
    assert probe.engine(probe._NOT_CALLED, "cupy")[0] == "not called"
