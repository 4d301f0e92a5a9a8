"""The models behind ``xpnet train``: the MNIST CNN, the course's one-filter CNN, an MLP, an LSTM,
and a character Transformer with its sampling, evaluation and training functions."""
from __future__ import annotations

import math
import time

import numpy as np

from . import nn, ops, optim
from . import random as xpnet_random
from .autograd import Tensor, no_grad
from .random import host_rng


def mnist_cnn(device=None) -> nn.Module:
    """Conv 1→32 3×3, ReLU, Conv 32→64 3×3, ReLU, MaxPool 2, Flatten, Linear 9216→128, ReLU,
    Linear 128→10 (the PyTorch MNIST example without dropout)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, device=device), nn.ReLU(),
        nn.Conv2d(32, 64, 3, device=device), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(9216, 128, device=device), nn.ReLU(),
        nn.Linear(128, 10, device=device))


def mnist_seed_cnn(device=None) -> nn.Module:
    """The student's network: one 3×3 filter with padding 1, ReLU, 2×2 max pool, Linear 196→10."""
    return nn.Sequential(
        nn.Conv2d(1, 1, 3, padding=1, device=device), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(196, 10, device=device))


def mnist_mlp(device=None) -> nn.Module:
    """784-256-256-10 with ReLU."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256, device=device), nn.ReLU(),
        nn.Linear(256, 256, device=device), nn.ReLU(), nn.Linear(256, 10, device=device))


class SequenceClassifier(nn.Module):
    """A recurrent layer over (N, T, features), then Linear on the last time step's output.

    Shape: (N, T, input_size) -> (N, num_classes)
    """

    def __init__(self, input_size, hidden_size, num_classes, cell="lstm", num_layers=1,
                 device=None):
        layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = layer(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         device=device)
        self.head = nn.Linear(hidden_size, num_classes, device=device)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[:, -1, :])


def mnist_lstm(device=None) -> nn.Module:
    """Rows of an image as 28 steps: LSTM(28 → 128), Linear 128→10."""
    return SequenceClassifier(28, 128, 10, "lstm", device=device)


# -- the character Transformer (a GPT in miniature) ---------------------------------------------

def _gelu_tanh(x):
    return ops.gelu(x, approximate="tanh")


class CharTransformer(nn.Module):
    """A decoder-only (GPT-style) character language model: token and position embeddings,
    ``n_layer`` pre-norm blocks of causal self-attention and a 4x feed-forward network, a final
    LayerNorm and a linear head onto the vocabulary, as nanoGPT's ``GPT``.

    Each block is an :class:`~xpnet.nn.TransformerEncoderLayer` with ``norm_first=True`` and
    the causal mask; its GELU is GPT-2's tanh form (also cheaper than erf on NumPy). The head
    shares the token embedding's weight (``tie_weights``, as GPT-2 and nanoGPT), and weights are
    initialised as nanoGPT's: N(0, 0.02), the residual projections N(0, 0.02/√(2·n_layer)),
    biases 0. At the defaults and 65 characters: 0.80 M parameters (without the position table).

    Shape: (N, T) integer ids, T <= block_size -> (N, T, vocab_size) logits

    >>> import xpnet
    >>> model = CharTransformer(65, block_size=8, n_layer=1, n_head=2, n_embd=16)
    >>> model(xpnet.tensor([[1, 2, 3]])).shape
    (1, 3, 65)
    """

    def __init__(self, vocab_size: int, block_size: int = 64, n_layer: int = 4,
                 n_head: int = 4, n_embd: int = 128, dropout: float = 0.0, bias: bool = True,
                 tie_weights: bool = True, device=None, dtype=None):
        kw = dict(device=device, dtype=dtype)
        self.vocab_size, self.block_size = vocab_size, block_size
        self.token_embedding = nn.Embedding(vocab_size, n_embd, **kw)
        self.position_embedding = nn.Embedding(block_size, n_embd, **kw)
        self.drop = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(n_embd, n_head, 4 * n_embd, dropout, _gelu_tanh,
                                           batch_first=True, norm_first=True, bias=bias, **kw)
        self.transformer = nn.TransformerEncoder(block, n_layer,
                                                 norm=nn.LayerNorm(n_embd, bias=bias, **kw))
        self.head = nn.Linear(n_embd, vocab_size, bias=False, **kw)
        residual = 0.02 / math.sqrt(2 * n_layer)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                out_projection = name.endswith(("out_proj.weight", "linear2.weight"))
                nn.init.normal_(p, 0.0, residual if out_projection else 0.02)
        if tie_weights:
            self.head.weight = self.token_embedding.weight
        self._masks = {}

    def _causal_mask(self, length, like):
        key = (length, like.device.name, like.dtype)
        if key not in self._masks:   # built once per length: no per-step host work
            self._masks[key] = nn.Transformer.generate_square_subsequent_mask(
                length, device=like.device, dtype=like.dtype)
        return self._masks[key]

    def forward(self, ids):
        if ids.ndim != 2 or ids.shape[1] > self.block_size:
            raise self._error(f"ids must be (N, T) with T <= block_size = {self.block_size}, "
                              f"got {ids.shape}")
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding.weight[:length, :]
        x = self.transformer(self.drop(x), mask=self._causal_mask(length, x), is_causal=True)
        return self.head(x)

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, block_size={self.block_size}"


def generate(model, ids, max_new_tokens: int, temperature: float = 1.0, top_k=None,
             seed=None):
    """Sample ``max_new_tokens`` ids after ``ids`` (N, T) from a causal language model,
    feeding back its last ``model.block_size`` ids each step; returns (N, T + max_new_tokens)
    on the model's device. Sampling runs on the host (seeded by ``seed``, else xpnet's host
    generator); the model is put in eval mode meanwhile.

    >>> import xpnet
    >>> model = CharTransformer(5, block_size=4, n_layer=1, n_head=1, n_embd=8)
    >>> generate(model, xpnet.tensor([[0]]), 6, seed=0).shape
    (1, 7)
    """
    if temperature <= 0:
        raise ValueError(f"generate: temperature must be > 0, got {temperature}")
    device = model.device
    rng = np.random.default_rng(seed) if seed is not None else host_rng()
    history = np.array(ids.numpy() if isinstance(ids, Tensor) else ids, dtype=np.int64)
    if history.ndim != 2 or history.shape[1] == 0:
        raise ValueError(f"generate: ids must be (N, T) with T >= 1, got {history.shape}")
    training = model.training
    model.eval()
    with no_grad():
        for _ in range(max_new_tokens):
            context = Tensor(history[:, -model.block_size:], device=device)
            logits = model(context)[:, -1, :].numpy().astype(np.float64) / temperature
            if top_k is not None and top_k < logits.shape[1]:
                kth = np.sort(logits, axis=1)[:, -top_k][:, None]
                logits = np.where(logits < kth, -np.inf, logits)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            picks = [rng.choice(p.shape[1], p=row) for row in p]
            history = np.concatenate([history, np.array(picks)[:, None]], axis=1)
    model.train(training)
    return Tensor(history, device=device)


def char_lm_split(text: str, train_fraction: float = 0.9):
    """The sorted characters of ``text`` and its ids split into a training and a validation
    part: ``(chars, train_ids, val_ids)``, NumPy int64 (the first 90 % train, as nanoGPT)."""
    chars = sorted(set(text))
    lookup = np.zeros(max(map(ord, chars)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    ids = lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]
    cut = int(len(ids) * train_fraction)
    return chars, ids[:cut], ids[cut:]


def _random_windows(ids, batch_size, block_size):
    """(inputs, targets) of ``batch_size`` random windows of the id Tensor, drawn and gathered
    on its device (the device generator picks the starts: no host round trip per step)."""
    xp, backend = ids.xp, ids.backend
    starts = xpnet_random.integers(backend, 0, ids.shape[0] - block_size, (batch_size, 1))
    with backend.scope():
        offsets = xp.arange(block_size + 1, dtype=starts.dtype, device=starts.device)
        windows = xp.reshape(xp.take(ids.data, xp.reshape(starts + offsets, (-1,)), axis=0),
                             (batch_size, block_size + 1))
    return (Tensor._wrap(windows[:, :-1], backend), Tensor._wrap(windows[:, 1:], backend))


def evaluate_char_lm(model, ids, batch_size: int = 128, max_windows=None) -> float:
    """Mean next-character cross-entropy (nats) over consecutive windows of ``model.block_size``
    (all of ``ids``, or ``max_windows`` evenly spaced ones); one host read at the end."""
    block = model.block_size
    ids = np.asarray(ids.numpy() if isinstance(ids, Tensor) else ids, dtype=np.int64)
    count = (len(ids) - 1) // block
    starts = np.arange(count) * block
    if max_windows is not None and max_windows < count:
        starts = starts[np.linspace(0, count - 1, max_windows).astype(np.int64)]
    windows = starts[:, None] + np.arange(block + 1)
    total, training = None, model.training
    model.eval()
    with no_grad():
        for i in range(0, len(windows), batch_size):
            chunk = Tensor(ids[windows[i:i + batch_size]], device=model.device)
            logits = model(chunk[:, :-1])
            loss = ops.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                     chunk[:, 1:].reshape(-1), reduction="sum")
            total = loss if total is None else total + loss
    model.train(training)
    return float(total.item()) / (len(windows) * block)


def train_char_lm(model, train_ids, val_ids=None, iters: int = 2000, batch_size: int = 12,
                  lr: float = 1e-3, min_lr: float = 1e-4, warmup_iters: int = 100,
                  weight_decay: float = 0.1, betas=(0.9, 0.99), grad_clip: float = 1.0,
                  eval_interval: int = 250, eval_windows: int = 256, log=print) -> dict:
    """Train a causal language model on random windows of ``train_ids``, as nanoGPT's
    ``train.py``: AdamW (weight decay on matrices only), a linear warm-up over
    ``warmup_iters`` then cosine decay to ``min_lr`` (LinearLR then CosineAnnealingLR in a
    SequentialLR), gradients clipped to norm ``grad_clip``.

    Every ``eval_interval`` iterations (and at the end) the mean training loss since the last
    report and the validation loss on ``eval_windows`` windows are read back and passed to
    ``log``; the final validation loss is on all of ``val_ids``. Returns the history:
    ``{"iter", "train_loss", "val_loss", "lr": [...], "final_val_loss", "seconds"}``.
    """
    device = model.device
    data = Tensor(np.asarray(train_ids, dtype=np.int64), device=device)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    opt = optim.AdamW([{"params": matrices, "weight_decay": weight_decay},
                       {"params": vectors, "weight_decay": 0.0}], lr=lr, betas=betas)
    warmup = max(int(warmup_iters), 1)
    schedule = optim.SequentialLR(opt, [
        optim.LinearLR(opt, start_factor=1.0 / (warmup + 1), total_iters=warmup),
        optim.CosineAnnealingLR(opt, T_max=max(iters - warmup, 1), eta_min=min_lr)],
        milestones=[warmup])
    history = {"iter": [], "train_loss": [], "val_loss": [], "lr": []}
    running, count, start = None, 0, time.perf_counter()
    model.train()
    for step in range(1, iters + 1):
        x, y = _random_windows(data, batch_size, model.block_size)
        logits = model(x)
        loss = ops.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if grad_clip:
            optim.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        schedule.step()
        running = loss.detach() if running is None else running + loss.detach()  # no sync
        count += 1
        if step % eval_interval == 0 or step == iters:
            val = evaluate_char_lm(model, val_ids, max_windows=eval_windows) \
                if val_ids is not None else None
            history["iter"].append(step)
            history["train_loss"].append(float(running.item()) / count)
            history["val_loss"].append(val)
            history["lr"].append(opt.param_groups[0]["lr"])
            running, count = None, 0
            if log:
                log(f"iter {step:5d}  train loss {history['train_loss'][-1]:.4f}"
                    + (f"  val loss {val:.4f}" if val is not None else "")
                    + f"  ({time.perf_counter() - start:.0f} s)")
    history["seconds"] = time.perf_counter() - start
    history["final_val_loss"] = evaluate_char_lm(model, val_ids) if val_ids is not None \
        else None
    return history
# -- generative models (issue 13) -----------------------------------------------------------------

class VAE(nn.Module):
    """PyTorch's reference VAE for MNIST: encoder 784-400-(μ, log σ²) with ReLU, decoder
    latent-400-784 with ReLU and a sigmoid output (pixel probabilities). Layer names as in the
    PyTorch example (fc1, fc21, fc22, fc3, fc4), so its state_dict loads.

    ``forward(x)`` returns (reconstruction (N, 784), μ, log σ²), with z = μ + σ⊙ε drawn on the
    device (:func:`xpnet.functional.reparameterize`); train it on :func:`xpnet.generative.vae_loss`.

    Shape: (N, 1, 28, 28) or (N, 784) -> (N, 784), (N, latent_size), (N, latent_size)
    """

    def __init__(self, latent_size: int = 20, hidden_size: int = 400, device=None):
        self.latent_size = latent_size
        self.fc1 = nn.Linear(784, hidden_size, device=device)
        self.fc21 = nn.Linear(hidden_size, latent_size, device=device)
        self.fc22 = nn.Linear(hidden_size, latent_size, device=device)
        self.fc3 = nn.Linear(latent_size, hidden_size, device=device)
        self.fc4 = nn.Linear(hidden_size, 784, device=device)

    def encode(self, x):
        h = nn.functional.relu(self.fc1(nn.functional.flatten(x, 1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return nn.functional.sigmoid(self.fc4(nn.functional.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(nn.functional.reparameterize(mu, logvar)), mu, logvar


def dcgan_init_(model: nn.Module) -> nn.Module:
    """The DCGAN paper's initialisation, as in PyTorch's DCGAN example: conv weights N(0, 0.02),
    batch-norm scales N(1, 0.02) and shifts 0 (drawn on the host: the same on every device)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def dcgan_generator(latent_size: int = 100, width: int = 64, device=None) -> nn.Module:
    """DCGAN generator for 28×28 digits: z (N, latent) -> ConvT 7×7 to 2·width channels, BN,
    ReLU -> ConvT 4/2/1 to 14×14 × width, BN, ReLU -> ConvT 4/2/1 to 28×28 × 1, tanh.

    Shape: (N, latent_size) -> (N, 1, 28, 28) in [-1, 1]
    """
    return dcgan_init_(nn.Sequential(
        nn.Unflatten(1, (latent_size, 1, 1)),
        nn.ConvTranspose2d(latent_size, 2 * width, 7, 1, 0, bias=False, device=device),
        nn.BatchNorm2d(2 * width, device=device), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False, device=device),
        nn.BatchNorm2d(width, device=device), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, 2, 1, bias=False, device=device), nn.Tanh()))


def dcgan_discriminator(width: int = 64, device=None) -> nn.Module:
    """DCGAN discriminator for 28×28 digits: Conv 4/2/1 to 14×14 × width, LeakyReLU(0.2) ->
    Conv 4/2/1 to 7×7 × 2·width, BN, LeakyReLU(0.2) -> Conv 7×7 to one logit (no sigmoid:
    train it with binary_cross_entropy_with_logits).

    Shape: (N, 1, 28, 28) in [-1, 1] -> (N, 1) logits
    """
    return dcgan_init_(nn.Sequential(
        nn.Conv2d(1, width, 4, 2, 1, bias=False, device=device), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False, device=device),
        nn.BatchNorm2d(2 * width, device=device), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 1, 7, 1, 0, bias=False, device=device), nn.Flatten()))
