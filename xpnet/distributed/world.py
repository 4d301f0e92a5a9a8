"""The world: which process this is, how many there are, and the engines that connect them.

Nothing here imports mpi4py or CuPy until :func:`init` finds that it needs them, so importing
xpnet stays cheap and works without either.
"""
from __future__ import annotations

import os
import sys
import traceback

__all__ = ["init", "is_initialized", "rank", "local_rank", "world_size", "barrier",
           "local_device", "BACKENDS"]

BACKENDS = (None, "mpi", "nccl")

# variables a launcher sets in every process it starts: (rank, world size) per MPI family
_LAUNCH_VARIABLES = (
    ("PMI_RANK", "PMI_SIZE"),                          # MPICH (Hydra), Intel MPI, srun --mpi=pmi2
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),  # Open MPI
    ("PMIX_RANK", None),                               # PMIx: Open MPI 5, srun --mpi=pmix
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"),    # MVAPICH2
    ("MPI_LOCALRANKID", "MPI_LOCALNRANKS"),            # MPICH's node-local pair, last resort
)

_MPI_HINT = 'pip install "xpnet[mpi]" (mpi4py and MPICH)'

# a thread count the user set for the CPU's BLAS, which share_cores leaves alone
_THREAD_VARIABLES = ("XPNET_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "MKL_NUM_THREADS")


def share_cores(local_size: int, environ=None, cores=None):
    """Give each of the ``local_size`` ranks on this machine its share of the cores for the
    CPU's BLAS, as torchrun sets ``OMP_NUM_THREADS``: K ranks that each start a thread per core
    oversubscribe the cores K-fold, and waiting BLAS threads make GEMMs 2-3x slower
    (``benchmarks/RESULTS.md``, "A crowded machine"). A thread count set in the environment
    wins. Returns the count set, or None when nothing was changed.
    """
    environ = os.environ if environ is None else environ
    if local_size < 2 or any(environ.get(name, "").strip() for name in _THREAD_VARIABLES):
        return None
    threads = max(1, (cores or os.cpu_count() or 1) // local_size)
    from ..cpu import set_num_threads
    set_num_threads(threads)
    return threads


def launch_environment(environ=None):
    """``(variable, world_size or None)`` when an MPI launcher started this process, else None.

    Read from the environment only, so that a plain ``python train.py`` never imports mpi4py.
    """
    environ = os.environ if environ is None else environ
    for rank_name, size_name in _LAUNCH_VARIABLES:
        if rank_name in environ:
            size = environ.get(size_name) if size_name else None
            return rank_name, int(size) if size and size.isdigit() else None
    return None


class World:
    """This process's place in the job; ``comm`` is ``MPI.COMM_WORLD`` or None (a world of
    one without MPI); ``nccl`` holds the NCCL communicators, one per GPU index, made on first
    use (or by ``init('nccl')``)."""

    def __init__(self, backend, rank=0, size=1, local_rank=0, comm=None, mpi=None):
        self.backend, self.rank, self.size, self.local_rank = backend, rank, size, local_rank
        self.comm, self.mpi = comm, mpi
        self.blas_threads = None   # set by share_cores when the ranks split the cores
        self.nccl: dict = {}       # GPU index -> NcclCommunicator
        self.host = None           # the HostCommunicator, made on first use
        self.nccl_requested = backend == "nccl"

    def __repr__(self):
        return (f"World(backend={self.backend!r}, rank={self.rank}, size={self.size}, "
                f"local_rank={self.local_rank})")


_WORLD: list = [None]


def _import_mpi(reason: str):
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError(f"xpnet.distributed: {reason} needs mpi4py, which is not installed; "
                           f"{_MPI_HINT}") from None
    return MPI


def init(backend: str | None = None) -> World:
    """Join the job this process was launched into; safe to call more than once.

    Args:
        backend: None picks by the environment: MPI (mpi4py) when an MPI launcher started this
            process (``PMI_RANK``, ``OMPI_COMM_WORLD_RANK``, ``PMIX_RANK``, ...), a world of
            one otherwise. ``'mpi'`` insists on MPI (a world of one outside ``mpiexec``).
            ``'nccl'`` is MPI plus an NCCL communicator on this rank's GPU
            (``cuda:{local_rank}``) made now; with None or ``'mpi'``, CuPy tensors get theirs
            at their first collective. CPU, strict and PyTorch tensors always go through MPI.

    In a world larger than one, an uncaught exception prints its traceback and calls
    ``MPI.COMM_WORLD.Abort(1)``, so a failing rank ends the whole job at once instead of
    leaving the others waiting forever in their next collective (``python -m mpi4py`` adds the
    same for ``sys.exit(n)`` and is the recommended launch).

    >>> init().size       # not launched by mpiexec: a world of one
    1
    """
    if backend not in BACKENDS:
        raise ValueError(f"xpnet.distributed.init: backend must be None, 'mpi' or 'nccl', got "
                         f"{backend!r}")
    world = _WORLD[0]
    if world is None or (world.comm is None and backend is not None):
        # first call, or a world of one (perhaps made by an early rank()) now asked for MPI
        world = _WORLD[0] = _make_world(backend)
    if backend == "nccl":
        # xpnet.distributed.init (comm.init) makes the communicator now; collectives would
        # make it at their first CuPy call otherwise
        world.nccl_requested = True
    return world


def _make_world(backend) -> World:
    launched = launch_environment()
    if backend is None and launched is None:
        return World("single")
    if backend is None and launched[1] == 1:
        try:
            import mpi4py  # noqa: F401  (mpiexec -n 1 without mpi4py is a world of one)
        except ImportError:
            return World("single")
    reason = f"a launch by mpiexec ({launched[0]} is set)" if launched else f"backend={backend!r}"
    MPI = _import_mpi(reason)
    comm = MPI.COMM_WORLD
    size = comm.Get_size()
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)   # the ranks on this machine
    world = World(backend or "mpi", comm.Get_rank(), size, node.Get_rank(), comm, MPI)
    local_size = node.Get_size()
    node.Free()
    if size > 1:
        install_excepthook(world)
        world.blas_threads = share_cores(local_size)
    return world


def install_excepthook(world: World) -> None:
    """Make an uncaught exception on this rank print its traceback and abort every rank."""
    previous = sys.excepthook
    if getattr(previous, "_xpnet_abort", False):
        return

    def abort_on_exception(kind, value, tb):
        try:
            sys.stdout.flush()
            # one write of the whole report, flushed before the abort: mpiexec may stop
            # forwarding this rank's output as soon as the abort reaches it
            report = "".join(traceback.format_exception(kind, value, tb))
            sys.stderr.write(f"{report}xpnet.distributed: rank {world.rank} of {world.size} "
                             f"raised; aborting the job\n")
            sys.stderr.flush()
        finally:
            world.comm.Abort(1)

    abort_on_exception._xpnet_abort = True
    abort_on_exception.previous = previous
    sys.excepthook = abort_on_exception


def world() -> World:
    """The current world, initialising it (``init()``) on first use."""
    return _WORLD[0] if _WORLD[0] is not None else init()


def is_initialized() -> bool:
    """Whether :func:`init` has run (explicitly, or through a first ``rank()`` or collective)."""
    return _WORLD[0] is not None


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 in a world of one).

    >>> rank(), world_size()
    (0, 1)
    """
    return world().rank


def local_rank() -> int:
    """This process's rank among the ranks on the same machine (picks its GPU)."""
    return world().local_rank


