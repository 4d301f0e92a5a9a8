"""Floating-point operations of one training step, counted analytically from each model's shapes.

The rule, the same for every model and both frameworks:

* a GEMM of an (M, K) by a (K, N) matrix is ``2·M·N·K`` FLOPs (a multiply and an add per term);
* a convolution is counted as its im2col GEMM: ``M = N·Ho·Wo`` output pixels, ``N = C_out``,
  ``K = C_in·kh·kw``; a transposed convolution as the GEMM of the convolution it is the
  gradient of (``M = N·H_in·W_in`` input pixels, ``N = C_out·kh·kw``, ``K = C_in``);
* a training step is the forward pass plus twice it for the backward (one GEMM for the input
  gradient and one for the weight gradient per forward GEMM): ``step = 3 · forward``, even where
  a framework skips the first layer's input gradient;
* elementwise work (activations, normalisation, the loss, the optimizer) is not counted.

So GFLOP/s figures are of the model's GEMM work, comparable between frameworks and with a
large SGEMM's peak, not a count of every instruction.
"""
from __future__ import annotations

__all__ = ["gemm", "linear", "conv2d", "conv_transpose2d", "conv_out", "training_step",
           "forward_flops", "step_flops"]


def gemm(m: int, n: int, k: int) -> int:
    """FLOPs of an (m, k) @ (k, n) matrix product: 2·m·n·k."""
    return 2 * m * n * k


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output height (or width) of a convolution."""
    return (size + 2 * padding - kernel) // stride + 1


def linear(rows: int, in_features: int, out_features: int) -> int:
    """Forward FLOPs of a Linear layer applied to ``rows`` rows."""
    return gemm(rows, out_features, in_features)


def conv2d(batch: int, c_in: int, c_out: int, kernel: int, h_out: int, w_out: int) -> int:
    """Forward FLOPs of a convolution as its im2col GEMM."""
    return gemm(batch * h_out * w_out, c_out, c_in * kernel * kernel)


def conv_transpose2d(batch: int, c_in: int, c_out: int, kernel: int, h_in: int, w_in: int) -> int:
    """Forward FLOPs of a transposed convolution: the GEMM before its col2im."""
    return gemm(batch * h_in * w_in, c_out * kernel * kernel, c_in)


def training_step(forward: int) -> int:
    """Forward plus backward (twice the forward): 3 · forward."""
    return 3 * forward


def _recurrent(batch, seq_len, input_size, hidden, gates):
    # per time step: the input projection and the recurrent projection, ``gates`` blocks each
    return seq_len * (linear(batch, input_size, gates * hidden) +
                      linear(batch, hidden, gates * hidden))


def _transformer(batch, seq_len, vocab, layers, embed, **_):
    rows = batch * seq_len
    per_layer = (linear(rows, embed, 3 * embed)           # Q, K, V projections
                 + 2 * batch * gemm(seq_len, seq_len, embed)   # Q·Kᵀ and weights·V, all heads
                 + linear(rows, embed, embed)              # output projection
                 + linear(rows, embed, 4 * embed) + linear(rows, 4 * embed, embed))   # MLP
    return layers * per_layer + linear(rows, embed, vocab)    # tied output head


def _dcgan_generator(batch, noise=100, width=64):
    return (conv_transpose2d(batch, noise, 2 * width, 7, 1, 1)
            + conv_transpose2d(batch, 2 * width, width, 4, 7, 7)
            + conv_transpose2d(batch, width, 1, 4, 14, 14))


def _dcgan_discriminator(batch, width=64):
    return (conv2d(batch, 1, width, 4, 14, 14) + conv2d(batch, width, 2 * width, 4, 7, 7)
            + conv2d(batch, 2 * width, 1, 7, 1, 1))


def forward_flops(kind: str, batch: int, **kw) -> int:
    """Forward FLOPs of one batch through the benchmark model ``kind`` (see benchmarks.run)."""
    if kind == "mlp":
        return linear(batch, 784, 256) + linear(batch, 256, 256) + linear(batch, 256, 10)
    if kind == "cnn":            # xpnet.models.mnist_cnn on 28×28
        return (conv2d(batch, 1, 32, 3, 26, 26) + conv2d(batch, 32, 64, 3, 24, 24)
                + linear(batch, 9216, 128) + linear(batch, 128, 10))
    if kind == "seed-cnn":       # one 3×3 filter with padding 1, then Linear 196→10
        return conv2d(batch, 1, 1, 3, 28, 28) + linear(batch, 196, 10)
    if kind in ("lstm", "gru", "rnn"):
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
        return (_recurrent(batch, kw["seq_len"], kw["input_size"], kw["hidden"], gates)
                + linear(batch, kw["hidden"], 10))
    if kind == "char-transformer":
        return _transformer(batch, **kw)
    if kind == "vae":            # 784-400-(20, 20), 20-400-784
        return (linear(batch, 784, 400) + 2 * linear(batch, 400, 20) + linear(batch, 20, 400)
                + linear(batch, 400, 784))
    raise ValueError(f"forward_flops: no FLOP count for benchmark {kind!r}")


def step_flops(kind: str, batch: int, **kw) -> int:
    """FLOPs of one training step of benchmark ``kind`` (3 · forward, see the module's rule).

    The DCGAN step is counted pass by pass: the discriminator's two updates (real, then the
    detached fake: 3 · D each), the generator's forward and backward (3 · G) and its loss
    through the discriminator (a forward and the input gradient only: 2 · D)."""
    if kind == "gan":
        d, g = _dcgan_discriminator(batch), _dcgan_generator(batch)
        return 3 * d + 3 * d + 2 * d + training_step(g)
    return training_step(forward_flops(kind, batch, **kw))
