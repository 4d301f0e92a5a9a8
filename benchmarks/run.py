"""Side-by-side training throughput: xpnet against PyTorch, same model, same machine, same run.

    python -m benchmarks.run mlp --device cpu            # MLP 784-256-256-10, SGD momentum
    python -m benchmarks.run cnn --device cuda --batch 64 256
    python -m benchmarks.run rnn --device cpu            # LSTM/GRU/RNN classifiers, Adam
    python -m benchmarks.run seed-cnn --device cpu       # the course's network vs a per-sample loop
    python -m benchmarks.run char-transformer --device cpu   # nanoGPT's CPU model, AdamW
    python -m benchmarks.run vae --device cpu            # the reference VAE's step, Adam 1e-3
    python -m benchmarks.run gan --device cpu            # a DCGAN step (D, then G), Adam 2e-4
    python -m benchmarks.run epoch                       # `xpnet train mnist-cnn --epochs 1`
                                                         # against benchmarks/torch_twin.py

Measured like training:

* every step gets a different batch, from a pool of synthetic batches of at least ``--pool-mb``
  (64 MB) in all, so that no step finds its data in a cache; the pool is the same arrays, in the
  same order, for both frameworks (no data loading is measured);
* on the CPU each framework runs in its own process (``--processes separate``, the default
  there), so that one library's thread pools never meet the other's; the repeats alternate
  (xpnet, torch, xpnet, torch, ...), a fresh model each repeat; ``--processes same`` runs both
  in this process, as the harness did before;
* every timed run prints one JSON line with samples/s, step time, GFLOP/s (the model's GEMM
  FLOPs, counted analytically by ``benchmarks.flops``) and the fraction of this machine's
  large-SGEMM peak (a 2048³ float32 matmul in NumPy, best of a few, measured in the same run);
  a ``summary`` line per configuration gives both medians, their ratio and the peak resident
  memory (ru_maxrss) of each framework's process.

On a GPU both frameworks run their float32 GEMMs and convolutions at one precision: FP32 by
default (``--tf32 off``: PyTorch's ``allow_tf32`` switches off, since its cuDNN convolutions
would use TF32 by themselves, and ``CUPY_TF32=0``), or TF32 on both sides (``--tf32 on``); each
summary says which (``precision``). GPU memory is compared like with like: each framework's peak
*allocated* bytes (live arrays: CuPy's pool used bytes, traced over two untimed steps, against
``torch.cuda.max_memory_allocated``) and peak *reserved* bytes (what the allocator holds:
CuPy's pool total against ``torch.cuda.max_memory_reserved``); ``python -m benchmarks.run
_gpu_memory FILE`` prints them side by side.

Results are appended to ``benchmarks/results/<date>_<device>_<machine>_<commit>.jsonl`` (see
``benchmarks.environment``; ``--out`` names another file, ``--out -`` prints only) whose first
line records the commits, CPU model, vector extensions, BLAS kernel and threads and versions.

To measure an older xpnet with this harness: ``PYTHONPATH=/old/tree python -m benchmarks.run cnn``
from this checkout (its xpnet is then the one imported, and its path and commit are recorded).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

from benchmarks import flops as flop_count
from benchmarks.environment import (MALLOC_MODES, environment, pythonpath_first,
                                    result_path, settle_malloc)

HARNESS_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDLE_S = 0.5     # the other library's idle threads spin for a while after their last work
POOL_MB = 64


# -- models, written twice: xpnet and torch --------------------------------------------------

def xpnet_model(kind, device, **kw):
    from xpnet import models, nn
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, 256, device=device), nn.ReLU(),
                             nn.Linear(256, 256, device=device), nn.ReLU(),
                             nn.Linear(256, 10, device=device))
    if kind == "cnn":
        return models.mnist_cnn(device=device)
    if kind == "seed-cnn":
        return models.mnist_seed_cnn(device=device)
    if kind in ("lstm", "gru", "rnn"):
        return models.SequenceClassifier(kw["input_size"], kw["hidden"], 10, kind, device=device)
    if kind == "char-transformer":
        return models.CharTransformer(kw["vocab"], kw["seq_len"], kw["layers"], kw["heads"],
                                      kw["embed"], device=device)
    raise ValueError(kind)


def torch_char_transformer(vocab, seq_len, layers, heads, embed):
    """xpnet.models.CharTransformer written with torch.nn: the same modules, names and
    tied head (tests/test_models.py loads one's weights into the other and compares)."""
    import functools
    import torch
    from torch import nn

    class CharTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block_size = seq_len
            self.token_embedding = nn.Embedding(vocab, embed)
            self.position_embedding = nn.Embedding(seq_len, embed)
            self.drop = nn.Dropout(0.0)
            block = nn.TransformerEncoderLayer(
                embed, heads, 4 * embed, 0.0, functools.partial(
                    torch.nn.functional.gelu, approximate="tanh"), batch_first=True,
                norm_first=True)
            self.transformer = nn.TransformerEncoder(block, layers, norm=nn.LayerNorm(embed),
                                                     enable_nested_tensor=False)
            self.head = nn.Linear(embed, vocab, bias=False)
            for name, p in self.named_parameters():   # nanoGPT's init, as xpnet's model
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                elif p.ndim == 2:
                    residual = name.endswith(("out_proj.weight", "linear2.weight"))
                    nn.init.normal_(p, 0.0, 0.02 / (2 * layers) ** 0.5 if residual else 0.02)
            self.head.weight = self.token_embedding.weight

        def forward(self, ids):
            length = ids.shape[1]
            x = self.token_embedding(ids) + self.position_embedding.weight[:length]
            mask = nn.Transformer.generate_square_subsequent_mask(length, device=ids.device)
            return self.head(self.transformer(self.drop(x), mask=mask, is_causal=True))
    return CharTransformer()


def torch_model(kind, device, **kw):
    import torch
    from torch import nn
    if kind == "mlp":
        m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    elif kind == "cnn":
        m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    elif kind == "seed-cnn":
        m = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(196, 10))
    elif kind in ("lstm", "gru", "rnn"):
        layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]

        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = layer(kw["input_size"], kw["hidden"], batch_first=True)
                self.head = nn.Linear(kw["hidden"], 10)

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[:, -1, :])
        m = Classifier()
    elif kind == "char-transformer":
        m = torch_char_transformer(kw["vocab"], kw["seq_len"], kw["layers"], kw["heads"],
                                   kw["embed"])
    else:
        raise ValueError(kind)
    return m.to(torch.device("cuda" if device.startswith("cuda") else "cpu"))


