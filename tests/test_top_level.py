"""PyTorch's top-level names on xpnet: each call below runs unchanged with ``torch`` and with
``xpnet`` as the module, and gives the same values, shapes, dtypes and return types."""
import numpy as np
import pytest

import xpnet
from xpnet.backend import dtype_name

A = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -4.0]], dtype=np.float32)
SPECIAL = [1.0, float("nan"), float("inf"), -float("inf")]
B = np.array([[1.5, 2.0, -0.5], [-1.0, 0.75, 1.0]], dtype=np.float32)

# name -> call(module, a, b): the same source for torch and xpnet
FUNCTIONS = {
    "cat": lambda m, a, b: m.cat([a, b], 1),
    "cat_default_dim": lambda m, a, b: m.cat((a, b)),
    "stack": lambda m, a, b: m.stack([a, b], dim=1),
    "exp": lambda m, a, b: m.exp(a),
    "log": lambda m, a, b: m.log(m.abs(a)),
    "sqrt": lambda m, a, b: m.sqrt(m.abs(b)),
    "abs": lambda m, a, b: m.abs(a),
    "sigmoid": lambda m, a, b: m.sigmoid(a),
    "tanh": lambda m, a, b: m.tanh(a),
    "relu": lambda m, a, b: m.relu(a),
    "softmax": lambda m, a, b: m.softmax(a, dim=1),
    "log_softmax": lambda m, a, b: m.log_softmax(a, 0),
    "sum": lambda m, a, b: m.sum(a),
    "sum_dim": lambda m, a, b: m.sum(a, dim=1, keepdim=True),
    "mean": lambda m, a, b: m.mean(a, 0),
    "max": lambda m, a, b: m.max(a),
    "max_dim": lambda m, a, b: m.max(a, 1),
    "min_dim": lambda m, a, b: m.min(a, dim=0),
    "argmax": lambda m, a, b: m.argmax(a, dim=1),
    "where": lambda m, a, b: m.where(a > b, a, b),
    "tril": lambda m, a, b: m.tril(a),
    "triu": lambda m, a, b: m.triu(a, diagonal=1),
    "flatten": lambda m, a, b: m.flatten(a.reshape(2, 3, 1), 1),
    "mm": lambda m, a, b: m.mm(a, b.t()),
    "matmul": lambda m, a, b: m.matmul(a, b.t()),
    "bmm": lambda m, a, b: m.bmm(a.reshape(1, 2, 3), b.reshape(1, 3, 2)),
    "clamp": lambda m, a, b: m.clamp(a, min=-1.0, max=1.0),
    "maximum": lambda m, a, b: m.maximum(a, b),
    "pow": lambda m, a, b: m.pow(a, 2),
    "norm": lambda m, a, b: m.norm(a),
    "narrow": lambda m, a, b: m.narrow(a, 1, 0, 2),
    "split": lambda m, a, b: m.split(a, 1, dim=1),
    "chunk": lambda m, a, b: m.chunk(a, 2, 0),
    "flip": lambda m, a, b: m.flip(a, (0, 1)),
    "roll": lambda m, a, b: m.roll(a, 1, 0),
    "sort": lambda m, a, b: m.sort(a, 1),
    "argsort": lambda m, a, b: m.argsort(a, dim=1, descending=True),
    "topk": lambda m, a, b: m.topk(a, 2, dim=1),
    "clone": lambda m, a, b: m.clone(a),
    "square": lambda m, a, b: m.square(a),
    "rsqrt": lambda m, a, b: m.rsqrt(m.abs(a)),
    "outer": lambda m, a, b: m.outer(a[0], b[1]),
    "var": lambda m, a, b: m.var(a, 1),
    "std": lambda m, a, b: m.std(a, dim=0, keepdim=True),
    "logsumexp": lambda m, a, b: m.logsumexp(a, dim=1),
    "isnan": lambda m, a, b: m.isnan(a.new_tensor(SPECIAL)),
    "isinf": lambda m, a, b: m.isinf(a.new_tensor(SPECIAL)),
    "isfinite": lambda m, a, b: m.isfinite(a.new_tensor(SPECIAL)),
    "squeeze": lambda m, a, b: m.squeeze(a.reshape(1, 6)),
    "unsqueeze": lambda m, a, b: m.unsqueeze(a, 0),
    "transpose": lambda m, a, b: m.transpose(a, 0, 1),
    "full_like": lambda m, a, b: m.full_like(a, 7.0),
    "zeros_like_dtype": lambda m, a, b: m.zeros_like(a, dtype=m.long),
    "ones_like": lambda m, a, b: m.ones_like(a),
    "empty_like_shape": lambda m, a, b: m.empty_like(a) * 0,
    "to_double": lambda m, a, b: a.to(dtype=m.double),
    "to_long": lambda m, a, b: a.to(dtype=m.long),
    "to_int": lambda m, a, b: a.to(dtype=m.int),
    "to_float": lambda m, a, b: a.double().to(dtype=m.float),
    "to_positional_dtype": lambda m, a, b: a.to(m.float64),
    "sin": lambda m, a, b: m.sin(a),
    "cos": lambda m, a, b: m.cos(b),
    "log1p": lambda m, a, b: m.log1p(m.abs(a)),
    "gather": lambda m, a, b: m.gather(a, 1, a.new_tensor([[2, 0], [1, 1]]).long()),
    "index_select": lambda m, a, b: m.index_select(a, 1, a.new_tensor([2, 0, 2]).long()),
    "cumsum": lambda m, a, b: m.cumsum(a, dim=1),
    "cumsum_bool": lambda m, a, b: m.cumsum(a > 0, 0),
    "clamp_min": lambda m, a, b: m.clamp_min(a, 0.3),
    "clamp_max": lambda m, a, b: m.clamp_max(a, 0.3),
    "unbind": lambda m, a, b: m.unbind(a, 1),
    "nonzero": lambda m, a, b: m.nonzero(a > 0),
    "argwhere": lambda m, a, b: m.argwhere(a < 0),
    "masked_select": lambda m, a, b: m.masked_select(a, b > 0),
    "scatter": lambda m, a, b: m.scatter(a, 0, a.new_tensor([[1, 0, 1]]).long(), b),
    "scatter_add": lambda m, a, b: m.scatter_add(a, 1, a.new_tensor([[0, 0], [2, 2]]).long(), b),
    "diff": lambda m, a, b: m.diff(a, dim=0),
    "floor": lambda m, a, b: m.floor(a),
    "ceil": lambda m, a, b: m.ceil(b),
    "trunc": lambda m, a, b: m.trunc(b),
    "round": lambda m, a, b: m.round(b),
    "sign": lambda m, a, b: m.sign(a),
    "reciprocal": lambda m, a, b: m.reciprocal(a),
    "expm1": lambda m, a, b: m.expm1(b),
    "log2": lambda m, a, b: m.log2(m.abs(a)),
    "log10": lambda m, a, b: m.log10(m.abs(a)),
    "logical_or": lambda m, a, b: m.logical_or(a > 0, b > 0),
    "logical_xor": lambda m, a, b: m.logical_xor(a > 0, b > 0),
    "logical_not": lambda m, a, b: m.logical_not(a > 0),
    "all": lambda m, a, b: m.all(a > -5),
    "any_dim": lambda m, a, b: m.any(a > 2, 1),
    "count_nonzero": lambda m, a, b: m.count_nonzero(a > 0),
    "movedim": lambda m, a, b: m.movedim(a.reshape(1, 2, 3), (0, 1), (2, 0)),
    "swapaxes": lambda m, a, b: m.swapaxes(a, 0, 1),
    "broadcast_to": lambda m, a, b: m.broadcast_to(a[:1], (3, 2, 3)),
    "add": lambda m, a, b: m.add(a, b),
    "sub": lambda m, a, b: m.sub(a, 1.0),
    "mul": lambda m, a, b: m.mul(a, b),
    "div": lambda m, a, b: m.div(a, b),
    "neg": lambda m, a, b: m.neg(a),
    "sum_bool": lambda m, a, b: m.sum(a > 0),
    "sum_int": lambda m, a, b: m.sum(a.int(), 1),
    "pad": lambda m, a, b: m.nn.functional.pad(a, (1, 2)),
    "pad_reflect": lambda m, a, b: m.nn.functional.pad(a.reshape(1, 2, 3), (2, 1),
                                                       mode="reflect"),
    "normalize": lambda m, a, b: m.nn.functional.normalize(a, dim=0),
    "tensor_index": lambda m, a, b: a[m.tensor([1, 1, 0])],
    "numpy_int_index": lambda m, a, b: a[np.int64(1), np.int64(2)],
}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _assert_same(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_same(a, b)
        return
    assert isinstance(ours, xpnet.Tensor), type(ours)
    assert ours.shape == tuple(theirs.shape)
    assert dtype_name(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_top_level_function_matches_pytorch(device, torch, name):
    ours = FUNCTIONS[name](xpnet, xpnet.tensor(A, device=device), xpnet.tensor(B, device=device))
    _assert_same(ours, FUNCTIONS[name](torch, torch.tensor(A), torch.tensor(B)))


def test_one_hot_matches_pytorch(device, torch):
    import xpnet.nn.functional as F
    labels = np.array([[0, 3], [2, 1]])
    _assert_same(F.one_hot(xpnet.tensor(labels, device=device), 5),
                 torch.nn.functional.one_hot(torch.tensor(labels), 5))
    _assert_same(F.one_hot(xpnet.tensor(labels, device=device)),
                 torch.nn.functional.one_hot(torch.tensor(labels)))
    with pytest.raises(ValueError, match=r"one_hot: class indices must be in \[0, 2\), got "
                                         r"values from 0 to 3"):
        F.one_hot(xpnet.tensor(labels, device=device), 2)
    with pytest.raises(TypeError, match="one_hot: expected an integer Tensor"):
        F.one_hot(xpnet.tensor(A, device=device), 2)


def test_max_and_min_along_a_dim_name_their_values_and_indices(device):
    values, indices = xpnet.max(xpnet.tensor(A, device=device), 1)
    assert values.tolist() == [2.0, 3.0] and indices.tolist() == [2, 0]
    assert xpnet.min(xpnet.tensor(A, device=device), dim=0).indices.tolist() == [0, 0, 1]


def test_dtype_aliases_are_pytorchs_short_names():
    assert xpnet.float is xpnet.float32 and xpnet.double is xpnet.float64
    assert xpnet.half is xpnet.float16 and xpnet.long is xpnet.int64
    assert xpnet.int is xpnet.int32 and xpnet.bool == "bool"
    namespace = {}
    exec("from xpnet import *", namespace)   # the short names do not shadow the builtins
    assert not {"float", "int", "sum", "max", "min", "abs", "pow"} & set(namespace)


def test_tensor_predicates_and_counts(device, torch):
    t = xpnet.zeros(2, 3, device=device)
    a, b = xpnet.tensor(A, device=device), xpnet.tensor(B, device=device)
    for name, call in (("equal", lambda m, x, y: m.equal(x, x)),
                       ("not_equal", lambda m, x, y: m.equal(x, y)),
                       ("shapes", lambda m, x, y: m.equal(x, x[0])),
                       ("allclose", lambda m, x, y: m.allclose(x, x + 1e-7)),
                       ("not_close", lambda m, x, y: m.allclose(x, y)),
                       ("method", lambda m, x, y: x.allclose(x * 1.0001, rtol=1e-3))):
        ours, theirs = call(xpnet, a, b), call(torch, torch.tensor(A), torch.tensor(B))
        assert ours is theirs, name
    assert xpnet.is_tensor(t) and not xpnet.is_tensor(np.zeros(2))
    assert xpnet.numel(t) == 6


def test_creation_functions_give_pytorchs_values_shapes_and_dtypes(device, torch):
    cases = [
        (xpnet.empty(2, 3, device=device), torch.zeros(2, 3)),
        (xpnet.empty((2,), dtype=xpnet.long, device=device), torch.zeros(2, dtype=torch.long)),
        (xpnet.linspace(-1, 1, 5, device=device), torch.linspace(-1, 1, 5)),
        (xpnet.linspace(0, 10, 4, dtype=xpnet.double, device=device),
         torch.linspace(0, 10, 4, dtype=torch.double)),
        (xpnet.eye(3, device=device), torch.eye(3)),
        (xpnet.eye(2, 4, dtype=xpnet.long, device=device), torch.eye(2, 4, dtype=torch.long)),
        (xpnet.full_like(xpnet.zeros(2, device=device), 3, dtype=xpnet.int32),
         torch.full_like(torch.zeros(2), 3, dtype=torch.int32)),
    ]
    for ours, theirs in cases:
        assert ours.device == device
        _assert_same(ours, theirs)


def test_from_numpy_shares_memory_and_as_tensor_shares_when_it_can(torch):
    a = np.arange(3, dtype=np.float64)
    t = xpnet.from_numpy(a)
    a[0] = 9.0
    assert t.tolist() == [9.0, 1.0, 2.0] and dtype_name(t.dtype) == "float64"
    assert dtype_name(xpnet.from_numpy(np.arange(3)).dtype) == str(
        torch.from_numpy(np.arange(3)).dtype).replace("torch.", "")
    with xpnet.no_grad():
        t.add_(1.0)
    assert a.tolist() == [10.0, 2.0, 3.0]   # in place writes back into the NumPy array
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        xpnet.from_numpy([1.0])
    assert xpnet.as_tensor(t) is t
    shared = xpnet.as_tensor(a)
    a[1] = -1.0
    assert shared.tolist()[1] == -1.0
    assert dtype_name(xpnet.as_tensor(a, dtype=xpnet.float32).dtype) == "float32"
    assert xpnet.as_tensor([1.0, 2.0]).tolist() == [1.0, 2.0]


def test_as_tensor_moves_to_the_device_asked_for(device):
    moved = xpnet.as_tensor(np.ones(2, dtype=np.float32), device=device)
    assert moved.device == device and moved.tolist() == [1.0, 1.0]


def test_randint_takes_pytorchs_signatures(device):
    xpnet.manual_seed(3)
    for t in (xpnet.randint(5, (4, 2), device=device), xpnet.randint(5, size=(4, 2), device=device),
              xpnet.randint(0, 5, size=(4, 2), device=device)):
        values = t.numpy()
        assert t.shape == (4, 2) and dtype_name(t.dtype) == "int64"
        assert values.min() >= 0 and values.max() < 5


def test_randperm_is_a_permutation_drawn_from_the_seed(device):
    xpnet.manual_seed(1)
    first = xpnet.randperm(50, device=device)
    assert sorted(first.tolist()) == list(range(50)) and dtype_name(first.dtype) == "int64"
    xpnet.manual_seed(1)
    assert xpnet.randperm(50, device=device).tolist() == first.tolist()
    assert first.tolist() != list(range(50))
    assert xpnet.randperm(0, device=device).shape == (0,)


def test_multinomial_draws_by_weight(device):
    xpnet.manual_seed(2)
    weights = xpnet.tensor([[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]], device=device)
    drawn = xpnet.multinomial(weights, 4000, replacement=True)
    assert drawn.shape == (2, 4000) and dtype_name(drawn.dtype) == "int64"
    first = np.bincount(drawn.numpy()[0], minlength=3) / 4000
    np.testing.assert_allclose(first, [0.25, 0.0, 0.75], atol=0.03)
    assert set(drawn.numpy()[1].tolist()) == {1}
    without = xpnet.multinomial(xpnet.tensor([1.0, 2.0, 0.0, 4.0], device=device), 3)
    assert sorted(without.tolist()) == [0, 1, 3]   # each drawn once; weight 0 never
    with pytest.raises(ValueError, match="multinomial: without replacement num_samples must be "
                                         "<= the number of categories 4, got 5"):
        xpnet.multinomial(xpnet.ones(4, device=device), 5)


def test_multinomial_refuses_bad_weights():
    with pytest.raises(ValueError, match="multinomial: weights must be finite and non-negative"):
        xpnet.multinomial(xpnet.tensor([1.0, -1.0]), 1)
    with pytest.raises(ValueError, match="multinomial: every distribution needs a positive"):
        xpnet.multinomial(xpnet.zeros(2, 3), 1)
    with pytest.raises(ValueError, match=r"multinomial: input must be 1-D or 2-D"):
        xpnet.multinomial(xpnet.ones(2, 2, 2), 1)


def test_set_grad_enabled_and_inference_mode_work_as_pytorchs(device):
    x = xpnet.ones(2, device=device, requires_grad=True)
    for phase in ("train", "eval"):                     # the idiom of training loops
        with xpnet.set_grad_enabled(phase == "train"):
            y = x * 2.0
        assert y.requires_grad == (phase == "train") and xpnet.is_grad_enabled()
    with xpnet.inference_mode():
        assert not (x * 2.0).requires_grad
    with xpnet.inference_mode(False):
        assert (x * 2.0).requires_grad

    @xpnet.inference_mode()
    def predict(t):
        return t * 3.0
    assert not predict(x).requires_grad
    xpnet.set_grad_enabled(False)                        # called: at once, until set back
    try:
        assert not xpnet.is_grad_enabled() and not (x * 2.0).requires_grad
    finally:
        xpnet.set_grad_enabled(True)
    assert xpnet.is_grad_enabled()
