"""``torch.backends.cuda``: ``matmul.allow_tf32`` is accepted and never used.

TF32 is a permission in PyTorch (float32 matmuls *may* round their inputs to 10-bit mantissas
on Ampere and later GPUs). xpnet computes float32 matmuls in float32 on every device, so the
permission is stored (a bool, readable) and the result stays the more exact one.
"""
from ._knobs import Flags

matmul = Flags("xpnet.backends.cuda.matmul", allow_tf32=False,
               allow_fp16_reduced_precision_reduction=True,
               allow_bf16_reduced_precision_reduction=True)


def is_built() -> bool:
    """Whether xpnet's GPU device can be used at all: CuPy is installed and sees a GPU."""
    from .. import cuda
    return cuda.is_available()
