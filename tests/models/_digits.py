"""Stand-ins for MNIST digits in the VAE and GAN tests."""
import numpy as np


def binary_digits(n=64, seed=0):
    """Blurry-free stand-ins for MNIST: a few fixed binary patterns plus flipped pixels."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((4, 1, 28, 28)) > 0.7
    flips = rng.random((n, 1, 28, 28)) < 0.02
    return np.logical_xor(patterns[rng.integers(0, 4, n)], flips).astype(np.float32)
