"""xpnet.random's counter-based generator (Philox4x32-10, the GPU's): Random123's known answers,
the stream's definition, the same-seed guarantees through the public API (manual_seed,
get_rng_state/set_rng_state, a checkpoint file), the moments of its samples. The GPU draws from
it; here it is switched on for the CPU devices with set_device_generator."""
import math

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import backend, io
from xpnet import random as xrandom

from .cuda.test_kernel_sources import KNOWN_ANSWERS


@pytest.fixture
def philox(device):
    """The device's draws come from Philox for the test (torch keeps its own generator)."""
    library = backend.resolve(device).library
    if library == "torch":
        pytest.skip("PyTorch devices draw from torch.Generator")
    before = xrandom.device_generator(library)
    xrandom.set_device_generator(library, "philox")
    xpnet.manual_seed(0)
    yield device
    xrandom.set_device_generator(library, before)


def _host(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else backend.to_numpy(t))


def test_the_gpu_draws_from_philox_and_the_cpu_keeps_numpys_generator():
    assert xrandom.device_generator("cupy") == "philox"
    assert xrandom.device_generator("numpy") == "native"
    assert xrandom.device_generator("array_api_strict") == "native"


def test_philox4x32_gives_random123s_known_answers(philox):
    b = backend.resolve(philox)
    for counter, key, expected in KNOWN_ANSWERS:
        words = xrandom.philox4x32(b.xp, [b.xp.asarray([c], dtype=b.xp.uint64, device=b.device)
                                          for c in counter], key)
        assert [hex(int(_host(w)[0])) for w in words] == [hex(w) for w in expected]


def test_the_stream_is_philox_of_consecutive_block_counters_under_the_seeded_key(philox):
    b = backend.resolve(philox)
    xpnet.manual_seed(7)
    u = _host(xrandom.uniform(b, (10,), "float32"))          # 3 blocks of 4 words
    key = xpnet.get_rng_state()["devices"][b.name]["philox"]["key"]
    words = [xrandom.philox4x32(np, [np.asarray([blk], np.uint64), np.zeros(1, np.uint64),
                                     np.zeros(1, np.uint64), np.zeros(1, np.uint64)],
                                (key & 0xFFFFFFFF, key >> 32)) for blk in range(3)]
    expected = np.concatenate([np.stack(w, axis=-1)[0] for w in words])[:10]
    np.testing.assert_array_equal(u, (expected >> 8).astype(np.float32) * np.float32(2.0 ** -24))


def test_the_state_is_a_key_and_an_offset_that_moves_by_the_blocks_used(philox):
    b = backend.resolve(philox)
    state = lambda: xpnet.get_rng_state()["devices"][b.name]["philox"]  # noqa: E731
    xrandom.uniform(b, (5,), "float32")                  # 5 words: 2 blocks
    assert state()["offset"] == 2 and set(state()) == {"key", "offset"}
    xrandom.normal(b, (3,), "float64")                   # 2 pairs, 4 uniforms, 8 words
    assert state()["offset"] == 4
    xrandom.integers(b, 0, 10, (4,))
    assert state()["offset"] == 5
    assert 0 <= state()["key"] < 2 ** 64


