"""char-transformer: a decoder-only character language model on Tiny Shakespeare, at nanoGPT's
CPU configuration (4 layers, 4 heads, embedding 128, context 64, batch 12, dropout 0, AdamW
lr 1e-3 with warm-up and cosine decay to 1e-4, gradients clipped to 1, 2000 iterations).

The run is cut into "epochs" of 250 iterations so that it goes through ``fit`` like every
recipe: a checkpoint, the validation loss (the whole last 10 % of the text) and curves after each,
an exact resume. The training windows are random (start offsets drawn from the seed), made on
the host once per run and put on the device once, as the loader does for MNIST; epoch e reads
its own consecutive slice of them (:class:`~xpnet.data.EpochSlices`)."""
from __future__ import annotations

import os

import numpy as np

from .. import models
from . import Recipe, fit_recipe, register

ITERATIONS_PER_EPOCH = 250
BLOCK = 64


def train(run):
    from ..data import ArrayDataset, DataLoader, EpochSlices, tiny_shakespeare
    from ..train import world_loader
    text = tiny_shakespeare(run.data)
    chars, train_ids, val_ids = models.char_lm_split(text)
    per_epoch = ITERATIONS_PER_EPOCH * run.batch_size if run.limit is None else run.limit
    x, y = models.random_windows(train_ids, per_epoch * run.epochs, BLOCK, run.seed)
    vx, vy = models.consecutive_windows(val_ids, BLOCK)
    if run.limit is not None:
        vx, vy = vx[:max(1, run.limit // 4)], vy[:max(1, run.limit // 4)]
    run.say(f"data: {len(text):,} characters, {len(chars)} symbols; {run.epochs} epochs of "
            f"{per_epoch // run.batch_size} iterations x {run.batch_size} windows of {BLOCK}; "
            f"validation on {len(vx)} windows")
    train_loader = DataLoader(ArrayDataset(x, y), batch_size=run.batch_size, device=run.device,
                              sampler=EpochSlices(per_epoch))
    val_loader = world_loader(ArrayDataset(vx, vy), 128, shuffle=False, device=run.device,
                              evaluation=True)
    model = models.CharTransformer(len(chars), block_size=BLOCK, device=run.device)
    opt = models.char_lm_optimizer(model, lr=run.lr)
    total = run.epochs * (per_epoch // run.batch_size)
    # nanoGPT's: a linear warm-up over 100 iterations, then cosine decay to lr / 10
    scheduler = models.char_lm_schedule(opt, total, warmup_iters=min(100, max(1, total // 10))) \
        if run.schedule == "cosine" else None
    return fit_recipe(run, model, opt, train_loader, val_loader,
                      loss=models.next_character_loss, metrics=(), scheduler=scheduler,
                      schedule_per="step", clip_grad_norm=1.0,
                      final=lambda history: _final(run, model, chars, history,
                                                   len(train_loader)))


def _final(run, model, chars, history, iterations):
    val = history.last("val_loss")
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
