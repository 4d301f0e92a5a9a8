"""The vanishing-gradient story on the adding problem (Hochreiter & Schmidhuber 1997).

For T in {10, 50, 100}, a plain RNN, an LSTM and a GRU learn to add the two marked numbers of a
length-T sequence. Predicting the mean gives MSE 1/6 ≈ 0.167; the gated cells get far below it at
T = 100, the plain RNN does not. The second figure shows why: ||dL/dh_t|| against t, read by a
hook on each hidden state (``h.register_hook``, as in PyTorch) while the trained layer's cell runs
step by step; for the RNN it dies out going back in time. (The whole-sequence layer computes
BPTT inside one op, as cuDNN does in PyTorch, so its inner states have no hooks: the cell does.)

    python examples/vanishing_gradient.py --device cpu --steps 2000
"""
import argparse
import json

import numpy as np

import xpnet
import xpnet.functional as F
from xpnet import nn, optim
from xpnet.data import adding_problem
from xpnet.optim import clip_grad_norm_

parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 100])
parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=3e-3)
parser.add_argument("--out", default="vanishing_gradient")
args = parser.parse_args()
device = xpnet.device(args.device).name
LAYERS = {"rnn": (nn.RNN, nn.RNNCell), "lstm": (nn.LSTM, nn.LSTMCell), "gru": (nn.GRU, nn.GRUCell)}


class Regressor(nn.Module):
    def __init__(self, cell):
        self.rnn = LAYERS[cell][0](2, args.hidden, batch_first=True, device=device)
        self.head = nn.Linear(args.hidden, 1, device=device)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1, :])


def train(cell, T):
    xpnet.manual_seed(0)
    model = Regressor(cell)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    X, y = adding_problem(args.steps * args.batch_size // 4, T, seed=T)  # reused 4 times
    X_test, y_test = adding_problem(2000, T, seed=10_000 + T)
    X, y = xpnet.tensor(X, device=device), xpnet.tensor(y, device=device)
    n = X.shape[0]
    for step in range(args.steps):
        start = (step * args.batch_size) % n
        loss = F.mse_loss(model(X[start:start + args.batch_size]),
                          y[start:start + args.batch_size])
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    with xpnet.no_grad():
        mse = F.mse_loss(model(xpnet.tensor(X_test, device=device)),
                         xpnet.tensor(y_test, device=device)).item()
    return model, mse


def gradient_norms(model, cell, T):
    """||dL/dh_t|| for t = 1..T, by unrolling the trained layer's cell step by step."""
    step_cell = LAYERS[cell][1](2, args.hidden, device=device)
    step_cell.load_state_dict({name: getattr(model.rnn, f"{name}_l0")
                               for name, _ in step_cell.named_parameters()})
    X, y = adding_problem(256, T, seed=1)
    X, y = xpnet.tensor(X, device=device), xpnet.tensor(y, device=device)
    h = xpnet.zeros(256, args.hidden, device=device)
    state = (h, xpnet.zeros(256, args.hidden, device=device)) if cell == "lstm" else h
    norms = [0.0] * T

    def record(t):
        def hook(grad):               # dL/dh_t, as the gradient flows back through h_t
            norms[t] = float(np.linalg.norm(grad.numpy()) / np.sqrt(256))
        return hook

    for t in range(T):
        state = step_cell(X[:, t, :], state)
        h = state[0] if cell == "lstm" else state
        h.register_hook(record(t))
    F.mse_loss(model.head(h), y).backward()
    return norms


results = {}
for T in args.lengths:
    for cell in args.cells:
        model, mse = train(cell, T)
        results[f"{cell}-T{T}"] = {"mse": mse, "grad_norms": gradient_norms(model, cell, T)}
        print(f"T={T:4d} {cell:5s} test MSE {mse:.4f}  (predicting the mean: 0.167)", flush=True)
with open(f"{args.out}.json", "w") as f:
    json.dump(results, f)

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

T = max(args.lengths)
fig, ax = plt.subplots(figsize=(6, 4))
for cell in args.cells:
    norms = results[f"{cell}-T{T}"]["grad_norms"]
    ax.semilogy(range(1, T + 1), norms, label=f"{cell} (MSE {results[f'{cell}-T{T}']['mse']:.3f})")
ax.set_xlabel("time step t")
ax.set_ylabel("||dL/dh_t|| (per sample)")
ax.set_title(f"gradient reaching h_t from the loss at t={T}")
ax.legend()
fig.tight_layout()
fig.savefig(f"{args.out}.png", dpi=110)
print(f"wrote {args.out}.png and {args.out}.json")
