import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

# name -> (op on a (2, 3, 4) tensor, the same on a NumPy array)
SHAPE_OPS = {
    "reshape": (lambda x: F.reshape(x, 4, 6), lambda a: a.reshape(4, 6)),
    "reshape_minus_one": (lambda x: F.reshape(x, (-1, 2)), lambda a: a.reshape(-1, 2)),
    "view_method": (lambda x: x.view(2, -1), lambda a: a.reshape(2, -1)),
    "flatten": (F.flatten, lambda a: a.reshape(-1)),
    "flatten_from_1": (lambda x: F.flatten(x, 1), lambda a: a.reshape(2, 12)),
    "flatten_middle": (lambda x: F.flatten(x, 0, -2), lambda a: a.reshape(6, 4)),
    "permute": (lambda x: F.permute(x, 2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "permute_negative": (lambda x: x.permute((-1, 1, 0)), lambda a: a.transpose(2, 1, 0)),
    "transpose": (F.transpose, lambda a: a.swapaxes(-2, -1)),
    "transpose_0_2": (lambda x: F.transpose(x, 0, 2), lambda a: a.swapaxes(0, 2)),
}

# index expressions applied to a (2, 3, 4) tensor
INDICES = {
    "int": 1,
    "negative_int": -1,
    "ints": (0, -2),
    "slice": slice(1, None),
    "slice_with_step": (slice(None), slice(None, None, 2)),
    "negative_slice_bounds": (Ellipsis, slice(-3, -1)),
    "none": (None, 0),
    "none_in_the_middle": (slice(None), None, 1),
    "ellipsis_then_int": (Ellipsis, 2),
    "int_ellipsis_int": (1, Ellipsis, -1),
    "everything": (-1, None, slice(0, 3, 2), Ellipsis, slice(1, 4, 2)),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_op_matches_numpy_and_finite_differences(device, name):
    op, reference = SHAPE_OPS[name]
    x, = random_inputs(device, (2, 3, 4))
    assert_close(op(x), reference(x.numpy()), rtol=0, atol=0)
    gradcheck(op, x)


@pytest.mark.parametrize("name", INDICES)
def test_getitem_matches_numpy_and_finite_differences(device, name):
    index = INDICES[name]
    x, = random_inputs(device, (2, 3, 4))
    assert_close(x[index], x.numpy()[index], rtol=0, atol=0)
    gradcheck(lambda x: x[index], x)


def test_getitem_gradient_scatters_into_zeros(device):
    x = xpnet.zeros(2, 4, device=device, requires_grad=True)
    x[None, 1, ::2].sum().backward()
    assert_close(x.grad, np.array([[0, 0, 0, 0], [1, 0, 1, 0]], np.float32))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_matches_numpy_and_finite_differences(device, axis):
    a, b = random_inputs(device, (2, 3), (2, 3), seed=1)
    c, = random_inputs(device, (2, 3), seed=2)
    host = [t.numpy() for t in (a, b, c)]
    assert_close(F.concat([a, b, c], axis=axis), np.concatenate(host, axis=axis), rtol=0, atol=0)
    gradcheck(lambda a, b, c: F.concat([a, b, c], axis=axis), a, b, c)


def test_concat_of_unequal_lengths_splits_the_gradient(device):
    a, b = random_inputs(device, (1, 2), (3, 2))
    y = F.concat((a, b))
    assert y.shape == (4, 2)
    (y * xpnet.tensor(np.arange(8.0).reshape(4, 2), device=device)).sum().backward()
    assert_close(a.grad, np.arange(2.0).reshape(1, 2))
    assert_close(b.grad, np.arange(2.0, 8.0).reshape(3, 2))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_matches_numpy_and_finite_differences(device, axis):
    a, b = random_inputs(device, (2, 3), (2, 3), seed=4)
    assert_close(F.stack([a, b], axis=axis), np.stack([a.numpy(), b.numpy()], axis=axis),
                 rtol=0, atol=0)
    gradcheck(lambda a, b: F.stack([a, b], axis=axis), a, b)


def test_transpose_property_needs_a_matrix(device):
    x, = random_inputs(device, (2, 3))
    assert_close(x.T, x.numpy().T, rtol=0, atol=0)
    with pytest.raises(ValueError, match="Tensor.T: expects a 2-D tensor, got 3-D; use permute"):
        random_inputs(device, (1, 2, 3))[0].T


def test_reshape_rejects_an_incompatible_shape(device):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) "
                                         r"\(6 elements\) to \(4, 2\)"):
        F.reshape(x, 4, 2)
    with pytest.raises(ValueError, match=r"to \(-1, -1\)"):
        F.reshape(x, -1, -1)
    with pytest.raises(ValueError, match=r"to \(-1, 4\)"):
        F.reshape(x, -1, 4)


def test_flatten_rejects_bad_dims(device):
    x, = random_inputs(device, (2, 3, 4))
    with pytest.raises(ValueError, match=r"flatten: start_dim \(2\) must not come after end_dim"):
        F.flatten(x, 2, 1)
    with pytest.raises(ValueError, match=r"flatten: dim must be an int in \[-3, 3\) for a 3-D "
                                         r"tensor, got 3"):
        F.flatten(x, 3)


def test_permute_and_transpose_reject_bad_axes(device):
    x, = random_inputs(device, (2, 3, 4))
    with pytest.raises(ValueError, match=r"permute: axes must be a permutation of 0..2 for a "
                                         r"3-D tensor, got \(0, 1\)"):
        F.permute(x, 0, 1)
    with pytest.raises(ValueError, match=r"permute: axes must be a permutation"):
        F.permute(x, 0, 1, 3)
    with pytest.raises(ValueError, match=r"transpose: dim must be an int in \[-3, 3\) for a 3-D "
                                         r"tensor, got 3"):
        F.transpose(x, 0, 3)


@pytest.mark.parametrize("index", [[True, False], (slice(None), 1.5), True],
                         ids=["list_of_bools", "float_in_tuple", "bool"])
def test_getitem_rejects_indices_that_are_not_ints_slices_or_tensors(device, index):
    x, = random_inputs(device, (3, 3))
    with pytest.raises(TypeError, match=r"getitem: an index must be made of ints, slices, None, "
                                        r"Ellipsis and integer or boolean tensors, got "
                                        r"(list|float|bool)"):
        x[index]


def test_getitem_rejects_float_and_zero_d_boolean_tensor_indices(device):
    x, = random_inputs(device, (3, 3))
    with pytest.raises(TypeError, match=r"getitem: tensors used as indices must be integer or "
                                        r"boolean, got dtype float64; convert it with .long\(\)"):
        x[x]
    with pytest.raises(TypeError, match="getitem: a 0-D boolean index is not supported"):
        x[x[0, 0] > 0]


def test_getitem_rejects_bad_steps_and_out_of_range_indices(device):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(ValueError, match="getitem: slice steps must be positive, got -1"):
        x[::-1]
    with pytest.raises(IndexError, match=r"^getitem: an index on an axis of size 3 must be in "
                                         r"\[-3, 3\), got 3$"):
        x[..., 3]
    with pytest.raises(IndexError, match=r"^getitem: an index on an axis of size 2 must be in "
                                         r"\[-2, 2\), got -3$"):
        x[-3]
    with pytest.raises(IndexError, match=r"getitem: too many indices for a 2-D tensor"):
        x[0, 0, 0]


def test_concat_and_stack_reject_mismatched_shapes(device):
    a, b = random_inputs(device, (2, 3), (2, 4))
    with pytest.raises(ValueError, match=r"concat: shapes must match except on axis 0, got "
                                         r"\[\(2, 3\), \(2, 4\)\]"):
        F.concat([a, b])
    with pytest.raises(ValueError, match=r"concat: axis must be in \[-2, 2\), got 2"):
        F.concat([a, a], axis=2)
    with pytest.raises(ValueError, match=r"stack: all tensors must have the same shape"):
        F.stack([a, b])
    with pytest.raises(ValueError, match=r"stack: axis must be in \[-3, 3\), got 3"):
        F.stack([a, a], axis=3)
    with pytest.raises(ValueError, match="concat: expected at least one tensor"):
        F.concat([])


def test_shape_ops_match_torch(device):
    torch = pytest.importorskip("torch")
    x, = random_inputs(device, (2, 3, 4))
    tx = torch.tensor(x.numpy(), requires_grad=True)
    weights = np.arange(12.0).reshape(3, 4)
    y = F.concat([F.permute(x, 1, 2, 0)[:, ::2, 1], F.flatten(x[None, 1, :, 1:3], 0, 1)], axis=1)
    ty = torch.cat([tx.permute(1, 2, 0)[:, ::2, 1], tx[None, 1, :, 1:3].flatten(0, 1)], dim=1)
    assert_close(y, ty.detach().numpy(), rtol=0, atol=0)
    (y.sum() + (F.stack([x[0], x[1]], 0)[1] * xpnet.tensor(weights, device=device)).sum()) \
        .backward()
    (ty.sum() + (torch.stack([tx[0], tx[1]], 0)[1] * torch.tensor(weights)).sum()).backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12)


