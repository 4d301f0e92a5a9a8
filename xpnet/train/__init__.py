"""Training: fit / evaluate / predict, the Trainer loop and its world (one process or MPI),
History, callbacks, checkpoints, image grids."""
from .fit import fit, evaluate, predict
from .trainer import Trainer
from .history import History
from .callbacks import Callback, ProgbarLogger, EarlyStopping, ModelCheckpoint, LambdaCallback
from .checkpoint import save_checkpoint, load_checkpoint
from .world import SingleProcess, TrainingWorld, training_world, world_loader
from .plots import image_grid, save_image_grid

__all__ = ["fit", "evaluate", "predict", "Trainer", "History", "Callback", "ProgbarLogger",
           "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "save_checkpoint",
           "load_checkpoint", "SingleProcess", "TrainingWorld", "training_world", "world_loader",
           "image_grid", "save_image_grid"]
