"""Layers and models: PyTorch's names, shapes and default initialisations."""
from . import init
from .module import Module, Parameter, Buffer, Sequential, ModuleList, ParameterList
from .linear import Linear, Identity, Flatten
from .activation import ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, Dropout
from .loss import MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
# Conv2d / pooling / normalisation layers (CNN issue) are imported here
from .conv import Conv2d
from .pool import MaxPool2d, AvgPool2d
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
# RNN / LSTM / GRU / cells / Embedding (RNN issue) are imported here
from .recurrent import RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell
from .embedding import Embedding
# attention and the Transformer (Transformer issue) are imported here
from .attention import MultiheadAttention
from .transformer import (TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder,
                          TransformerDecoder, Transformer, PositionalEncoding)
from . import functional
# generative models (issue 13): transposed conv, upsampling, Unflatten, KLDivLoss
from .conv import ConvTranspose2d
from .upsample import Upsample
from .linear import Unflatten
from .loss import KLDivLoss