def test_one_seed_gives_one_stream_and_another_seed_another(philox):
    def draws(seed):
        xpnet.manual_seed(seed)
        return [_host(xpnet.rand(3, 4, device=philox)), _host(xpnet.randn(5, device=philox)),
                _host(xpnet.randint(0, 100, (6,), device=philox))]
    first, again, other = draws(3), draws(3), draws(4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_a_restored_state_continues_the_stream_where_it_was_saved(philox):
    xpnet.manual_seed(1)
    xpnet.rand(7, device=philox)
    x = xpnet.ones(64, device=philox)
    F.dropout(x, 0.5)                                          # N draws before the save
    saved = xpnet.get_rng_state()
    straight = [_host(xpnet.randn(9, device=philox)), _host(F.dropout(x, 0.5))]
    xpnet.manual_seed(99)
    xpnet.rand(3, device=philox)                               # anything in between
    xpnet.set_rng_state(saved)
    resumed = [_host(xpnet.randn(9, device=philox)), _host(F.dropout(x, 0.5))]
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


def test_the_state_survives_a_checkpoint_file(philox, tmp_path):
    xpnet.manual_seed(2)
    xpnet.rand(5, device=philox)
    io.save({"rng": xpnet.get_rng_state()}, tmp_path / "ckpt.npz")
    expected = _host(xpnet.rand(6, device=philox))
    xpnet.manual_seed(0)
    xpnet.set_rng_state(io.load(tmp_path / "ckpt.npz")["rng"])
    np.testing.assert_array_equal(_host(xpnet.rand(6, device=philox)), expected)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_and_normal_samples_have_the_right_moments(philox, dtype):
    n = 20_000
    u = _host(xrandom.uniform(backend.resolve(philox), (n,), dtype)).astype(np.float64)
    assert u.dtype == np.float64 and 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 0.005
    z = _host(xrandom.normal(backend.resolve(philox), (n,), dtype)).astype(np.float64)
    assert abs(z.mean()) < 4 / math.sqrt(n) and abs(z.std() - 1.0) < 0.02
    assert abs(np.mean(z ** 3)) < 0.1 and abs(np.mean(z ** 4) - 3.0) < 0.2
    assert abs(np.mean(np.abs(z) < 1.0) - 0.6827) < 0.015      # the normal's mass within 1 sd


def test_integers_cover_the_range_evenly_also_past_32_bits(philox):
    b = backend.resolve(philox)
    k = _host(xrandom.integers(b, -3, 5, (8000,)))
    counts = np.bincount(k + 3, minlength=8)
    assert k.min() == -3 and k.max() == 4 and (np.abs(counts - 1000) < 150).all()
    big = _host(xrandom.integers(b, 0, 2 ** 40, (2000,))).astype(np.float64)
    assert big.max() < 2 ** 40 and abs(big.mean() / 2 ** 40 - 0.5) < 0.03


def test_philox_refuses_bad_dtypes_bounds_and_kinds(philox):
    b = backend.resolve(philox)
    with pytest.raises(TypeError, match="random.uniform: dtype must be float16, float32 or "
                                        "float64, got int32"):
        xrandom.uniform(b, (2,), "int32")
    with pytest.raises(ValueError, match="high must be greater than low, got low=3 and high=3"):
        xrandom.integers(b, 3, 3, (2,))
    with pytest.raises(ValueError, match="kind must be 'philox' or 'native', got 'xorwow'"):
        xrandom.set_device_generator("numpy", "xorwow")


def test_a_state_of_another_generator_kind_is_refused_with_both_kinds_named(philox):
    xpnet.rand(2, device=philox)
    state = xpnet.get_rng_state()
    state["devices"][backend.resolve(philox).name] = {"numpy": {"state": 0}}
    with pytest.raises(ValueError, match="draws from a philox generator, but the saved state "
                                         "is of a numpy one"):
        xpnet.set_rng_state(state)


def test_seeding_and_saving_the_state_never_import_torch():
    # importing torch only to seed it cost ~200 MB of resident memory in every `xpnet train`
    import subprocess
    import sys
    code = ("import sys, xpnet\n"
            "xpnet.manual_seed(3)\n"
            "state = xpnet.random.get_rng_state()\n"
            "xpnet.random.set_rng_state(state)\n"
            "print('torch' in sys.modules, 'torch' in state)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_loaded_torch_is_seeded_saved_and_restored_with_xpnet():
    torch = pytest.importorskip("torch")
    xpnet.manual_seed(5)
    first = torch.rand(3)
    xpnet.manual_seed(5)
    assert torch.equal(torch.rand(3), first)
    state = xrandom.get_rng_state()
    ahead = torch.rand(3)
    xrandom.set_rng_state(state)
    assert torch.equal(torch.rand(3), ahead)
