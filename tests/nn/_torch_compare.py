"""Helpers for comparing a layer with PyTorch's: same weights, outputs and every gradient."""
import numpy as np
import pytest

import xpnet
from xpnet.testing import assert_close


def torch():
    return pytest.importorskip("torch")


def pair(device, array, requires_grad=True):
    """The same float64 values as an xpnet tensor on ``device`` and a torch tensor."""
    t = torch()
    ours = xpnet.tensor(array, device=device, dtype=None if array.dtype == bool else "float64",
                        requires_grad=requires_grad and array.dtype != bool)
    theirs = t.tensor(array, requires_grad=requires_grad and array.dtype != bool)
    return ours, theirs


def backward_both(ours, theirs, seed=0):
    """Backpropagate the same random projection of every (non-None) output through both."""
    t = torch()
    rng = np.random.default_rng(seed)
    total_ours = total_theirs = None
    for a, b in zip(ours, theirs):
        if a is None:
            assert b is None
            continue
        w = rng.standard_normal(tuple(b.shape))
        term_ours = (a * xpnet.tensor(w, dtype="float64", device=a.device)).sum()
        term_theirs = (b * t.tensor(w)).sum()
        total_ours = term_ours if total_ours is None else total_ours + term_ours
        total_theirs = term_theirs if total_theirs is None else total_theirs + term_theirs
    total_ours.backward()
    total_theirs.backward()


def assert_same(ours, theirs, layer, ref, inputs=(), rtol=1e-8, atol=1e-10):
    """Outputs, parameter gradients (by PyTorch's names) and input gradients agree."""
    for a, b in zip(ours, theirs):
        if a is not None:
            assert_close(a, b.detach().numpy(), rtol=rtol, atol=atol)
    mine = dict(layer.named_parameters())
    for name, p in ref.named_parameters():
        assert p.grad is not None, name
        assert_close(mine[name].grad, p.grad.numpy(), rtol=rtol, atol=atol, msg=name)
    for a, b in inputs:
        assert_close(a.grad, b.grad.numpy(), rtol=rtol, atol=atol)
