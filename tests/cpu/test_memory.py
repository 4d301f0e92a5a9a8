"""xpnet.cpu.memory.HostAllocator: large host arrays handed out again only when nothing else refers to
them, so a step reuses the memory of the last one without ever sharing an array in use."""
import numpy as np

import xpnet
import xpnet.functional as F
from xpnet import cpu, models, optim

MB = 1 << 20


def _pool(limit=8 * MB):
    return cpu.memory.HostAllocator(limit=limit, minimum=MB)


def test_an_array_comes_back_once_nothing_holds_it():
    pool = _pool()
    first = pool.empty((MB // 4,), np.float32)
    address = first.__array_interface__["data"][0]
    del first
    again = pool.empty((MB // 4,), np.float32)
    assert again.__array_interface__["data"][0] == address
    assert again.shape == (MB // 4,) and again.dtype == np.float32 and again.flags.c_contiguous


def test_an_array_in_use_is_never_handed_out():
    pool = _pool()
    held = pool.empty((MB // 4,), np.float32)
    view = pool.empty((MB // 4,), np.float32)[::2]           # only a view of it is left
    tensor = xpnet.tensor(pool.empty((MB // 4,), np.float32))  # a copy: the array itself is free
    inside = xpnet.Tensor(pool.empty((MB // 4,), np.float32))
    held[...] = 1.0
    view[...] = 2.0
    inside.array[...] = 3.0
    taken = [pool.empty((MB // 4,), np.float32) for _ in range(4)]
    for array in taken:
        assert array is not held and array is not view.base and array is not inside.array
    assert (held == 1.0).all() and (view == 2.0).all() and (inside.array == 3.0).all()
    assert tensor.shape == (MB // 4,)


def test_small_arrays_shapes_and_dtypes_are_kept_apart():
    pool = _pool()
    small = pool.empty((10,), np.float32)
    assert pool.kept == 0 and small.shape == (10,)
    a = pool.empty((MB // 4,), np.float32)
    a_id = id(a)
    del a
    assert id(pool.empty((MB // 8,), np.float64)) != a_id          # same bytes, other dtype
    assert id(pool.empty((MB // 8, 2), np.float32)) != a_id        # other shape


def test_at_most_the_limit_is_kept_and_free_arrays_make_room():
    pool = _pool(limit=2 * MB)
    a, b = pool.empty((MB // 4,), np.float32), pool.empty((MB // 4,), np.float32)
    assert pool.kept == 2 * MB
    c = pool.empty((MB // 2,), np.float32)          # a and b are held: c is not kept
    assert pool.kept == 2 * MB and all(c is not x for s in pool.pool.values() for x in s)
    del a, b
    d = pool.empty((MB // 2,), np.float32)          # the free ones give way to the new shape
    assert pool.kept == 2 * MB
    assert any(d is x for x in pool.pool[((MB // 2,), np.dtype(np.float32))])
    pool.clear()
    assert pool.kept == 0 and not pool.pool


def test_training_steps_leave_held_activations_and_a_retained_graph_alone():
    """Outputs a user keeps are not overwritten by later steps that reuse memory, and a graph
    kept with retain_graph gives the same gradients the second time."""
    rng = np.random.default_rng(0)
    xpnet.manual_seed(0)
    x = xpnet.tensor(rng.random((32, 1, 28, 28), dtype=np.float32))
    y = xpnet.tensor(rng.integers(0, 10, 32))
    model = models.mnist_cnn(device="cpu")
    features = model[:3](x)       # conv, relu, conv: a view of a pooled 4.7 MB array
    assert features.array.base is not None and features.array.base.nbytes >= 4 * MB
    kept = features.numpy().copy()
    loss = F.cross_entropy(model(x), y)
    loss.backward(retain_graph=True)
    first = [p.grad.numpy().copy() for p in model.parameters()]
    other = models.mnist_cnn(device="cpu")            # the same shapes: the pool's arrays
    opt = optim.SGD(other.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(other(x), y).backward()
        opt.step()
    np.testing.assert_array_equal(features.numpy(), kept)
    for p in model.parameters():
        p.grad = None
    loss.backward()
    for p, expected in zip(model.parameters(), first):
        np.testing.assert_array_equal(p.grad.numpy(), expected)


def test_matmul_into_writes_the_product_into_a_slice(device):
    """cpu.memory.matmul_into: out[...] = a @ b, also into a strided slice of a larger array (the
    convolution's slabs), leaving the rest untouched; batched over a leading axis."""
    be = xpnet.device(device)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3, 4))
    whole = np.full((2, 9, 4), 7.0)
    out = be.asarray(whole)
    cpu.memory.matmul_into(be.xp, out[:, 2:7, :], be.asarray(a), be.asarray(b))
    expected = whole.copy()
    expected[:, 2:7, :] = a @ b
    np.testing.assert_allclose(xpnet.to_numpy(out), expected, rtol=1e-12)


def test_an_evaluation_pass_hands_the_kept_arrays_back_before_and_after(monkeypatch):
    """A training step's kept arrays have other shapes than an evaluation batch's, so fit and
    evaluate let them go before the pass (its peak is the run's) and let the pass's go after."""
    pool = cpu.memory.HostAllocator(limit=512 * MB, minimum=MB)
    monkeypatch.setattr(cpu.memory, "ALLOCATOR", pool)
    trims = []
    monkeypatch.setattr(cpu.memory, "_trim_heap", lambda: trims.append(pool.kept))
    rng = np.random.default_rng(0)
    x = xpnet.tensor(rng.random((64, 1, 28, 28), dtype=np.float32))
    y = xpnet.tensor(rng.integers(0, 10, 64))
    model = models.mnist_cnn(device="cpu")
    F.cross_entropy(model(x), y).backward()
    assert pool.kept > 4 * MB                          # the step's activations are kept
    seen = []
    original = pool.empty

    def watching(shape, dtype):
        seen.append(pool.kept)
        return original(shape, dtype)
    monkeypatch.setattr(pool, "empty", watching)
    results = xpnet.train.evaluate(model, (x.numpy(), y.numpy()), loss="cross_entropy",
                                   batch_size=64)
    assert seen and seen[0] == 0                       # the pass started from an empty pool
    assert pool.kept == 0 and trims == [0, 0]          # and left it empty, the heap trimmed
    assert 0.0 <= results["accuracy"] <= 1.0


def test_empty_cache_lets_the_kept_arrays_go():
    kept = cpu.memory.ALLOCATOR.empty((MB,), np.float32)
    assert cpu.memory.ALLOCATOR.kept >= 4 * MB
    del kept
    cpu.empty_cache()
    assert cpu.memory.ALLOCATOR.kept == 0 and not cpu.memory.ALLOCATOR.pool
