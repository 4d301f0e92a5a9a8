"""Collectives in a world of one (identities) and against a fake two-rank MPI world whose
partner rank holds three times this rank's values (sum = 4x, mean = 2x)."""
import numpy as np
import pytest

import xpnet
from xpnet import distributed as dist
from xpnet import nn

from .fakes import FakeComm, install_fake_mpi


@pytest.fixture
def two_ranks(monkeypatch):
    for name in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK"):
        monkeypatch.delenv(name, raising=False)
    comm = FakeComm(rank=0, size=2, partner=lambda x: 3 * x)
    install_fake_mpi(monkeypatch, comm, environ=(("PMI_RANK", "0"), ("PMI_SIZE", "2")))
    dist.init()
    return comm


def _model(device, dtype="float32"):
    xpnet.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4, device=device, dtype=dtype), nn.Tanh(),
                         nn.Linear(4, 2, device=device, dtype=dtype))


def _backward(model, device):
    x = xpnet.tensor(np.linspace(-1, 1, 15).reshape(5, 3), device=device,
                     dtype=next(model.parameters()).dtype)
    (model(x) ** 2).sum().backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


# -- a world of one ---------------------------------------------------------------------------

def test_in_a_world_of_one_every_collective_is_the_identity(device):
    t = xpnet.tensor([1.5, -2.0], device=device)
    array = t.array
    assert dist.all_reduce(t) is t and dist.all_reduce(t, op="mean") is t
    assert dist.broadcast(t, src=0) is t and t.array is array
    assert t.tolist() == [1.5, -2.0]
    model = _model(device)
    state = [p.numpy().copy() for p in model.parameters()]
    grads = _backward(model, device)
    grad_arrays = [p.grad.array for p in model.parameters()]
    dist.broadcast_parameters(model)
    dist.average_gradients(model)
    dist.average_buffers(model)
    assert all(p.grad.array is a for p, a in zip(model.parameters(), grad_arrays))
    for p, before, grad in zip(model.parameters(), state, grads):
        np.testing.assert_array_equal(p.numpy(), before)
        np.testing.assert_array_equal(p.grad.numpy(), grad)
    assert dist.broadcast_object({"run": 3}) == {"run": 3}


def test_all_reduce_sums_returns_host_floats_in_the_shape_it_was_given(device):
    scalar = xpnet.tensor(2.5, device=device)
    assert dist.all_reduce_sums({"loss": scalar, "count": 64}) == {"loss": 2.5, "count": 64.0}
    assert dist.all_reduce_sums([1, 2.5]) == [1.0, 2.5]
    assert dist.all_reduce_sums((3,)) == (3.0,)
    assert dist.all_reduce_sums(4) == 4.0
    summed = dist.all_reduce_sums(np.array([1, 2], dtype=np.int32))
    assert summed.dtype == np.float64 and summed.tolist() == [1.0, 2.0]


# -- two ranks (a fake MPI) -------------------------------------------------------------------

def test_all_reduce_sums_and_averages_over_the_ranks_in_place(two_ranks, device):
    t = xpnet.tensor([1.0, -2.0], device=device)
    array = t.array
    assert dist.all_reduce(t) is t and t.tolist() == [4.0, -8.0]
    assert t.array is array                        # written into the tensor's own array
    assert dist.all_reduce(t, op="mean").tolist() == [8.0, -16.0]
    counts = dist.all_reduce(xpnet.tensor([1, 2], device=device, dtype="int64"))
    assert counts.tolist() == [4, 8]
    assert [c[0] for c in two_ranks.calls] == ["Allreduce"] * 3


def test_broadcast_takes_the_source_ranks_values(two_ranks, device):
    mine = dist.broadcast(xpnet.tensor([1.0, 2.0], device=device), src=0)
    theirs = dist.broadcast(xpnet.tensor([1.0, 2.0], device=device), src=1)
    assert mine.tolist() == [1.0, 2.0] and theirs.tolist() == [3.0, 6.0]
    assert [c[3] for c in two_ranks.calls] == [0, 1]


def test_average_gradients_averages_every_gradient_in_one_allreduce(two_ranks, device):
    model = _model(device)
    grads = _backward(model, device)
    dist.average_gradients(model)
    for p, grad in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad.numpy(), 2 * grad, rtol=1e-6)   # (g + 3g) / 2
        assert p.grad.shape == p.shape and p.grad.device == device
    assert two_ranks.calls == [("Allreduce", "float32", (sum(p.numel() for p in
                                                             model.parameters()),))]


