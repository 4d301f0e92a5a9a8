"""``xpnet train RECIPE`` and ``xpnet info``."""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable

from . import models


@dataclass(frozen=True)
class Recipe:
    build: Callable          # device -> Module
    optimizer: str           # 'adam' or 'sgd'
    lr: float
    batch_size: int
    epochs: int
    layout: str              # 'image' (N, 1, 28, 28), 'rows' (N, 28, 28) or 'flat'
    about: str
    schedule: str = "cosine"  # learning rate over the run: 'cosine' (to 0 at the end) or 'constant'
    normalize: bool = True    # (x - 0.1307) / 0.3081, or the plain [0, 1] scaling


RECIPES = {
    "mnist-cnn": Recipe(models.mnist_cnn, "adam", 1e-3, 64, 3, "image",
                        "Conv32-Conv64-MaxPool-Linear128-Linear10, Adam 1e-3, batch 64"),
    "mnist-seed-cnn": Recipe(models.mnist_seed_cnn, "sgd", 0.01, 1, 1, "image",
                             "the course's network: one 3x3 filter, ReLU, max pool, Linear "
                             "196->10, SGD 0.01, one sample per step, pixels in [0, 1]",
                             normalize=False),
    "mnist-mlp": Recipe(models.mnist_mlp, "adam", 1e-3, 128, 3, "image",
                        "MLP 784-256-256-10, Adam 1e-3, batch 128"),
    "mnist-lstm": Recipe(models.mnist_lstm, "adam", 1e-3, 64, 3, "rows",
                         "rows as 28 steps: LSTM 128, Linear 128->10, Adam 1e-3, batch 64"),
}


def _mnist(root, train, layout, normalize):
    from .data import MNIST
    ds = MNIST(root=root, train=train, normalize=normalize)
    images, labels = ds.images, ds.labels
    if layout == "rows":
        images = images.reshape(-1, 28, 28)
    return images, labels


def train_main(args) -> int:
    import xpnet
    from .data import ArrayDataset, DataLoader
    from .train import History, ModelCheckpoint, fit, evaluate, load_checkpoint

    recipe = RECIPES[args.recipe]
    device = xpnet.device(args.device).name
    xpnet.manual_seed(args.seed)
    epochs = args.epochs if args.epochs is not None else recipe.epochs
    batch_size = args.batch_size or recipe.batch_size
    lr = args.lr if args.lr is not None else recipe.lr
    out = args.out or os.path.join("runs", args.recipe)

    print(f"xpnet train {args.recipe}: {recipe.about}", file=sys.stderr)
    print(f"device {device}, epochs {epochs}, batch {batch_size}, lr {lr} "
          f"({args.schedule or recipe.schedule}), seed {args.seed}, out {out}", file=sys.stderr)
    t0 = time.perf_counter()
    x_train, y_train = _mnist(args.data, True, recipe.layout, recipe.normalize)
    x_test, y_test = _mnist(args.data, False, recipe.layout, recipe.normalize)
    train = DataLoader(ArrayDataset(x_train, y_train), batch_size=batch_size, shuffle=True,
                       seed=args.seed, device=device)
    test = DataLoader(ArrayDataset(x_test, y_test), batch_size=1000, device=device)
    print(f"data: {len(x_train)} train / {len(x_test)} test images on {device} "
          f"({time.perf_counter() - t0:.1f}s)", file=sys.stderr)

    os.makedirs(out, exist_ok=True)  # only once the data is there: a failed start leaves nothing
    model = recipe.build(device=device)
    if recipe.optimizer == "adam":
        optimizer = xpnet.optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = xpnet.optim.SGD(model.parameters(), lr=lr)

    schedule = args.schedule or recipe.schedule
    # cosine annealing, step by step, from the recipe's lr down to 0 at the last step: the
    # late, small steps settle the weights (with a constant lr the last epoch's noise costs
    # mnist-cnn about 0.3% and the one-sample-per-step seed-cnn about 2% of test accuracy)
    scheduler = xpnet.optim.CosineAnnealingLR(optimizer, T_max=epochs * len(train)) \
        if schedule == "cosine" else None
    history, initial_epoch = History(), 0
    checkpoint = os.path.join(out, "checkpoint.npz")
    if args.resume:
        state = load_checkpoint(args.resume, model, optimizer, scheduler)
        initial_epoch, history = state["epoch"], state["history"] or History()
        print(f"resumed from {args.resume} after epoch {initial_epoch}", file=sys.stderr)

    history = fit(model, train, loss="cross_entropy", optimizer=optimizer, epochs=epochs,
                  val=test, callbacks=[ModelCheckpoint(checkpoint, monitor="loss")],
                  scheduler=scheduler, schedule_per="step",
                  initial_epoch=initial_epoch, history=history,
                  verbose=0 if args.quiet else "auto", log_every=args.log_every)
    history.save(os.path.join(out, "history.json"))
    try:
        history.plot(os.path.join(out, "curves.png"), title=f"xpnet {args.recipe} on {device}")
    except ImportError as exc:
        print(f"(no plot: {exc})", file=sys.stderr)
    result = evaluate(model, test, loss="cross_entropy")
    per_epoch = history["time"][-1] if "time" in history and len(history) else float("nan")
    print(f"test accuracy {result['accuracy'] * 100:.2f}%  test loss {result['loss']:.4f}  "
          f"({per_epoch:.1f}s per epoch on {device}); wrote {out}/checkpoint.npz, history.json, "
          f"curves.png")
    if history.stop_reason and not history.stop_reason.startswith("early"):
        return 1
    return 0


