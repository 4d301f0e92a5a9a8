"""Side-by-side training throughput: xpnet against PyTorch, same model, same machine, same run.

    python -m benchmarks.run mlp --device cpu            # MLP 784-256-256-10, SGD momentum
    python -m benchmarks.run cnn --device cuda --batch 64 256
    python -m benchmarks.run rnn --device cpu            # LSTM/GRU/RNN classifiers, Adam
    python -m benchmarks.run seed-cnn --device cpu       # the course's network vs a per-sample loop
    python -m benchmarks.run char-transformer --device cpu   # nanoGPT's CPU model, AdamW
    python -m benchmarks.run vae --device cpu            # the reference VAE's step, Adam 1e-3
    python -m benchmarks.run gan --device cpu            # a DCGAN step (D, then G), Adam 2e-4

Synthetic batches live on the device for the whole run (no data loading is measured). xpnet and
PyTorch alternate, ``--repeats`` times each (default 3); every timed run prints one JSON line,
and a ``summary`` line per configuration gives both medians and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


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


# -- timing ----------------------------------------------------------------------------------

def _input_shape(kind, batch, **kw):
    if kind == "mlp":
        return (batch, 784)
    if kind in ("cnn", "seed-cnn"):
        return (batch, 1, 28, 28)
    return (batch, kw["seq_len"], kw["input_size"])


def _batch(kind, batch, **kw):
    """A synthetic (inputs, labels) batch as NumPy arrays, the same for both libraries."""
    rng = np.random.default_rng(0)
    if kind == "char-transformer":   # next-character ids: (N, T) in, (N, T) labels
        ids = rng.integers(0, kw["vocab"], (batch, kw["seq_len"] + 1))
        return ids[:, :-1].copy(), ids[:, 1:].copy()
    x = rng.standard_normal(_input_shape(kind, batch, **kw)).astype(np.float32)
    return x, rng.integers(0, 10, batch)


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


def _timed_steps(step, steps, warmup, sync):
    """Seconds for ``steps`` calls of ``step()`` after ``warmup`` ones, and the last loss."""
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync()
    return time.perf_counter() - t0, float(loss.item())


def _timed(model, loss_fn, opt, x, y, steps, warmup, sync):
    """Seconds for ``steps`` training steps after ``warmup`` ones, and the last loss."""
    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return _timed_steps(step, steps, warmup, sync)


def time_xpnet(kind, device, batch, optimizer, steps, warmup, **kw):
    import xpnet
    import xpnet.functional as F
    xpnet.manual_seed(0)
    model = xpnet_model(kind, device, **kw)
    x, y = (xpnet.tensor(a, device=device) for a in _batch(kind, batch, **kw))
    opt = _optimizer(xpnet.optim, model.parameters(), optimizer)
    if device.startswith("cuda"):
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()   # each configuration starts empty
    loss_fn = _flat_loss(F.cross_entropy) if kind == "char-transformer" else F.cross_entropy
    elapsed, loss = _timed(model, loss_fn, opt, x, y, steps, warmup,
                           lambda: _sync_xpnet(device))
    extra = {"final_loss": loss}
    if device.startswith("cuda"):
        # the pool only grows until freed, so what it holds now is its high-water mark
        extra["gpu_peak_pool_bytes"] = int(cupy.get_default_memory_pool().total_bytes())
    return elapsed, extra


def time_torch(kind, device, batch, optimizer, steps, warmup, **kw):
    import torch
    torch.manual_seed(0)
    model = torch_model(kind, device, **kw)
    dev = next(model.parameters()).device
    x, y = (torch.from_numpy(a).to(dev) for a in _batch(kind, batch, **kw))
    opt = _optimizer(torch.optim, model.parameters(), optimizer)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    loss_fn = torch.nn.functional.cross_entropy
    elapsed, loss = _timed(model, _flat_loss(loss_fn) if kind == "char-transformer" else loss_fn,
                           opt, x, y, steps, warmup, sync)
    extra = {"final_loss": loss}
    if dev.type == "cuda":
        extra["gpu_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
        extra["gpu_peak_reserved_bytes"] = int(torch.cuda.max_memory_reserved())
    return elapsed, extra


def environment(device):
    import xpnet
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "xpnet": xpnet.__version__, "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
           "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    try:   # the BLAS kernel NumPy actually runs (the environment can force an older one)
        from threadpoolctl import threadpool_info
        env["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                               "num_threads")}
                       for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        env["blas"] = "threadpoolctl not installed"
    # how many threads a convolution's slabs run on (xpnet.backend.SlabThreads)
    env["xpnet_slab_threads"] = xpnet.backend.SLAB_THREADS.threads(xpnet.device("cpu").xp)
    try:
        import torch
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
            env["cudnn"] = torch.backends.cudnn.version()
    except ImportError:
        env["torch"] = None
    try:
        import cupy
        env["cupy"] = cupy.__version__
    except ImportError:
        pass
    return env


def emit(record):
    print(json.dumps(record), flush=True)


IDLE_S = 0.5


def compare(kind, device, batches, optimizer, steps, warmup, repeats, with_torch=True,
            timers=(time_xpnet, time_torch), **kw):
    """Interleaved xpnet / torch runs; one JSON line each and a summary line per batch size."""
    summaries = []
    for batch in batches:
        rates = {"xpnet": [], "torch": []}
        extras = {"xpnet": {}, "torch": {}}
        for r in range(repeats):
            frameworks = [("xpnet", timers[0])] + ([("torch", timers[1])] if with_torch else [])
            for name, fn in frameworks:
                if not device.startswith("cuda"):
                    # the other library's idle threads (OpenMP, OpenBLAS) spin for a while after
                    # their last parallel region and would steal the cores from this run
                    time.sleep(IDLE_S)
                elapsed, extra = fn(kind, device, batch, optimizer, steps, warmup, **kw)
                rate = steps * batch / elapsed
                rates[name].append(rate)
                extras[name] = extra
                emit({"bench": kind, "framework": name, "device": device, "batch": batch,
                      "repeat": r, "steps": steps, "samples_per_s": round(rate, 1),
                      "step_ms": round(1000 * elapsed / steps, 3), **kw, **extra})
        summary = {"bench": kind, "summary": True, "device": device, "batch": batch,
                   "optimizer": optimizer, "repeats": repeats, **kw,
                   "xpnet_samples_per_s": round(statistics.median(rates["xpnet"]), 1)}
        if rates["torch"]:
            summary["torch_samples_per_s"] = round(statistics.median(rates["torch"]), 1)
            summary["ratio_xpnet_over_torch"] = round(
                summary["xpnet_samples_per_s"] / summary["torch_samples_per_s"], 3)
        for name in ("xpnet", "torch"):
            for k, v in extras[name].items():
                if "bytes" in k:
                    summary[f"{name}_{k}"] = v
        emit(summary)
        summaries.append(summary)
    return summaries


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=["mlp", "cnn", "rnn", "seed-cnn", "char-transformer"]
                        + GENERATIVE)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2,
                        help="PyTorch's CPU threads; NumPy's BLAS takes OPENBLAS_NUM_THREADS "
                             "(set it before the run; default: all cores)")
    parser.add_argument("--seq-len", type=int, nargs="+", default=[28, 100])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--block-size", type=int, nargs="+", default=[64],
                        help="char-transformer: context lengths")
    parser.add_argument("--layers", type=int, default=4, help="char-transformer")
    parser.add_argument("--heads", type=int, default=4, help="char-transformer")
    parser.add_argument("--embed", type=int, default=128, help="char-transformer")
    args = parser.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(args.threads)
        with_torch = not args.no_torch
    except ImportError:
        with_torch = False
    emit({"environment": environment(args.device), "bench": args.bench,
          "torch_threads": args.threads,
          "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", f"all ({os.cpu_count()})")})
    cpu = not args.device.startswith("cuda")
    if args.bench == "mlp":
        compare("mlp", args.device, args.batch or [128], "sgd-momentum",
                args.steps or (100 if cpu else 300), args.warmup, args.repeats, with_torch)
    elif args.bench == "cnn":
        compare("cnn", args.device, args.batch or [64, 256], "adam",
                args.steps or (10 if cpu else 100), args.warmup, args.repeats, with_torch)
    elif args.bench == "rnn":
        for cell in args.cells:
            for seq_len in args.seq_len:
                compare(cell, args.device, args.batch or [64, 256], "adam",
                        args.steps or (10 if cpu else 100), args.warmup, args.repeats,
                        with_torch, seq_len=seq_len, input_size=28, hidden=128)
    elif args.bench == "char-transformer":   # nanoGPT's CPU configuration by default
        for block in args.block_size:
            compare("char-transformer", args.device, args.batch or [12], "adamw",
                    args.steps or (50 if cpu else 200), args.warmup, args.repeats, with_torch,
                    seq_len=block, vocab=65, layers=args.layers, heads=args.heads,
                    embed=args.embed)
    elif args.bench in GENERATIVE:
        compare(args.bench, args.device, args.batch or [128], "adam",
                args.steps or (20 if cpu else 100), args.warmup, args.repeats, with_torch,
                timers=(time_generative_xpnet, time_generative_torch))
    elif args.bench == "seed-cnn":
        from benchmarks.student_loop import time_loop
        summaries = compare("seed-cnn", args.device, args.batch or [1, 64], "sgd",
                            args.steps or (200 if cpu else 300), args.warmup, args.repeats,
                            with_torch)
        loop_rates = []
        for r in range(args.repeats):
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


# -- generative models (issue 13): the VAE's and the GAN's training steps, both frameworks -----

GENERATIVE = ["vae", "gan"]


def _generative_data(kind, batch):
    rng = np.random.default_rng(0)
    if kind == "vae":   # binary pixels in [0, 1], as the VAE's BCE wants
        return (rng.random((batch, 1, 28, 28)) > 0.7).astype(np.float32)
    return rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)   # "real" images for D


def time_generative_xpnet(kind, device, batch, optimizer, steps, warmup):
    import xpnet
    from xpnet import generative, models
    xpnet.manual_seed(0)
    x = xpnet.tensor(_generative_data(kind, batch), device=device)
    if kind == "vae":
        model = models.VAE(device=device)
        opt = xpnet.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            reconstruction, mu, logvar = model(x)
            loss = generative.vae_loss(reconstruction, x, mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    else:
        g, d = models.dcgan_generator(100, 64, device), models.dcgan_discriminator(64, device)
        g_opt, d_opt = (xpnet.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
                        for m in (g, d))

        def step():
            return generative.gan_step(g, d, x, g_opt, d_opt, 100)[0]
    elapsed, loss = _timed_steps(step, steps, warmup, lambda: _sync_xpnet(device))
    return elapsed, {"final_loss": loss}


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


def time_generative_torch(kind, device, batch, optimizer, steps, warmup):
    import torch
    F = torch.nn.functional
    torch.manual_seed(0)
    dev = torch.device("cuda" if device.startswith("cuda") else "cpu")
    x = torch.from_numpy(_generative_data(kind, batch)).to(dev)
    if kind == "vae":
        model = _torch_generative(kind, torch).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            reconstruction, mu, logvar = model(x)
            loss = (F.binary_cross_entropy(reconstruction, x.view(-1, 784), reduction="sum")
                    - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    else:
        g, d = (m.to(dev) for m in _torch_generative(kind, torch))
        g_opt, d_opt = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
                        for m in (g, d))
        ones, zeros = torch.ones(batch, 1, device=dev), torch.zeros(batch, 1, device=dev)

        def step():                              # the same update as xpnet.generative.gan_step
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
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    elapsed, loss = _timed_steps(step, steps, warmup, sync)
    return elapsed, {"final_loss": loss}


if __name__ == "__main__":
    sys.exit(main())
