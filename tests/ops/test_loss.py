import warnings

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

REDUCTIONS = ["mean", "sum", "none"]


def _reduce(elementwise, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](elementwise)


def _labels(device, values):
    return xpnet.tensor(np.array(values, dtype=np.int64), device=device)


def _log_softmax(a):
    shifted = a - a.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_numpy_and_finite_differences(device, reduction):
    x, target = random_inputs(device, (2, 3), (2, 3))
    expected = _reduce((x.numpy() - target.numpy()) ** 2, reduction)
    assert_close(F.mse_loss(x, target, reduction), expected, rtol=1e-12)
    gradcheck(F.mse_loss, x, target, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_numpy_and_finite_differences(device, reduction):
    p, = random_inputs(device, (2, 3), low=0.1, high=0.9)
    target, = random_inputs(device, (2, 3), low=0.0, high=1.0, seed=1, requires_grad=False)
    a, t = p.numpy(), target.numpy()
    expected = _reduce(-(t * np.log(a) + (1 - t) * np.log(1 - a)), reduction)
    assert_close(F.binary_cross_entropy(p, target, reduction=reduction), expected, rtol=1e-12)
    gradcheck(F.binary_cross_entropy, p, target, reduction=reduction)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_clamps_the_log_at_minus_100(device, dtype):
    p = xpnet.tensor([0.0, 1.0, 0.5, 1e-45], device=device, dtype=dtype)
    target = xpnet.tensor([1.0, 0.0, 1.0, 1.0], device=device, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no log(0) warning either
        loss = F.binary_cross_entropy(p, target, reduction="none")
    assert_close(loss, np.array([100.0, 100.0, np.log(2.0), 100.0], dtype), rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_numpy_and_finite_differences(device, reduction):
    x, = random_inputs(device, (2, 3), low=-3.0, high=3.0)
    target, = random_inputs(device, (2, 3), low=0.0, high=1.0, seed=1, requires_grad=False)
    s, t = _sigmoid(x.numpy()), target.numpy()
    expected = _reduce(-(t * np.log(s) + (1 - t) * np.log(1 - s)), reduction)
    assert_close(F.binary_cross_entropy_with_logits(x, target, reduction=reduction), expected, rtol=1e-12)
    gradcheck(F.binary_cross_entropy_with_logits, x, target, reduction=reduction)


def test_bce_with_logits_is_stable_at_large_magnitudes(device):
    x = xpnet.tensor([100.0, -100.0, 100.0, -100.0], device=device, dtype="float64",
                     requires_grad=True)
    target = xpnet.tensor([0.0, 1.0, 1.0, 0.0], device=device, dtype="float64")
    loss = F.binary_cross_entropy_with_logits(x, target, reduction="sum")
    loss.backward()
    assert_close(loss, 200.0, rtol=1e-12)
    assert_close(x.grad, [1.0, -1.0, 0.0, 0.0], atol=1e-40)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_with_integer_labels_matches_numpy(device, reduction, label_smoothing):
    logits, = random_inputs(device, (3, 4), low=-2.0, high=2.0)
    labels = _labels(device, [2, 0, 3])
    one_hot = np.eye(4)[[2, 0, 3]]
    smooth = one_hot * (1 - label_smoothing) + label_smoothing / 4
    expected = _reduce(-(smooth * _log_softmax(logits.numpy())).sum(axis=1), reduction)
    loss = F.cross_entropy(logits, labels, reduction, label_smoothing=label_smoothing)
    assert_close(loss, expected, rtol=1e-12)
    gradcheck(F.cross_entropy, logits, labels, reduction=reduction,
              label_smoothing=label_smoothing)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probability_targets_matches_numpy(device, reduction):
    logits, = random_inputs(device, (3, 4), low=-2.0, high=2.0)
    raw, = random_inputs(device, (3, 4), low=0.0, high=1.0, seed=3, requires_grad=False)
    probs = raw.numpy() / raw.numpy().sum(axis=1, keepdims=True)
    target = xpnet.tensor(probs, device=device)
    expected = _reduce(-(probs * _log_softmax(logits.numpy())).sum(axis=1), reduction)
    assert_close(F.cross_entropy(logits, target, reduction), expected, rtol=1e-12)
    gradcheck(F.cross_entropy, logits, target, reduction=reduction, label_smoothing=0.2)


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n(device):
    logits, = random_inputs(device, (4, 3), low=-2.0, high=2.0)
    labels = [1, 0, 2, 1]
    F.cross_entropy(logits, _labels(device, labels)).backward()
    a = logits.numpy()
    softmax = np.exp(a - a.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert_close(logits.grad, (softmax - np.eye(3)[labels]) / 4, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_equals_its_textbook_reference(device, smoothing):
    """The op (fused kernels, or one compiled pass on the CPU) against
    loss.cross_entropy_reference, the textbook form, run on the same device."""
    from xpnet.ops import loss as loss_module
    logits, = random_inputs(device, (6, 5), low=-3.0, high=3.0, seed=8)
    labels = _labels(device, [4, -100, 0, 2, 2, 1])
    per_row = F.cross_entropy(logits, labels, reduction="none", label_smoothing=smoothing)
    per_row.sum().backward()
    ref_loss, ref_grad = loss_module.cross_entropy_reference(
        logits.backend.xp, logits.detach().array, labels.array, -100, smoothing)
    assert_close(per_row, xpnet.to_numpy(ref_loss), rtol=1e-12, atol=1e-14)
    assert_close(logits.grad, xpnet.to_numpy(ref_grad), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_numpy_and_finite_differences(device, reduction):
    x, = random_inputs(device, (3, 4))
    log_probs = F.log_softmax(x)
    labels = _labels(device, [3, 1, 1])
    expected = _reduce(-log_probs.numpy()[[0, 1, 2], [3, 1, 1]], reduction)
    assert_close(F.nll_loss(log_probs, labels, reduction), expected, rtol=1e-12)
    gradcheck(F.nll_loss, x, labels, reduction=reduction)
    # nll_loss(log_softmax(x)) is cross_entropy(x)
    assert_close(F.nll_loss(F.log_softmax(x), labels, reduction),
                 F.cross_entropy(x, labels, reduction), rtol=1e-12)


@pytest.mark.parametrize("op", [F.mse_loss, F.binary_cross_entropy,
                                F.binary_cross_entropy_with_logits, F.cross_entropy, F.nll_loss],
                         ids=lambda op: op.__name__)
def test_losses_reject_an_unknown_reduction(device, op):
    x, t = random_inputs(device, (2, 3), (2, 3), low=0.1, high=0.9)
    with pytest.raises(ValueError, match=rf"{op.__name__}: reduction must be 'mean', 'sum' or "
                                         rf"'none', got 'avg'"):
        op(x, t, reduction="avg")


@pytest.mark.parametrize("op", [F.mse_loss, F.binary_cross_entropy,
                                F.binary_cross_entropy_with_logits], ids=lambda op: op.__name__)
def test_elementwise_losses_reject_mismatched_shapes_and_raw_targets(device, op):
    x, t = random_inputs(device, (2, 3), (3, 2), low=0.1, high=0.9)
    with pytest.raises(ValueError, match=rf"{op.__name__}: input and target must have the same "
                                         rf"shape, got input \(2, 3\) and target \(3, 2\)"):
        op(x, t)
    with pytest.raises(TypeError, match=rf"{op.__name__}: target must be a Tensor, got ndarray"):
        op(x, np.zeros((2, 3)))


def test_cross_entropy_rejects_bad_shapes_labels_and_smoothing(device):
    logits, = random_inputs(device, (3, 4))
    # in host memory the op raises; on a device, the next host read (.item()) does
    with pytest.raises(IndexError, match=r"cross_entropy: labels must be in \[0, 4\) \(or "
                                         r"ignore_index=-100\), got values from 0 to 4"):
        F.cross_entropy(logits, _labels(device, [0, 4, 1])).item()
    with pytest.raises(IndexError, match=r"cross_entropy: labels must be in \[0, 4\) \(or "
                                         r"ignore_index=-100\), got values from -1 to 1"):
        F.cross_entropy(logits, _labels(device, [0, -1, 1]), reduction="none").tolist()
    with pytest.raises(ValueError, match=r"cross_entropy: integer labels must have shape \(3,\) "
                                         r"to match input \(3, 4\), got \(2,\)"):
        F.cross_entropy(logits, _labels(device, [0, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: probability targets must have the "
                                         r"input's shape \(3, 4\), got \(3, 3\)"):
        F.cross_entropy(logits, random_inputs(device, (3, 3))[0])
    with pytest.raises(ValueError, match=r"cross_entropy: integer labels must have shape "
                                         r"\(3, 1\) to match input \(3, 4, 1\), got \(3,\)"):
        F.cross_entropy(random_inputs(device, (3, 4, 1))[0], _labels(device, [0, 1, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], "
                                         r"got 1.5"):
        F.cross_entropy(logits, _labels(device, [0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(TypeError, match=r"cross_entropy: ignore_index must be an int, got 0.5"):
        F.cross_entropy(logits, _labels(device, [0, 1, 2]), ignore_index=0.5)


def test_nll_loss_rejects_bad_shapes_and_labels(device):
    log_probs, = random_inputs(device, (3, 4))
    with pytest.raises(IndexError, match=r"nll_loss: labels must be in \[0, 4\) \(or "
                                         r"ignore_index=-100\), got values from 0 to 7"):
        F.nll_loss(log_probs, _labels(device, [0, 7, 1])).item()
    with pytest.raises(ValueError, match=r"nll_loss: integer labels must have shape \(3,\) to "
                                         r"match input \(3, 4\), got \(2,\)"):
        F.nll_loss(log_probs, _labels(device, [0, 1]))
    with pytest.raises(TypeError, match=r"nll_loss: labels must be integers, got dtype float64"):
        F.nll_loss(log_probs, random_inputs(device, (3,))[0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_over_extra_axes_with_ignore_index_matches_torch(device, reduction,
                                                                       smoothing):
    """Sequence models' use: logits (N, C, T), labels (N, T) with padding to ignore."""
    torch = pytest.importorskip("torch")
    logits, = random_inputs(device, (2, 5, 3), low=-2.0, high=2.0)
    labels = [[1, 4, -100], [0, -100, 2]]
    ours = F.cross_entropy(logits, _labels(device, labels), reduction=reduction,
                           label_smoothing=smoothing)
    tx = torch.tensor(logits.numpy(), requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(tx, torch.tensor(labels), reduction=reduction,
                                               label_smoothing=smoothing)
    assert ours.shape == tuple(theirs.shape)
    assert_close(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = np.arange(1.0, 1.0 + theirs.numel()).reshape(tuple(theirs.shape))
    (ours * xpnet.tensor(weights, device=device)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    assert_close(logits.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_nll_loss_over_extra_axes_with_ignore_index_matches_torch(device):
    torch = pytest.importorskip("torch")
    log_probs, = random_inputs(device, (2, 4, 3, 2))
    labels = [[[0, 3], [-1, 2], [1, 1]], [[2, -1], [0, 0], [3, 2]]]
    ours = F.nll_loss(log_probs, _labels(device, labels), ignore_index=-1)
    tx = torch.tensor(log_probs.numpy(), requires_grad=True)
    theirs = torch.nn.functional.nll_loss(tx, torch.tensor(labels), ignore_index=-1)
    assert_close(ours, theirs.detach().numpy(), rtol=1e-12)
    ours.backward()
    theirs.backward()
    assert_close(log_probs.grad, tx.grad.numpy(), rtol=1e-12)


def test_cross_entropy_over_extra_axes_matches_finite_differences(device):
    logits, = random_inputs(device, (2, 3, 4))
    gradcheck(lambda x: F.cross_entropy(x, _labels(device, [[0, 2, -100, 1], [1, 1, 0, 2]])),
              logits)
    probabilities = xpnet.tensor(np.full((2, 3, 4), 1 / 3), device=device)
    gradcheck(lambda x: F.cross_entropy(x, probabilities, reduction="sum"), logits)


def test_an_unbatched_cross_entropy_takes_class_scores_and_one_label(device):
    torch = pytest.importorskip("torch")
    logits, = random_inputs(device, (4,))
    ours = F.cross_entropy(logits, _labels(device, 2), reduction="none")
    theirs = torch.nn.functional.cross_entropy(torch.tensor(logits.numpy()), torch.tensor(2),
                                               reduction="none")
    assert ours.shape == () and abs(ours.item() - theirs.item()) < 1e-12


def test_an_ignored_row_with_a_nan_score_adds_nothing(device):
    """As PyTorch: a padded position whose scores are NaN does not make the loss NaN (and here
    its gradient row is zero rather than NaN)."""
    logits = xpnet.tensor(np.array([[np.nan, 0.0], [1.0, 2.0]]), device=device,
                          requires_grad=True)
    labels = xpnet.tensor(np.array([-100, 1]), device=device)
    loss_value = F.cross_entropy(logits, labels)
    expected = np.log1p(np.exp(-1.0))                   # -log softmax([1, 2])[1]
    assert abs(loss_value.item() - expected) < 1e-12
    loss_value.backward()
    grad = np.asarray(logits.grad.tolist())
    np.testing.assert_allclose(grad[0], [0.0, 0.0])
    softmax = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
    np.testing.assert_allclose(grad[1], softmax - [0.0, 1.0], rtol=1e-12)


def test_losses_match_torch(device):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, t = random_inputs(device, (3, 4), (3, 4), low=-2.0, high=2.0)
    labels = [1, 3, 0]
    tx = torch.tensor(x.numpy(), requires_grad=True)
    tt = torch.tensor(t.numpy())
    probs = F.sigmoid(t).detach()
    loss = (F.cross_entropy(x, _labels(device, labels), label_smoothing=0.1)
            + F.cross_entropy(x, F.softmax(t).detach(), reduction="sum")
            + F.nll_loss(F.log_softmax(x), _labels(device, labels))
            + F.binary_cross_entropy_with_logits(x, probs)
            + F.binary_cross_entropy(F.sigmoid(x), probs, reduction="sum")
            + F.mse_loss(x, t))
    tlabels = torch.tensor(labels)
    tprobs = torch.sigmoid(tt)
    tloss = (tf.cross_entropy(tx, tlabels, label_smoothing=0.1)
             + tf.cross_entropy(tx, torch.softmax(tt, -1), reduction="sum")
             + tf.nll_loss(torch.log_softmax(tx, -1), tlabels)
             + tf.binary_cross_entropy_with_logits(tx, tprobs)
             + tf.binary_cross_entropy(torch.sigmoid(tx), tprobs, reduction="sum")
             + tf.mse_loss(tx, tt))
    assert_close(loss, tloss.detach().numpy(), rtol=1e-12)
    loss.backward()
    tloss.backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)


# -- smooth L1 -----------------------------------------------------------------------------------

from xpnet.ops.loss import smooth_l1_loss  # noqa: E402


def _smooth_l1(d, beta):
    if beta == 0:
        return np.abs(d)
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_smooth_l1_loss_matches_numpy_and_finite_differences(device, reduction, beta):
    x, target = random_inputs(device, (3, 4), (3, 4), low=-2.0, high=2.0)
    expected = _reduce(_smooth_l1(x.numpy() - target.numpy(), beta), reduction)
    assert_close(smooth_l1_loss(x, target, reduction=reduction, beta=beta), expected,
                 rtol=1e-12)
    gradcheck(smooth_l1_loss, x, target, reduction=reduction, beta=beta)


def test_smooth_l1_loss_with_beta_zero_is_the_l1_loss(device):
    x = xpnet.tensor([-2.0, 0.0, 0.5], dtype="float64", device=device, requires_grad=True)
    target = xpnet.zeros(3, dtype="float64", device=device)
    loss = smooth_l1_loss(x, target, reduction="sum", beta=0.0)
    loss.backward()
    assert loss.item() == 2.5 and x.grad.tolist() == [-1.0, 0.0, 1.0]


def test_smooth_l1_loss_matches_torch_values_and_gradients(device):
    torch = pytest.importorskip("torch")
    x, t = random_inputs(device, (5, 3), (5, 3), low=-3.0, high=3.0)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    for reduction, beta in (("mean", 1.0), ("sum", 0.5), ("mean", 0.0)):
        mine = smooth_l1_loss(x, t, reduction=reduction, beta=beta)
        theirs = torch.nn.functional.smooth_l1_loss(tx, torch.tensor(t.numpy()),
                                                    reduction=reduction, beta=beta)
        assert_close(mine, theirs.detach().numpy(), rtol=1e-12)
        x.grad, tx.grad = None, None
        mine.backward()
        theirs.backward()
        assert_close(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    unreduced = smooth_l1_loss(x, t, reduction="none")
    assert unreduced.shape == (5, 3) and unreduced.dtype == x.dtype


def test_smooth_l1_loss_rejects_bad_beta_reduction_and_shapes(device):
    x, t = random_inputs(device, (2, 3), (2, 3))
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be a number >= 0, got -1"):
        smooth_l1_loss(x, t, beta=-1)
    with pytest.raises(ValueError, match="smooth_l1_loss: reduction must be"):
        smooth_l1_loss(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"smooth_l1_loss: input and target must have the same"):
        smooth_l1_loss(x, random_inputs(device, (3, 2))[0])


def test_binary_cross_entropy_refuses_values_outside_0_1_by_the_next_host_read(device):
    """In host memory the op raises; on a device the extremes are read at the next host read."""
    p, target = (xpnet.tensor(v, device=device) for v in ([0.5, 1.5], [1.0, 0.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in "
                                         r"\[0, 1\], got values from 0.5 to 1.5; for logits use "
                                         r"binary_cross_entropy_with_logits"):
        F.binary_cross_entropy(p, target).item()