# -- synthetic data: a pool of batches larger than the caches --------------------------------

GENERATIVE = ["vae", "gan"]


def _input_shape(kind, batch, **kw):
    if kind == "mlp":
        return (batch, 784)
    if kind in ("cnn", "seed-cnn", "vae", "gan"):
        return (batch, 1, 28, 28)
    return (batch, kw["seq_len"], kw["input_size"])


def _batch_bytes(kind, batch, **kw):
    if kind == "char-transformer":
        return 2 * batch * kw["seq_len"] * 8              # int64 ids and labels
    labels = 0 if kind in GENERATIVE else batch * 8
    return int(np.prod(_input_shape(kind, batch, **kw))) * 4 + labels


def pool_size(kind, batch, pool_bytes, **kw):
    """How many batches make at least ``pool_bytes`` (two at least)."""
    return max(2, math.ceil(pool_bytes / _batch_bytes(kind, batch, **kw)))


def batch_pool(kind, batch, pool_bytes, **kw):
    """Synthetic batches as NumPy arrays, at least ``pool_bytes`` in all: a list of tuples
    (inputs, labels), or (inputs,) for the generative models. Seeded: both frameworks get the
    same arrays in the same order."""
    rng = np.random.default_rng(0)
    n = pool_size(kind, batch, pool_bytes, **kw)
    if kind == "char-transformer":   # next-character ids: (N, T) in, (N, T) labels
        ids = rng.integers(0, kw["vocab"], (n * batch, kw["seq_len"] + 1))
        xs, ys = ids[:, :-1].copy(), ids[:, 1:].copy()
        return list(zip(np.split(xs, n), np.split(ys, n)))
    shape = (n * batch,) + _input_shape(kind, batch, **kw)[1:]
    if kind == "vae":                # binary pixels in [0, 1], as the VAE's BCE wants
        return [(x,) for x in np.split((rng.random(shape, dtype=np.float32) > 0.7)
                                       .astype(np.float32), n)]
    if kind == "gan":                # "real" images for D
        return [(x,) for x in np.split(rng.uniform(-1, 1, shape).astype(np.float32), n)]
    xs = rng.standard_normal(shape, dtype=np.float32)
    ys = rng.integers(0, 10, n * batch)
    return list(zip(np.split(xs, n), np.split(ys, n)))


# -- timing ----------------------------------------------------------------------------------

def _flat_loss(cross_entropy):
    """Cross-entropy over every position of (N, T, V) logits and (N, T) labels."""
    def loss(logits, labels):
        return cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    return loss


def _sync_xpnet(device):
    if device.startswith("cuda"):
        import cupy
        cupy.cuda.Device().synchronize()


def _optimizer(optim, params, name):
    """The benchmark's optimizer from ``optim`` (xpnet.optim and torch.optim share the API)."""
    if name == "sgd-momentum":
        return optim.SGD(params, lr=0.01, momentum=0.9)
    if name == "sgd":
        return optim.SGD(params, lr=0.01)
    if name == "adamw":
        return optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    return optim.Adam(params, lr=1e-3)


