"""The course's CNN as a student wrote it from scratch: one sample at a time, Python loops over
pixels and windows (3x3 filter, padding 1, ReLU, 2x2 max pool, dense 196->10, softmax
cross-entropy, SGD 0.01). It is the baseline the course measured at about 7 samples/s; xpnet runs
the same network batched. Used by ``python -m benchmarks.run seed-cnn``.
"""
from __future__ import annotations

import time

import numpy as np


class LoopCNN:
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.k = rng.uniform(-1 / 3, 1 / 3, (3, 3))
        self.kb = 0.0
        self.w = rng.uniform(-1 / 14, 1 / 14, (10, 196))
        self.b = np.zeros(10)

    def train_step(self, image, label, lr=0.01):
        x = np.pad(image, 1)
        conv = np.zeros((28, 28))
        for i in range(28):                       # convolution, pixel by pixel
            for j in range(28):
                conv[i, j] = np.sum(x[i:i + 3, j:j + 3] * self.k) + self.kb
        act = np.maximum(conv, 0)
        pooled = np.zeros((14, 14))
        arg = np.zeros((14, 14, 2), dtype=int)
        for i in range(14):                       # max pooling, window by window
            for j in range(14):
                window = act[2 * i:2 * i + 2, 2 * j:2 * j + 2]
                a, b = np.unravel_index(np.argmax(window), (2, 2))
                pooled[i, j] = window[a, b]
                arg[i, j] = (2 * i + a, 2 * j + b)
        flat = pooled.reshape(-1)
        logits = self.w @ flat + self.b
        p = np.exp(logits - logits.max())
        p /= p.sum()
        loss = -np.log(p[label])
        grad_logits = p.copy()
        grad_logits[label] -= 1                   # softmax cross-entropy: p - y
        grad_w = np.outer(grad_logits, flat)
        grad_flat = self.w.T @ grad_logits
        grad_act = np.zeros((28, 28))
        for i in range(14):                       # route to the arg-max
            for j in range(14):
                a, b = arg[i, j]
                grad_act[a, b] = grad_flat[i * 14 + j]
        grad_conv = grad_act * (conv > 0)
        grad_k = np.zeros((3, 3))
        for i in range(28):                       # kernel gradient: input x output gradient
            for j in range(28):
                grad_k += x[i:i + 3, j:j + 3] * grad_conv[i, j]
        self.w -= lr * grad_w
        self.b -= lr * grad_logits
        self.k -= lr * grad_k
        self.kb -= lr * grad_conv.sum()
        return loss


def time_loop(samples=20, seed=0) -> float:
    """Samples per second of the per-sample loop network on random images."""
    rng = np.random.default_rng(seed)
    net = LoopCNN(seed)
    images = rng.random((samples, 28, 28))
    labels = rng.integers(0, 10, samples)
    net.train_step(images[0], labels[0])
    t0 = time.perf_counter()
    for img, lab in zip(images, labels):
        net.train_step(img, lab)
    return samples / (time.perf_counter() - t0)


if __name__ == "__main__":
    print(f"{time_loop():.1f} samples/s")
