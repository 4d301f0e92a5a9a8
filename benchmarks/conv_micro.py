"""Quick measurement of the MNIST CNN's conv stack and training step, xpnet vs PyTorch on the CPU.

    python -m benchmarks.conv_micro                      # batch 64 and 256, 5 interleaved repeats
    python -m benchmarks.conv_micro --batch 64 --repeats 7 --steps 5

Two measurements per batch size, both float32, 2 threads for each library (OpenBLAS for NumPy,
``torch.set_num_threads(2)``), synthetic data made once:

* ``stack``: forward + backward of Conv 1→32 3×3, ReLU, Conv 32→64 3×3, ReLU, MaxPool 2
  (weights' gradients only, as in training: the input needs none);
* ``step``: one training step of the whole mnist-cnn (… Flatten, Linear 9216→128, ReLU,
  Linear 128→10, cross-entropy, SGD 0.01).

xpnet and PyTorch alternate, ``--repeats`` times each; each timed run is the mean of ``--steps``
calls; one JSON line per configuration with both medians (ms) and torch/xpnet throughput ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402


def _xpnet_fns(batch, rng):
    import xpnet
    import xpnet.functional as F
    from xpnet import models
    xpnet.manual_seed(0)
    x = xpnet.tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    y = xpnet.tensor(rng.integers(0, 10, batch))
    model = models.mnist_cnn()
    conv1, conv2 = model[0], model[2]
    params = list(model.parameters())

    def stack():
        h = F.max_pool2d(F.relu(conv2(F.relu(conv1(x)))), 2)
        h.sum().backward()

    def step():
        loss = F.cross_entropy(model(x), y)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:  # plain SGD on the arrays, so only the model is measured
            p.array = p.array - 0.01 * p.grad.array
        return loss

    return stack, step


def _torch_fns(batch, rng):
    import torch
    from torch import nn
    torch.manual_seed(0)
    x = torch.from_numpy(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def stack():
        h = torch.max_pool2d(torch.relu(model[2](torch.relu(model[0](x)))), 2)
        h.sum().backward()

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return stack, step


def _time(fn, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    for batch in args.batch:
        rng = np.random.default_rng(0)
        fns = {"xpnet": _xpnet_fns(batch, rng), "torch": _torch_fns(batch, rng)}
        for which, name in ((0, "stack"), (1, "step")):
            times = {"xpnet": [], "torch": []}
            for lib in fns:                      # warm-up
                fns[lib][which]()
            for _ in range(args.repeats):        # interleaved
                for lib in fns:
                    times[lib].append(_time(fns[lib][which], args.steps))
            mx, mt = statistics.median(times["xpnet"]), statistics.median(times["torch"])
            print(json.dumps({"bench": f"mnist-cnn {name}", "batch": batch,
                              "threads": args.threads, "xpnet_ms": round(mx, 1),
                              "torch_ms": round(mt, 1), "xpnet_vs_torch": round(mt / mx, 2),
                              "xpnet_runs": [round(t, 1) for t in times["xpnet"]],
                              "torch_runs": [round(t, 1) for t in times["torch"]]}), flush=True)


if __name__ == "__main__":
    main()
