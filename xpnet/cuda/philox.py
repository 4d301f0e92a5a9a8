"""Philox4x32-10 on CuPy as one kernel: the words that :func:`xpnet.random.philox_words` gives
(its Array API reference, some 60 launches), in one launch. Word ``i`` is word ``i % 4`` of
block ``offset + i / 4``, whose counter is (block mod 2**32, block >> 32, 0, 0) under the key
(key mod 2**32, key >> 32)."""
from __future__ import annotations

from .elementwise import Source, kernel

__all__ = ["PHILOX_WORDS", "words"]

_ROUNDS = """
__device__ void xpnet_philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1) {
    for (int r = 0; r < 10; ++r) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned long long p0 = (unsigned long long)c[0] * 0xD2511F53u;
        unsigned long long p1 = (unsigned long long)c[2] * 0xCD9E8D57u;
        unsigned int c0 = (unsigned int)(p1 >> 32) ^ c[1] ^ k0;
        unsigned int c2 = (unsigned int)(p0 >> 32) ^ c[3] ^ k1;
        c[0] = c0; c[1] = (unsigned int)p1; c[2] = c2; c[3] = (unsigned int)p0;
    }
}
"""

PHILOX_WORDS = Source(
    "xpnet_philox_words", "uint64 key, uint64 offset", "uint32 y",
    """
    unsigned long long block = offset + (unsigned long long)(i / 4);
    unsigned int c[4] = {(unsigned int)block, (unsigned int)(block >> 32), 0u, 0u};
    xpnet_philox4x32_10(c, (unsigned int)key, (unsigned int)(key >> 32));
    y = c[i % 4];
    """, _ROUNDS)


def words(backend, key: int, offset: int, n: int):
    """n uint32 words of the stream (key, offset) on ``backend`` (a CuPy device)."""
    import cupy
    import numpy as np
    with backend.scope():
        y = cupy.empty(n, dtype=cupy.uint32)
        if n:
            kernel(PHILOX_WORDS)(np.uint64(key % (1 << 64)), np.uint64(offset % (1 << 64)), y)
    return y
