"""A character-level LSTM on any text file, trained with truncated BPTT; prints sampled text.

Truncated backpropagation through time: the text is cut into consecutive chunks of --bptt
characters; the hidden state is carried from one chunk to the next but detached, so gradients
flow back at most --bptt steps while the state still remembers further.

    python examples/char_lstm.py README.md --steps 300 --device cpu
"""
import argparse

import numpy as np

import xpnet
import xpnet.functional as F
from xpnet import nn, optim
from xpnet.data import CharDataset
from xpnet.optim import clip_grad_norm_

parser = argparse.ArgumentParser()
parser.add_argument("text", help="a text file to learn from")
parser.add_argument("--device", default=None)
parser.add_argument("--steps", type=int, default=500)
parser.add_argument("--bptt", type=int, default=64)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--sample", type=int, default=300, help="characters to generate")
args = parser.parse_args()
device = xpnet.device(args.device).name
xpnet.manual_seed(0)

data = CharDataset(open(args.text, encoding="utf-8").read(), seq_len=args.bptt)
vocab = len(data.itos)


class CharLSTM(nn.Module):
    def __init__(self):
        self.embed = nn.Embedding(vocab, 64, device=device)
        self.lstm = nn.LSTM(64, args.hidden, batch_first=True, device=device)
        self.head = nn.Linear(args.hidden, vocab, device=device)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


model = CharLSTM()
opt = optim.Adam(model.parameters(), lr=2e-3)
# batch_size parallel streams through the text, each read chunk after chunk
ids = np.asarray(data.encode(data.text), dtype=np.int64)
stream_len = (len(ids) - 1) // args.batch_size
streams = ids[:stream_len * args.batch_size].reshape(args.batch_size, stream_len)
targets = ids[1:stream_len * args.batch_size + 1].reshape(args.batch_size, stream_len)
streams, targets = xpnet.tensor(streams, device=device), xpnet.tensor(targets, device=device)
state = None
for step in range(args.steps):
    start = (step * args.bptt) % max(stream_len - args.bptt, 1)
    if start < args.bptt:
        state = None  # back at the start of the streams
    x = streams[:, start:start + args.bptt]
    y = targets[:, start:start + args.bptt]
    logits, state = model(x, state)
    state = tuple(s.detach() for s in state)  # truncate: keep the values, cut the graph
    loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if step % 100 == 0 or step == args.steps - 1:
        print(f"step {step:5d} loss {loss.item():.3f}", flush=True)

# sampling, one character at a time, carrying the state
rng = np.random.default_rng(0)
text = data.text[:1]
with xpnet.no_grad():
    state = None
    x = xpnet.tensor([[data.stoi[text]]], device=device)
    for _ in range(args.sample):
        logits, state = model(x, state)
        p = F.softmax(logits[:, -1, :] / 0.8).numpy()[0].astype(np.float64)
        nxt = int(rng.choice(vocab, p=p / p.sum()))
        text += data.itos[nxt]
        x = xpnet.tensor([[nxt]], device=device)
print("---- sample ----\n" + text)
