"""What a benchmark run records about where it ran, and the name of its result file.

Every run writes ``benchmarks/results/<date>_<device>_<machine>_<commit>[_<label>].jsonl``:
``machine`` is the CPU model's slug and the BLAS kernel (``amd-epyc-haswell``) or the GPU's name,
``commit`` the git commit of the xpnet tree that was imported (``-dirty`` when it had
uncommitted changes; ``nogit`` when it is not a git checkout). The file's first line is the
environment: both commits, the CPU model and its vector extensions, the BLAS kernel and threads,
the library versions.

Only public xpnet names are read (with fallbacks for older trees), so the harness also measures
an older checkout put first on ``PYTHONPATH``.
"""
from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys

__all__ = ["RESULTS_DIR", "slug", "slab_threads", "cpu_model", "cpu_flags", "blas_info", "git_commit",
           "machine_name", "result_path", "pythonpath_first", "xpnet_source", "environment",
           "MALLOC_MODES", "settle_malloc"]

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni",
                "avx512_bf16", "amx_tile", "amx_bf16")


# glibc's malloc in a process that has loaded a dataset, against a fresh one. Freeing a large
# block (MNIST's 31 MB test images, a dataset's temporaries) raises glibc's mmap threshold to
# that block's size, and its trim threshold to twice it: later arrays up to that size come from
# the heap and are reused, instead of being mapped, page-faulted and unmapped every time.
# PyTorch has no caching allocator on the CPU, so its step depends on this state: on the 2-core
# VM of RESULTS.md, mnist-cnn's PyTorch step took 38-43 ms settled and 44-58 ms fresh (xpnet's,
# whose large arrays come from its own pool, did not move). The twin of the epoch benchmark is
# settled by its own data loading; the workers are put in the same state ("settled", the
# default) unless asked for a fresh process's ("fresh").
MALLOC_MODES = {"settled": {"mmap_threshold": 32 * 2**20, "trim_threshold": 64 * 2**20},
                "fresh": None}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3            # glibc's mallopt parameters


def settle_malloc(mode: str) -> dict | None:
    """Put this process's glibc malloc in ``mode`` (:data:`MALLOC_MODES`), with ``mallopt``;
    what was set, or None (fresh, or not glibc)."""
    wanted = MALLOC_MODES[mode]
    if wanted is None or not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):          # musl and others: no mallopt
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not (mallopt(_M_MMAP_THRESHOLD, wanted["mmap_threshold"])
            and mallopt(_M_TRIM_THRESHOLD, wanted["trim_threshold"])):
        return None
    return dict(wanted)


def slug(text: str) -> str:
    """Lower case, trademarks and clock speeds dropped, runs of other characters as one '-'.

    >>> slug("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz")
    'intel-xeon-platinum-8480'
    """
    text = re.sub(r"\((r|tm)\)", " ", text.lower())
    text = re.sub(r"@.*$", " ", text)                          # the clock speed
    text = re.sub(r"\b(cpu|processor|\d+-core)\b", " ", text)
    return _plain(text)


def _plain(text: str) -> str:
    """Lower case, runs of characters other than letters and digits as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what platform reports)."""
    match = re.search(r"^model name\s*:\s*(.+)$", _cpuinfo(), re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or platform.machine())


def cpu_flags() -> dict:
    """Which vector extensions the CPU reports (from /proc/cpuinfo's flags; {} elsewhere)."""
    match = re.search(r"^flags\s*:\s*(.+)$", _cpuinfo(), re.MULTILINE)
    if not match:
        return {}
    flags = set(match.group(1).split())
    return {f: f in flags for f in VECTOR_FLAGS}


def blas_info() -> list:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel (architecture), threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl then finds)
    return [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                    "threading_layer", "filepath")}
            for p in threadpool_info() if p.get("user_api") == "blas"]


def git_commit(path: str) -> tuple:
    """(short commit, dirty) of the git checkout holding ``path``, or (None, None)."""
    def git(*args):
        return subprocess.run(["git", "-C", path, *args], capture_output=True, text=True,
                              timeout=30)
    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return None, None
        status = git("status", "--porcelain", "--untracked-files=no")
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def machine_name(device: str, cpu: str, blas: list, gpu: str | None = None) -> str:
    """``<cpu model slug>-<blas kernel>`` on the CPU, the GPU's name slug on a GPU."""
    if device.startswith("cuda"):
        return _plain(gpu or "gpu")
    kernels = [b.get("architecture") for b in blas if b.get("architecture")]
    return slug(cpu) + ("-" + _plain(kernels[0]) if kernels else "")


