"""A fixed quadratic shared by the optimizer tests: loss(w) = Σ a·w²/2 + Σ c·w, grad = a·w + c."""
import numpy as np
import pytest

import xpnet
from xpnet import nn

W0 = np.array([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
A = np.array([[1.0, 3.0, 0.5], [2.0, 0.2, 1.5]])      # per-element curvature
C = np.array([[0.3, -0.2, 0.1], [0.0, 0.5, -0.4]])
W_STAR = -C / A                                       # the minimum


def numpy_grad(w):
    return A * w + C


def loss(w):
    a = xpnet.tensor(A, dtype=w.dtype, device=w.device)
    c = xpnet.tensor(C, dtype=w.dtype, device=w.device)
    return (a * w * w).sum() / 2.0 + (c * w).sum()


def parameter(device, dtype="float64"):
    return nn.Parameter(xpnet.tensor(W0, dtype=dtype, device=device))


def steps(opt, w, n):
    """n optimizer steps on ``loss``; the trajectory as a NumPy array (n, *W0.shape)."""
    out = []
    for _ in range(n):
        opt.zero_grad()
        loss(w).backward()
        opt.step()
        out.append(w.numpy().copy())
    return np.array(out)


def run(cls, kw, device, n=5):
    w = parameter(device)
    return steps(cls([w], **kw), w, n)


def run_torch(name, kw, n=5):
    """The same n steps with torch.optim.<name> (skips when PyTorch is missing)."""
    torch = pytest.importorskip("torch")
    w = torch.tensor(W0, requires_grad=True)
    a, c = torch.tensor(A), torch.tensor(C)
    opt = getattr(torch.optim, name)([w], **kw)
    out = []
    for _ in range(n):
        opt.zero_grad()
        ((a * w * w).sum() / 2 + (c * w).sum()).backward()
        opt.step()
        out.append(w.detach().numpy().copy())
    return np.array(out)


def resumed(cls, kw, device, tmp_path, before=3, after=3):
    """``before`` steps, a save through xpnet.save/load, a fresh optimizer loaded from the state
    dict, ``after`` more steps: the final weights."""
    w = parameter(device)
    opt = cls([w], **kw)
    steps(opt, w, before)
    xpnet.save({"w": w, "opt": opt.state_dict()}, tmp_path / "ckpt.npz")
    saved = xpnet.load(tmp_path / "ckpt.npz", device=device)
    w2 = nn.Parameter(saved["w"])
    opt2 = cls([w2], **kw)
    opt2.load_state_dict(saved["opt"])
    return steps(opt2, w2, after)[-1]


def ids(cases):
    return ["-".join(f"{k}={v}" for k, v in kw.items()) for kw in cases]
