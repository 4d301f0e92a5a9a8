import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import nn
from xpnet.testing import assert_close

REDUCTIONS = ["mean", "sum", "none"]


def inputs(device, kind):
    """(input, target) for a loss kind, float64, the input requiring grad."""
    rng = np.random.default_rng(3)
    if kind == "regression":
        x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    elif kind == "probabilities":
        x, t = rng.uniform(0.05, 0.95, (4, 3)), (rng.random((4, 3)) > 0.5).astype(np.float64)
    elif kind == "logits":
        x, t = 3 * rng.standard_normal((4, 3)), (rng.random((4, 3)) > 0.5).astype(np.float64)
    else:  # classes
        x, t = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
        if kind == "log_probs":
            x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    return xpnet.tensor(x, device=device, requires_grad=True), xpnet.tensor(t, device=device)


CASES = [
    (nn.MSELoss, F.mse_loss, "regression"),
    (nn.BCELoss, F.binary_cross_entropy, "probabilities"),
    (nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits, "logits"),
    (nn.CrossEntropyLoss, F.cross_entropy, "classes"),
    (nn.NLLLoss, F.nll_loss, "log_probs"),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layer, fn, kind", CASES, ids=[c[0].__name__ for c in CASES])
def test_loss_layer_equals_its_functional_op_forward_and_backward(device, layer, fn, kind,
                                                                  reduction):
    x, target = inputs(device, kind)
    loss = layer(reduction=reduction)
    assert repr(loss) == f"{layer.__name__}(reduction={reduction!r})"
    y = loss(x, target)
    y.sum().backward()
    grad_layer, x.grad = x.grad.numpy().copy(), None
    expected = fn(x, target, reduction=reduction)
    expected.sum().backward()
    assert y.device == device and y.shape == expected.shape
    assert y.shape == (() if reduction != "none" else (x.shape[0],) if kind in ("classes",
                                                                                  "log_probs")
                       else x.shape)
    assert_close(y, expected, rtol=0, atol=0)
    assert_close(grad_layer, x.grad, rtol=0, atol=0)


def test_losses_match_numpy_references(device):
    x, t = inputs(device, "regression")
    assert_close(nn.MSELoss()(x, t), np.mean((x.numpy() - t.numpy()) ** 2), rtol=1e-12)
    p, t = inputs(device, "probabilities")
    bce = -(t.numpy() * np.log(p.numpy()) + (1 - t.numpy()) * np.log(1 - p.numpy()))
    assert_close(nn.BCELoss(reduction="sum")(p, t), bce.sum(), rtol=1e-12)
    z, t = inputs(device, "logits")
    assert_close(nn.BCEWithLogitsLoss(reduction="none")(z, t),
                 np.log1p(np.exp(z.numpy())) - z.numpy() * t.numpy(), rtol=1e-12)
    logits, labels = inputs(device, "classes")
    log_p = logits.numpy() - np.log(np.exp(logits.numpy()).sum(axis=1, keepdims=True))
    picked = -log_p[np.arange(5), labels.numpy()]
    assert_close(nn.CrossEntropyLoss()(logits, labels), picked.mean(), rtol=1e-12)
    assert_close(nn.NLLLoss(reduction="none")(xpnet.tensor(log_p, device=device), labels),
                 picked, rtol=1e-12)


def test_cross_entropy_is_log_softmax_then_nll(device):
    logits, labels = inputs(device, "classes")
    model = nn.Sequential(nn.LogSoftmax(dim=1))
    assert_close(nn.CrossEntropyLoss()(logits, labels), nn.NLLLoss()(model(logits), labels),
                 rtol=1e-12)


def test_bce_with_logits_is_sigmoid_then_bce(device):
    z, t = inputs(device, "logits")
    assert_close(nn.BCEWithLogitsLoss()(z, t), nn.BCELoss()(nn.Sigmoid()(z), t), rtol=1e-10)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_loss_matches_torch_on_a_tiny_batch(device, smoothing):
    torch = pytest.importorskip("torch")
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0], [0.0, 0.0, 9.0]])
    labels = np.array([0, 2, 1, 0])
    x = xpnet.tensor(logits, device=device, requires_grad=True)
    ours = nn.CrossEntropyLoss(label_smoothing=smoothing)(x, xpnet.tensor(labels, device=device))
    ours.backward()
    x_torch = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(x_torch,
                                                                  torch.tensor(labels))
    theirs.backward()
    assert_close(ours, theirs.detach().numpy(), rtol=1e-12)
    assert_close(x.grad, x_torch.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_loss_shows_label_smoothing_in_its_repr():
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == (
        "CrossEntropyLoss(reduction='mean', label_smoothing=0.1)")


@pytest.mark.parametrize("layer", [c[0] for c in CASES], ids=[c[0].__name__ for c in CASES])
def test_loss_layer_rejects_an_unknown_reduction_when_built(layer):
    with pytest.raises(ValueError, match=f"{layer.__name__}: reduction must be 'mean', 'sum' or "
                                         f"'none', got 'avg'"):
        layer(reduction="avg")


def test_cross_entropy_loss_rejects_label_smoothing_outside_zero_to_one():
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: label_smoothing must be in \[0, 1\], "
                                         r"got 1.5"):
        nn.CrossEntropyLoss(label_smoothing=1.5)


