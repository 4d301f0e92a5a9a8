"""char-transformer: a decoder-only character language model on Tiny Shakespeare, at nanoGPT's
CPU configuration (4 layers, 4 heads, embedding 128, context 64, batch 12, dropout 0, AdamW
lr 1e-3 with warm-up and cosine decay to 1e-4, gradients clipped to 1, 2000 iterations).

The run is cut into "epochs" of 250 iterations so that it goes through ``fit`` like every
recipe: a checkpoint, the validation loss (the whole last 10 % of the text) and curves after each,
an exact resume. Each epoch's training windows are random (start offsets drawn from the seed),
made on the host once per run and put on the device once, as the loader does for MNIST."""
from __future__ import annotations

import os

import numpy as np

from .. import models, nn, optim
from .. import functional as F
from . import Recipe, fit_recipe, register

ITERATIONS_PER_EPOCH = 250
BLOCK = 64


def _windows(ids, count, seed):
    """``count`` random windows of BLOCK + 1 ids (inputs and the next character targets)."""
    rng = np.random.default_rng([seed % (1 << 32), 7])
    starts = rng.integers(0, len(ids) - BLOCK - 1, count)
    windows = ids[starts[:, None] + np.arange(BLOCK + 1)]
    return windows[:, :-1], windows[:, 1:]


def _validation(ids):
    """Every consecutive window of the validation text (as nanoGPT's estimate, but all of it)."""
    count = (len(ids) - 1) // BLOCK
    windows = ids[np.arange(count)[:, None] * BLOCK + np.arange(BLOCK + 1)]
    return windows[:, :-1], windows[:, 1:]


class _NextCharacterLoss:
    """Cross-entropy of the (N, T, V) logits against the (N, T) next characters."""

    def __call__(self, logits, targets):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train(run):
    from .. import distributed
    from ..data import ArrayDataset, DataLoader, tiny_shakespeare
    text = tiny_shakespeare(run.data)
    chars, train_ids, val_ids = models.char_lm_split(text)
    per_epoch = ITERATIONS_PER_EPOCH * run.batch_size if run.limit is None else run.limit
    x, y = _windows(train_ids, per_epoch * run.epochs, run.seed)
    vx, vy = _validation(val_ids)
    if run.limit is not None:
        vx, vy = vx[:max(1, run.limit // 4)], vy[:max(1, run.limit // 4)]
    run.say(f"data: {len(text):,} characters, {len(chars)} symbols; {run.epochs} epochs of "
            f"{per_epoch // run.batch_size} iterations x {run.batch_size} windows of {BLOCK}; "
            f"validation on {len(vx)} windows")
    # the run's windows are fixed by the seed: epoch e reads its own consecutive slice of them
    train_loader = DataLoader(ArrayDataset(x, y), batch_size=run.batch_size, device=run.device,
                              sampler=EpochSlices(per_epoch, distributed.rank(),
                                                  distributed.world_size()))
    val_loader = distributed.loader(ArrayDataset(vx, vy), 128, shuffle=False,
                                    device=run.device, evaluation=True)
    model = models.CharTransformer(len(chars), block_size=BLOCK, device=run.device)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    opt = optim.AdamW([{"params": matrices, "weight_decay": 0.1},
                       {"params": vectors, "weight_decay": 0.0}], lr=run.lr, betas=(0.9, 0.99))
    scheduler = _schedule(run, opt, per_epoch // run.batch_size)
    outcome = fit_recipe(run, model, opt, train_loader, val_loader,
                         loss=_NextCharacterLoss(), metrics=(), scheduler=scheduler,
                         schedule_per="step", clip_grad_norm=1.0,
                         final=lambda history: _final(run, model, chars, history,
                                                      len(train_loader)))
    return outcome


def _schedule(run, opt, steps_per_epoch):
    """nanoGPT's: a linear warm-up over 100 iterations, then cosine decay to lr / 10."""
    if run.schedule != "cosine":
        return None
    total = run.epochs * steps_per_epoch
    warmup = min(100, max(1, total // 10))
    return optim.SequentialLR(opt, [
        optim.LinearLR(opt, start_factor=1.0 / (warmup + 1), total_iters=warmup),
        optim.CosineAnnealingLR(opt, T_max=max(total - warmup, 1), eta_min=run.lr / 10)],
        milestones=[warmup])


class EpochSlices:
    """A sampler whose epoch e is samples [e·n, (e+1)·n) (this process's share of them under
    mpiexec: every world-size-th one), for data made once for the whole run."""

    def __init__(self, per_epoch: int, rank: int = 0, world_size: int = 1):
        self.per_epoch, self.rank, self.world_size, self.epoch = per_epoch, rank, world_size, 0

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)

    def indices(self):
        start = self.epoch * self.per_epoch
        return range(start + self.rank, start + self.per_epoch, self.world_size)

    def __iter__(self):
        return iter(self.indices())

    def __len__(self):
        return len(self.indices())


def _final(run, model, chars, history, iterations):
    val = history.last("val_loss")
    sample = ""
    if run.is_main_process:
        length = 400 if run.limit is None else 40
        ids = models.generate(model, np.zeros((1, 1), np.int64), length, top_k=None,
                              seed=run.seed)
        sample = "".join(chars[i] for i in ids.numpy()[0])
        with open(os.path.join(run.out, "sample.txt"), "w", encoding="utf-8") as f:
            f.write(sample + "\n")
        run.written.append("sample.txt")
        print(f"--- a sample ({length} characters) ---\n{sample}\n---")
    per_epoch = history["time"][-1] if "time" in history and len(history) else float("nan")
    return (f"validation loss {val:.4f} nats per character ({per_epoch:.1f}s per epoch of "
            f"{iterations} iterations on {run.device})"), {"val_loss": val}


register(Recipe("char-transformer", "decoder-only character model on Tiny Shakespeare, "
                "nanoGPT's CPU size: 4 layers, 4 heads, 128 wide, context 64, AdamW 1e-3, batch "
                "12, 8 epochs of 250 iterations", train, epochs=8, batch_size=12, lr=1e-3,
                data="tinyshakespeare"))
