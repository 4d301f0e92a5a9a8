"""The course's table of sequence models, measured: RNN, LSTM, GRU and a Transformer encoder.

1. Cost: one training step (forward, backward, Adam) on a batch of length-T sequences, for T
   from 32 to 512: its time (median of --repeats) and its peak memory (host allocations traced
   by tracemalloc on NumPy; CuPy's pool on a GPU). The recurrent layers walk the T steps one
   after another (time linear in T, memory for T stored states); the Transformer handles all
   positions at once, with T x T attention weights per head (memory quadratic in T).
2. Long range: the adding problem at T = 100, where the target is the sum of two marked values
   far apart. The gated cells and the Transformer get the MSE below 0.01; the plain RNN stays
   near 0.167, the score of always predicting the mean.

Writes OUT.md (both tables), OUT.png (time and memory against T) and OUT.json.

    python examples/sequence_models_compare.py --device cpu
    python examples/sequence_models_compare.py --lengths 8 16 --repeats 1 --adding-steps 20
"""
import argparse
import json
import statistics
import time
import tracemalloc

import xpnet
import xpnet.functional as F
from xpnet import nn, optim
from xpnet.data import adding_problem

parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128, 256, 512])
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--repeats", type=int, default=5, help="timed steps per cell (median)")
parser.add_argument("--adding-length", type=int, default=100)
parser.add_argument("--adding-steps", type=int, default=2000, help="0 skips the adding problem")
parser.add_argument("--models", nargs="+", default=["rnn", "lstm", "gru", "transformer"])
parser.add_argument("--out", default="sequence_models_compare")
args = parser.parse_args()
device = xpnet.device(args.device)
RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Regressor(nn.Module):
    """A sequence (N, T, 2) -> one number, read from the last position's output."""

    def __init__(self, kind, max_len):
        self.kind = kind
        if kind in RECURRENT:   # hidden 64: the LSTM has 17.4 k parameters
            self.body = RECURRENT[kind](2, 64, batch_first=True, device=device)
            width = 64
        else:                   # 2 layers of width 32: 17.2 k parameters
            width = 32
            self.embed = nn.Linear(2, width, device=device)
            self.position = nn.PositionalEncoding(width, max_len, batch_first=True, device=device)
            self.body = nn.TransformerEncoder(nn.TransformerEncoderLayer(
                width, 4, 2 * width, dropout=0.0, batch_first=True, norm_first=True,
                device=device), 2)
        self.head = nn.Linear(width, 1, device=device)

    def forward(self, x):
        h = self.body(x)[0] if self.kind in RECURRENT else self.body(self.position(self.embed(x)))
        return self.head(h[:, -1, :])


def train_step(model, opt, x, y):
    loss = F.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def sync(loss):
    loss.numpy()   # waits for the device: the step is over when its loss can be read


def peak_bytes(step):
    """Peak memory of one call of ``step``: traced host allocations, or CuPy's pool."""
    if device.type == "cuda":
        import cupy
        pool = cupy.get_default_memory_pool()
        pool.free_all_blocks()
        sync(step())
        return pool.total_bytes()
    tracemalloc.start()
    sync(step())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def cost(kind, length):
    xpnet.manual_seed(0)
    model = Regressor(kind, max(args.lengths))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    X, y = adding_problem(args.batch_size, length, seed=0)
    x, y = xpnet.tensor(X, device=device), xpnet.tensor(y, device=device)
    sync(train_step(model, opt, x, y))   # warm-up: optimizer state, compiled kernels
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        sync(train_step(model, opt, x, y))
        times.append(time.perf_counter() - start)
    return {"model": kind, "T": length, "params": model.num_parameters(),
            "step_ms": 1000 * statistics.median(times),
            "peak_MB": peak_bytes(lambda: train_step(model, opt, x, y)) / 2 ** 20}


def adding(kind):
    xpnet.manual_seed(0)
    T = args.adding_length
    model = Regressor(kind, T)
    opt = optim.Adam(model.parameters(), lr=3e-3 if kind in RECURRENT else 1e-3)
    X, y = adding_problem(args.adding_steps * 64 // 4, T, seed=T)  # each sample seen 4 times
    X, y = xpnet.tensor(X, device=device), xpnet.tensor(y, device=device)
    start = time.perf_counter()
    for step in range(args.adding_steps):
        rows = slice((step * 64) % X.shape[0], (step * 64) % X.shape[0] + 64)
        train_step(model, opt, X[rows], y[rows])
    X_test, y_test = adding_problem(2000, T, seed=10_000 + T)
    with xpnet.no_grad():
        mse = F.mse_loss(model(xpnet.tensor(X_test, device=device)),
                         xpnet.tensor(y_test, device=device)).item()
    return {"model": kind, "params": model.num_parameters(), "test_mse": mse,
            "solved": mse < 0.01, "seconds": time.perf_counter() - start}


costs = [cost(kind, T) for T in args.lengths for kind in args.models]
for row in costs:
    print(f"T={row['T']:4d} {row['model']:12s} {row['step_ms']:9.2f} ms  "
          f"{row['peak_MB']:8.2f} MB", flush=True)
solved = []
for kind in args.models if args.adding_steps > 0 else ():
    solved.append(adding(kind))
    print(f"adding problem T={args.adding_length}: {kind:12s} test MSE "
          f"{solved[-1]['test_mse']:.4f} ({solved[-1]['seconds']:.0f} s)", flush=True)

lines = [f"Training step on {device} (batch {args.batch_size}, forward + backward + Adam): "
         "time (median) and peak memory", "",
         "| T | " + " | ".join(f"{k} ms | {k} MB" for k in args.models) + " |",
         "|---|" + "---|---|" * len(args.models)]
for T in args.lengths:
    cells = {r["model"]: r for r in costs if r["T"] == T}
    lines.append(f"| {T} | " + " | ".join(f"{cells[k]['step_ms']:.2f} | {cells[k]['peak_MB']:.2f}"
                                          for k in args.models) + " |")
if solved:
    lines += ["", f"Adding problem, T = {args.adding_length}, {args.adding_steps} steps of 64 "
              "(predicting the mean: MSE 0.167)", "", "| model | parameters | test MSE | < 0.01 |",
              "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['params']:,} | {r['test_mse']:.4f} | "
              f"{'yes' if r['solved'] else 'no'} |" for r in solved]
with open(f"{args.out}.md", "w") as f:
    f.write("\n".join(lines) + "\n")
with open(f"{args.out}.json", "w") as f:
    json.dump({"device": str(device), "costs": costs, "adding": solved}, f, indent=1)

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, key, label in ((axes[0], "step_ms", "training step (ms)"),
                       (axes[1], "peak_MB", "peak memory (MB)")):
    for kind in args.models:
        rows = [r for r in costs if r["model"] == kind]
        ax.loglog([r["T"] for r in rows], [r[key] for r in rows], "o-", base=2, label=kind)
    ax.set_xlabel("sequence length T")
    ax.set_ylabel(label)
    ax.grid(True, which="both", alpha=0.3)
axes[0].legend()
fig.suptitle(f"sequence models on {device}, batch {args.batch_size}")
fig.tight_layout()
fig.savefig(f"{args.out}.png", dpi=110)
print(f"wrote {args.out}.md, {args.out}.png and {args.out}.json")