def _timed_steps(step, pool, steps, warmup, sync):
    """Seconds for ``steps`` calls of ``step(*batch)`` after ``warmup`` ones, batch i of the
    pool at step i (cycling), and the last loss."""
    n = len(pool)
    for i in range(warmup):
        step(*pool[i % n])
    sync()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        loss = step(*pool[i % n])
    sync()
    return time.perf_counter() - t0, float(loss.item())


def _classifier_step(model, loss_fn, opt):
    def step(x, y):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def xpnet_pool(device, arrays):
    import xpnet
    return [tuple(xpnet.tensor(a, device=device) for a in batch) for batch in arrays]


def torch_pool(device, arrays):
    import torch
    dev = torch.device("cuda" if device.startswith("cuda") else "cpu")
    return [tuple(torch.from_numpy(a).to(dev) for a in batch) for batch in arrays]


def time_xpnet(kind, device, batch, optimizer, steps, warmup, pool, **kw):
    import xpnet
    import xpnet.functional as F
    xpnet.manual_seed(0)
    if device.startswith("cuda"):
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()   # each repeat starts empty
    if kind in GENERATIVE:
        step = _xpnet_generative_step(kind, device, batch)
    else:
        model = xpnet_model(kind, device, **kw)
        opt = _optimizer(xpnet.optim, model.parameters(), optimizer)
        loss_fn = _flat_loss(F.cross_entropy) if kind == "char-transformer" else F.cross_entropy
        step = _classifier_step(model, loss_fn, opt)
    elapsed, loss = _timed_steps(step, pool, steps, warmup, lambda: _sync_xpnet(device))
    extra = {"final_loss": loss}
    if device.startswith("cuda"):
        extra.update(cupy_peak_memory(step, pool))
    return elapsed, extra


def cupy_peak_memory(step, pool, steps=2):
    """CuPy's side of the GPU memory comparison, as PyTorch's caching allocator reports its own:
    ``gpu_peak_allocated_bytes``, the most bytes in live arrays at once (the pool's used bytes,
    read after every allocation by a memory hook during ``steps`` more steps, untimed: the hook
    costs host time), and ``gpu_peak_reserved_bytes``, what the pool holds from the driver (it
    only grows until freed, and it was freed before the repeat, so this is its high-water
    mark). Compare allocated with torch.cuda.max_memory_allocated and reserved with
    torch.cuda.max_memory_reserved, never one kind with the other."""
    import cupy
    memory = cupy.get_default_memory_pool()

    class PeakUsed(cupy.cuda.MemoryHook):
        name = "benchmarks.run.PeakUsed"

        def __init__(self):
            self.peak = memory.used_bytes()

        def malloc_postprocess(self, **kwargs):
            self.peak = max(self.peak, memory.used_bytes())

    hook = PeakUsed()
    with hook:
        for i in range(steps):
            step(*pool[i % len(pool)])
        cupy.cuda.Device().synchronize()
    return {"gpu_peak_allocated_bytes": int(hook.peak),
            "gpu_peak_reserved_bytes": int(memory.total_bytes())}