def world_size() -> int:
    """The number of processes in the job (1 when not launched by mpiexec)."""
    return world().size


def barrier() -> None:
    """Wait until every rank gets here (a host barrier: it does not wait for GPU streams)."""
    w = world()
    if w.comm is not None and w.size > 1:
        w.comm.Barrier()


def local_device(device=None) -> str:
    """The device flag this rank should use: ``'cuda'`` becomes ``'cuda:{local_rank}'`` (modulo
    the GPUs visible, so a launcher that gives each rank one GPU by CUDA_VISIBLE_DEVICES works
    too); ``'torch:cuda'`` likewise; an explicit index and every other flag are kept.

    >>> local_device("cpu"), local_device("cuda")     # rank 0
    ('cpu', 'cuda:0')
    """
    from .. import backend as _backend
    name = device if isinstance(device, str) else \
        (device.name if device is not None else _backend.default_device())
    flag = name.strip().lower()
    if flag not in ("cuda", "torch:cuda"):
        return _backend.canonical(flag)
    index = local_rank()
    if index > 0:
        index %= _visible_gpus(flag)
    return f"{flag}:{index}"


def _visible_gpus(flag) -> int:
    try:
        if flag == "cuda":
            import cupy
            return max(1, cupy.cuda.runtime.getDeviceCount())
        import torch
        return max(1, torch.cuda.device_count())
    except Exception:  # no library or no driver: resolving the flag will say so
        return 1 << 30


def _reset() -> None:
    """Forget the world (tests only; a real MPI job keeps its world for its whole life)."""
    hook = sys.excepthook
    if getattr(hook, "_xpnet_abort", False):
        sys.excepthook = hook.previous
    _WORLD[0] = None
