"""A short check of one device, written as a JSON report: what ``ci/gpu-all.sh`` runs first, so
that a GPU call that later runs out of time still brings back what matters most.

    python ci/gpu_probe.py --device cuda --out $OUT/probe.json      (about 20 s on a GPU)
    python ci/gpu_probe.py --device cpu --out /tmp/probe.json       (the dry run's)

Sections, each timed and recorded on its own (an exception is written into its section, and the
next one runs):

* ``versions``: Python, NumPy, CuPy (CUDA runtime and driver, the GPU), PyTorch (cuDNN, its TF32
  switches), Numba (imported here, so a Numba built for another NumPy shows its error), the
  array-api packages, NCCL, which compiler xpnet registered for NumPy arrays, and the
  environment variables that change results or speed;
* ``fused``: every fused kernel of the library compiled once on the device, with the arguments
  it gets in a small workload (recorded on the CPU), against its plain reference; for each, the
  engine that took it: CuPy's ``cupy.fuse`` traces with its original tracer and, should that
  raise, switches for good to its newer engine (``cupy._core.new_fusion``) without a word, so
  the switch is read from the compiled object (``Fusion.new_fusion`` set) and reported; on the
  CPU the Numba kernel or the reference;
* ``labels``: cross_entropy against a float64 reference, and what an out-of-range label does
  (an error on host devices; on a GPU the pass counts it without stopping the step);
* ``distributed``: a world of one process, with NCCL on a GPU (``init('nccl')``): all_reduce
  (sum and mean) and broadcast leave a tensor as it was;
* ``mnist_cnn``: a few Adam steps of the recipe's network on one batch, loss and step times.

The report is rewritten after every section, so a probe stopped by a time limit leaves what it
had. It exits 0 whatever it found (a missing GPU is recorded as such, and the sections that need
it are skipped); its one-line summaries go to stdout.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import math
import os
import platform
import sys
import time
import traceback
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:        # tests.kernels.test_fuse holds the fused kernels' workload
    sys.path.append(ROOT)

ENV_VARS = ("XPNET_COMPILER", "XPNET_DEVICE", "XPNET_NUM_THREADS", "CUPY_TF32",
            "NVIDIA_TF32_OVERRIDE", "CUPY_CACHE_DIR", "CUPY_ACCELERATORS", "CUDA_VISIBLE_DEVICES",
            "PYTHONPATH")


class Report:
    """The JSON report, written again after each section."""

    def __init__(self, path, device):
        self.path = path
        self.data = {"probe": "ci/gpu_probe.py", "device": device, "available": None,
                     "started": datetime.datetime.now().isoformat(timespec="seconds"),
                     "sections": {}, "summary": []}
        self.write()

    def line(self, text):
        self.data["summary"].append(text)
        print(text, flush=True)
        self.write()

    def section(self, name, fn, *args):
        t0 = time.perf_counter()
        try:
            result = fn(*args)
        except BaseException as exc:   # KeyboardInterrupt too: the report says where it stopped
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()[-4000:]}
            self.data["sections"][name] = result
            result["seconds"] = round(time.perf_counter() - t0, 3)
            self.line(f"probe {name}: FAILED ({result['error'].splitlines()[0][:300]})")
            if not isinstance(exc, Exception):
                raise
            return result
        result["seconds"] = round(time.perf_counter() - t0, 3)
        self.data["sections"][name] = result
        self.line(f"probe {name}: {result.pop('line', 'ok' if result.get('ok') else 'see report')}"
                  f" ({result['seconds']:.1f} s)")
        return result

    def write(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, default=str)
        os.replace(tmp, self.path)


# -- versions --------------------------------------------------------------------------------

def _distribution(*names):
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _imported(name):
    """The module's version, or why it cannot be imported."""
    try:
        module = importlib.import_module(name)
    except Exception as exc:   # a broken install raises more than ImportError
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return {"version": getattr(module, "__version__", "?")}