def test_loss_layer_passes_on_the_ops_shape_errors(device):
    x, _ = inputs(device, "regression")
    with pytest.raises(ValueError, match=r"mse_loss: input and target must have the same shape"):
        nn.MSELoss()(x, xpnet.zeros(4, device=device, dtype="float64"))


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")   # torch's note on its own 'mean'
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
def test_kl_div_loss_matches_torch_forward_and_backward(device, reduction, log_target):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    log_q = np.log(rng.dirichlet(np.ones(3), size=4))
    p = rng.dirichlet(np.ones(3), size=4)
    p = np.log(p) if log_target else p
    x, t = (xpnet.tensor(a, device=device, requires_grad=True) for a in (log_q, p))
    tx, tt = (torch.tensor(a, requires_grad=True) for a in (log_q, p))
    loss = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    assert repr(loss) == f"KLDivLoss(reduction={reduction!r}" + (
        ", log_target=True)" if log_target else ")")
    y = loss(x, t)
    ty = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(tx, tt)
    y.sum().backward()
    ty.sum().backward()
    assert_close(y, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert_close(t.grad, tt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_kl_div_loss_rejects_an_unknown_reduction_when_built():
    with pytest.raises(ValueError, match=r"^KLDivLoss: reduction must be 'mean', 'batchmean', "
                                         r"'sum' or 'none', got 'avg'$"):
        nn.KLDivLoss(reduction="avg")


# PyTorch's remaining losses and loss arguments: (xpnet layer or call, torch's), input kind
EXTRA = {
    "L1Loss": (lambda lib, r: lib.nn.L1Loss(reduction=r), "regression"),
    "SmoothL1Loss-beta": (lambda lib, r: lib.nn.SmoothL1Loss(reduction=r, beta=0.5), "regression"),
    "HuberLoss-delta": (lambda lib, r: lib.nn.HuberLoss(reduction=r, delta=0.5), "regression"),
    "BCELoss-weight": (lambda lib, r: lib.nn.BCELoss(weight=_tensor(lib, [0.5, 1.0, 2.0]),
                                                     reduction=r), "probabilities"),
    "BCEWithLogits-pos_weight": (lambda lib, r: lib.nn.BCEWithLogitsLoss(
        pos_weight=_tensor(lib, [0.5, 2.0, 3.0]), reduction=r), "logits"),
    "BCEWithLogits-both": (lambda lib, r: lib.nn.BCEWithLogitsLoss(
        weight=_tensor(lib, [[1.0], [0.5], [2.0], [0.0]]), pos_weight=_tensor(lib, [4.0, 1.0, 0.25]),
        reduction=r), "logits"),
}


def _tensor(lib, values):
    return lib.tensor(values, dtype=lib.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", EXTRA)
def test_more_losses_and_weights_match_pytorch_with_gradients(device, name, reduction):
    torch = pytest.importorskip("torch")
    make, kind = EXTRA[name]
    x, t = inputs(device, kind)
    layer = make(xpnet, reduction).to(device)
    loss = layer(x, t)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    expected = make(torch, reduction)(tx, torch.tensor(t.numpy()))
    assert_close(loss, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    loss.sum().backward()
    expected.sum().backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["HuberLoss-delta", "BCEWithLogits-both"])
def test_composed_losses_have_second_derivatives(device, name):
    from xpnet.testing import gradgradcheck
    make, kind = EXTRA[name]
    x, t = inputs(device, kind)
    layer = make(xpnet, "mean").to(device)
    assert gradgradcheck(lambda x: layer(x, t), x)


@pytest.mark.parametrize("call, error, message", [
    (lambda x, t: F.huber_loss(x, t, delta=0), ValueError, r"huber_loss: delta must be a number > 0"),
    (lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=[1.0]), TypeError,
     r"binary_cross_entropy_with_logits: pos_weight must be a Tensor, got list"),
    (lambda x, t: F.binary_cross_entropy_with_logits(x, t[:2], pos_weight=t[0]), ValueError,
     r"binary_cross_entropy_with_logits: input and target must have the same shape"),
    (lambda x, t: F.binary_cross_entropy_with_logits(x, t, "sum"), TypeError,
     r"weight must be a Tensor, got str 'sum' \(the third argument is weight, as in PyTorch: "
     r"pass reduction= by keyword\)"),
    (lambda x, t: F.l1_loss(x, t, size_average=True), ValueError,
     r"l1_loss: size_average and reduce are deprecated in PyTorch and not supported"),
])
def test_loss_arguments_are_checked(device, call, error, message):
    x, t = inputs(device, "logits")
    with pytest.raises(error, match=message):
        call(x, t)
