"""Training: fit / evaluate / predict, History, callbacks, checkpoints."""
from .fit import fit, evaluate, predict
from .history import History
from .callbacks import Callback, EarlyStopping, ModelCheckpoint, LambdaCallback
from .checkpoint import save_checkpoint, load_checkpoint

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping",
           "ModelCheckpoint", "LambdaCallback", "save_checkpoint", "load_checkpoint"]