def time_torch(kind, device, batch, optimizer, steps, warmup, pool, **kw):
    import torch
    torch.manual_seed(0)
    dev = torch.device("cuda" if device.startswith("cuda") else "cpu")
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    if kind in GENERATIVE:
        step = _torch_generative_step(kind, dev, batch)
    else:
        model = torch_model(kind, device, **kw)
        opt = _optimizer(torch.optim, model.parameters(), optimizer)
        loss_fn = torch.nn.functional.cross_entropy
        step = _classifier_step(model, _flat_loss(loss_fn) if kind == "char-transformer"
                                else loss_fn, opt)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    elapsed, loss = _timed_steps(step, pool, steps, warmup, sync)
    extra = {"final_loss": loss}
    if dev.type == "cuda":
        extra["gpu_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
        extra["gpu_peak_reserved_bytes"] = int(torch.cuda.max_memory_reserved())
    return elapsed, extra


TIMERS = {"xpnet": (time_xpnet, xpnet_pool), "torch": (time_torch, torch_pool)}


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


# -- one framework's runs: in this process, or in a process of its own ------------------------

def set_precision(device, tf32, torch_too=True):
    """Both frameworks' float32 GEMMs and convolutions at one precision on a GPU: TF32 off on
    both sides (the default: PyTorch's cuDNN convolutions would otherwise use TF32, as CuPy's
    GEMMs do not), or on for both (``CUPY_TF32=1``, read by CuPy at its first float32 matmul,
    and PyTorch's two switches). Nothing changes on the CPU. Returns :func:`precision_flags`."""
    if not device.startswith("cuda"):
        return None
    os.environ["CUPY_TF32"] = "1" if tf32 else "0"
    if torch_too or "torch" in sys.modules:
        try:
            import torch
        except ImportError:
            return precision_flags()
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return precision_flags()


def precision_flags():
    """What decides TF32 in this process: CUPY_TF32 and NVIDIA_TF32_OVERRIDE, and PyTorch's
    switches when it is imported."""
    flags = {k: os.environ.get(k) for k in ("CUPY_TF32", "NVIDIA_TF32_OVERRIDE")}
    torch = sys.modules.get("torch")
    if torch is not None:
        flags["torch.backends.cuda.matmul.allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
        flags["torch.backends.cudnn.allow_tf32"] = torch.backends.cudnn.allow_tf32
    return flags


def _set_torch_threads(threads):
    import torch
    if threads:
        torch.set_num_threads(threads)


class InProcess:
    """Runs a framework's repeats in this process (``--processes same``)."""

    def __init__(self, framework, spec):
        self.framework, self.spec = framework, spec
        timer, convert = TIMERS[framework]
        set_precision(spec["device"], spec.get("tf32", False), torch_too=framework == "torch")
        if framework == "torch":
            _set_torch_threads(spec["threads"])
        self.timer = timer
        self.pool = convert(spec["device"], batch_pool(spec["kind"], spec["batch"],
                                                       spec["pool_bytes"], **spec["kw"]))

    def time(self):
        s = self.spec
        return self.timer(s["kind"], s["device"], s["batch"], s["optimizer"], s["steps"],
                          s["warmup"], self.pool, **s["kw"])

    def close(self):
        self.pool = None
        return {"peak_rss_bytes": peak_rss_bytes(), "process": "shared"}


class Worker:
    """A framework's repeats in a child process (``--processes separate``): one JSON line in
    (the configuration, then ``time`` or ``exit`` commands), one JSON line out for each."""

    def __init__(self, framework, spec, xpnet_root):
        paths = [xpnet_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        self.framework = framework
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.run", "_worker", framework],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HARNESS_ROOT, env=env)
        ready = self._ask(spec)
        if framework == "xpnet" and ready.get("xpnet_path") != xpnet_root:
            self.close()
            raise RuntimeError(f"benchmarks.run: the xpnet worker imported xpnet from "
                               f"{ready.get('xpnet_path')!r}, this process from {xpnet_root!r}")

    def _ask(self, message):
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmarks.run: the {self.framework} worker process exited "
                               f"(code {self.proc.wait()}) without answering; see its stderr")
        answer = json.loads(line)
        if "error" in answer:
            self.proc.wait()
            raise RuntimeError(f"benchmarks.run: the {self.framework} worker failed:\n"
                               f"{answer['error']}")
        return answer

    def time(self):
        answer = self._ask({"op": "time"})
        return answer["elapsed"], answer["extra"]

    def close(self):
        answer = self._ask({"op": "exit"})
        self.proc.wait()
        return {"peak_rss_bytes": answer["peak_rss_bytes"], "process": "own"}


def worker_main(framework):
    """The child side of :class:`Worker`: its answers go to the original stdout, anything the
    libraries print goes to stderr."""
    pythonpath_first()
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    def answer(message):
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    try:
        spec = json.loads(sys.stdin.readline())
        settle_malloc(spec.get("malloc", "settled"))      # before the pool and the model
        runner = InProcess(framework, spec)
        ready = {"ready": True}
        if framework == "xpnet":
            import xpnet
            ready["xpnet_path"] = os.path.dirname(os.path.dirname(os.path.abspath(
                xpnet.__file__)))
        answer(ready)
        for line in sys.stdin:
            op = json.loads(line)["op"]
            if op == "time":
                elapsed, extra = runner.time()
                answer({"elapsed": elapsed, "extra": extra})
            else:
                runner.pool = None
                answer({"peak_rss_bytes": peak_rss_bytes()})
                return 0
    except Exception:
        answer({"error": traceback.format_exc()})
        return 1
    return 0


# -- the comparison --------------------------------------------------------------------------

class Recorder:
    """Prints each JSON line and appends it to the result file (unless ``path`` is None)."""

    def __init__(self, path):
        self.path = path
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def __call__(self, record):
        line = json.dumps(record)
        print(line, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")


def emit(record):   # replaced by main() with its Recorder
    print(json.dumps(record), flush=True)


def sgemm_peak(device, size=2048, tries=5):
    """GFLOP/s of the best of ``tries`` (size, size) @ (size, size) float32 products: NumPy's
    BLAS on the CPU, PyTorch's (else CuPy's) on a GPU."""
    flops = 2 * size ** 3
    if device.startswith("cuda"):
        try:
            import torch
            a, b = (torch.randn(size, size, device="cuda") for _ in range(2))
            mm, sync = (lambda: a @ b), torch.cuda.synchronize
        except ImportError:
            import cupy
            a, b = (cupy.random.standard_normal((size, size), dtype=cupy.float32)
                    for _ in range(2))
            mm, sync = (lambda: a @ b), cupy.cuda.Device().synchronize
    else:
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
        out = np.empty((size, size), np.float32)
        mm, sync = (lambda: np.matmul(a, b, out=out)), (lambda: None)
    mm()
    sync()
    best = math.inf
    for _ in range(tries):
        t0 = time.perf_counter()
        mm()
        sync()
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def compare(kind, device, batches, optimizer, steps, warmup, repeats, with_torch=True,
            processes="same", pool_bytes=POOL_MB * 2**20, peak_gflops=None, threads=None,
            xpnet_root=None, tf32=False, malloc="settled", **kw):
    """Alternating xpnet / torch repeats; one JSON line each and a summary line per batch."""
    summaries = []
    names = ["xpnet"] + (["torch"] if with_torch else [])
    for batch in batches:
        spec = {"kind": kind, "device": device, "batch": batch, "optimizer": optimizer,
                "steps": steps, "warmup": warmup, "pool_bytes": pool_bytes, "kw": kw,
                "threads": threads, "tf32": tf32, "malloc": malloc}
        step_flops = flop_count.step_flops(kind, batch, **kw)
        pool = {"pool_batches": pool_size(kind, batch, pool_bytes, **kw),
                "pool_mb": round(pool_size(kind, batch, pool_bytes, **kw)
                                 * _batch_bytes(kind, batch, **kw) / 2**20, 1)}
        runners = {}
        for name in names:
            runners[name] = (Worker(name, spec, xpnet_root) if processes == "separate"
                             else InProcess(name, spec))
        rates = {name: [] for name in names}
        gflops = {name: [] for name in names}
        extras = {name: {} for name in names}
        for r in range(repeats):
            for name in names:
                if not device.startswith("cuda"):
                    time.sleep(IDLE_S)
                elapsed, extra = runners[name].time()
                rate = steps * batch / elapsed
                rates[name].append(rate)
                gflops[name].append(step_flops * steps / elapsed / 1e9)
                extras[name] = extra
                record = {"bench": kind, "framework": name, "device": device, "batch": batch,
                          "repeat": r, "steps": steps, "processes": processes,
                          "samples_per_s": round(rate, 1),
                          "step_ms": round(1000 * elapsed / steps, 3),
                          "flop_per_step": step_flops,
                          "gflops": round(gflops[name][-1], 2), **pool, **kw, **extra}
                if peak_gflops:
                    record["fraction_of_sgemm_peak"] = round(gflops[name][-1] / peak_gflops, 4)
                emit(record)
        memory = {name: runners[name].close() for name in names}
        summary = {"bench": kind, "summary": True, "device": device, "batch": batch,
                   "optimizer": optimizer, "repeats": repeats, "steps": steps,
                   "processes": processes, "malloc": malloc, **pool, **kw,
                   "flop_per_step": step_flops, "sgemm_peak_gflops": peak_gflops}
        if device.startswith("cuda"):
            summary["precision"] = "tf32" if tf32 else "fp32"
            summary["precision_flags"] = precision_flags()
            summary["gpu_memory_note"] = GPU_MEMORY_NOTE
        for name in names:
            summary[f"{name}_samples_per_s"] = round(statistics.median(rates[name]), 1)
            summary[f"{name}_gflops"] = round(statistics.median(gflops[name]), 2)
            if peak_gflops:
                summary[f"{name}_fraction_of_sgemm_peak"] = round(
                    statistics.median(gflops[name]) / peak_gflops, 4)
            summary[f"{name}_peak_rss_mb"] = round(memory[name]["peak_rss_bytes"] / 2**20, 1)
            for k, v in extras[name].items():
                if "bytes" in k:
                    summary[f"{name}_{k}"] = v
        if processes == "same":
            summary["peak_rss_note"] = "one process for both frameworks: the same figure"
        if with_torch:
            summary["ratio_xpnet_over_torch"] = round(
                summary["xpnet_samples_per_s"] / summary["torch_samples_per_s"], 3)
        emit(summary)
        summaries.append(summary)
    return summaries


GPU_MEMORY_NOTE = ("allocated: the most bytes in live arrays at once (CuPy pool's used bytes, "
                   "torch.cuda.max_memory_allocated); reserved: what the allocator held from the "
                   "driver (CuPy pool's total bytes, torch.cuda.max_memory_reserved); compare "
                   "like with like")


def gpu_memory_lines(path):
    """One line per GPU summary of a result file: allocated against allocated, reserved against
    reserved (MiB), and the precision both frameworks ran at."""
    lines = []
    with open(path) as f:
        for text in f:
            try:
                s = json.loads(text)
            except ValueError:
                continue
            if not (isinstance(s, dict) and s.get("summary") and
                    "xpnet_gpu_peak_allocated_bytes" in s):
                continue
            def mib(key, s=s):
                value = s.get(key)
                return f"{value / 2**20:.1f}" if isinstance(value, (int, float)) else "-"
            size = "".join(f" {k} {s[k]}" for k in ("seq_len",) if k in s)
            lines.append(f"{s['bench']} batch {s['batch']}{size} GPU MiB ({s.get('precision')}):"
                         f" allocated xpnet {mib('xpnet_gpu_peak_allocated_bytes')} torch "
                         f"{mib('torch_gpu_peak_allocated_bytes')}; reserved xpnet "
                         f"{mib('xpnet_gpu_peak_reserved_bytes')} torch "
                         f"{mib('torch_gpu_peak_reserved_bytes')}")
    return lines


# -- generative models: the VAE's and the GAN's training steps, both frameworks ---------------

def _xpnet_models_function(name):
    """``xpnet.models.<name>`` (its home now) or ``xpnet.generative.<name>`` (older trees)."""
    import importlib
    from xpnet import models
    if hasattr(models, name):
        return getattr(models, name)
    return getattr(importlib.import_module("xpnet.generative"), name)


def _xpnet_generative_step(kind, device, batch):
    import xpnet
    from xpnet import models
    if kind == "vae":
        model = models.VAE(device=device)
        opt = xpnet.optim.Adam(model.parameters(), lr=1e-3)
        vae_loss = _xpnet_models_function("vae_loss")

        def step(x):
            reconstruction, mu, logvar = model(x)
            loss = vae_loss(reconstruction, x, mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step
    g, d = models.dcgan_generator(100, 64, device), models.dcgan_discriminator(64, device)
    g_opt, d_opt = (xpnet.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
                    for m in (g, d))

    gan_step = _xpnet_models_function("gan_step")

    def step(x):
        return gan_step(g, d, x, g_opt, d_opt, 100)[0]
    return step


def _torch_generative(kind, torch):
    nn, F = torch.nn, torch.nn.functional
    if kind == "vae":
        class VAE(nn.Module):                    # PyTorch's examples/vae/main.py
            def __init__(self):
                super().__init__()
                self.fc1, self.fc21, self.fc22 = (nn.Linear(784, 400), nn.Linear(400, 20),
                                                  nn.Linear(400, 20))
                self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

            def forward(self, x):
                h = F.relu(self.fc1(x.view(-1, 784)))
                mu, logvar = self.fc21(h), self.fc22(h)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar
        return VAE()
    g = nn.Sequential(nn.Unflatten(1, (100, 1, 1)),
                      nn.ConvTranspose2d(100, 128, 7, 1, 0, bias=False), nn.BatchNorm2d(128),
                      nn.ReLU(), nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
                      nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128),
                      nn.LeakyReLU(0.2), nn.Conv2d(128, 1, 7, 1, 0, bias=False), nn.Flatten())
    return g, d


def _torch_generative_step(kind, dev, batch):
    import torch
    F = torch.nn.functional
    if kind == "vae":
        model = _torch_generative(kind, torch).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(x):
            reconstruction, mu, logvar = model(x)
            loss = (F.binary_cross_entropy(reconstruction, x.view(-1, 784), reduction="sum")
                    - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step
    g, d = (m.to(dev) for m in _torch_generative(kind, torch))
    g_opt, d_opt = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
                    for m in (g, d))
    ones, zeros = torch.ones(batch, 1, device=dev), torch.zeros(batch, 1, device=dev)

    def step(x):                                 # the same update as xpnet.models.gan_step
        fake = g(torch.randn(batch, 100, device=dev))
        d_loss = (F.binary_cross_entropy_with_logits(d(x), ones)
                  + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros))
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        d.requires_grad_(False)
        g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        d.requires_grad_(True)
        return d_loss
    return step


# -- one epoch of the README's job, through the CLI, against the PyTorch twin -----------------

def _run_child(cmd, cwd, env, log_path):
    """Run ``cmd``; its wall time, exit code and peak RSS (this child's own ru_maxrss)."""
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    with open(log_path) as f:
        output = f.read()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks.run epoch: {' '.join(cmd)} exited with "
                           f"{proc.returncode}:\n{output[-3000:]}")
    return wall, int(rss), output


def epoch_xpnet(epochs, data, limit, device, xpnet_root, work):
    """``xpnet train mnist-cnn --epochs N`` as a user runs it (a subprocess, the CLI)."""
    out = os.path.join(work, "xpnet-run")
    cmd = [sys.executable, "-m", "xpnet", "train", "mnist-cnn", "--epochs", str(epochs),
           "--device", device, "--data", data, "--out", out, "--quiet"]
    if limit:
        cmd += ["--limit", str(limit)]
    paths = [xpnet_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    # run from the work folder, so that the tree on PYTHONPATH is the xpnet imported
    wall, rss, output = _run_child(cmd, work, env, os.path.join(work, "xpnet.log"))
    with open(os.path.join(out, "history.json")) as f:
        history = json.load(f)["history"]
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(rss / 2**20, 1),
            "epoch_train_s": [round(t, 2) for t in history.get("time", [])],
            "test_accuracy": history["val_accuracy"][-1], "test_loss": history["val_loss"][-1],
            "final_line": output.strip().splitlines()[-1] if output.strip() else ""}


def epoch_torch(epochs, data, limit, device, threads, work):
    """``python -m benchmarks.torch_twin``: the same recipe in PyTorch, as a subprocess."""
    cmd = [sys.executable, "-m", "benchmarks.torch_twin", "--epochs", str(epochs),
           "--device", device, "--data", data]
    if limit:
        cmd += ["--limit", str(limit)]
    if threads:
        cmd += ["--threads", str(threads)]
    wall, rss, output = _run_child(cmd, HARNESS_ROOT, dict(os.environ),
                                   os.path.join(work, "torch.log"))
    result = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(rss / 2**20, 1),
            "epoch_train_s": result["epoch_train_s"], "test_accuracy": result["test_accuracy"],
            "test_loss": result["test_loss"], "threads": result["threads"]}


