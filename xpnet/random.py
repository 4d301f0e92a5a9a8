"""The one room for randomness: the seed, the host generator, the per-device generators, and
one state that covers them all.

Two kinds of draws:

* **host draws** (parameter initialisation, shuffling without a loader seed) come from one NumPy
  generator and are copied to the device once, so one seed gives the same initial weights and
  batch order on every device;
* **device draws** (dropout masks, ``xpnet.randn``, the VAE's ε, GAN noise) are made where the
  data lives, by one generator per device, so a training step copies nothing from the host.
  NumPy and array-api-strict use a NumPy generator (strict's samples are then copied, since
  the standard has no randomness), CuPy its cuRAND XORWOW generator, PyTorch a
  ``torch.Generator`` of the device.

:func:`manual_seed` reseeds all of them; :func:`get_rng_state` returns everything (the seed, the
host generator's state, every device generator's state) as plain data and arrays, which a
checkpoint saves, and :func:`set_rng_state` puts it back, so a resumed run draws the same
numbers as an uninterrupted one.

>>> import xpnet
>>> manual_seed(3); a = uniform(xpnet.device("cpu"), (2,), "float32")
>>> manual_seed(3); bool((uniform(xpnet.device("cpu"), (2,), "float32") == a).all())
True
"""
from __future__ import annotations

import numbers

import numpy as np

from . import backend as _backend
from .checks import integer

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "host_rng",
           "uniform", "normal", "integers"]

_seed = [0]
_host = [np.random.default_rng(0)]
_devices: dict = {}   # canonical device name -> generator


def _check_seed(value) -> int:
    return integer("manual_seed", "seed", value)


def _seed_sequence(base: int, *extra: int) -> list:
    # NumPy's SeedSequence takes non-negative words: a negative seed (PyTorch accepts them)
    # becomes its 64-bit two's complement
    return [base % (1 << 64), *extra]


def generator(owner: str, seed, *extra: int) -> np.random.Generator:
    """A NumPy generator from ``seed`` (any int, as :func:`manual_seed` takes; negative ones
    become their 64-bit two's complement) and optional extra words (an epoch), for the seeded
    host draws of data and samplers; ``None`` draws fresh entropy. A seed that is not an int
    is a TypeError naming ``owner``.

    >>> int(generator("DataLoader", -1, 3).integers(10)) == int(generator("DataLoader", -1, 3).integers(10))
    True
    """
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(_seed_sequence(integer(owner, "seed", seed), *extra))


def manual_seed(value: int) -> None:
    """Reseed every generator: host draws and every device's draws (negative ints allowed)."""
    value = _check_seed(value)
    _seed[0] = value
    _host[0] = np.random.default_rng(_seed_sequence(value))
    _devices.clear()
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(value)


def seed() -> int:
    """Reseed from fresh entropy and return the new seed (PyTorch's ``torch.seed``)."""
    value = int(np.random.SeedSequence().entropy % (1 << 63))
    manual_seed(value)
    return value


def initial_seed() -> int:
    """The seed last given to :func:`manual_seed`."""
    return _seed[0]


def host_rng() -> np.random.Generator:
    """The host generator behind initialisation and unseeded shuffling."""
    return _host[0]


# -- per-device generators ----------------------------------------------------------------------

def _device_key(backend) -> tuple:
    """Words mixed into the seed of a device's generator, so devices draw independent streams."""
    return (sum(ord(ch) for ch in backend.name), backend.index or 0)


def _generator(backend):
    gen = _devices.get(backend.name)
    if gen is not None:
        return gen
    words = _seed_sequence(_seed[0], *_device_key(backend))
    if backend.library == "cupy":
        import cupy
        with backend.scope():
            gen = cupy.random.Generator(cupy.random.XORWOW(np.random.SeedSequence(words)))
    elif backend.library == "torch":
        import torch
        gen = torch.Generator(device=backend.device)
        gen.manual_seed(int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0]
                            % (1 << 63)))
    else:
        gen = np.random.default_rng(words)
    _devices[backend.name] = gen
    return gen


