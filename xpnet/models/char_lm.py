"""The character language model behind ``xpnet train char-transformer``: a GPT in miniature
(:class:`CharTransformer`), its data (the text split into ids, random training windows,
consecutive validation windows), its loss, nanoGPT's optimizer and schedule, its evaluation,
and sampling (:func:`generate`). Training goes through :func:`xpnet.fit`::

    chars, train_ids, val_ids = char_lm_split(text)
    x, y = random_windows(train_ids, iterations * batch_size, block_size, seed=0)
    model = CharTransformer(len(chars), block_size)
    optimizer = char_lm_optimizer(model, lr=1e-3)
    fit(model, DataLoader(ArrayDataset(x, y), batch_size), loss=next_character_loss,
        optimizer=optimizer, scheduler=char_lm_schedule(optimizer, iterations),
        schedule_per="step", clip_grad_norm=1.0, metrics=())
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn, ops, optim
from ..autograd import Tensor, no_grad
from ..random import host_rng

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


def random_windows(ids, count: int, block_size: int, seed: int = 0):
    """``count`` windows of ``block_size`` ids at random offsets of ``ids`` (drawn on the host
    from ``seed``, so the same on every device): ``(inputs, targets)``, each (count,
    block_size), the targets the inputs shifted by one character. Made once for a whole run
    and put on the device once by a DataLoader; the first k windows of a larger count are the
    same k windows.

    >>> x, y = random_windows(np.arange(100), 3, 8)
    >>> x.shape, bool((y == x + 1).all())
    ((3, 8), True)
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < block_size + 2:
        raise ValueError(f"random_windows: ids must be 1-D and longer than block_size + 1 = "
                         f"{block_size + 1}, got shape {ids.shape}")
    rng = np.random.default_rng([seed % (1 << 32), 7])
    starts = rng.integers(0, len(ids) - block_size - 1, count)
    windows = ids[starts[:, None] + np.arange(block_size + 1)]
    return windows[:, :-1], windows[:, 1:]


def consecutive_windows(ids, block_size: int, max_windows: int | None = None):
    """The consecutive windows of ``block_size`` ids that cover ``ids`` (all of them, or
    ``max_windows`` evenly spaced ones), as ``(inputs, targets)``: the validation set.

    >>> x, y = consecutive_windows(np.arange(20), 4)
    >>> x[:, 0].tolist(), y[-1].tolist()
    ([0, 4, 8, 12], [13, 14, 15, 16])
    """
    ids = np.asarray(ids.numpy() if isinstance(ids, Tensor) else ids, dtype=np.int64)
    count = (len(ids) - 1) // block_size
    if count < 1:
        raise ValueError(f"consecutive_windows: ids must hold more than block_size = "
                         f"{block_size} ids, got {len(ids)}")
    starts = np.arange(count) * block_size
    if max_windows is not None and max_windows < count:
        starts = starts[np.linspace(0, count - 1, max_windows).astype(np.int64)]
    windows = ids[starts[:, None] + np.arange(block_size + 1)]
    return windows[:, :-1], windows[:, 1:]


def next_character_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the (N, T, V) logits against the (N, T) next characters: the
    language model's loss, for :func:`xpnet.fit`."""
    return ops.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def char_lm_optimizer(model, lr: float = 1e-3, weight_decay: float = 0.1,
                      betas=(0.9, 0.99)) -> optim.AdamW:
    """nanoGPT's AdamW: weight decay on the matrices (and embeddings) only."""
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    return optim.AdamW([{"params": matrices, "weight_decay": weight_decay},
                        {"params": vectors, "weight_decay": 0.0}], lr=lr, betas=betas)


def char_lm_schedule(optimizer, total_iters: int, warmup_iters: int = 100,
                     min_lr: float | None = None):
    """nanoGPT's learning rate, stepped per iteration: a linear warm-up over ``warmup_iters``
    (LinearLR), then cosine decay to ``min_lr`` (default lr / 10) at ``total_iters``."""
    lr = optimizer.param_groups[0]["lr"]
    warmup = max(int(warmup_iters), 1)
    return optim.SequentialLR(optimizer, [
        optim.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), total_iters=warmup),
        optim.CosineAnnealingLR(optimizer, T_max=max(total_iters - warmup, 1),
                                eta_min=lr / 10 if min_lr is None else min_lr)],
        milestones=[warmup])


def evaluate_char_lm(model, ids, batch_size: int = 128, max_windows=None) -> float:
    """Mean next-character cross-entropy (nats) over the :func:`consecutive_windows` of
    ``model.block_size`` in ``ids`` (all, or ``max_windows`` evenly spaced ones); one host
    read at the end."""
    from ..train import evaluate
    x, y = consecutive_windows(ids, model.block_size, max_windows)
    return evaluate(model, (x, y), loss=next_character_loss, metrics=(),
                    batch_size=batch_size)["loss"]
