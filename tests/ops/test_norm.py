import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.ops import norm as norm_ops
from xpnet.testing import assert_close, gradcheck, random_inputs


def batch_norm_reference(x, mean, var, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) \
        + b.reshape(shape)


def _stats(device, c):
    rm = xpnet.tensor(np.linspace(-1, 1, c), device=device)
    rv = xpnet.tensor(np.linspace(0.5, 2, c), device=device)
    return rm, rv


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 4, 5)], ids=repr)
def test_batch_norm_in_training_uses_batch_statistics_and_updates_running_ones(device, shape):
    x, w, b = random_inputs(device, shape, (3,), (3,), seed=1)
    rm, rv = _stats(device, 3)
    rm0, rv0 = rm.numpy().copy(), rv.numpy().copy()
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2)
    axes = (0,) + tuple(range(2, len(shape)))
    host = x.numpy()
    mean, var = host.mean(axis=axes), host.var(axis=axes)
    count = host.size // 3
    assert_close(y, batch_norm_reference(host, mean, var, w.numpy(), b.numpy()), rtol=1e-10)
    assert_close(rm, 0.8 * rm0 + 0.2 * mean, rtol=1e-12)
    assert_close(rv, 0.8 * rv0 + 0.2 * var * count / (count - 1), rtol=1e-12)  # unbiased


@pytest.mark.parametrize("shape", [(6, 3), (3, 3, 4, 5)], ids=repr)
def test_batch_norm_in_eval_uses_running_statistics(device, shape):
    x, w, b = random_inputs(device, shape, (3,), (3,), seed=2)
    rm, rv = _stats(device, 3)
    y = F.batch_norm(x, rm, rv, w, b, training=False)
    assert_close(y, batch_norm_reference(x.numpy(), rm.numpy(), rv.numpy(), w.numpy(),
                                         b.numpy()), rtol=1e-10)
    assert_close(rm, np.linspace(-1, 1, 3).astype(np.float32))   # untouched


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 2), (2, 2, 3, 2)], ids=repr)
def test_batch_norm_matches_finite_differences(device, shape, training):
    x, w, b = random_inputs(device, shape, (2,), (2,), seed=3)
    rm, rv = _stats(device, 2)
    # momentum 0 keeps the running buffers fixed across gradcheck's many forward calls
    gradcheck(F.batch_norm, x, rm, rv, w, b, training=training, momentum=0.0)
    gradcheck(F.batch_norm, x, None, None, None, None, training=True)


@pytest.mark.parametrize("normalized_shape", [(4,), (3, 4)], ids=repr)
def test_layer_norm_matches_numpy_and_finite_differences(device, normalized_shape):
    x, w, b = random_inputs(device, (2, 3, 4), normalized_shape, normalized_shape, seed=4)
    host = x.numpy()
    axes = tuple(range(3 - len(normalized_shape), 3))
    mean, var = host.mean(axis=axes, keepdims=True), host.var(axis=axes, keepdims=True)
    expected = (host - mean) / np.sqrt(var + 1e-5) * w.numpy() + b.numpy()
    assert_close(F.layer_norm(x, normalized_shape, w, b), expected, rtol=1e-10)
    gradcheck(F.layer_norm, x, normalized_shape, w, b)
    gradcheck(F.layer_norm, x, normalized_shape)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)], ids=repr)
