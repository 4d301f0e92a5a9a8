"""Data-parallel scaling: mnist-cnn on K ranks against 1 rank, at the same global batch.

    python -m benchmarks.distributed_scaling                    # 2 ranks x 1 thread vs 1 x 1
    python -m benchmarks.distributed_scaling --ranks 2 --batch 64 --steps 30 --threads 1

Both runs are MPI jobs (``mpiexec -n 1`` and ``mpiexec -n K``, each rank with
OPENBLAS_NUM_THREADS=--threads, so K ranks use K cores against the single rank's one) on
synthetic batches resident on the device; rank r of K trains on batch/K samples. Prints one JSON
line: samples/s of each, the speed-up, the parallel efficiency (speed-up / K) and the
allreduce's share of the K-rank step (the time spent in ``average_gradients``). Run it on a
quiet machine with at least K free cores: timings of processes that share cores mean nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_MARK = "distributed_scaling:"


def worker(args):
    """One rank: warm up, then time ``steps`` steps and the average_gradients call in each."""
    import xpnet
    from xpnet import distributed as dist
    from xpnet import models, ops, optim

    dist.init()
    rank, size = dist.rank(), dist.world_size()
    if args.batch % size:
        raise SystemExit(f"distributed_scaling: --batch {args.batch} must divide by {size} ranks")
    device = dist.local_device(args.device)
    xpnet.manual_seed(0)
    model = models.mnist_cnn(device=device)
    dist.broadcast_parameters(model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(rank)
    per_rank = args.batch // size
    x = xpnet.tensor(rng.standard_normal((per_rank, 1, 28, 28)).astype(np.float32),
                     device=device)
    y = xpnet.tensor(rng.integers(0, 10, per_rank), device=device)
    sync = _synchronizer(device)

    def step(times):
        optimizer.zero_grad()
        loss = ops.cross_entropy(model(x), y)
        loss.backward()
        sync()
        started = time.perf_counter()
        dist.average_gradients(model)
        sync()
        times.append(time.perf_counter() - started)
        optimizer.step()
        return loss

    for _ in range(args.warmup):
        step([])
    sync()
    dist.barrier()
    allreduce = []
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = step(allreduce)
    sync()
    elapsed = time.perf_counter() - started
    totals = dist.all_reduce_sums([elapsed, sum(allreduce), float(loss.item())])
    if rank == 0:
        print(_MARK + json.dumps({
            "ranks": size, "device": device, "step_ms": 1000 * totals[0] / size / args.steps,
            "allreduce_ms": 1000 * totals[1] / size / args.steps,
            "final_loss_mean": totals[2] / size}), flush=True)


def _synchronizer(device):
    if device.startswith("cuda"):
        import cupy
        return cupy.cuda.get_current_stream().synchronize
    return lambda: None


def _mpiexec():
    beside = Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        raise SystemExit('distributed_scaling: no mpiexec; pip install "xpnet[mpi]"')
    return found


def launch(ranks, args):
    """Run the worker under ``mpiexec -n ranks``; its rank 0's measurement."""
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(args.threads)   # the launched ranks only, never this process
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    command = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m",
               "benchmarks.distributed_scaling", "--worker", "--batch", str(args.batch),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--device",
               args.device]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=args.timeout)
    for line in done.stdout.splitlines():
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    raise SystemExit(f"distributed_scaling: the {ranks}-rank job failed ({done.returncode}):\n"
                     f"{done.stdout}{done.stderr}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="global batch (split over ranks)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per rank")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    one, many = launch(1, args), launch(args.ranks, args)
    rate_one = args.batch / (one["step_ms"] / 1000)
    rate_many = args.batch / (many["step_ms"] / 1000)
    speedup = rate_many / rate_one
    print(json.dumps({
        "bench": "distributed-scaling", "model": "mnist-cnn", "device": args.device,
        "global_batch": args.batch, "ranks": args.ranks, "blas_threads_per_rank": args.threads,
        "steps": args.steps, "samples_per_s_1_rank": round(rate_one, 1),
        f"samples_per_s_{args.ranks}_ranks": round(rate_many, 1),
        "speedup": round(speedup, 3), "efficiency": round(speedup / args.ranks, 3),
        "step_ms_1_rank": round(one["step_ms"], 2),
        f"step_ms_{args.ranks}_ranks": round(many["step_ms"], 2),
        "allreduce_ms": round(many["allreduce_ms"], 3),
        "allreduce_share": round(many["allreduce_ms"] / many["step_ms"], 4),
        "python": platform.python_version(), "numpy": np.__version__,
        "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}), flush=True)


if __name__ == "__main__":
    main()