def versions(device):
    import numpy
    import xpnet
    from xpnet import kernels
    found = {"python": platform.python_version(), "machine": platform.machine(),
             "numpy": numpy.__version__, "xpnet": getattr(xpnet, "__version__", None),
             "xpnet_path": os.path.dirname(os.path.dirname(os.path.abspath(xpnet.__file__))),
             "env": {k: os.environ.get(k) for k in ENV_VARS},
             "cpu_count": os.cpu_count()}
    for name in ("numba", "array_api_compat", "array_api_strict", "mpi4py", "xdist"):
        found[name] = _imported(name)
    numpy_compiler = kernels.compiler("numpy")
    found["numpy_compiler"] = (None if numpy_compiler is None else
                               f"{numpy_compiler.compile.__module__}."
                               f"{numpy_compiler.compile.__qualname__}")
    found["cupy"] = _imported("cupy")
    found["cupy_distribution"] = _distribution("cupy-cuda13x", "cupy-cuda12x", "cupy")
    if "version" in found["cupy"]:
        try:
            import cupy
            rt = cupy.cuda.runtime
            found["cuda_runtime"] = rt.runtimeGetVersion()
            found["cuda_driver"] = rt.driverGetVersion()
            props = rt.getDeviceProperties(0)
            name = props["name"]
            found["gpu"] = name.decode() if isinstance(name, bytes) else name
            found["compute_capability"] = f"{props['major']}.{props['minor']}"
            found["gpu_memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
            found["cupy_float32_matmul"] = _cupy_matmul_mode(cupy)
        except Exception as exc:
            found["cuda_error"] = f"{type(exc).__name__}: {exc}"[:500]
        try:
            from cupy.cuda import nccl
            found["nccl"] = nccl.get_version() if getattr(nccl, "available", True) else None
        except Exception as exc:
            found["nccl"] = f"{type(exc).__name__}: {exc}"[:300]
    found["torch"] = _imported("torch")
    if "version" in found["torch"]:
        import torch
        found["torch_cuda"] = torch.version.cuda
        found["torch_cuda_available"] = torch.cuda.is_available()
        found["torch_tf32"] = {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                               "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32}
        if torch.cuda.is_available():
            found["cudnn"] = torch.backends.cudnn.version()
    numba_line = ("numba " + found["numba"]["version"] if "version" in found["numba"]
                  else "numba BROKEN: " + found["numba"]["error"][:120])
    found["line"] = "; ".join(filter(None, [
        f"python {found['python']}", f"numpy {found['numpy']}",
        f"cupy {found['cupy'].get('version', 'missing')}",
        f"cuda {found.get('cuda_runtime')}" if "cuda_runtime" in found else None,
        found.get("gpu"), f"torch {found['torch'].get('version', 'missing')}", numba_line,
        f"XPNET_COMPILER={found['env']['XPNET_COMPILER']}",
        f"numpy compiler {found['numpy_compiler']}"]))
    found["ok"] = True
    return found


def _cupy_matmul_mode(cupy):
    """CuPy's compute type for float32 GEMMs (CUPY_TF32 is read at the first matmul)."""
    try:
        import numpy
        from cupy._core import _routines_linalg as linalg
        mode = linalg.get_compute_type(numpy.dtype(numpy.float32))
        tf32 = getattr(linalg, "COMPUTE_TYPE_TF32", None)
        return {"compute_type": int(mode), "tf32": None if tf32 is None else int(mode) == tf32}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}


# -- fused kernels ---------------------------------------------------------------------------

def recorded_arguments():
    """Each fused function's first arguments in the workload of tests.kernels.test_fuse (run on
    the CPU with every kernel as its reference): {reference: args}."""
    from tests.kernels.test_fuse import _Recorder, exercise_every_fused_function
    from xpnet import kernels
    recorder = _Recorder()
    with kernels.compiler_for("numpy", recorder), \
            kernels.compiler_for("numpy", None, kind="loops"):
        exercise_every_fused_function("cpu")
    return recorder.calls


def engine(kernel, library):
    """Which engine took a fused function on ``library``: a short name and details."""
    if kernel is _NOT_CALLED:
        return "not called", {}
    if kernel is None:
        return "reference", {"why": f"no compiler for {library} arrays, or it refused the "
                                    f"function (then a warning said so)"}
    cls = type(kernel)
    details = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    if hasattr(kernel, "new_fusion") and hasattr(kernel, "_memo"):     # cupy._core.fusion.Fusion
        if kernel.new_fusion is not None:
            details["new_fusion"] = type(kernel.new_fusion).__module__ + "." + \
                type(kernel.new_fusion).__qualname__
            return "cupy new fusion", details
        kinds = sorted({type(entry[0]).__name__ for entry in kernel._memo.values()
                        if isinstance(entry, tuple) and entry})
        details["kernels"] = kinds
        return "cupy fusion", details
    if cls.__module__.startswith("xpnet.cpu"):
        return "numba", details
    return "other", details


_NOT_CALLED = object()


def _old_tracer_error(kernel, args):
    """Why CuPy's original fusion tracer gave up on ``kernel`` (it says nothing itself)."""
    try:
        from cupy._core import _fusion_thread_local as local
        from cupy._core import fusion
        history = fusion._FusionHistory()
        local.thread_local.history = history
        local.thread_local.is_old_fusing = True
        try:
            history.get_fusion(kernel.func, args, kernel.name)
        finally:
            local.thread_local.history = None
            local.thread_local.is_old_fusing = False
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


def _sync(backend):
    if backend.library == "cupy":
        import cupy
        cupy.cuda.Device().synchronize()


def fused(device):
    import copy

    import numpy as np
    import xpnet
    from xpnet import backend as xb
    from xpnet import kernels
    b = xpnet.device(device)
    recorded = recorded_arguments()
    rows, engines, bad = [], {}, []
    for fn, args in recorded.items():
        if not fn.__module__.startswith("xpnet."):
            continue
        call = next(f for f in kernels.fused_functions() if f.reference is fn)
        moved = [b.asarray(copy.deepcopy(a)) if isinstance(a, np.ndarray) else a for a in args]
        plain = [b.asarray(copy.deepcopy(a)) if isinstance(a, np.ndarray) else a for a in args]
        row = {"name": f"{fn.__module__}.{fn.__qualname__}"}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            try:
                got = call(b.xp, *moved)
                _sync(b)
            except Exception as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"[:500]
                got = None
            row["first_call_s"] = round(time.perf_counter() - t0, 4)
        warned = [str(w.message) for w in caught if "xpnet:" in str(w.message)]
        if warned:
            row["warning"] = warned[0][:500]
        name, details = engine(call.kernels.get(b.library, _NOT_CALLED), b.library)
        row["engine"] = name
        row.update(details)
        if name == "cupy new fusion":
            row["old_tracer_error"] = _old_tracer_error(call.kernels[b.library], moved)
        engines[name] = engines.get(name, 0) + 1
        if "error" not in row:
            expected = fn(b.xp, *plain)
            got = got if isinstance(got, tuple) else (got,)
            expected = expected if isinstance(expected, tuple) else (expected,)
            worst = 0.0
            for g, e in zip(got + tuple(moved), expected + tuple(plain)):
                if g is not None and xb.is_array(g):
                    g, e = xb.to_numpy(g).astype(np.float64), xb.to_numpy(e).astype(np.float64)
                    both = np.isfinite(g) & np.isfinite(e)
                    if not np.array_equal(np.isfinite(g), np.isfinite(e)):
                        worst = math.inf
                    elif both.any():
                        scale = 1e-5 + 1e-5 * np.abs(e[both])
                        worst = max(worst, float(np.max(np.abs(g[both] - e[both]) / scale)))
            row["error_over_tolerance"] = round(worst, 4)   # <= 1: within rtol = atol = 1e-5
        if "error" in row or row.get("error_over_tolerance", 0) > 1 or "warning" in row:
            bad.append(row["name"].rsplit(".", 1)[-1])
        rows.append(row)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(engines.items()))
    return {"ok": not bad, "kernels": rows, "engines": engines, "failed_or_unfused": bad,
            "line": f"{len(rows)} fused kernels: {counts}; "
                    f"{'all match their references' if not bad else 'NOT OK: ' + ', '.join(bad)}"}


