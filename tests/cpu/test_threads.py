"""xpnet.cpu.threads.SlabThreads: a convolution's slabs spread over the host's threads, each GEMM on one
BLAS thread meanwhile; the same results as in order, every piece once, errors raised in the
caller, BLAS left as it was."""
import sys
import threading

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import backend, cpu, kernels
from xpnet.testing import random_inputs

CPU = backend.resolve("cpu").xp
THREADS = cpu.SLAB_THREADS
BLAS = THREADS.numpy_blas()
SPREAD = BLAS is not None and BLAS.get_num_threads() > 1   # this machine can run them apart


def test_every_piece_runs_once_on_a_numbered_thread_with_one_blas_thread_meanwhile():
    before = cpu.get_num_threads()
    seen, blas_inside = [], set()

    def work(k, slot):
        seen.append((k, slot))
        if BLAS is not None:
            blas_inside.add(BLAS.get_num_threads())
        np.ones((64, 64)) @ np.ones((64, 64))           # a GEMM inside, as a slab's

    THREADS.run(work, 40, 2)
    assert sorted(k for k, _ in seen) == list(range(40))
    assert {slot for _, slot in seen} <= {0, 1}
    if SPREAD:
        assert blas_inside == {1}
    assert cpu.get_num_threads() == before


def test_the_first_error_is_raised_in_the_caller_and_blas_is_restored():
    before = cpu.get_num_threads()
    ran = []

    def work(k, slot):
        ran.append(k)
        if k == 3:
            raise ValueError("slab 3 failed")

    with pytest.raises(ValueError, match="slab 3 failed"):
        THREADS.run(work, 200, 2)
    assert len(ran) < 200                         # the others stopped at their next piece
    assert cpu.get_num_threads() == before
    THREADS.run(lambda k, slot: None, 4, 2)        # and the next loop runs


def test_a_loop_inside_a_loop_runs_in_its_caller():
    inner = []

    def work(k, slot):
        THREADS.run(lambda j, inner_slot: inner.append((k, j, inner_slot)), 3, 2)

    THREADS.run(work, 4, 2)
    assert sorted((k, j) for k, j, _ in inner) == [(k, j) for k in range(4) for j in range(3)]
    assert {s for _, _, s in inner} == {0}


def test_only_numpy_arrays_and_a_quiet_process_get_threads():
    import array_api_strict
    assert THREADS.threads(array_api_strict) == 1
    expected = BLAS.get_num_threads() if BLAS is not None else 1
    assert THREADS.threads(CPU) == expected
    release = threading.Event()
    other = threading.Thread(target=release.wait)          # a non-daemon thread: maybe in BLAS
    other.start()
    try:
        assert THREADS.threads(CPU) == 1
    finally:
        release.set()
        other.join()
    assert THREADS.threads(CPU) == expected


def test_one_blas_thread_or_disabled_means_in_order(monkeypatch):
    monkeypatch.setattr(THREADS, "enabled", False)
    assert THREADS.threads(CPU) == 1
    monkeypatch.setattr(THREADS, "enabled", True)
    before = cpu.get_num_threads()
    cpu.set_num_threads(1)
    try:
        assert THREADS.threads(CPU) == 1
    finally:
        cpu.set_num_threads(before)


