"""PyTorch's Tensor methods on xpnet: values, shapes, dtypes, return types and gradients against
PyTorch, on every device; in-place methods and operators under PyTorch's autograd rules."""
import math

import numpy as np
import pytest

import xpnet
from xpnet.backend import dtype_name

X = np.array([[1.0, -2.0, 3.0], [4.0, 5.5, -6.0]], dtype=np.float32)

# each entry runs as it is on an xpnet Tensor and on a torch.Tensor
METHODS = {
    "eq": lambda t: t.eq(t * 0 + 3.0),
    "ne": lambda t: t.ne(3.0),
    "lt": lambda t: t.lt(2.0),
    "le": lambda t: t.le(t * 0 + 3.0),
    "gt": lambda t: t.gt(0.0),
    "ge": lambda t: t.ge(4.0),
    "view_as": lambda t: t.view_as(t.reshape(3, 2)),
    "reshape_as": lambda t: t.reshape_as(t.reshape(6)),
    "clone": lambda t: t.clone(),
    "pow": lambda t: t.pow(2),
    "mm": lambda t: t.mm(t.t()),
    "bmm": lambda t: t.reshape(1, 2, 3).bmm(t.reshape(1, 3, 2)),
    "t": lambda t: t.t(),
    "t_1d": lambda t: t[0].t(),
    "narrow": lambda t: t.narrow(1, 1, 2),
    "narrow_negative_start": lambda t: t.narrow(1, -2, 2),
    "split": lambda t: t.split(2, 1),
    "split_sections": lambda t: t.split([1, 2], dim=1),
    "chunk": lambda t: t.chunk(2, 1),
    "chunk_short_axis": lambda t: t.chunk(3, 0),
    "contiguous": lambda t: t.contiguous(),
    "expand": lambda t: t[:, :1].expand(2, 4),
    "expand_new_axis": lambda t: t[:1].expand(2, 2, -1),
    "expand_as": lambda t: t[0].expand_as(t),
    "repeat": lambda t: t.repeat(2, 1),
    "repeat_new_axis": lambda t: t.repeat(2, 1, 3),
    "flip": lambda t: t.flip(1),
    "flip_both": lambda t: t.flip(0, 1),
    "roll": lambda t: t.roll(1, 1),
    "roll_flat": lambda t: t.roll(-2),
    "roll_two_dims": lambda t: t.roll((1, 2), (0, 1)),
    "norm": lambda t: t.norm(),
    "norm_dim": lambda t: t.norm(dim=1),
    "norm_1_keepdim": lambda t: t.norm(1, dim=1, keepdim=True),
    "norm_inf": lambda t: t.norm(float("inf")),
    "norm_3": lambda t: t.norm(3, dim=0),
    "masked_fill": lambda t: t.masked_fill(t > 2.0, -1.0),
    "masked_fill_tensor_value": lambda t: t.masked_fill(t > 2.0, t[0, 0] * 0 - 1.0),
    "lerp": lambda t: t.lerp(t * 0 + 1.0, 0.25),
    "sort": lambda t: t.sort(),
    "sort_descending": lambda t: t.sort(dim=0, descending=True),
    "argsort": lambda t: t.argsort(dim=1),
    "topk": lambda t: t.topk(2),
    "topk_smallest": lambda t: t.topk(1, dim=0, largest=False),
    "argmax": lambda t: t.argmax(dim=1),
    "unsqueeze": lambda t: t.unsqueeze(1),
    "squeeze": lambda t: t[:1].squeeze(0),
    "long": lambda t: t.long(),
    "int": lambda t: t.int(),
    "bool": lambda t: t.bool(),
    "double": lambda t: t.double(),
    "add_alpha": lambda t: t.add(t, alpha=2),
    "sub_alpha": lambda t: t.sub(1.5, alpha=2),
    "square": lambda t: t.square(),
    "rsqrt": lambda t: t.abs().rsqrt(),
    "outer": lambda t: t[0].outer(t[1]),
    "var": lambda t: t.var(),
    "var_dim_biased": lambda t: t.var(1, unbiased=False, keepdim=True),
    "std_dims": lambda t: t.std(dim=(0, 1)),
    "std_correction": lambda t: t.std(0, correction=0),
    "logsumexp": lambda t: t.logsumexp(1),
    "logsumexp_keepdim": lambda t: t.logsumexp(0, keepdim=True),
    "sin": lambda t: t.sin(),
    "cos": lambda t: t.cos(),
    "log1p": lambda t: t.abs().log1p(),
    "expm1": lambda t: (t * 0.1).expm1(),
    "log2": lambda t: t.abs().log2(),
    "log10": lambda t: t.abs().log10(),
    "reciprocal": lambda t: t.reciprocal(),
    "floor": lambda t: (t * 0.7).floor(),
    "round": lambda t: (t * 0.7).round(),
    "sign": lambda t: t.sign(),
    "clamp_min": lambda t: t.clamp_min(0.5),
    "clamp_max": lambda t: t.clamp_max(0.5),
    "cumsum": lambda t: t.cumsum(1),
    "gather": lambda t: t.gather(1, t.new_tensor([[2, 0], [1, 1]]).long()),
    "index_select": lambda t: t.index_select(1, t.new_tensor([2, 0, 2]).long()),
    "tensor_index": lambda t: t[t.new_tensor([1, 0, 1]).long()],
    "tensor_index_columns": lambda t: t[:, t.new_tensor([2, 2]).long()],
    "mask_index": lambda t: t[t > 0],
    "numpy_int_index": lambda t: t[np.int64(1)],
    "masked_select": lambda t: t.masked_select(t > 1.0),
    "scatter_add": lambda t: t.scatter_add(1, t.new_tensor([[0, 0], [2, 1]]).long(), t[:, :2]),
    "scatter": lambda t: t.scatter(1, t.new_tensor([[0], [2]]).long(), t[:, 1:2] * 10),
    "scatter_value": lambda t: t.scatter(0, t.new_tensor([[1, 0, 1]]).long(), value=-7.0),
    "unbind": lambda t: t.unbind(1),
    "diff": lambda t: t.diff(),
    "diff_twice": lambda t: t.diff(n=2, dim=1),
    "movedim": lambda t: t.reshape(1, 2, 3).movedim(0, 2),
    "swapaxes": lambda t: t.swapaxes(0, 1),
    "where": lambda t: t.where(t > 0, t * 0 - 1.0),
    "nonzero": lambda t: (t > 2).nonzero(),
    "argwhere": lambda t: (t < 0).argwhere(),
    "nonzero_tuple": lambda t: (t > 2).nonzero(as_tuple=True),
    "count_nonzero": lambda t: (t > 2).count_nonzero(),
    "logical_and": lambda t: (t > 0).logical_and(t < 4),
    "logical_not": lambda t: (t > 0).logical_not(),
    "sum_bool": lambda t: (t > 0).sum(),
    "sum_int_dim": lambda t: t.int().sum(1),
    "to_dtype": lambda t: t.to(t.new_zeros(1).double().dtype),
    "to_other": lambda t: t.to(t.new_zeros(1).long()),
    "type_as": lambda t: t.type_as(t.new_zeros(1).double()),
}