def compare_epoch(epochs, data, limit, device, repeats, with_torch, threads, xpnet_root):
    """Alternating runs of the two (xpnet, torch, xpnet, ...), one JSON line each, a summary."""
    runs = {"xpnet": [], "torch": []}
    for r in range(repeats):
        for name in ["xpnet"] + (["torch"] if with_torch else []):
            time.sleep(IDLE_S)
            with tempfile.TemporaryDirectory(prefix=f"bench-epoch-{name}-") as work:
                if name == "xpnet":
                    result = epoch_xpnet(epochs, data, limit, device, xpnet_root, work)
                else:
                    result = epoch_torch(epochs, data, limit, device, threads, work)
            runs[name].append(result)
            emit({"bench": "epoch", "recipe": "mnist-cnn", "framework": name, "repeat": r,
                  "epochs": epochs, "limit": limit, "device": device, **result})
    summary = {"bench": "epoch", "summary": True, "recipe": "mnist-cnn", "epochs": epochs,
               "limit": limit, "device": device, "repeats": repeats}
    for name, results in runs.items():
        if results:
            for key in ("wall_s", "peak_rss_mb", "test_accuracy"):
                summary[f"{name}_{key}"] = statistics.median(r[key] for r in results)
            summary[f"{name}_epoch_train_s"] = statistics.median(
                r["epoch_train_s"][-1] for r in results)
    if runs["torch"]:
        summary["ratio_wall_xpnet_over_torch"] = round(
            summary["xpnet_wall_s"] / summary["torch_wall_s"], 3)
    emit(summary)
    return summary