# integer-tensor (advanced) indices: name -> index built by m (xpnet or torch) for a (3, 4, 5)
# tensor t; the same source runs on both
ADVANCED = {
    "rows": lambda m, t: m.tensor([2, 0, -1]),
    "rows_2d": lambda m, t: (slice(None), m.tensor([[1, 0], [3, 3]])),
    "int_then_tensor": lambda m, t: (0, slice(None), m.tensor([1, 2])),
    "two_tensors_side_by_side": lambda m, t: (slice(None), m.tensor([1, 3]), m.tensor([0, 4])),
    "two_tensors_apart": lambda m, t: (m.tensor([0, 2]), slice(None), m.tensor([1, 3])),
    "broadcast_tensors": lambda m, t: (m.tensor([[0], [1]]), m.tensor([[1, 2, 3]])),
    "zero_d_tensor": lambda m, t: (Ellipsis, m.tensor(1)),
    "mask": lambda m, t: t[:, 0, 0] > 0.1,
    "mask_2d_and_int": lambda m, t: (t[:, :, 0] > 0.1, 2),
    "numpy_integer": lambda m, t: np.int64(2),
    "numpy_integers_in_tuple": lambda m, t: (np.int32(1), slice(1, 3), np.int64(-1)),
    "list_of_ints": lambda m, t: [0, 2, 2],
    "with_none_and_slice": lambda m, t: (m.tensor([1]), None, slice(2, None)),
}


