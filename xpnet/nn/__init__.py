"""Layers and models: PyTorch's names, shapes and default initialisations."""
from . import init
from .module import (Module, Parameter, Buffer, Sequential, ModuleList, ModuleDict,
                     ParameterList)
from .linear import Linear, Identity, Flatten
from .activation import ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, Dropout
from .loss import (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss,
                   CrossEntropyLoss, NLLLoss)
from .conv import Conv2d
from .pool import MaxPool2d, AvgPool2d
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm
from .recurrent import RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell
from .embedding import Embedding
from .attention import MultiheadAttention
from .transformer import (TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder,
                          TransformerDecoder, Transformer, PositionalEncoding)
from . import functional
# for generative models: transposed conv, upsampling, Unflatten, KLDivLoss
from .conv import ConvTranspose2d
from .upsample import Upsample
from .linear import Unflatten
from .loss import KLDivLoss
# PyTorch's layers for its example scripts; nn.utils (clip_grad_norm_, parameters_to_vector)
from .adaptive import AdaptiveAvgPool2d
from .dropout2d import Dropout2d
from . import utils