def test_buckets_split_by_size_and_by_dtype(two_ranks):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2, dtype="float64"), nn.Linear(2, 2))
    grads = _backward_mixed(model)
    # float32 sizes 12, 4, 4, 2 and float64 sizes 8, 2: 48 bytes alone, then 16 + 16 + 8;
    # 64 bytes alone, then 16
    dist.average_gradients(model, bucket_bytes=40)
    for p, grad in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad.numpy(), 2 * grad, rtol=1e-6)
        assert p.grad.dtype == p.dtype
    assert two_ranks.calls == [("Allreduce", "float32", (12,)), ("Allreduce", "float32", (10,)),
                               ("Allreduce", "float64", (8,)), ("Allreduce", "float64", (2,))]


def _backward_mixed(model):
    for p in model.parameters():
        p.grad = xpnet.Tensor(np.arange(p.numel(), dtype=p.numpy().dtype).reshape(p.shape) + 1.0)
    return [p.grad.numpy().copy() for p in model.parameters()]


def test_a_parameter_without_a_gradient_counts_as_zero_and_a_frozen_one_is_left_out(
        two_ranks):
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    frozen, unused = model[1].weight, model[1].bias
    frozen.requires_grad = False
    model[0].weight.grad = xpnet.ones(2, 2)
    model[0].bias.grad = xpnet.ones(2)
    dist.average_gradients(model)
    assert frozen.grad is None
    assert unused.grad.tolist() == [0.0]           # the partner's 3·0 averaged with 0
    assert model[0].weight.grad.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert two_ranks.calls == [("Allreduce", "float32", (7,))]


def test_average_gradients_never_writes_into_a_shared_gradient_array(two_ranks):
    a, b = xpnet.tensor([1.0, 2.0], requires_grad=True), xpnet.tensor([3.0, 4.0],
                                                                       requires_grad=True)
    (a + b).sum().backward()                       # add hands one array to both leaves
    shared = a.grad.array
    dist.average_gradients([a, b])
    assert shared.tolist() == [1.0, 1.0]
    assert a.grad.tolist() == b.grad.tolist() == [2.0, 2.0]


def test_broadcast_parameters_covers_parameters_and_buffers(two_ranks, device):
    model = nn.Sequential(nn.Linear(2, 3, device=device), nn.BatchNorm1d(3, device=device))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    dist.broadcast_parameters(model, src=1)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), 3 * before[key], err_msg=key)
    assert len(two_ranks.calls) == len(before) == 7   # 4 parameters, 3 buffers


def test_average_buffers_averages_floating_statistics_only(two_ranks):
    norm = nn.BatchNorm1d(2)
    norm.running_mean.array[...] = np.array([1.0, 2.0], dtype=np.float32)
    norm.num_batches_tracked.array[...] = 5
    dist.average_buffers(norm)
    assert norm.running_mean.tolist() == [2.0, 4.0] and norm.running_var.tolist() == [2.0, 2.0]
    assert int(norm.num_batches_tracked.item()) == 5
    assert two_ranks.calls == [("Allreduce", "float32", (4,))]


def test_all_reduce_sums_sums_over_the_ranks_in_float64(two_ranks):
    assert dist.all_reduce_sums({"loss": 0.25, "count": 10}) == {"loss": 1.0, "count": 40.0}
    assert two_ranks.calls == [("Allreduce", "float64", (2,))]


def test_broadcast_object_takes_the_source_ranks_object(two_ranks):
    assert dist.broadcast_object("mine", src=0) == "mine"
    assert dist.broadcast_object("mine", src=1) == ("from rank", 1)


# -- bad input ----------------------------------------------------------------------------

def test_collectives_reject_bad_arguments(device):
    t = xpnet.tensor([1.0], device=device)
    with pytest.raises(ValueError, match=r"all_reduce: op must be 'sum' or 'mean', got 'max'"):
        dist.all_reduce(t, op="max")
    with pytest.raises(TypeError, match=r"all_reduce: tensor must be an xpnet Tensor, got "
                                        r"ndarray"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(TypeError, match=r"all_reduce: op='mean' needs a floating-point tensor, "
                                        r"got int64"):
        dist.all_reduce(xpnet.tensor([1], device=device, dtype="int64"), op="mean")
    with pytest.raises(ValueError, match=r"broadcast: src must be a rank in 0\.\.0, got 1"):
        dist.broadcast(t, src=1)
    with pytest.raises(ValueError, match=r"average_gradients: bucket_bytes must be a positive "
                                         r"int, got 0"):
        dist.average_gradients(_model(device), bucket_bytes=0)
    with pytest.raises(TypeError, match=r"average_gradients: expected a Module, a state dict or "
                                        r"an iterable of Tensors, got Tensor"):
        dist.average_gradients(t)
    with pytest.raises(TypeError, match=r"all_reduce_sums: values must be numbers, got str"):
        dist.all_reduce_sums(["1"])
    with pytest.raises(ValueError, match=r"all_reduce_sums: values must be numbers or "
                                         r"one-element arrays, got shape \(2,\)"):
        dist.all_reduce_sums([xpnet.tensor([1.0, 2.0], device=device)])