@pytest.mark.parametrize("name", ADVANCED)
def test_getitem_with_tensor_indices_matches_pytorch_and_finite_differences(device, name):
    torch = pytest.importorskip("torch")
    a = np.arange(60.0).reshape(3, 4, 5) / 60.0
    x = xpnet.tensor(a, device=device, requires_grad=True)
    ours = x[ADVANCED[name](xpnet, x.detach())]
    theirs = torch.tensor(a)[ADVANCED[name](torch, torch.tensor(a))]
    assert ours.shape == tuple(theirs.shape) and ours.dtype == "float64"
    assert_close(ours, theirs.numpy(), rtol=0, atol=0)
    gradcheck(lambda t: t[ADVANCED[name](xpnet, x.detach())], x)


def test_getitem_with_a_repeated_index_sums_the_gradient_and_differentiates_twice(device):
    from xpnet.testing import gradgradcheck
    x, = random_inputs(device, (3, 2))
    index = xpnet.tensor([2, 0, 2, 2], device=device)
    x[index].sum().backward()
    assert_close(x.grad, np.array([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]]))
    assert gradgradcheck(lambda t: t[index] ** 2, x)
    assert gradgradcheck(lambda t: t[:, xpnet.tensor([1, 1, 0], device=device)] ** 3, x)


def test_getitem_takes_a_cpu_index_tensor_for_a_tensor_on_another_device(device):
    x = xpnet.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    assert x[xpnet.tensor([1], device="cpu")].tolist() == [[3.0, 4.0]]


def test_getitem_rejects_out_of_range_tensor_indices(device):
    x, = random_inputs(device, (3, 2))
    if xpnet.device(device).on_host:   # checked where reading the index back costs nothing
        with pytest.raises(IndexError, match=r"getitem: an index tensor's entries on an axis "
                                             r"of size 3 must be in \[-3, 3\), got values from "
                                             r"0 to 3"):
            x[xpnet.tensor([0, 3], device=device)]
    with pytest.raises(IndexError, match="getitem: index tensors must broadcast together"):
        x[xpnet.tensor([0, 1], device=device), xpnet.tensor([0, 1, 1], device=device)]
