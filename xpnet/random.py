"""The one room for randomness: the seed, the host generator, the per-device generators, and
one state that covers them all.

Two kinds of draws:

* **host draws** (parameter initialisation, shuffling without a loader seed) come from one NumPy
  generator and are copied to the device once, so one seed gives the same initial weights and
  batch order on every device;
* **device draws** (dropout masks, ``xpnet.randn``, the VAE's ε, GAN noise) are made where the
  data lives, by one generator per device, so a training step copies nothing from the host.
  NumPy and array-api-strict use a NumPy generator (strict's samples are then copied, since
  the standard has no randomness), CuPy a counter-based :class:`Philox` generator (below),
  PyTorch a ``torch.Generator`` of the device.

**Philox4x32-10** (Salmon et al., SC'11; Random123) is what PyTorch's CUDA generator uses: word
``w`` of block ``b`` is a pure function of the 128-bit counter (b as two 32-bit words, 0, 0) and
a 64-bit key, ten rounds of

    (c0, c1, c2, c3) <- (hi(M1·c2) ^ c1 ^ k0,  lo(M1·c2),  hi(M0·c0) ^ c3 ^ k1,  lo(M0·c0))

with the key bumped by (W0, W1) between rounds. Its whole state is (key, offset): a draw of n
words reads blocks offset .. offset + ceil(n/4) - 1 and moves the offset past them. Seeding
allocates nothing, the state is 16 bytes, and it restores on any GPU (cuRAND's XORWOW state is one
per thread: 13 MB on an H100, tied to its SM count). It is written once against the Array API
(:func:`philox4x32`, 32-bit words in uint64 so that a 32×32-bit product keeps its high half), so
it runs, and is tested, on every device; CuPy runs the same rounds as one kernel
(:mod:`xpnet.cuda.philox`). Which libraries draw from it: :func:`device_generator`.

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

import math
import numbers
import sys

import numpy as np

from . import backend as _backend
from .checks import integer

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "host_rng",
           "uniform", "normal", "integers", "Philox", "philox4x32", "device_generator",
           "set_device_generator"]

_seed = [0]
_host = [np.random.default_rng(0)]
_devices: dict = {}   # canonical device name -> generator
_COUNTER_BASED = {"cupy"}   # libraries whose device draws come from Philox


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
    """Reseed every generator: host draws and every device's draws (negative ints allowed), and
    PyTorch's global generator when torch is loaded (xpnet never loads it for this: importing
    torch costs ~200 MB of memory and a second of start-up to a run that does not use it)."""
    value = _check_seed(value)
    _seed[0] = value
    _host[0] = np.random.default_rng(_seed_sequence(value))
    _devices.clear()
    torch = _loaded_torch()
    if torch is not None:
        torch.manual_seed(value)


def _loaded_torch():
    """The torch module when something has imported it (its global generator is then seeded,
    saved and restored with xpnet's), else None; None too while 'torch' names xpnet itself (a
    PyTorch script run by xpnet.torch_compat), whose manual_seed is this one."""
    from .torch_compat import torch_is_aliased
    torch = sys.modules.get("torch")
    return None if torch is None or torch_is_aliased() else torch


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


# -- Philox4x32-10 ----------------------------------------------------------------------------

_MASK32 = 0xFFFFFFFF
PHILOX_M = (0xD2511F53, 0xCD9E8D57)     # the round multipliers
PHILOX_W = (0x9E3779B9, 0xBB67AE85)     # the key bumps (golden ratio, sqrt(3) - 1)
PHILOX_ROUNDS = 10


def philox4x32(xp, counter, key) -> tuple:
    """Philox4x32-10 of ``counter`` (four uint64 arrays, or ints, holding 32-bit words; they
    broadcast) under ``key`` (two 32-bit ints): four uint64 arrays of 32-bit words.

    >>> import numpy as np
    >>> [hex(int(w[0])) for w in philox4x32(np, [np.zeros(1, np.uint64)] * 4, (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = counter
    k0, k1 = (int(k) & _MASK32 for k in key)
    for r in range(PHILOX_ROUNDS):
        if r:
            k0, k1 = (k0 + PHILOX_W[0]) & _MASK32, (k1 + PHILOX_W[1]) & _MASK32
        p0, p1 = c0 * PHILOX_M[0], c2 * PHILOX_M[1]        # < 2**64: exact in uint64
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> 32) ^ c3 ^ k1,
                          p0 & _MASK32)
    return c0, c1, c2, c3


def philox_words(xp, device, key: int, offset: int, n: int):
    """The n 32-bit words (uint32) of blocks offset, offset + 1, ... under the 64-bit ``key``:
    block b's counter is (b mod 2**32, b >> 32, 0, 0), its four words follow each other."""
    blocks = -(-n // 4)
    b = xp.arange(blocks, dtype=xp.uint64, device=device) + (offset % (1 << 64))
    zero = xp.zeros_like(b)
    words = philox4x32(xp, (b & _MASK32, b >> 32, zero, zero), (key & _MASK32, key >> 32))
    words = xp.reshape(xp.stack(words, axis=-1), (4 * blocks,))
    return xp.astype(words[:n], xp.uint32)


class Philox:
    """A counter-based generator on ``backend``: draws are pure functions of (key, offset),
    which is the whole state (:attr:`state`); NumPy's ``Generator`` methods that xpnet draws
    with. Samples: uniform floats from the top 24 (float32), 53 (float64, two words) or 11
    (float16) bits of a word, so never 1.0; normals by Box–Muller; integers by a multiply-shift
    (a bias below range/2**32, as PyTorch's)."""

    def __init__(self, backend, key: int, offset: int = 0):
        self.backend, self.key, self.offset = backend, int(key) % (1 << 64), int(offset)

    @property
    def state(self) -> dict:
        return {"key": self.key, "offset": self.offset}

    @state.setter
    def state(self, value):
        self.key, self.offset = int(value["key"]) % (1 << 64), int(value["offset"])

    def words(self, n: int):
        """n 32-bit words (uint32); the offset moves past the blocks they used."""
        backend = self.backend
        if backend.library == "cupy":
            from .cuda import philox
            words = philox.words(backend, self.key, self.offset, n)
        else:
            words = philox_words(backend.xp, backend.device, self.key, self.offset, n)
        self.offset += -(-n // 4)
        return words

    def _unit(self, n, name):
        """n uniforms in [0, 1), float32 or float64 (float16: float32 holding 11-bit values)."""
        xp = self.backend.xp
        if name == "float64":
            w = xp.astype(self.words(2 * n), xp.uint64)
            bits = ((w[0::2] >> 5) << 26) + (w[1::2] >> 6)             # 53 bits
            return xp.astype(bits, xp.float64) * (2.0 ** -53)
        shift, scale = (21, 2.0 ** -11) if name == "float16" else (8, 2.0 ** -24)
        return xp.astype(self.words(n) >> shift, xp.float32) * scale

    def random(self, shape, dtype):
        xp, name = self.backend.xp, _backend.dtype_name(dtype)
        _floating("uniform", name)
        u = self._unit(math.prod(shape), name)
        return xp.reshape(u if name != "float16" else xp.astype(u, self.backend.dtype(name)), shape)

    def standard_normal(self, shape, dtype):
        xp, name = self.backend.xp, _backend.dtype_name(dtype)
        _floating("normal", name)
        n = math.prod(shape)
        pairs = -(-n // 2)
        u = self._unit(2 * pairs, "float64" if name == "float64" else "float32")
        radius = xp.sqrt(-2.0 * xp.log(1.0 - u[:pairs]))           # 1 - u in (0, 1]
        angle = (2.0 * math.pi) * u[pairs:]
        z = xp.reshape(xp.stack((radius * xp.cos(angle), radius * xp.sin(angle)), axis=-1),
                       (2 * pairs,))[:n]
        return xp.reshape(z if name != "float16" else xp.astype(z, self.backend.dtype(name)), shape)

    def integers(self, low, high, shape, dtype="int64"):
        xp = self.backend.xp
        low, high = int(low), int(high)
        if high <= low:
            raise ValueError(f"random.integers: high must be greater than low, got low={low} "
                             f"and high={high}")
        span, n = high - low, math.prod(shape)
        if span <= 1 << 32:       # the top bits of word·span: no division
            values = (xp.astype(self.words(n), xp.uint64) * span) >> 32
        else:
            w = xp.astype(self.words(2 * n), xp.uint64)
            values = ((w[0::2] << 32) | w[1::2]) % span
        values = xp.astype(values, xp.int64) + low
        return xp.reshape(xp.astype(values, self.backend.dtype(_backend.dtype_name(dtype))),
                          shape)


def _floating(op, name):
    if name not in ("float16", "float32", "float64"):
        raise TypeError(f"random.{op}: dtype must be float16, float32 or float64, got {name}")


def device_generator(library: str) -> str:
    """Which generator makes ``library``'s device draws: ``'philox'`` (CuPy) or ``'native'``
    (NumPy's ``Generator`` for NumPy and array-api-strict, ``torch.Generator`` for PyTorch).

    >>> device_generator("cupy"), device_generator("numpy")
    ('philox', 'native')
    """
    return "philox" if library in _COUNTER_BASED else "native"


def set_device_generator(library: str, kind: str) -> None:
    """Make ``library``'s device draws come from ``kind`` ('philox' or 'native'); its
    devices' generators start afresh from the current seed. A seeded CPU run changes its
    numbers under 'philox': that is for tests of the GPU's generator on the CPU."""
    if kind not in ("philox", "native"):
        raise ValueError(f"set_device_generator: kind must be 'philox' or 'native', got {kind!r}")
    if kind == "philox":
        _COUNTER_BASED.add(library)
    else:
        _COUNTER_BASED.discard(library)
    for name in [n for n in _devices if _backend.resolve(n).library == library]:
        del _devices[name]


# -- per-device generators ----------------------------------------------------------------------

def _device_key(backend) -> tuple:
    """Words mixed into the seed of a device's generator, so devices draw independent streams."""
    return (sum(ord(ch) for ch in backend.name), backend.index or 0)


def _generator(backend):
    gen = _devices.get(backend.name)
    if gen is not None:
        return gen
    words = _seed_sequence(_seed[0], *_device_key(backend))
    key = int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0])   # Philox, torch
    if backend.library in _COUNTER_BASED:
        gen = Philox(backend, key)
    elif backend.library == "torch":
        import torch
        gen = torch.Generator(device=backend.device)
        gen.manual_seed(key % (1 << 63))
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
    if name in _backend.HALF_NAMES:   # drawn in float32 and rounded (NumPy draws no float16),
        drawn = _draw(backend, method, torch_name, shape, "float32", *args)  # as creation does
        with backend.scope():
            return backend.xp.astype(drawn, backend.dtype(name))
    gen = _generator(backend)
    if isinstance(gen, Philox):
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

def _kind(backend, gen) -> str:
    """The kind of a device's generator, as its saved state names it."""
    return "philox" if isinstance(gen, Philox) else \
        "torch" if backend.library == "torch" else "numpy"


def _device_state(backend, gen):
    kind = _kind(backend, gen)
    if kind == "philox":
        return {"philox": gen.state}
    if kind == "torch":
        return {"torch": gen.get_state().numpy().copy()}
    return {"numpy": gen.bit_generator.state}


def _restore_device(backend, saved):
    gen = _generator(backend)
    kind = _kind(backend, gen)
    if kind not in saved:
        raise ValueError(f"set_rng_state: device {backend.name!r} draws from a {kind} "
                         f"generator, but the saved state is of a {'/'.join(saved)} one")
    if kind == "philox":
        gen.state = saved["philox"]
    elif kind == "numpy":
        gen.bit_generator.state = saved["numpy"]
    else:
        import torch
        gen.set_state(torch.from_numpy(np.asarray(_host_array(saved["torch"]),
                                                  dtype=np.uint8).copy()))


def _host_array(value):
    return value.numpy() if hasattr(value, "numpy") and not isinstance(value, np.ndarray) \
        else np.asarray(value)


def get_rng_state() -> dict:
    """Everything random in xpnet, as plain data and host arrays (what a checkpoint saves):
    ``{"seed", "host", "devices": {name: state}, "torch"}``."""
    state = {"seed": _seed[0], "host": _host[0].bit_generator.state,
             "devices": {name: _device_state(_backend.resolve(name), gen)
                         for name, gen in _devices.items()}}
    torch = _loaded_torch()
    if torch is not None:
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
    torch = _loaded_torch()
    if state.get("torch") is not None and torch is not None:
        torch.set_rng_state(torch.from_numpy(np.asarray(_host_array(state["torch"]),
                                                        dtype=np.uint8).copy()))