def _shape(shape) -> tuple:
    shape = tuple(shape)
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"random: sizes must be non-negative ints, got shape {shape}")
    return tuple(int(n) for n in shape)


def _host_to(backend, sample):
    return sample if backend.library == "numpy" else backend.asarray(sample)


def _draw(backend, method, torch_name, shape, dtype, *args):
    """``generator.method(*args, shape)`` on ``backend``'s own generator (torch: ``torch_name``)."""
    shape, name = _shape(shape), _backend.dtype_name(dtype)
    gen = _generator(backend)
    if backend.library == "cupy":
        with backend.scope():
            return getattr(gen, method)(*args, shape, dtype=name)
    if backend.library == "torch":
        import torch
        return getattr(torch, torch_name)(*args, shape, generator=gen, dtype=getattr(torch, name),
                                          device=backend.device)
    return _host_to(backend, getattr(gen, method)(*args, shape, dtype=np.dtype(name)))


def uniform(backend, shape, dtype):
    """U[0, 1) samples of ``shape`` made on ``backend`` (a raw array)."""
    return _draw(backend, "random", "rand", shape, dtype)


def normal(backend, shape, dtype):
    """N(0, 1) samples of ``shape`` made on ``backend`` (a raw array)."""
    return _draw(backend, "standard_normal", "randn", shape, dtype)


def integers(backend, low: int, high: int, shape, dtype="int64"):
    """Integers uniform in [low, high) of ``shape`` made on ``backend`` (a raw array)."""
    return _draw(backend, "integers", "randint", shape, dtype, low, high)


# -- the whole state ------------------------------------------------------------------------

def _device_state(backend, gen):
    if backend.library == "numpy" or backend.library == "array_api_strict":
        return {"numpy": gen.bit_generator.state}
    if backend.library == "torch":
        return {"torch": gen.get_state().numpy().copy()}
    # CuPy's XORWOW keeps its cuRAND states in one int8 device array: copy its bytes
    return {"cupy": gen.bit_generator._state.get()}


def _restore_device(backend, saved):
    gen = _generator(backend)
    if "numpy" in saved:
        gen.bit_generator.state = saved["numpy"]
    elif "torch" in saved:
        import torch
        gen.set_state(torch.from_numpy(np.asarray(_host_array(saved["torch"]),
                                                  dtype=np.uint8).copy()))
    else:
        import cupy
        with backend.scope():
            gen.bit_generator._state[...] = cupy.asarray(_host_array(saved["cupy"]))


def _host_array(value):
    return value.numpy() if hasattr(value, "numpy") and not isinstance(value, np.ndarray) \
        else np.asarray(value)


def get_rng_state() -> dict:
    """Everything random in xpnet, as plain data and host arrays (what a checkpoint saves):
    ``{"seed", "host", "devices": {name: state}, "torch"}``."""
    state = {"seed": _seed[0], "host": _host[0].bit_generator.state,
             "devices": {name: _device_state(_backend.resolve(name), gen)
                         for name, gen in _devices.items()}}
    try:
        import torch
    except ImportError:
        return state
    state["torch"] = torch.get_rng_state().numpy().copy()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned (also from a loaded checkpoint)."""
    if not isinstance(state, dict) or "host" not in state:
        raise ValueError(f"set_rng_state: expected the dict returned by get_rng_state(), got "
                         f"{type(state).__name__}")
    _seed[0] = int(state.get("seed", 0))
    rng = np.random.default_rng()
    rng.bit_generator.state = state["host"]
    _host[0] = rng
    _devices.clear()
    for name, saved in (state.get("devices") or {}).items():
        try:
            backend = _backend.resolve(name)
        except RuntimeError:   # a checkpoint from a GPU run resumed without that GPU
            continue
        _restore_device(backend, saved)
    if state.get("torch") is not None:
        try:
            import torch
        except ImportError:
            return
        torch.set_rng_state(torch.from_numpy(np.asarray(_host_array(state["torch"]),
                                                        dtype=np.uint8).copy()))

