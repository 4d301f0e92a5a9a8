"""Layers and models: PyTorch's names, shapes and default initialisations."""
from . import init
from .module import Module, Parameter, Buffer, Sequential, ModuleList
from .linear import Linear, Identity, Flatten
from .activation import ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, Dropout
from .loss import MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
# Conv2d / pooling / normalisation layers (CNN issue) are imported here
# RNN / LSTM / GRU / cells / Embedding (RNN issue) are imported here
from .. import functional