def result_path(date: str, device: str, machine: str, commit: str | None,
                dirty: bool | None = False, label: str | None = None,
                root: str = RESULTS_DIR) -> str:
    """``root/<date>_<device>_<machine>_<commit>[-dirty][_<label>].jsonl``."""
    name = "_".join([date, _plain(device.split(":")[0]), _plain(machine),
                     (commit or "nogit") + ("-dirty" if dirty else "")])
    if label:
        name += "_" + _plain(label)
    return os.path.join(root, name + ".jsonl")


def pythonpath_first() -> None:
    """Put ``PYTHONPATH``'s folders ahead of the current directory on ``sys.path``.

    ``python -m benchmarks.run`` puts the working directory first, so from a checkout's root
    ``import xpnet`` would find that checkout's xpnet even with ``PYTHONPATH=/old/tree``; an
    A/B against an older tree wants the old one. (The ``benchmarks`` package itself is already
    imported by then and stays this checkout's.)"""
    wanted = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not wanted:
        return
    front = [p for p in sys.path if p and os.path.abspath(p) in wanted]
    sys.path[:] = front + [p for p in sys.path if p not in front]


def xpnet_source() -> dict:
    """Where the imported xpnet lives and the commit of that tree."""
    import xpnet
    root = os.path.dirname(os.path.dirname(os.path.abspath(xpnet.__file__)))
    commit, dirty = git_commit(root)
    return {"xpnet_path": root, "xpnet_commit": commit, "xpnet_dirty": dirty,
            "xpnet": getattr(xpnet, "__version__", None)}


def slab_threads():
    """How many threads a convolution's slabs run on: ``xpnet.cpu.SLAB_THREADS`` (its home
    now) or ``xpnet.backend.SLAB_THREADS`` (older trees); None where neither exists."""
    import xpnet
    holder = None
    for name in ("xpnet.cpu", "xpnet.backend"):
        try:
            holder = getattr(importlib.import_module(name), "SLAB_THREADS", None)
        except ImportError:
            continue
        if holder is not None:
            break
    if holder is None:
        return None
    try:
        return holder.threads(xpnet.device("cpu").xp)
    except Exception as exc:   # an older or newer signature: record what happened, not fail
        return f"unknown ({type(exc).__name__})"


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(device: str, torch_threads: int | None = None) -> dict:
    """The run's environment line (imports xpnet and, when installed, torch: neither computes)."""
    import numpy as np
    harness_commit, harness_dirty = git_commit(os.path.dirname(os.path.abspath(__file__)))
    env = {"date": datetime.date.today().isoformat(), "device": device,
           "commit": None, "dirty": None,            # of the xpnet tree, filled below
           "harness_commit": harness_commit, "harness_dirty": harness_dirty,
           **xpnet_source(),
           "cpu_model": cpu_model(), "cpu_flags": cpu_flags(), "cpu_count": os.cpu_count(),
           "machine": platform.machine(), "python": platform.python_version(),
           "numpy": np.__version__, "numba": _version("numba"), "torch": _version("torch"),
           "cupy": (_version("cupy-cuda13x") or _version("cupy-cuda12x")
                    or _version("cupy-cuda11x") or _version("cupy")),
           "blas": blas_info(), "xpnet_slab_threads": slab_threads(),
           "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
           "XPNET_NUM_THREADS": os.environ.get("XPNET_NUM_THREADS")}
    env["commit"], env["dirty"] = env["xpnet_commit"], env["xpnet_dirty"]
    if torch_threads is not None:
        env["torch_threads"] = torch_threads
    if device.startswith("cuda"):
        try:
            import torch
            if torch.cuda.is_available():
                env["gpu"] = torch.cuda.get_device_name(0)
                env["cudnn"] = torch.backends.cudnn.version()
        except ImportError:
            pass
        if "gpu" not in env:
            try:
                import cupy
                env["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
            except Exception:
                env["gpu"] = None
    env["machine_name"] = machine_name(device, env["cpu_model"], env["blas"], env.get("gpu"))
    return env
