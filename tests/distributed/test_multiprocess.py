"""Real two-rank jobs: ``mpiexec -n 2 python -m mpi4py job.py ...`` as subprocesses.

Each job takes 1-3 s (two Python processes importing xpnet, plus the work); only rank 0
writes results, into tmp_path.
"""
import collections
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.data.sampler import torch_randperm

from . import job

ROOT = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("job.py")
_LAUNCH_VARIABLES = ("PMI_", "PMIX_", "OMPI_", "MV2_", "MPI_LOCAL", "HYDRA_")


def _mpiexec(ranks=2):
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip('mpi4py is not installed; pip install "xpnet[mpi]"')
    beside = Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip('no mpiexec next to Python or on PATH; pip install "xpnet[mpi]" (MPICH)')
    command = [found, "-n", str(ranks)]
    version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10)
    if "Open MPI" in version.stdout + version.stderr:   # MPICH needs neither flag
        command += ["--allow-run-as-root", "--oversubscribe"]
    return command


def _launch(args, timeout, module=True, ranks=2):
    """Run ``mpiexec -n RANKS python [-m mpi4py] job.py ARGS``; the whole process group is
    killed if it outlives ``timeout`` seconds (a hang must not outlive the test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LAUNCH_VARIABLES)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in
                                         [os.environ.get("PYTHONPATH")] if p])
    command = _mpiexec(ranks) + [sys.executable] + (["-m", "mpi4py"] if module else []) + \
        [str(JOB)] + [str(a) for a in args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, cwd=ROOT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the job {args} was still running after {timeout} s:\n{output}")
    return process.returncode, output


def _run(args, timeout=60, ranks=2):
    code, output = _launch(args, timeout, ranks=ranks)
    assert code == 0, output
    return output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    _run(["train", out])
    return out


@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    out = tmp_path_factory.mktemp("collectives")
    _run(["collectives", out])
    return json.loads((out / "collectives.json").read_text())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_at_batch_b_train_like_one_process_at_batch_2b(trained, optimizer):
    results = json.loads((trained / "train.json").read_text())
    assert results["world_size"] == 2 and results[optimizer]["steps"] == 50
    xpnet.manual_seed(0)
    initial = [p.numpy().copy() for p in job.mlp().parameters()]
    reference, steps = job.train_steps(optimizer, 32)   # this process: a world of one
    assert steps == 50
    two_ranks = np.load(trained / f"{optimizer}.npz")
    for p, key, start in zip(reference.parameters(), two_ranks.files, initial):
        assert np.max(np.abs(p.numpy() - start)) > 0.05     # training moved the weights
        np.testing.assert_allclose(two_ranks[key], p.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_rank_holds_identical_parameters_after_every_step(trained, optimizer):
    agreed = json.loads((trained / "train.json").read_text())[optimizer]["agreed"]
    assert len(agreed) == 50 and all(agreed)


def test_fit_on_two_ranks_logs_and_trains_like_one_process_at_twice_the_batch(trained):
    result = json.loads((trained / "train.json").read_text())["fit"]
    assert result["same_on_every_rank"]                      # the logs were all-reduced
    reference, logs = job.fit_run(32)                        # this process: a world of one
    for key in job.FIT_KEYS:
        assert len(result["logs"][key]) == 3
        np.testing.assert_allclose(result["logs"][key], logs[key], rtol=1e-4, err_msg=key)
    two_ranks = np.load(trained / "fit.npz")
    for p, key in zip(reference.parameters(), two_ranks.files):
        np.testing.assert_allclose(two_ranks[key], p.numpy(), rtol=1e-4, atol=1e-6)


def test_the_sampler_covers_each_epoch_once_across_the_ranks(collectives):
    sampler = collectives["sampler"]
    assert sampler["num_replicas"] == 2                      # taken from the MPI world
    for epoch, shares in enumerate(sampler["shares"]):
        assert [len(s) for s in shares] == [6, 6]            # 11 samples, 1 padded
        counts = collections.Counter(shares[0] + shares[1])
        assert set(counts) == set(range(11))
        first = torch_randperm(11, 2 + epoch).tolist()[0]    # wrap-around repeats the first
        assert {i for i, c in counts.items() if c > 1} == {first} and counts[first] == 2
    assert sampler["shares"][0] != sampler["shares"][1]


def test_a_rank_that_raises_ends_the_job_quickly_with_its_traceback():
    code, output = _launch(["fail"], timeout=10, module=False)   # our excepthook alone
    assert code != 0
    assert "RuntimeError: rank 1 fails on purpose" in output
    assert "xpnet.distributed: rank 1 of 2 raised; aborting the job" in output


def test_broadcast_parameters_gives_rank_1_the_weights_and_buffers_of_rank_0(collectives):
    result = collectives["broadcast_parameters"]
    assert result["before"][0] != result["before"][1]       # rank 1 started elsewhere
    assert result["after"] == [result["before"][0]] * 2
    assert result["equal_everywhere"] == [True, True]


def test_all_reduce_and_broadcast_give_the_sums_means_and_root_values(collectives):
    assert collectives["world_size"] == 2 and collectives["rank_gathered"] == [0, 1]
    devices = collectives["devices"]
    assert {"cpu", "strict"} <= set(devices)
    for device, r in devices.items():
        assert r["sum"] == [3.0, 30.0], device               # ranks hold 1, 10 and 2, 20
        assert r["mean"] == [1.5, 15.0], device
        assert r["int_sum"] == [3, 14], device
        assert r["broadcast"] == [2.0, -2.0], device         # rank 1's values
        assert r["weight_grad"] == [[1.5, 1.5], [1.5, 1.5]], device
        assert r["bias_grad"] == [0.0, 0.0], device          # no rank had one: zeros
    assert devices["cpu"]["mean_in_place"]                   # NumPy: the same array
    assert collectives["sums"] == {"loss": 1.5, "count": 20.0}


@pytest.mark.gpu
def test_nccl_sums_broadcasts_and_averages_gradients_on_the_gpus(tmp_path):
    xpnet.backend.resolve_or_skip("cuda")
    import cupy
    ranks = min(2, cupy.cuda.runtime.getDeviceCount())   # one GPU: a world of one GPU
    _run(["nccl", tmp_path], timeout=120, ranks=ranks)
    r = json.loads((tmp_path / "nccl.json").read_text())
    total = ranks * (ranks + 1) / 2                       # rank k holds k + 1
    assert r["size"] == ranks and r["device"] == "cuda:0"
    assert r["sum"] == [total, 10 * total] and r["mean"] == [total / ranks]
    assert r["broadcast"] == [float(ranks), -float(ranks)]
    assert r["weight_grad"] == [[total / ranks] * 2] * 2
    assert r["bias_grad"] == [2 * total / ranks] * 2
    assert r["communicators"] == [f"NcclCommunicator(size={ranks}, device='cuda:0')"]


def test_the_command_line_trains_with_two_processes_and_writes_once(tmp_path):
    """``mpiexec -n 2 python -m mpi4py -m xpnet train ...``: one header, one final line, one
    checkpoint; the logged numbers are those of the whole (sharded) test set."""
    from tests.test_cli import write_idx
    write_idx(tmp_path, n_train=256, n_test=96)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LAUNCH_VARIABLES)
           and k not in ("XPNET_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                         "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    command = _mpiexec(2) + [sys.executable, "-m", "mpi4py", "-m", "xpnet", "train", "mnist-mlp",
                             "--epochs", "1", "--batch-size", "32", "--data", str(tmp_path),
                             "--out", str(tmp_path / "run"), "--distributed"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120, start_new_session=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("test accuracy") == 1
    assert done.stderr.count("xpnet train mnist-mlp:") == 1
    assert "batch 32 per process x 2 processes" in done.stderr
    threads = max(1, os.cpu_count() // 2)     # the two ranks share the machine's cores
    assert f"({threads} BLAS thread{'s' * (threads > 1)} each)" in done.stderr
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.npz", "curves.png",
                                                     "history.json"]
    state = xpnet.load(tmp_path / "run" / "checkpoint.npz")
    assert state["extra"]["world_size"] == 2 and state["epoch"] == 1
