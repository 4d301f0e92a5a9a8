"""Quick measurement of one training step of the recurrent sequence classifiers, xpnet vs PyTorch.

    python -m benchmarks.rnn_micro                       # lstm gru rnn, T 28 100, batch 64 256
    python -m benchmarks.rnn_micro --cells lstm --seq-len 28 --batch 64 --repeats 5

The model of benchmarks/run.py's ``rnn`` benchmark: a one-layer recurrent layer (hidden 128,
batch_first) over (N, T, 28) inputs, Linear 128 -> 10 on the last step, cross-entropy, Adam 1e-3,
float32. Both libraries use 2 CPU threads and alternate (``--repeats`` interleaved runs, medians).
One JSON line per configuration. If ``xpnet.optim.Adam`` is not there yet, a minimal Adam on the
raw arrays stands in (noted in the output as ``"adam": "inline"``).
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


class _InlineAdam:
    """Adam on the raw arrays, a stand-in while xpnet.optim is being written."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p.array) for p in params]
        self.v = [np.zeros_like(p.array) for p in params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        scale = float(self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t))  # keep float32
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad.array
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p.array = p.array - scale * m / (np.sqrt(v) + self.eps)


def xpnet_step(cell, seq_len, batch, hidden):
    import xpnet
    import xpnet.functional as F
    from xpnet import nn
    xpnet.manual_seed(0)
    layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](28, hidden, batch_first=True)
    head = nn.Linear(hidden, 10)
    params = [*layer.parameters(), *head.parameters()]
    adam = getattr(getattr(xpnet, "optim", None), "Adam", None)
    opt = adam(params, lr=1e-3) if adam else _InlineAdam(params)
    rng = np.random.default_rng(0)
    x = xpnet.tensor(rng.standard_normal((batch, seq_len, 28)).astype(np.float32))
    y = xpnet.tensor(rng.integers(0, 10, batch))

    def step():
        out, _ = layer(x)
        loss = F.cross_entropy(head(out[:, -1, :]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, "xpnet" if adam else "inline"


def torch_step(cell, seq_len, batch, hidden):
    import torch
    torch.manual_seed(0)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](
        28, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, 10)
    opt = torch.optim.Adam(list(layer.parameters()) + list(head.parameters()), lr=1e-3)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, seq_len, 28)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))

    def step():
        out, _ = layer(x)
        loss = torch.nn.functional.cross_entropy(head(out[:, -1, :]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def timed(step, steps, warmup):
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"])
    parser.add_argument("--seq-len", type=int, nargs="+", default=[28, 100])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(2)
        except ImportError:
            torch = None
    for cell in args.cells:
        for seq_len in args.seq_len:
            for batch in args.batch:
                ours, adam = xpnet_step(cell, seq_len, batch, args.hidden)
                theirs = torch_step(cell, seq_len, batch, args.hidden) if torch else None
                times = {"xpnet": [], "torch": []}
                for _ in range(args.repeats):
                    times["xpnet"].append(timed(ours, args.steps, args.warmup))
                    if theirs:
                        times["torch"].append(timed(theirs, args.steps, args.warmup))
                record = {"cell": cell, "seq_len": seq_len, "batch": batch,
                          "hidden": args.hidden, "adam": adam,
                          "xpnet_ms": round(1000 * statistics.median(times["xpnet"]), 2)}
                if theirs:
                    record["torch_ms"] = round(1000 * statistics.median(times["torch"]), 2)
                    record["speed_vs_torch"] = round(record["torch_ms"] / record["xpnet_ms"], 2)
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
