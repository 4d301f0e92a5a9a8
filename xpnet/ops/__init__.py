"""Differentiable ops, one Function per op; public as ``xpnet.nn.functional`` (``F``), which
is the one public name (``xpnet.functional`` is the same module); ``xpnet.ops`` is internal.

Every op is written once against the Array API: ``xp`` comes from the inputs.
"""
import types as _types

from .elementwise import (add, sub, mul, div, neg, pow, exp, log, log1p, sqrt, sin, cos, abs,
                          clip, maximum, minimum, where, astype, floor, ceil, round, trunc, sign)
from .reduction import sum, mean, max, min, amax, amin, argmax, argmin, normalize
from .shape import (reshape, flatten, unsqueeze, squeeze, permute, transpose, getitem, concat, cat,
                    stack)
# gathers along an axis, running sums, padding
from .indexing import gather, index_select
from .scan import cumsum
from .padding import pad
from .linalg import matmul, linear
from .activation import relu, leaky_relu, sigmoid, tanh, softmax, log_softmax, gelu
from .dropout import dropout
from .loss import (mse_loss, binary_cross_entropy, binary_cross_entropy_with_logits,
                   cross_entropy, nll_loss, smooth_l1_loss, l1_loss, huber_loss)
# convolution, pooling, normalisation
from .conv import conv2d
from .pool import max_pool2d, avg_pool2d
from .norm import batch_norm, layer_norm, group_norm
# whole-sequence recurrent ops, embedding
from .recurrent import rnn, lstm, gru
from .embedding import embedding
# attention and its masks
from .attention import scaled_dot_product_attention, tril, triu, masked_fill
# for generative models: transposed convolution, upsampling, divergences
from .conv_transpose import conv_transpose2d
from .interpolate import interpolate
from .divergence import kl_div
from .variational import reparameterize, gaussian_kl

__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and not isinstance(value, _types.ModuleType))
clamp = clip   # PyTorch's name for the same op
