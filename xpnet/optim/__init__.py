"""Optimizers, gradient clipping and learning-rate schedules (PyTorch's names and rules)."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .adadelta import Adadelta
from .lbfgs import LBFGS
from .clip import clip_grad_norm_, clip_grad_value_
from . import lr_scheduler
from .lr_scheduler import (LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR,
                           ReduceLROnPlateau, LambdaLR, LinearLR, SequentialLR)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "clip_grad_norm_", "clip_grad_value_",
           "lr_scheduler", "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR",
           "ReduceLROnPlateau", "LambdaLR", "LinearLR", "SequentialLR"]