# -- the label check -------------------------------------------------------------------------

def labels(device):
    import numpy as np
    import xpnet
    import xpnet.functional as F
    from xpnet import backend as xb
    b = xpnet.device(device)
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((6, 10)).astype(np.float32)
    good = np.array([0, 3, 9, 2, 5, 7])
    shifted = scores.astype(np.float64) - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = float(-log_p[np.arange(6), good].mean())
    got = float(F.cross_entropy(xpnet.tensor(scores, device=device),
                                xpnet.tensor(good, device=device)).item())
    result = {"loss": got, "reference": expected, "abs_error": abs(got - expected)}
    bad = good.copy()
    bad[-1] = 12
    try:
        value = F.cross_entropy(xpnet.tensor(scores, device=device),
                                xpnet.tensor(bad, device=device))
        result["out_of_range"] = {"raised": None, "loss": float(value.item())}
    except IndexError as exc:          # a label out of [0, C): PyTorch raises IndexError too
        result["out_of_range"] = {"raised": f"IndexError: {exc}"[:300]}
    try:       # the count the compiled pass keeps (read on the host here, for the report)
        from xpnet.ops.loss import log_softmax_nll
        xp = b.xp
        rows, lab = b.asarray(scores), b.asarray(bad)
        log_p_out = xp.empty((6, 10), dtype=rows.dtype, device=rows.device)
        loss = xp.empty((6,), dtype=rows.dtype, device=rows.device)
        totals = xp.empty((3,), dtype=rows.dtype, device=rows.device)
        log_softmax_nll(xp, log_p_out, loss, totals, rows, lab, -100, 0.0)
        result["out_of_range"]["counted"] = float(xb.to_numpy(totals)[2])
    except Exception as exc:
        result["out_of_range"]["counted"] = f"{type(exc).__name__}: {exc}"[:300]
    on_host = b.on_host
    caught = (result["out_of_range"].get("raised") is not None if on_host
              else result["out_of_range"].get("counted") == 1.0)
    result["ok"] = result["abs_error"] < 1e-5 and caught
    outside = result["out_of_range"]
    result["line"] = (f"cross_entropy {got:.6f} (float64 reference {expected:.6f}); a label out "
                      f"of range: " + ("raised IndexError" if outside.get("raised")
                                       else f"no error, counted {outside.get('counted')}")
                      + ("" if result["ok"] else " NOT OK"))
    return result


