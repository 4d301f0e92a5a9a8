"""PyTorch's ``torch.backends`` knobs, for scripts that set them: each is accepted and, where
it names a library xpnet does not use, has no effect. Each knob's module says why.

- ``cudnn``: ``benchmark``, ``deterministic``, ``enabled``, ``allow_tf32`` are accepted (bools)
  and change nothing: xpnet does not call cuDNN (convolution is im2col + one matmul), so there
  is no algorithm search to enable and no nondeterministic cuDNN kernel to avoid.
  ``cudnn.is_available()`` is False.
- ``cuda.matmul.allow_tf32``: accepted, never used: xpnet computes float32 matmuls in float32.
  The knob *allows* TF32, it does not require it, so ignoring it keeps the more exact result.
- ``mps.is_available()`` / ``is_built()``: False (xpnet has no Apple-GPU device).

A knob set to something that is not a bool is refused with a TypeError naming it.
"""
from . import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
