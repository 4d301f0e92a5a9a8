"""Training: fit / evaluate / predict, the Trainer loop, History, callbacks, checkpoints."""
from .fit import fit, evaluate, predict
from .trainer import Trainer
from .history import History
from .callbacks import Callback, ProgbarLogger, EarlyStopping, ModelCheckpoint, LambdaCallback
from .checkpoint import save_checkpoint, load_checkpoint

__all__ = ["fit", "evaluate", "predict", "Trainer", "History", "Callback", "ProgbarLogger",
           "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "save_checkpoint",
           "load_checkpoint"]