def info_main(args) -> int:
    import numpy
    import xpnet
    lines = [f"xpnet {xpnet.__version__}", f"python {platform.python_version()} "
             f"({platform.machine()}, {platform.system()})", f"numpy {numpy.__version__}"]
    for name in ("array_api_compat", "array_api_strict", "cupy", "torch", "matplotlib", "tqdm"):
        try:
            module = __import__(name)
            lines.append(f"{name.replace('_', '-')} {getattr(module, '__version__', '?')}")
        except ImportError:
            lines.append(f"{name.replace('_', '-')} not installed")
    lines.append(f"default device {xpnet.default_device()} (set XPNET_DEVICE or --device)")
    devices = xpnet.available_devices()
    lines.append("devices: " + ", ".join(devices))
    try:
        import cupy
        for i in range(cupy.cuda.runtime.getDeviceCount()):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            free, total = cupy.cuda.Device(i).mem_info
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            lines.append(f"cuda:{i}: {name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB "
                         f"free), compute capability {props['major']}.{props['minor']}")
    except Exception as exc:  # no CuPy or no GPU: say why
        lines.append(f"no CUDA GPU usable ({type(exc).__name__}: {exc})".split("\n")[0])
    print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xpnet", description="xpnet: train the course models "
                                     "on the CPU (NumPy) or a GPU (CuPy) from the same code.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a recipe on MNIST",
                           description="recipes: " + "; ".join(
                               f"{k}: {r.about}" for k, r in RECIPES.items()))
    train.add_argument("recipe", choices=sorted(RECIPES))
    train.add_argument("--device", default=None,
                       help="cpu, cuda, cuda:N, strict, torch (default: $XPNET_DEVICE or cpu)")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--data", default=None,
                       help="folder with the four MNIST files (default: $XPNET_DATA/mnist, the "
                            "cache, or a download)")
    train.add_argument("--out", default=None, help="output folder (default runs/RECIPE)")
    train.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                       help="learning rate over the epochs (default: the recipe's)")
    train.add_argument("--resume", default=None, help="a checkpoint.npz to continue from")
    train.add_argument("--log-every", type=int, default=100,
                       help="steps between reads of the loss for the progress bar")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.set_defaults(func=train_main)
    info = sub.add_parser("info", help="versions, devices and GPU memory")
    info.set_defaults(func=info_main)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"xpnet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
