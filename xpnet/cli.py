"""``xpnet train RECIPE`` and ``xpnet info``.

Every expected failure (a bad option, missing data, a checkpoint that does not fit) prints one
``xpnet: error: ...`` line and exits with 2; a run stopped by a non-finite loss exits with 1;
Ctrl-C says which checkpoint is kept and exits with 130.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys

from .recipes import RECIPES, Run


class UsageError(Exception):
    """A user's mistake the command line reports as one ``xpnet: error:`` line."""


# -- option types: each names its option in the message -------------------------------------------

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {value}")
    return value


def _learning_rate(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # one line, in xpnet's format, instead of usage + message
        print(f"xpnet: error: {message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


# -- the output folder and the resume plan --------------------------------------------------------

def _check_out(out: str):
    """--out must be a folder we can write, checked before any training."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} is a file, not a folder; pick another --out")
    existing = out
    while not os.path.exists(existing):
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing):
        raise UsageError(f"--out {out}: {existing} is a file, so the folder cannot be made")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {existing} is not writable")


_RESUMED_SETTINGS = (("lr", "--lr"), ("schedule", "--schedule"), ("batch_size", "--batch-size"),
                     ("seed", "--seed"), ("limit", "--limit"))


def _plan_resume(args, recipe, run: Run):
    """Load --resume and reconcile it with the options: a resumed run continues the saved
    training, so a different lr, schedule, batch size, seed or --limit is refused (a silently
    ignored option misleads); settings not given are taken from the checkpoint."""
    from .io import load
    path = args.resume
    if not os.path.isfile(path):
        raise UsageError(f"--resume {path}: no such file")
    state = load(path)
    if not isinstance(state, dict) or state.get("format") != "xpnet-checkpoint":
        raise UsageError(f"--resume {path} is an xpnet file but not a training checkpoint")
    saved = state.get("extra") or {}
    if saved.get("recipe", recipe.name) != recipe.name:
        raise UsageError(f"--resume {path} was saved by recipe {saved['recipe']}, not "
                         f"{recipe.name}; resume it with `xpnet train {saved['recipe']}`")
    for key, option in _RESUMED_SETTINGS:
        if key not in saved:
            continue
        given = getattr(args, key)
        if given is not None and given != saved[key]:
            raise UsageError(f"{option} {given} differs from the checkpoint's {saved[key]}; a "
                             f"resumed run continues its saved training: drop {option}, or "
                             f"start a new run (another --out)")
        setattr(run, key, saved[key])
    done = int(state["epoch"])
    planned = int(saved.get("epochs", done))
    if args.epochs is None:
        run.epochs = planned
    if done >= run.epochs:
        return state, (f"nothing to do: {path} already holds {done} of {run.epochs} epochs; "
                       f"pass --epochs N with N > {done} to train further")
    if run.schedule == "cosine" and run.epochs != planned:
        if done < planned:
            raise UsageError(f"--epochs {run.epochs}: the cosine schedule of {path} was planned "
                             f"for {planned} epochs and {done} are done; finish it first "
                             f"(--epochs {planned}), then extend it")
        run.restart_schedule = True
        run.say(f"extending a finished cosine run: epochs {done + 1}-{run.epochs} anneal again "
                f"from lr {run.lr:g} to 0 (a warm restart)")
    return state, None


# -- the commands ---------------------------------------------------------------------------------

def _busy_cores() -> int:
    """Cores other processes are running on now: Linux's count of runnable tasks, less this
    one, the smallest of three looks 10 ms apart (a passing task is not a busy core); 0 where
    the count cannot be read."""
    import time
    counts = []
    try:
        for _ in range(3):
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]) - 1)
            time.sleep(0.01)
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, min(counts))


def _busy_machine_hint(device: str, world_size: int, cores=None, busy=None):
    """A line for a CPU run started while other processes keep cores busy: NumPy's BLAS
    starts a thread per core, and threads waiting for a busy core make the run 2-3x slower
    (benchmarks/RESULTS.md, "A crowded machine"). A hint, never a silent change."""
    from .distributed.world import _THREAD_VARIABLES
    if (not device.startswith(("cpu", "strict")) or world_size > 1
            or any(os.environ.get(name, "").strip() for name in _THREAD_VARIABLES)):
        return None
    cores = cores or os.cpu_count() or 1
    busy = _busy_cores() if busy is None else busy
    if cores < 2 or busy < 1:
        return None
    return (f"note: {busy} of this machine's {cores} cores are busy with other work; if "
            f"training is slow, XPNET_NUM_THREADS={max(1, cores - busy)} keeps NumPy's BLAS "
            f"off them")


def train_main(args) -> int:
    import xpnet
    from . import distributed
    # a world of one unless launched by mpiexec (or --distributed, which insists on MPI)
    world = distributed.init("mpi" if args.distributed else None)
    recipe = RECIPES[args.recipe]
    device = xpnet.device(distributed.local_device(args.device)).name
    out = args.out or os.path.join("runs", recipe.name)
    run = Run(recipe=recipe, device=device,
              epochs=args.epochs if args.epochs is not None else recipe.epochs,
              batch_size=args.batch_size or recipe.batch_size,
              lr=args.lr if args.lr is not None else recipe.lr,
              schedule=args.schedule or recipe.schedule,
              seed=args.seed if args.seed is not None else 0, log_every=args.log_every,
              quiet=args.quiet or world.rank != 0, data=args.data, out=out, limit=args.limit,
              world_size=world.size, is_main_process=world.rank == 0)
    _check_out(out)
    if args.resume:
        run.resume, nothing = _plan_resume(args, recipe, run)
        if nothing:
            if run.is_main_process:
                print(f"xpnet train {recipe.name}: {nothing}")
            return 0
    if args.lr_scaling == "linear" and world.size > 1 and not run.resume:
        run.lr *= world.size      # the linear scaling rule, asked for: never a silent change
        run.say(f"--lr-scaling linear: lr {run.lr / world.size:g} x {world.size} processes "
                f"= {run.lr:g}")
    xpnet.manual_seed(run.seed)
    run.say(f"xpnet train {recipe.name}: {recipe.about}")
    run.say(f"device {device}, epochs {run.epochs}, batch {run.batch_size}"
            + (f" per process x {world.size} processes" if world.size > 1 else "")
            + (f" ({world.blas_threads} BLAS thread{'s' * (world.blas_threads > 1)} each)"
               if world.blas_threads else "")
            + f", lr {run.lr:g} ({run.schedule}), seed {run.seed}, out {out}"
            + (f", resumed from {args.resume} after epoch {run.epochs_done}" if run.resume
               else ""))
    hint = _busy_machine_hint(device, world.size)
    if hint:
        run.say(hint)
    created = not os.path.exists(out)
    if run.is_main_process:
        os.makedirs(out, exist_ok=True)
    distributed.barrier()
    import numpy
    try:
        # overflow in a diverging run is reported once, by the NaN guard, not as NumPy warnings
        with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outcome = recipe.train(run)
    except KeyboardInterrupt:
        kept = (f"the checkpoint of epoch {run.saved_epoch} is kept at {run.checkpoint}"
                if run.saved_epoch is not None else
                f"{args.resume} (epoch {run.epochs_done}) is unchanged" if run.resume else
                "no checkpoint was written yet")
        print(f"xpnet: training was interrupted; {kept}", file=sys.stderr)
        return 130
    except BaseException:
        if run.is_main_process and created and os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)                   # a failed start leaves nothing behind
        raise
    if run.is_main_process:
        print(outcome.line)
    return outcome.code


def info_main(args) -> int:
    import numpy
    import xpnet
    lines = [f"xpnet {xpnet.__version__}", f"python {platform.python_version()} "
             f"({platform.machine()}, {platform.system()})", f"numpy {numpy.__version__}"]
    for name in ("array_api_compat", "array_api_strict", "cupy", "torch", "numba", "mpi4py",
                 "matplotlib", "tqdm"):
        try:
            module = __import__(name)
            lines.append(f"{name.replace('_', '-')} {getattr(module, '__version__', '?')}")
        except ImportError:
            lines.append(f"{name.replace('_', '-')} not installed")
    try:
        from threadpoolctl import threadpool_info
        blas = [f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
                f"{p.get('num_threads')} threads)" for p in threadpool_info()
                if p.get("user_api") == "blas"]
        lines.append("blas: " + ("; ".join(blas) or "unknown"))
    except ImportError:
        pass
    slab_threads = xpnet.cpu.SLAB_THREADS.threads(xpnet.device("cpu").xp)
    lines.append(f"convolution slabs on {slab_threads} thread{'s' * (slab_threads > 1)} "
                 f"(cpu device)")
    default = xpnet.default_device()
    try:
        xpnet.device(default)
        lines.append(f"default device {default} (set XPNET_DEVICE or --device)")
    except (ValueError, RuntimeError) as exc:    # XPNET_DEVICE names no usable device
        lines.append(f"default device {default!r} is not usable: {exc}")
    lines.append("devices: " + ", ".join(xpnet.available_devices()))
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
    parser = _Parser(prog="xpnet", description="xpnet: train the course models on the CPU "
                     "(NumPy) or a GPU (CuPy) from the same code.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="train a recipe",
                           description="recipes: " + "; ".join(
                               f"{k}: {r.about}" for k, r in sorted(RECIPES.items())))
    train.add_argument("recipe", choices=sorted(RECIPES))
    train.add_argument("--device", default=None,
                       help="cpu, cuda, cuda:N, strict, torch (default: $XPNET_DEVICE or cpu)")
    train.add_argument("--epochs", type=_positive_int, default=None)
    train.add_argument("--batch-size", type=_positive_int, default=None)
    train.add_argument("--lr", type=_learning_rate, default=None)
    train.add_argument("--seed", type=int, default=None, help="any int (default 0)")
    train.add_argument("--data", default=None,
                       help="folder with the data files (default: data/ here, $XPNET_DATA, "
                            "the cache, or a download)")
    train.add_argument("--out", default=None, help="output folder (default runs/RECIPE)")
    train.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                       help="learning rate over the run (default: the recipe's)")
    train.add_argument("--resume", default=None, help="a checkpoint.npz to continue from")
    train.add_argument("--log-every", type=_positive_int, default=100,
                       help="steps between reads of the loss for the progress display")
    train.add_argument("--limit", type=_positive_int, default=None,
                       help="train on the first N samples only (quick checks)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--distributed", action="store_true",
                       help="require an MPI launch (mpiexec -n K python -m mpi4py -m xpnet "
                            "train ...); without the flag an MPI launch is detected anyway")
    train.add_argument("--lr-scaling", choices=["none", "linear"], default="none",
                       help="under K processes, 'linear' multiplies the lr by K (the global "
                            "batch is K x --batch-size); default: unchanged")
    train.set_defaults(func=train_main)
    info = sub.add_parser("info", help="versions, devices, BLAS and GPU memory")
    sub.add_parser("run-torch", help="run a PyTorch script on xpnet: xpnet run-torch script.py "
                                     "args... (as python -m xpnet.torch_compat)")
    info.set_defaults(func=info_main)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "run-torch":     # the script's own errors stay the script's
        from .torch_compat import main as run_torch
        return run_torch(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, RuntimeError, ValueError, OSError) as exc:
        print(f"xpnet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
