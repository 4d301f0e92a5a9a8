"""A GPT in miniature on Tiny Shakespeare, at nanoGPT's CPU configuration.

4 layers, 4 heads, embedding 128, context 64, batch 12, dropout 0, AdamW lr 1e-3 (warm-up 100
iterations, cosine decay to 1e-4, weight decay 0.1, betas (0.9, 0.99), gradient clipping 1.0),
2000 iterations: 0.80 M parameters. The first 90 % of the text trains, the last 10 % validates;
nanoGPT reports a validation loss of about 1.88 there. Trains with ``xpnet.fit`` in "epochs" of
``--eval-interval`` iterations (validation on 256 windows after each); prints the losses, the
time and a sample.

    python examples/char_transformer.py --device cpu
    python examples/char_transformer.py --iters 50 --eval-interval 25      # a quick look
"""
import argparse
import json
from pathlib import Path

import xpnet
from xpnet import models
from xpnet.data import ArrayDataset, DataLoader, EpochSlices

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=str(ROOT / "data" / "tinyshakespeare" / "input.txt"))
parser.add_argument("--device", default=None)
parser.add_argument("--iters", type=int, default=2000)
parser.add_argument("--eval-interval", type=int, default=250)
parser.add_argument("--batch-size", type=int, default=12)
parser.add_argument("--block-size", type=int, default=64)
parser.add_argument("--layers", type=int, default=4)
parser.add_argument("--heads", type=int, default=4)
parser.add_argument("--embed", type=int, default=128)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--sample", type=int, default=500, help="characters to generate")
parser.add_argument("--out", default=None, help="write the history here as JSON")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
if args.iters % args.eval_interval:
    parser.error(f"--iters ({args.iters}) must be a multiple of --eval-interval "
                 f"({args.eval_interval})")

xpnet.manual_seed(args.seed)
device = xpnet.device(args.device)
text = Path(args.data).read_text(encoding="utf-8")
chars, train_ids, val_ids = models.char_lm_split(text)
model = models.CharTransformer(len(chars), args.block_size, args.layers, args.heads, args.embed,
                               device=device)
print(f"{len(train_ids):,} training and {len(val_ids):,} validation characters, "
      f"{len(chars)} symbols; {model.num_parameters() / 1e6:.2f} M parameters on {device}")
per_epoch = args.eval_interval * args.batch_size        # windows per "epoch"
x, y = models.random_windows(train_ids, args.iters * args.batch_size, args.block_size, args.seed)
train = DataLoader(ArrayDataset(x, y), batch_size=args.batch_size, device=device,
                   sampler=EpochSlices(per_epoch))
optimizer = models.char_lm_optimizer(model, lr=args.lr)
history = xpnet.fit(model, train, loss=models.next_character_loss, optimizer=optimizer,
                    epochs=args.iters // args.eval_interval, metrics=(),
                    val=models.consecutive_windows(val_ids, args.block_size, max_windows=256),
                    scheduler=models.char_lm_schedule(optimizer, args.iters, 100, min_lr=1e-4),
                    schedule_per="step", clip_grad_norm=1.0)
final = models.evaluate_char_lm(model, val_ids)
seconds = sum(history["time"])
print(f"validation loss {final:.4f} (all {len(val_ids):,} characters) after {args.iters} "
      f"iterations in {seconds:.0f} s ({1000 * seconds / args.iters:.0f} ms per iteration)")
if args.out:
    Path(args.out).write_text(json.dumps({
        "iter": [e * args.eval_interval for e in history.epochs], "train_loss": history["loss"],
        "val_loss": history["val_loss"], "lr": history["lr"], "final_val_loss": final,
        "seconds": seconds}, indent=1))
start = xpnet.tensor([[chars.index("\n")]], device=device)
sample = models.generate(model, start, args.sample, temperature=0.8, seed=args.seed)
print("---- sample ----" + "".join(chars[i] for i in sample.numpy()[0]))