def _conv_results(transposed, threads_on, monkeypatch):
    monkeypatch.setattr(cpu.slabs, "SLAB_ELEMENTS", 1)          # one sample per slab
    monkeypatch.setattr(THREADS, "enabled", threads_on)
    if transposed:
        x, w, b = random_inputs("cpu", (7, 4, 5, 6), (4, 3, 3, 3), (6,), seed=3,
                                dtype="float32")
        y = F.conv_transpose2d(x, w, b, stride=2, padding=1, groups=2)
    else:
        x, w, b = random_inputs("cpu", (7, 4, 9, 8), (6, 2, 3, 3), (6,), seed=3,
                                dtype="float32")
        y = F.conv2d(x, w, b, stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    grad = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    y.backward(xpnet.tensor(grad))
    return [a.numpy().copy() for a in (y, x.grad, w.grad, b.grad)]


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_a_convolution_in_slab_threads_equals_the_one_in_order(transposed, monkeypatch):
    """Every slab writes its own rows; the weight gradient's parts are summed in slab order:
    bit for bit the same output and gradients with and without the threads."""
    apart = _conv_results(transposed, True, monkeypatch)
    in_order = _conv_results(transposed, False, monkeypatch)
    for got, want in zip(apart, in_order):
        np.testing.assert_array_equal(got, want)


def test_first_calls_from_two_threads_at_once_compile_once_and_agree(monkeypatch):
    """Slab threads may make the first call of a fused or compiled function together: the
    compiler's set-up, the kernel's module and its plan are built one thread at a time."""
    pytest.importorskip("numba")
    if kernels.compiler("numpy") is None:
        pytest.skip("the CPU compiler is off (XPNET_COMPILER=none)")
    monkeypatch.setattr(cpu.numba, "CACHE", [])          # as in a fresh process

    @kernels.fuse
    def scaled_sum(xp, a, b):
        return 2.0 * a + b * b

    def _fill_loops(out, a):
        for i in range(out.shape[0]):
            out[i] = a[i] * 3.0

    @kernels.loops(_fill_loops)
    def fill(xp, out, a):
        out[...] = a * 3.0

    a = np.linspace(-1.0, 1.0, 4096, dtype=np.float32)
    b = np.linspace(0.0, 2.0, 4096, dtype=np.float32)
    start, results, errors = threading.Barrier(2), [None, None], []

    def first_call(k):
        try:
            start.wait()
            fused = scaled_sum(CPU, a, b)
            out = np.empty_like(a)
            fill(CPU, out, a)
            results[k] = (fused, out)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_call, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    kernels.forget(scaled_sum)                 # out of the registries other tests walk
    kernels.forget(fill)
    assert len(cpu.numba.CACHE) == 2                       # (folder, may cache) set up once
    for fused, filled in results:
        np.testing.assert_allclose(fused, 2.0 * a + b * b, rtol=1e-6)
        np.testing.assert_array_equal(filled, a * 3.0)


def test_set_num_threads_sets_the_blas_pool_and_get_num_threads_reads_it_back():
    before = xpnet.get_num_threads()
    try:
        xpnet.set_num_threads(1)
        assert xpnet.get_num_threads() == 1
        a = np.arange(64.0).reshape(8, 8)
        np.testing.assert_allclose(a @ a, np.einsum("ij,jk->ik", a, a))   # BLAS still answers
    finally:
        xpnet.set_num_threads(before)
    assert xpnet.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive int, got"):
        xpnet.set_num_threads(bad)


@pytest.mark.parametrize("value, expected", [("1", "1"), ("zero", "expected a positive integer")])
def test_the_environment_variable_sets_the_threads_at_import(value, expected):
    import os
    import subprocess
    env = {**os.environ, "XPNET_NUM_THREADS": value}
    run = subprocess.run([sys.executable, "-c", "import xpnet; print(xpnet.get_num_threads())"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert expected in (run.stdout + run.stderr)
    if value == "zero":
        assert run.returncode != 0 and "$XPNET_NUM_THREADS" in run.stderr


def _recurrent_results(op, reverse, batch_first, threads_on, monkeypatch):
    """Output, last states and every gradient of a whole-sequence op (batch 40: two pieces of
    20 rows when the threads are on), float32 so that the compiled step loops run."""
    monkeypatch.setattr(THREADS, "enabled", threads_on)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[op]
    n, t, d, h = 40, 6, 5, 7
    shape = (n, t, d) if batch_first else (t, n, d)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = random_inputs(
        "cpu", shape, (n, h), (n, h), (gates * h, d), (gates * h, h), (gates * h,),
        (gates * h,), seed=5, dtype="float32")
    args = (x, h0, c0) if op == "lstm" else (x, h0)
    outputs = getattr(F, op)(*args, w_ih, w_hh, b_ih, b_hh, reverse=reverse,
                             batch_first=batch_first)
    rng = np.random.default_rng(6)
    total = sum((o * xpnet.tensor(rng.standard_normal(o.shape).astype(np.float32))).sum()
                for o in outputs)
    total.backward()
    leaves = [x, h0, c0, w_ih, w_hh, b_ih, b_hh] if op == "lstm" else \
        [x, h0, w_ih, w_hh, b_ih, b_hh]
    return [o.numpy().copy() for o in outputs] + [a.grad.numpy().copy() for a in leaves]


@pytest.mark.parametrize("op", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("reverse, batch_first", [(False, True), (True, False)])
def test_a_recurrence_in_batch_pieces_on_threads_equals_the_whole_batch_in_order(
        op, reverse, batch_first, monkeypatch):
    """Each piece of the batch runs its rows' whole recurrence on its own thread: the same
    outputs, states and gradients, bit for bit, as the whole batch in the caller."""
    pieces = []
    original = THREADS.run

    def counting(work, count, threads):
        pieces.append(count)
        return original(work, count, threads)
    monkeypatch.setattr(THREADS, "run", counting)
    apart = _recurrent_results(op, reverse, batch_first, True, monkeypatch)
    if SPREAD:
        assert pieces == [2, 2]          # forward and backward, two pieces each
    in_order = _recurrent_results(op, reverse, batch_first, False, monkeypatch)
    for got, want in zip(apart, in_order):
        np.testing.assert_array_equal(got, want)