DIFFERENTIABLE = ["view_as", "clone", "pow", "mm", "bmm", "t", "narrow", "split",
                  "split_sections", "chunk", "expand", "expand_new_axis", "expand_as", "repeat",
                  "repeat_new_axis", "flip", "flip_both", "roll", "roll_flat", "roll_two_dims",
                  "norm", "norm_dim", "norm_1_keepdim", "norm_3", "masked_fill", "sort",
                  "sort_descending", "lerp", "topk", "topk_smallest", "add_alpha", "sub_alpha",
                  "square", "rsqrt", "outer", "var", "var_dim_biased", "std_dims", "std_correction",
                  "logsumexp", "logsumexp_keepdim", "sin", "cos", "log1p", "expm1", "log2",
                  "log10", "reciprocal", "clamp_min", "clamp_max", "cumsum", "gather",
                  "index_select", "tensor_index", "tensor_index_columns", "mask_index",
                  "numpy_int_index", "masked_select", "scatter_add", "scatter", "scatter_value",
                  "unbind", "diff", "diff_twice", "movedim", "swapaxes", "where", "to_dtype",
                  "type_as"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _assert_same(ours, theirs):
    if isinstance(theirs, tuple):   # split/chunk tuples, sort/topk (values, indices)
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_same(a, b)
        return
    assert isinstance(ours, xpnet.Tensor), type(ours)
    assert ours.shape == tuple(theirs.shape)
    assert dtype_name(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", METHODS)
def test_method_matches_pytorch(device, torch, name):
    ours = METHODS[name](xpnet.tensor(X, dtype="float32", device=device))
    _assert_same(ours, METHODS[name](torch.tensor(X, dtype=torch.float32)))


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_method_gradient_matches_pytorch(device, torch, name):
    x = xpnet.tensor(X, dtype="float64", device=device, requires_grad=True)
    y = _first(METHODS[name](x))
    weights = np.arange(1.0, 1.0 + y.numel()).reshape(y.shape)
    (y * xpnet.tensor(weights, device=device)).sum().backward()
    tx = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    (_first(METHODS[name](tx)) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


def test_sort_and_topk_return_values_and_indices_by_name(device):
    result = xpnet.tensor([3.0, 1.0, 2.0], device=device).topk(2)
    assert result.values.tolist() == [3.0, 2.0] and result.indices.tolist() == [0, 2]
    assert dtype_name(result.indices.dtype) == "int64"
    values, indices = xpnet.tensor([3.0, 1.0, 2.0], device=device).sort(descending=True)
    assert values.tolist() == [3.0, 2.0, 1.0] and indices.tolist() == [0, 2, 1]


def test_small_queries_answer_as_pytorch(device):
    x = xpnet.tensor(X, device=device)
    assert x.is_floating_point() and not x.long().is_floating_point()
    assert x.nelement() == 6 and x.element_size() == 4 and x.double().element_size() == 8


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")   # log(0) = -inf
def test_logsumexp_is_stable_for_large_and_infinite_entries(device):
    x = xpnet.tensor([[1000.0, 1000.0], [-math.inf, -math.inf]], device=device)
    out = x.logsumexp(1).tolist()
    assert math.isclose(out[0], 1000.0 + math.log(2.0), rel_tol=1e-6) and out[1] == -math.inf


def test_type_names_the_legacy_type_and_casts(device):
    x = xpnet.tensor(X, device=device)
    assert x.type() == "torch.FloatTensor" and x.long().type() == "torch.LongTensor"
    assert dtype_name(x.type(xpnet.int64).dtype) == "int64"
    assert dtype_name(x.type("torch.DoubleTensor").dtype) == "float64"
    assert x.type(xpnet.float32) is x
    with pytest.raises(TypeError, match="type: unknown tensor type 'torch.FooTensor'"):
        x.type("torch.FooTensor")


def test_new_tensors_take_the_dtype_and_device_of_the_tensor(device):
    x = xpnet.tensor(X, dtype="float64", device=device)
    for made, value in ((x.new_zeros(2, 3), 0.0), (x.new_ones((2, 3)), 1.0),
                        (x.new_full((2, 3), 4.5), 4.5), (x.new_empty(2, 3), 0.0)):
        assert made.shape == (2, 3) and made.device == device
        assert dtype_name(made.dtype) == "float64" and made.tolist() == [[value] * 3] * 2
    copied = x.new_tensor([1, 2])
    assert dtype_name(copied.dtype) == "float64" and copied.device == device
    assert dtype_name(x.new_zeros(2, dtype=xpnet.int32).dtype) == "int32"


def test_format_spec_formats_a_one_element_tensor_as_its_number(device):
    loss = xpnet.tensor([[0.123456]], device=device)
    assert "{:.4f}".format(loss) == "0.1235" and f"{loss.sum():.2e}" == "1.23e-01"
    assert "{}".format(loss) == str(loss)
    with pytest.raises(TypeError, match=r"one-element tensors, got shape \(2, 3\)"):
        "{:.4f}".format(xpnet.tensor(X, device=device))


def test_shape_methods_refuse_bad_arguments(device):
    x = xpnet.tensor(X, device=device)
    with pytest.raises(ValueError, match=r"mm: both inputs must be 2-D, got shapes \(2, 3\)"):
        x.mm(x[0])
    with pytest.raises(IndexError, match="narrow: start 2 and length 2 must lie within axis 1"):
        x.narrow(1, 2, 2)
    with pytest.raises(ValueError, match=r"split: sections must be non-negative and add up to 3"):
        x.split([1, 1], dim=1)
    with pytest.raises(ValueError, match="expand: axis 1 of size 3 cannot be expanded to 4"):
        x.expand(2, 4)
    with pytest.raises(ValueError, match="t: expects a tensor with at most 2 axes"):
        x.reshape(1, 2, 3).t()
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 3\]"):
        x.topk(4)


# -- in place ---------------------------------------------------------------------------------

IN_PLACE = {
    "add_": lambda t, o: t.add_(o),
    "add_alpha": lambda t, o: t.add_(o, alpha=-0.5),
    "sub_": lambda t, o: t.sub_(2.0),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(4.0),
    "pow_": lambda t, o: t.pow_(2),
    "clamp_": lambda t, o: t.clamp_(min=-1.0, max=2.0),
    "fill_": lambda t, o: t.fill_(7.0),
    "zero_": lambda t, o: t.zero_(),
    "copy_": lambda t, o: t.copy_(o),
    "copy_broadcast": lambda t, o: t.copy_(o[0]),
    "masked_fill_": lambda t, o: t.masked_fill_(o > 0, 9.0),
    "iadd": lambda t, o: t.__iadd__(o),
    "isub": lambda t, o: t.__isub__(o),
    "imul": lambda t, o: t.__imul__(3.0),
    "itruediv": lambda t, o: t.__itruediv__(o),
    "lerp_": lambda t, o: t.lerp_(o, 0.3),
    "abs_": lambda t, o: t.abs_(),
    "sqrt_": lambda t, o: t.abs_().sqrt_(),
    "exp_": lambda t, o: t.exp_(),
    "log_": lambda t, o: t.abs_().log_(),
    "sigmoid_": lambda t, o: t.sigmoid_(),
    "tanh_": lambda t, o: t.tanh_(),
    "relu_": lambda t, o: t.relu_(),
}
OTHER = np.array([[0.5, 1.0, -1.5], [2.0, -0.25, 4.0]], dtype=np.float32)


@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_under_no_grad_mutates_the_tensor_and_its_sharers_as_pytorch(device, torch,
                                                                                name):
    x = xpnet.tensor(X, device=device, requires_grad=True)
    alias = x.detach()   # shares the array, as in PyTorch
    with xpnet.no_grad():
        returned = IN_PLACE[name](x, xpnet.tensor(OTHER, device=device))
    tx = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    with torch.no_grad():
        IN_PLACE[name](tx, torch.tensor(OTHER, dtype=torch.float32))
    assert returned is x and x.requires_grad and x.is_leaf and x.device == device
    _assert_same(x, tx)
    _assert_same(alias, tx)


def test_python_in_place_operators_keep_the_same_object(device):
    x = xpnet.tensor([1.0, 2.0], device=device)
    before = x
    x += 1.0
    x *= xpnet.tensor([2.0, 3.0], device=device)
    x -= 0.5
    x /= 2.0
    assert x is before and x.tolist() == [1.75, 4.25]


@pytest.mark.parametrize("name", ["add_", "mul_", "fill_", "zero_", "copy_", "iadd", "clamp_"])
def test_in_place_on_a_leaf_that_requires_grad_raises_while_recording(device, name):
    x = xpnet.tensor(X, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad cannot be changed "
                                           "in place while gradients are recorded"):
        IN_PLACE[name](x, xpnet.tensor(OTHER, device=device))
    assert x.tolist() == X.tolist()


def test_in_place_on_a_non_leaf_takes_the_result_and_its_graph(device, torch):
    def run(lib, x):
        y = x * 2.0
        y += x * x      # y takes the op's node; the Mul recorded before keeps the old y
        y.mul_(3.0)
        y[0, 1] = 0.0   # a constant written in: no gradient through that entry
        return y

    x = xpnet.tensor(X, dtype="float64", device=device, requires_grad=True)
    y = run(xpnet, x)
    assert not y.is_leaf and y.requires_grad
    y.sum().backward()
    tx = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    ty = run(torch, tx)
    ty.sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_an_op_recorded_before_an_in_place_change_keeps_the_old_node(device, torch):
    def run(lib, x, create_graph):
        y = x * 2.0
        z = y * 3.0            # recorded before the change: its gradient goes to the old y
        y.mul_(x)              # y's node is now the in-place mul
        w = y.sin()
        (g,) = lib.autograd.grad((z + w).sum(), x, create_graph=create_graph)
        return g

    for create_graph in (False, True):
        x = xpnet.tensor([1.0, -0.5], device=device, dtype="float64", requires_grad=True)
        tx = torch.tensor([1.0, -0.5], dtype=torch.float64, requires_grad=True)
        ours, theirs = run(xpnet, x, create_graph), run(torch, tx, create_graph)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
        if create_graph:       # and the gradient's own graph keeps the old node too
            (gg,) = xpnet.autograd.grad(ours.sum(), x)
            (tgg,) = torch.autograd.grad(theirs.sum(), tx)
            np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-12)


def test_detach_in_place_cuts_the_tensor_from_the_graph(device, torch):
    hidden = xpnet.tensor(X, device=device, requires_grad=True) * 2.0
    assert hidden.detach_() is hidden and hidden.is_leaf and not hidden.requires_grad
    assert hidden.tolist() == (torch.tensor(X) * 2.0).tolist()


def test_in_place_with_an_operand_that_requires_grad_makes_the_tensor_part_of_the_graph(device):
    w = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    buffer = xpnet.zeros(2, device=device)
    buffer.add_(w, alpha=3.0)
    assert buffer.requires_grad and not buffer.is_leaf
    buffer.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_setitem_writes_ints_slices_masks_and_index_tensors(device, torch):
    def run(lib, x, index):
        x[0] = 1.0
        x[:, 2] = lib.tensor([7.0, 8.0]) if lib is torch else xpnet.tensor([7.0, 8.0],
                                                                            device=x.device)
        x[x < 0] = 0.0
        x[np.int64(1), index] = -3.0
        return x

    ours = run(xpnet, xpnet.tensor(X, device=device), xpnet.tensor(1, device=device))
    theirs = run(torch, torch.tensor(X, dtype=torch.float32), torch.tensor(1))
    _assert_same(ours, theirs)


def test_setitem_on_a_leaf_that_requires_grad_raises_and_works_under_no_grad(device):
    w = xpnet.tensor(X, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="__setitem__: a leaf tensor that requires grad"):
        w[0, 0] = 5.0
    with xpnet.no_grad():
        w[0, 0] = 5.0
    assert w.tolist()[0][0] == 5.0


def test_in_place_refuses_results_that_do_not_fit(device):
    x = xpnet.tensor([1.0, 2.0, 3.0], device=device)
    with pytest.raises(ValueError, match=r"add_: the result has shape \(2, 3\), which does not "
                                         r"fit the tensor's shape \(3,\)"):
        x.add_(xpnet.ones(2, 3, device=device))
    counts = xpnet.tensor([1, 2], device=device)
    for update in (lambda: counts.mul_(xpnet.tensor([0.5, 0.5], device=device)),
                   lambda: counts.add_(0.5), lambda: counts.div_(2)):
        with pytest.raises(TypeError, match="a floating-point result cannot be written into a "
                                            "tensor of dtype int64"):
            update()
    counts += 1
    assert counts.tolist() == [2, 3]
    counts.fill_(2.7)   # PyTorch fills an int tensor with int(2.7)
    assert counts.tolist() == [2, 2]


def test_manual_sgd_loop_under_no_grad_trains_a_model(device):
    """``for p in model.parameters(): p -= lr * p.grad`` updates the parameters themselves."""
    xpnet.manual_seed(0)
    model = xpnet.nn.Linear(3, 1).to(device)
    x = xpnet.randn(32, 3, device=device)
    y = x @ xpnet.tensor([[1.0], [-2.0], [0.5]], device=device) + 0.3
    params_before = [p for p in model.parameters()]
    losses = []
    for _ in range(30):
        loss = ((model(x) - y) ** 2).mean()
        losses.append(loss.item())
        for p in model.parameters():
            p.grad = None
        loss.backward()
        with xpnet.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert all(a is b for a, b in zip(model.parameters(), params_before))   # updated, not rebound
    assert losses[-1] < 0.1 * losses[0]


def test_item_reads_a_one_element_tensor_of_any_shape(device):
    assert xpnet.tensor([[[2.5]]], device=device).item() == 2.5
    assert math.isclose(float(xpnet.tensor([0.1], device=device)), 0.1, rel_tol=1e-6)


def test_an_operator_in_place_in_a_graph_leaves_the_ops_that_used_the_tensor_exact(device):
    """``y *= 3`` after ``y`` fed another op: that op keeps y's history (PyTorch's gradient)."""
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2.0
    s = (y * y).sum()
    before = y
    y *= 3.0
    assert before.tolist() == [2.0, 4.0] and y.tolist() == [6.0, 12.0]
    s.backward(retain_graph=True)         # y's own history is shared with the new y
    assert x.grad.tolist() == [8.0, 16.0]
    x.grad = None
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def _data_updates(lib, p, other):
    """What PyTorch scripts do with ``p.data``: in-place updates outside any no_grad block."""
    p.data.add_(other, alpha=-0.5)          # the update of a hand-written optimizer
    p.data.mul_(2.0)
    (p * p).sum().backward()                # the graph still reaches p
    p.data.clamp_(-3.0, 3.0)
    return p.data


def test_data_is_a_detached_tensor_sharing_storage_as_in_pytorch(device, torch):
    p = xpnet.tensor(X, device=device, requires_grad=True)
    tp = torch.tensor(X, requires_grad=True)
    data = _data_updates(xpnet, p, xpnet.tensor(OTHER, device=device))
    tdata = _data_updates(torch, tp, torch.tensor(OTHER))
    assert isinstance(data, xpnet.Tensor) and data.requires_grad is False and data.is_leaf
    assert p.requires_grad and p.is_leaf and data.device == device
    _assert_same(p, tp)
    _assert_same(p.grad, tp.grad)
    _assert_same(data, tdata)


def test_data_feeds_init_and_fill_and_takes_an_assigned_tensor(device):
    layer = xpnet.nn.Linear(3, 2, device=device)
    xpnet.nn.init.constant_(layer.weight.data, 0.5)   # init through .data reaches the parameter
    layer.bias.data.fill_(-1.0)
    assert layer.weight.tolist() == [[0.5] * 3] * 2 and layer.bias.tolist() == [-1.0, -1.0]
    layer.weight.data = xpnet.zeros(4, 3, device=device)   # PyTorch: the shape may change
    assert layer.weight.shape == (4, 3) and layer.weight.requires_grad
    assert layer.weight.array is layer.weight.data.array
    with pytest.raises(TypeError, match=r"Tensor\.data: expected a Tensor to assign, got ndarray"):
        layer.bias.data = np.zeros(2, dtype=np.float32)


def test_to_takes_pytorchs_forms(device):
    t = xpnet.tensor([1.5, -2.0], device=device, requires_grad=True)
    assert t.to(xpnet.float64).dtype == "float64" and t.to("int32").dtype == "int32"
    assert t.to(np.int64).dtype == "int64"
    moved = t.to("cpu", xpnet.float64)
    assert moved.device == "cpu" and moved.dtype == "float64"
    other = xpnet.zeros(1, dtype=xpnet.long, device="cpu")
    assert t.to(other).device == "cpu" and t.to(other).dtype == "int64"
    assert t.to(device) is t and t.to(dtype=t.dtype, non_blocking=True) is t
    copied = t.to(device, copy=True)
    assert copied is not t and copied.tolist() == t.tolist()
    cast = t.to(xpnet.float64)      # a cast on the same device stays in the graph
    (cast * cast).sum().backward()
    assert t.grad.tolist() == [3.0, -4.0]
    with pytest.raises(TypeError, match=r"to: dtype given twice"):
        t.to("float32", "float64")
    with pytest.raises(TypeError, match=r"to: the second positional argument must be a dtype, "
                                        r"got 'cpu'"):
        t.to("cpu", "cpu")
    with pytest.raises(TypeError, match=r"to: unexpected keyword argument\(s\) \['dev'\]"):
        t.to(dev="cpu")


def test_to_takes_torch_dtypes(device, torch):
    t = xpnet.tensor([1.5, -2.0], device=device)
    assert t.to(torch.float64).dtype == "float64" and t.to(device, torch.long).dtype == "int64"


def test_scatter_in_place_builds_a_one_hot_matrix_as_in_pytorch(device, torch):
    labels = np.array([1, 3, 0])
    ours = xpnet.zeros(3, 4, device=device).scatter_(1, xpnet.tensor(labels, device=device)
                                                     .unsqueeze(1), 1.0)
    theirs = torch.zeros(3, 4).scatter_(1, torch.tensor(labels).unsqueeze(1), 1.0)
    _assert_same(ours, theirs)
    counts = xpnet.zeros(4, device=device, dtype=xpnet.long)
    counts.scatter_add_(0, xpnet.tensor(labels, device=device), xpnet.ones(3, device=device,
                                                                            dtype=xpnet.long))
    assert counts.tolist() == [1, 1, 0, 1]
    x = xpnet.tensor(X, device=device)
    assert x.clamp_min_(0.0).tolist() == np.maximum(X, 0).tolist()


def test_new_methods_refuse_bad_arguments(device):
    x = xpnet.tensor(X, device=device)
    with pytest.raises(ValueError, match="scatter: reduce='multiply' is not supported"):
        x.scatter(1, xpnet.tensor([[0], [1]], device=device), 1.0, reduce="multiply")
    with pytest.raises(ValueError, match="scatter_add: index and src must have as many axes"):
        x.scatter_add(1, xpnet.tensor([0, 1], device=device), x)
    with pytest.raises(ValueError, match="movedim: source and destination must be distinct"):
        x.movedim((0, 1), 0)
    with pytest.raises(IndexError, match=r"unbind: dim must be in \[-2, 2\)"):
        x.unbind(2)
