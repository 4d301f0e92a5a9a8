"""Encoder-decoder Transformer reverses digit strings: teacher forcing, greedy decoding.

Digit strings of 1 to 10 digits, padded, are read by the encoder (its key padding mask hides
the padding); the decoder, fed the reversed string shifted right (teacher forcing) under the
causal mask, learns to write it. Test strings never seen in training are decoded greedily, one
token at a time, and count only if every digit and the end token are right.

    python examples/transformer_reverse.py --device cpu        # --task sort sorts instead
"""
import argparse
import math
import time

import numpy as np

import xpnet
import xpnet.functional as F
from xpnet import nn, optim
from xpnet.data import digit_sequences

PAD, BOS, EOS, VOCAB = 0, 1, 2, 13
parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--task", default="reverse", choices=["reverse", "sort"])
parser.add_argument("--max-len", type=int, default=10)
parser.add_argument("--steps", type=int, default=3000)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--d-model", type=int, default=64)
parser.add_argument("--test", type=int, default=2000)
args = parser.parse_args()
device = xpnet.device(args.device)
xpnet.manual_seed(0)


class Seq2Seq(nn.Module):
    def __init__(self, d):
        self.embed = nn.Embedding(VOCAB, d, padding_idx=PAD, device=device)
        self.position = nn.PositionalEncoding(d, max_len=64, batch_first=True, device=device)
        self.transformer = nn.Transformer(d, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                                          dim_feedforward=4 * d, dropout=0.0, batch_first=True,
                                          device=device)
        self.head = nn.Linear(d, VOCAB, device=device)
        self.scale = math.sqrt(d)   # embeddings times sqrt(d_model), as in the paper

    def encode(self, src):
        return self.transformer.encoder(self.position(self.embed(src) * self.scale),
                                        src_key_padding_mask=src == PAD)

    def decode(self, tgt_in, memory, src):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1], device=device)
        out = self.transformer.decoder(self.position(self.embed(tgt_in) * self.scale), memory,
                                       tgt_mask=mask, tgt_key_padding_mask=tgt_in == PAD,
                                       memory_key_padding_mask=src == PAD, tgt_is_causal=True)
        return self.head(out)


def greedy(model, src):
    """Write the output one token at a time, each step fed the tokens written so far."""
    with xpnet.no_grad():
        memory = model.encode(src)
        out = np.full((src.shape[0], 1), BOS)
        for _ in range(args.max_len + 1):
            logits = model.decode(xpnet.tensor(out, device=device), memory, src)
            out = np.concatenate([out, logits[:, -1, :].argmax(axis=-1).numpy()[:, None]], 1)
    return out[:, 1:]


def exact(predicted, tgt):
    """Rows whose tokens up to and including EOS all match the target."""
    target = tgt[:, 1:]
    upto = np.cumsum(target == EOS, axis=1) - (target == EOS) == 0   # before and at EOS
    return np.all((predicted == target) | ~upto, axis=1)


model = Seq2Seq(args.d_model)
opt = optim.Adam(model.parameters(), lr=1e-3)
warmup = min(200, args.steps // 2)   # linear warm-up, then cosine decay
schedule = optim.SequentialLR(opt, [optim.LinearLR(opt, 0.01, total_iters=max(warmup, 1)),
                                    optim.CosineAnnealingLR(opt, args.steps - warmup)], [warmup])
src_all, tgt_all = digit_sequences(args.steps * args.batch_size // 4, 1, args.max_len,
                                   args.task, seed=1)
seen = {row.tobytes() for row in src_all}
src_test, tgt_test = digit_sequences(4 * args.test, 1, args.max_len, args.task, seed=2)
unseen = np.array([row.tobytes() not in seen for row in src_test])
src_test, tgt_test = src_test[unseen][:args.test], tgt_test[unseen][:args.test]
print(f"{model.num_parameters():,} parameters; {len(src_all):,} training strings, "
      f"{len(src_test):,} unseen test strings of 1..{args.max_len} digits ({args.task})")
start = time.perf_counter()
for step in range(args.steps):
    rows = slice((step * args.batch_size) % len(src_all), None)
    src_np, tgt_np = src_all[rows][:args.batch_size], tgt_all[rows][:args.batch_size]
    src, tgt = xpnet.tensor(src_np, device=device), xpnet.tensor(tgt_np, device=device)
    logits = model.decode(tgt[:, :-1], model.encode(src), src)
    tokens = F.cross_entropy(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1), reduction="none")
    keep = (tgt[:, 1:] != PAD).reshape(-1).astype("float32")     # no loss on the padding
    loss = (tokens * keep).sum() / keep.sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    schedule.step()
    if step % 500 == 0 or step == args.steps - 1:
        print(f"step {step:5d}  loss {loss.item():.4f}  ({time.perf_counter() - start:.0f} s)",
              flush=True)
train_time = time.perf_counter() - start
model.eval()
correct = np.concatenate([exact(greedy(model, xpnet.tensor(src_test[i:i + 500], device=device)),
                                tgt_test[i:i + 500]) for i in range(0, len(src_test), 500)])
print(f"exact-sequence accuracy on {len(src_test)} unseen strings: {100 * correct.mean():.2f} % "
      f"(training {train_time:.0f} s, {1000 * train_time / args.steps:.0f} ms per step)")
for s, t in zip(src_test[:3], greedy(model, xpnet.tensor(src_test[:3], device=device))):
    digits = [str(d - 3) for d in t[:list(t).index(EOS) if EOS in t else None] if d >= 3]
    print("".join(str(d - 3) for d in s if d >= 3), "->", "".join(digits))