def test_batch_norm_matches_torch_including_running_statistics(device, shape, training):
    torch = pytest.importorskip("torch")
    x, w, b = random_inputs(device, shape, (3,), (3,), seed=5)
    rm, rv = _stats(device, 3)
    trm, trv = torch.tensor(rm.numpy()), torch.tensor(rv.numpy())
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    for _ in range(2):
        y = F.batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5)
        ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training, 0.1, 1e-5)
    grad_y = np.random.default_rng(6).standard_normal(shape)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    assert_close(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_close(rm, trm.numpy(), rtol=1e-6)
    assert_close(rv, trv.numpy(), rtol=1e-6)
    for mine, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_close(mine.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_layer_norm_matches_torch(device):
    torch = pytest.importorskip("torch")
    x, w, b = random_inputs(device, (2, 3, 4), (3, 4), (3, 4), seed=7)
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    y, ty = F.layer_norm(x, (3, 4), w, b), torch.nn.functional.layer_norm(tx, (3, 4), tw, tb)
    grad_y = np.random.default_rng(8).standard_normal(y.shape)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    assert_close(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_close(mine.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_fused_elementwise_helpers_agree_with_their_reference(device):
    g, x, k, c1, c0 = random_inputs(device, (3, 2), (3, 2), (1, 2), (1, 2), (1, 2))
    xp = x.xp
    fused = norm_ops._batch_norm_grad(xp, g.array, x.array, k.array, c1.array, c0.array)
    plain = norm_ops._batch_norm_grad.reference(xp, g.array, x.array, k.array, c1.array, c0.array)
    assert_close(xpnet.tensor(fused), xpnet.tensor(plain), rtol=1e-15)


def test_batch_norm_keeps_float32_running_statistics(device):
    x, = random_inputs(device, (4, 2), dtype="float32")
    rm = xpnet.zeros(2, device=device)
    rv = xpnet.ones(2, device=device)
    F.batch_norm(x, rm, rv, training=True)
    assert xpnet.backend.dtype_name(rm.dtype) == "float32"


def test_batch_norm_rejects_bad_input(device):
    x, = random_inputs(device, (4, 3))
    rm, rv = _stats(device, 2)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(3,\) for "
                                         r"input \(4, 3\), got \(2,\)"):
        F.batch_norm(x, rm, rv, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: input must be \(N, C\), \(N, C, L\) or "
                                         r"\(N, C, H, W\), got shape \(4,\)"):
        F.batch_norm(random_inputs(device, (4,))[0], None, None, training=True)
    with pytest.raises(ValueError, match="batch_norm: training needs more than one value per "
                                         "channel"):
        F.batch_norm(random_inputs(device, (1, 3))[0], None, None, training=True)
    with pytest.raises(ValueError, match="batch_norm: eval mode needs running_mean"):
        F.batch_norm(x, None, None, training=False)


def test_layer_norm_rejects_a_mismatched_trailing_shape(device):
    x, = random_inputs(device, (2, 3, 4))
    with pytest.raises(ValueError, match=r"layer_norm: input must end in normalized_shape "
                                         r"\(3,\), got shape \(2, 3, 4\)"):
        F.layer_norm(x, 3)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_of_an_empty_batch_is_empty_and_leaves_the_running_statistics(device,
                                                                                  training):
    x, w, b = random_inputs(device, (0, 3, 2, 2), (3,), (3,))
    rm, rv = _stats(device, 3)
    before = rm.numpy().copy(), rv.numpy().copy()
    y = F.batch_norm(x, rm, rv, w, b, training=training)
    assert y.shape == (0, 3, 2, 2)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 2, 2)
    assert_close(w.grad, np.zeros(3))
    assert_close(b.grad, np.zeros(3))
    assert_close(rm, before[0], rtol=0)
    assert_close(rv, before[1], rtol=0)


def test_batch_norm_of_an_empty_batch_matches_torch(device):
    torch = pytest.importorskip("torch")
    rm, rv = _stats(device, 3)
    trm, trv = torch.tensor(rm.numpy()), torch.tensor(rv.numpy())
    y = F.batch_norm(xpnet.zeros(0, 3, device=device, dtype="float64"), rm, rv, training=True)
    ty = torch.nn.functional.batch_norm(torch.zeros(0, 3, dtype=torch.float64), trm, trv,
                                        training=True)
    assert y.shape == tuple(ty.shape)
    assert_close(rm, trm.numpy(), rtol=0)
    assert_close(rv, trv.numpy(), rtol=0)


@pytest.mark.parametrize("shape,normalized", [((0, 3, 4), (4,)), ((2, 0), (0,)),
                                              ((2, 3, 0), (3, 0))],
                         ids=["empty-batch", "empty-feature", "empty-trailing"])
def test_layer_norm_of_an_empty_input_is_empty_with_zero_gradients(device, shape, normalized):
    x, w, b = random_inputs(device, shape, normalized, normalized)
    y = F.layer_norm(x, normalized, w, b)
    assert y.shape == shape
    y.sum().backward()
    assert x.grad.shape == shape
    assert_close(w.grad, np.zeros(normalized))
    assert_close(b.grad, np.zeros(normalized))


@pytest.mark.parametrize("call,argument", [
    (lambda t: F.batch_norm(t, np.zeros(3), np.ones(3)), "running_mean"),
    (lambda t: F.batch_norm(t, None, None, np.ones(3), training=True), "weight"),
    (lambda t: F.layer_norm(t, 3, None, np.zeros(3)), "bias"),
])
def test_norms_name_a_raw_array_where_a_tensor_belongs(device, call, argument):
    x, = random_inputs(device, (4, 3))
    with pytest.raises(TypeError, match=rf"^(batch|layer)_norm: {argument} must be an xpnet "
                                        rf"Tensor, got numpy.ndarray; convert it with "
                                        rf"xpnet.tensor\(...\)$"):
        call(x)


def test_norm_functions_refuse_a_string_for_a_number(device):
    x, = random_inputs(device, (4, 3))
    with pytest.raises(TypeError, match=r"^batch_norm: momentum must be a number, got '0.1' "
                                        r"\(str\)$"):
        F.batch_norm(x, None, None, training=True, momentum="0.1")
    with pytest.raises(TypeError, match=r"^layer_norm: normalized_shape must be an int or a tuple "
                                        r"of ints, got '3' \(str\)$"):
        F.layer_norm(x, "3")