# -- one process's world ---------------------------------------------------------------------

def distributed(device):
    import numpy as np
    import xpnet
    from xpnet import backend as xb
    from xpnet import distributed as dist
    from xpnet.distributed.comm import communicator
    gpu = xpnet.device(device).library == "cupy"
    try:
        world = dist.init("nccl" if gpu else None)
    except RuntimeError as exc:
        if not gpu or "mpi4py" not in str(exc):
            raise
        return _nccl_without_mpi(device, f"{type(exc).__name__}: {exc}")
    values = np.array([1.0, -2.0, 3.5], np.float32)
    t = xpnet.tensor(values, device=device)
    comm = repr(communicator(t.backend))
    dist.all_reduce(t)
    summed = xb.to_numpy(t.array).tolist()
    dist.all_reduce(t, op="mean")
    mean = xb.to_numpy(t.array).tolist()
    dist.broadcast(t, 0)
    _sync(t.backend)
    broadcast = xb.to_numpy(t.array).tolist()
    expected = values.tolist()
    ok = summed == expected and mean == expected and broadcast == expected
    return {"ok": ok, "world": repr(world), "communicator": comm, "all_reduce_sum": summed,
            "all_reduce_mean": mean, "broadcast": broadcast, "expected": expected,
            "line": f"world of {world.size} ({comm}): all_reduce sum/mean and broadcast "
                    f"{'unchanged, as they must be' if ok else 'CHANGED the tensor'}"}


