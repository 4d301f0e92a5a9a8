"""BatchNorm2d's double backward against PyTorch's, with the same state_dict: the
Hessian-vector product of a loss through the layer, with respect to its input and its weight
and bias, in training mode (batch statistics, which depend on the input) and in eval mode
(running statistics, an affine map per channel)."""
import numpy as np
import pytest

import xpnet
import xpnet.nn as nn
import xpnet.nn.functional as F
from xpnet.autograd import grad
from xpnet.testing import assert_close

torch = pytest.importorskip("torch")


def _layers(training):
    """The same BatchNorm2d in xpnet and PyTorch (float64), with a weight and bias other than
    ones and zeros and, for eval, running statistics other than the initial ones."""
    rng = np.random.default_rng(3)
    ours, theirs = nn.BatchNorm2d(3).to(dtype="float64"), torch.nn.BatchNorm2d(3).double()
    state = {"weight": rng.uniform(0.5, 1.5, 3), "bias": rng.standard_normal(3),
             "running_mean": rng.standard_normal(3), "running_var": rng.uniform(0.5, 2.0, 3)}
    ours.load_state_dict({**{k: xpnet.tensor(v) for k, v in state.items()},
                          "num_batches_tracked": xpnet.tensor(np.array(4))})
    theirs.load_state_dict({**{k: torch.tensor(v) for k, v in state.items()},
                            "num_batches_tracked": torch.tensor(4)})
    ours.train(training)
    theirs.train(training)
    return ours, theirs


def _hvp(lib, layer, x, target, v):
    """(∂²L/∂θ²)·v for θ = (x, weight, bias), L = mse(tanh(layer(x)), target)."""
    functional = F if lib is xpnet else torch.nn.functional
    grad_fn = grad if lib is xpnet else torch.autograd.grad
    inputs = [x, layer.weight, layer.bias]
    loss = functional.mse_loss(lib.tanh(layer(x)), target)
    grads = grad_fn(loss, inputs, create_graph=True)
    dot = sum((g * vi).sum() for g, vi in zip(grads, v))
    return grads, grad_fn(dot, inputs)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm2d_hessian_vector_product_matches_pytorch(training):
    ours, theirs = _layers(training)
    rng = np.random.default_rng(4)
    xs, ts = rng.standard_normal((4, 3, 3, 2)), rng.standard_normal((4, 3, 3, 2))
    vs = [rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(3), rng.standard_normal(3)]
    x = xpnet.tensor(xs, requires_grad=True)
    tx = torch.tensor(xs, requires_grad=True)
    grads, hvp = _hvp(xpnet, ours, x, xpnet.tensor(ts), [xpnet.tensor(v) for v in vs])
    tgrads, thvp = _hvp(torch, theirs, tx, torch.tensor(ts), [torch.tensor(v) for v in vs])
    for a, b in zip(grads, tgrads):
        assert_close(a, b.detach().numpy(), rtol=1e-9, atol=1e-12)
    for a, b in zip(hvp, thvp):
        assert_close(a, b.numpy(), rtol=1e-7, atol=1e-10)
    # the second derivative did not update the running statistics a second time
    assert_close(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    assert_close(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)


def test_a_loss_linear_in_batch_norm2d_output_has_pytorchs_curvature_in_training():
    # in training the statistics depend on x, so the Hessian in x is not zero through the
    # normalisation itself: a loss linear in the output still has curvature in x
    layer, _ = _layers(True)
    x = xpnet.tensor(np.random.default_rng(5).standard_normal((4, 3, 2, 2)), requires_grad=True)
    w = xpnet.tensor(np.random.default_rng(6).standard_normal((4, 3, 2, 2)))
    (g,) = grad((layer(x) * w).sum(), [x], create_graph=True)
    (h,) = grad((g * w).sum(), [x])
    tx = torch.tensor(x.numpy(), requires_grad=True)
    _, tlayer = _layers(True)
    (tg,) = torch.autograd.grad((tlayer(tx) * torch.tensor(w.numpy())).sum(), [tx],
                                create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(w.numpy())).sum(), [tx])
    assert np.abs(th.numpy()).max() > 1e-3
    assert_close(h, th.numpy(), rtol=1e-7, atol=1e-10)
