"""Array-library calls per training step: what a step would launch on a GPU, counted on the CPU.

    python -m benchmarks.launches                  # every model, one JSON line each

Each model runs one training step (forward, cross-entropy, backward, Adam) on array-api-strict
under :class:`xpnet.testing.count_calls`: a fused kernel counts once, views and metadata are not
counted, and the GPU's code paths are taken (one conv slab, no host-side checks). At about 20 µs
of host time per CuPy launch, ``launches × 20 µs`` bounds a small model's GPU step from below.
The recurrent models also report launches per time step (from T = 28 and T = 14).
"""
from __future__ import annotations

import argparse
import json

import xpnet
import xpnet.functional as F
from xpnet import models, optim
from xpnet.testing import count_calls


def _model(name):
    if name == "mlp":
        return models.mnist_mlp(device="strict"), (64, 1, 28, 28)
    if name == "mnist-cnn":
        return models.mnist_cnn(device="strict"), (64, 1, 28, 28)
    if name == "seed-cnn":
        return models.mnist_seed_cnn(device="strict"), (1, 1, 28, 28)
    cell, steps = name.split("-T")
    return (models.SequenceClassifier(28, 128, 10, cell, device="strict"),
            (64, int(steps), 28))


def count(name) -> dict:
    xpnet.manual_seed(0)
    model, shape = _model(name)
    optimizer = optim.Adam(model.parameters())
    x = xpnet.randn(*shape, device="strict")
    y = xpnet.tensor([k % 10 for k in range(shape[0])], device="strict")

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    with count_calls() as calls:
        step()
    return {"model": name, "launches": calls.total, "syncs": sum(calls.syncs.values()),
            "parameters": len(list(model.parameters())),
            "top": dict(calls.by_name.most_common(6))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=["mlp", "mnist-cnn", "seed-cnn", "lstm-T28",
                                                      "gru-T28", "rnn-T28"])
    args = parser.parse_args(argv)
    for name in args.models:
        result = count(name)
        if "-T" in name:
            cell, steps = name.split("-T")
            shorter = count(f"{cell}-T{int(steps) // 2}")["launches"]
            result["per_time_step"] = (result["launches"] - shorter) / (int(steps) - int(steps) // 2)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