def _nccl_without_mpi(device, why):
    """NCCL alone, where MPI (which init('nccl') bootstraps with) cannot be used: a world of
    one needs no exchange of NCCL's id, so the communicator is made directly."""
    import cupy
    import numpy as np
    import xpnet
    from xpnet.distributed.comm import NcclCommunicator
    from xpnet.distributed.world import World
    b = xpnet.device(device)
    comm = NcclCommunicator(World("single"), b.device.id)
    values = np.array([1.0, -2.0, 3.5], np.float32)
    with b.device:
        array = cupy.asarray(values)
        summed = cupy.asnumpy(comm.all_reduce(array)).tolist()
        broadcast = cupy.asnumpy(comm.broadcast(array, 0)).tolist()
    expected = values.tolist()
    ok = summed == expected and broadcast == expected
    return {"ok": ok, "mpi": why, "communicator": repr(comm), "all_reduce_sum": summed,
            "broadcast": broadcast, "expected": expected,
            "line": f"MPI unusable ({why[:80]}); NCCL alone, a world of one ({comm!r}): "
                    f"all_reduce and broadcast "
                    f"{'unchanged, as they must be' if ok else 'CHANGED the array'}"}


# -- a few steps of mnist-cnn ----------------------------------------------------------------

def mnist_cnn(device, steps, batch):
    import numpy as np
    import xpnet
    import xpnet.functional as F
    from xpnet import models, optim
    xpnet.manual_seed(0)
    b = xpnet.device(device)
    rng = np.random.default_rng(0)
    x = xpnet.tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), device=device)
    y = xpnet.tensor(rng.integers(0, 10, batch), device=device)
    model = models.mnist_cnn(device=device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    losses, times = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))      # synchronises
        _sync(b)
        times.append(round(time.perf_counter() - t0, 4))
    ok = all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    return {"ok": ok, "batch": batch, "losses": losses, "step_s": times,
            "line": f"{steps} Adam steps at batch {batch} on one batch: loss "
                    f"{losses[0]:.4f} -> {losses[-1]:.4f}; step s {times[0]:.2f} first, "
                    f"{min(times[1:] or times):.4f} best" + ("" if ok else " NOT OK")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="the JSON report (default: none written)")
    parser.add_argument("--steps", type=int, default=5, help="mnist-cnn steps (default 5)")
    parser.add_argument("--batch", type=int, default=64, help="mnist-cnn batch (default 64)")
    args = parser.parse_args(argv)
    report = Report(args.out, args.device)
    report.section("versions", versions, args.device)
    try:
        import xpnet
        xpnet.device(args.device)
        report.data["available"] = True
    except Exception as exc:
        report.data["available"] = False
        report.data["unavailable"] = f"{type(exc).__name__}: {exc}"
        report.line(f"probe: device {args.device} unavailable ({exc}); the other sections "
                    f"are skipped")
        return 0
    report.section("fused", fused, args.device)
    report.section("labels", labels, args.device)
    report.section("mnist_cnn", mnist_cnn, args.device, args.steps, args.batch)
    report.section("distributed", distributed, args.device)   # last: MPI or NCCL may hang
    report.data["ok"] = all(s.get("ok") for s in report.data["sections"].values())
    report.line(f"probe {args.device}: "
                + ("all sections ok" if report.data["ok"] else "SOME SECTIONS FAILED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