# -- command line ----------------------------------------------------------------------------

BENCHES = ["mlp", "cnn", "rnn", "seed-cnn", "char-transformer"] + GENERATIVE + ["epoch"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=BENCHES)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=None,
                        help="alternating repeats per framework (default 3; epoch: 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch's CPU threads (default: the number of cores, as NumPy's "
                             "BLAS; that one takes XPNET_NUM_THREADS, set before the run)")
    parser.add_argument("--processes", choices=["separate", "same"], default=None,
                        help="each framework in its own process (default on the CPU) or both "
                             "in this one (default on a GPU)")
    parser.add_argument("--pool-mb", type=float, default=POOL_MB,
                        help="synthetic batches, at least this many MB in all (default 64)")
    parser.add_argument("--peak-size", type=int, default=2048,
                        help="the SGEMM that measures the peak (0: skip)")
    parser.add_argument("--out", default=None,
                        help="result file (default benchmarks/results/<date>_<device>_<machine>"
                             "_<commit>[_<label>].jsonl; '-': print only)")
    parser.add_argument("--label", default=None, help="added to the default result file's name")
    parser.add_argument("--malloc", choices=sorted(MALLOC_MODES), default="settled",
                        help="glibc malloc's thresholds in the processes that train: 'settled' "
                             "(the default), as in a process that has loaded a dataset (the "
                             "epoch's programs are), or a fresh process's 'fresh' (PyTorch's "
                             "CPU step is slower there; see benchmarks/environment.py)")
    parser.add_argument("--seq-len", type=int, nargs="+", default=[28, 100])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--tf32", choices=["off", "on"], default="off",
                        help="GPU only: float32 GEMMs and convolutions of BOTH frameworks in TF32 "
                             "(on: CUPY_TF32=1 and PyTorch's allow_tf32 switches) or not (off, "
                             "the default: PyTorch's cuDNN would use TF32 by itself)")
    parser.add_argument("--block-size", type=int, nargs="+", default=[64],
                        help="char-transformer: context lengths")
    parser.add_argument("--layers", type=int, default=4, help="char-transformer")
    parser.add_argument("--heads", type=int, default=4, help="char-transformer")
    parser.add_argument("--embed", type=int, default=128, help="char-transformer")
    parser.add_argument("--epochs", type=int, default=1, help="epoch")
    parser.add_argument("--limit", type=int, default=None,
                        help="epoch: the first N training and N // 6 test images (checks only)")
    parser.add_argument("--data", default=os.path.join(HARNESS_ROOT, "data", "mnist"),
                        help="epoch: the folder with MNIST's four files")
    return parser.parse_args(argv)


def main(argv=None):
    global emit
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        return worker_main(argv[1])
    if argv[:1] == ["_gpu_memory"]:
        for path in argv[1:]:
            for line in gpu_memory_lines(path):
                print(line)
        return 0
    pythonpath_first()
    args = parse_args(argv)
    settled = settle_malloc(args.malloc)     # this process too: it trains with --processes same
    cpu = not args.device.startswith("cuda")
    tf32 = args.tf32 == "on"
    set_precision(args.device, tf32, torch_too=not args.no_torch)   # before any GEMM
    processes = args.processes or ("separate" if cpu else "same")
    threads = args.threads or os.cpu_count()
    try:
        import importlib.util
        with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        with_torch = False
    if with_torch and processes == "same":
        _set_torch_threads(threads)
    env = environment(args.device, torch_threads=threads if with_torch else None)
    if not cpu:
        env["precision"] = "tf32" if tf32 else "fp32"
        env["precision_flags"] = precision_flags()
    path = None if args.out == "-" else args.out or result_path(
        env["date"], args.device, env["machine_name"], env["commit"], env["dirty"], args.label)
    emit = Recorder(path)
    peak = None
    if args.peak_size and args.bench != "epoch":
        peak = round(sgemm_peak(args.device, args.peak_size), 1)
    emit({"environment": env, "bench": args.bench, "argv": argv, "processes": processes,
          "malloc": args.malloc if args.bench != "epoch" else "the programs' own",
          "malloc_thresholds": settled,
          "pool_mb": args.pool_mb, "sgemm_peak_gflops": peak,
          "sgemm_peak_size": args.peak_size or None, "result_file": path})
    if path:
        print(f"results: {path}", file=sys.stderr)
    common = dict(with_torch=with_torch, processes=processes,
                  pool_bytes=int(args.pool_mb * 2**20), peak_gflops=peak,
                  threads=threads, xpnet_root=env["xpnet_path"], tf32=tf32, malloc=args.malloc)
    repeats = args.repeats or (1 if args.bench == "epoch" else 3)
    if args.bench == "epoch":
        compare_epoch(args.epochs, os.path.abspath(args.data), args.limit, args.device, repeats,
                      with_torch, threads, env["xpnet_path"])
    elif args.bench == "mlp":
        compare("mlp", args.device, args.batch or [128], "sgd-momentum",
                args.steps or (100 if cpu else 300), args.warmup, repeats, **common)
    elif args.bench == "cnn":
        compare("cnn", args.device, args.batch or [64, 256], "adam",
                args.steps or (10 if cpu else 100), args.warmup, repeats, **common)
    elif args.bench == "rnn":
        for cell in args.cells:
            for seq_len in args.seq_len:
                compare(cell, args.device, args.batch or [64, 256], "adam",
                        args.steps or (10 if cpu else 100), args.warmup, repeats,
                        seq_len=seq_len, input_size=28, hidden=128, **common)
    elif args.bench == "char-transformer":   # nanoGPT's CPU configuration by default
        for block in args.block_size:
            compare("char-transformer", args.device, args.batch or [12], "adamw",
                    args.steps or (50 if cpu else 200), args.warmup, repeats,
                    seq_len=block, vocab=65, layers=args.layers, heads=args.heads,
                    embed=args.embed, **common)
    elif args.bench in GENERATIVE:
        compare(args.bench, args.device, args.batch or [128], "adam",
                args.steps or (20 if cpu else 100), args.warmup, repeats, **common)
    elif args.bench == "seed-cnn":
        from benchmarks.student_loop import time_loop
        summaries = compare("seed-cnn", args.device, args.batch or [1, 64], "sgd",
                            args.steps or (200 if cpu else 300), args.warmup, repeats,
                            **common)
        loop_rates = []
        for r in range(repeats):
            rate = time_loop(samples=20)
            loop_rates.append(rate)
            emit({"bench": "seed-cnn", "framework": "per-sample-loop", "repeat": r,
                  "samples_per_s": round(rate, 2)})
        loop = statistics.median(loop_rates)
        for s in summaries:
            emit({"bench": "seed-cnn", "summary": True, "batch": s["batch"],
                  "device": args.device, "per_sample_loop_samples_per_s": round(loop, 2),
                  "xpnet_samples_per_s": s["xpnet_samples_per_s"],
                  "speedup_over_loop": round(s["xpnet_samples_per_s"] / loop, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
