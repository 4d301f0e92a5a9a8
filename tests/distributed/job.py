"""What the ranks of the multi-process tests run: ``mpiexec -n 2 python -m mpi4py job.py MODE OUT``.

Only rank 0 writes results (a JSON file, an .npz of parameters) to OUT; test_multiprocess.py
asserts on them. ``train_steps`` is also called in the test process itself (a world of one, at
the doubled batch), as the reference the two ranks must reproduce.
"""
import hashlib
import json
import sys

import numpy as np

import xpnet
from xpnet import distributed as dist
from xpnet import nn, optim
from xpnet.data import ArrayDataset, DataLoader, DistributedSampler, shard

SAMPLES, FEATURES, CLASSES, EPOCHS = 320, 8, 3, 5
SAMPLER_SEED = 3


def synthetic():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1.0)
    return X, y


def mlp(device="cpu"):
    return nn.Sequential(nn.Linear(FEATURES, 16, device=device), nn.Tanh(),
                         nn.Linear(16, CLASSES, device=device))


def make_optimizer(name, model):
    if name == "sgd":
        return optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return optim.Adam(model.parameters(), lr=0.01)


def digest(model) -> str:
    h = hashlib.sha256()
    for t in [*model.parameters(), *model.buffers()]:
        h.update(np.ascontiguousarray(t.numpy()).tobytes())
    return h.hexdigest()


def train_steps(optimizer_name, batch_size, bucket_bytes=dist.BUCKET_BYTES, after_step=None):
    """SAMPLES / (batch_size · world) steps per epoch for EPOCHS epochs (50 at the test's
    sizes); every rank but 0 starts from other weights, which broadcast_parameters replaces."""
    X, y = synthetic()
    xpnet.manual_seed(dist.rank())
    model = mlp()
    dist.broadcast_parameters(model)
    optimizer = make_optimizer(optimizer_name, model)
    sampler = DistributedSampler(SAMPLES, shuffle=True, seed=SAMPLER_SEED)
    loader = DataLoader(ArrayDataset(X, y), batch_size=batch_size, sampler=sampler)
    steps = 0
    for epoch in range(EPOCHS):
        loader.set_epoch(epoch)
        for x, t in loader:
            optimizer.zero_grad()
            xpnet.ops.cross_entropy(model(x), t).backward()
            dist.average_gradients(model, bucket_bytes=bucket_bytes)
            optimizer.step()
            steps += 1
            if after_step is not None:
                after_step(model)
    return model, steps


FIT_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def fit_run(batch_size):
    """xpnet.fit on this rank's sampler (training) and shard (validation, 37 samples: the
    shards differ in size, and the summed metrics must still be exact)."""
    X, y = synthetic()
    rng = np.random.default_rng(1)
    X_val = rng.normal(size=(37, FEATURES)).astype(np.float32)
    y_val = (X_val[:, 0] > 0).astype(np.int64)
    xpnet.manual_seed(dist.rank())
    model = mlp()
    optimizer = make_optimizer("sgd", model)
    train = DataLoader(ArrayDataset(X, y), batch_size=batch_size,
                       sampler=DistributedSampler(SAMPLES, seed=SAMPLER_SEED))
    val = DataLoader(ArrayDataset(X_val, y_val), batch_size=8, sampler=shard(37))
    history = xpnet.fit(model, train, loss="cross_entropy", optimizer=optimizer, epochs=3,
                        val=val, log_every=4, verbose=0)
    return model, {key: list(history[key]) for key in FIT_KEYS}


def run_train(out):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    results = {}
    for name, bucket_bytes in (("sgd", dist.BUCKET_BYTES), ("adam", 256)):
        agreed = []

        def check(model):
            digests = comm.gather(digest(model), root=0)
            if comm.Get_rank() == 0:
                agreed.append(len(set(digests)) == 1)

        model, steps = train_steps(name, 16, bucket_bytes, check)
        if comm.Get_rank() == 0:
            np.savez(f"{out}/{name}.npz", *[p.numpy() for p in model.parameters()])
            results[name] = {"steps": steps, "agreed": agreed}
    model, logs = fit_run(16)
    every = comm.gather(logs, root=0)
    if comm.Get_rank() == 0:
        np.savez(f"{out}/fit.npz", *[p.numpy() for p in model.parameters()])
        results["fit"] = {"logs": logs, "same_on_every_rank": all(e == logs for e in every)}
    if comm.Get_rank() == 0:
        results["world_size"] = dist.world_size()
        with open(f"{out}/train.json", "w") as f:
            json.dump(results, f)


def _devices():
    found = ["cpu", "strict"]
    try:
        xpnet.device("torch")
        found.append("torch")
    except RuntimeError:
        pass
    return found


def run_collectives(out):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank = dist.rank()
    results = {"world_size": dist.world_size(), "rank_gathered": comm.gather(rank, root=0),
               "devices": {}}
    for device in _devices():
        value = float(rank + 1)
        summed = dist.all_reduce(xpnet.tensor([value, 10 * value], device=device))
        averaged = xpnet.tensor([value, 10 * value], device=device)
        array_before = averaged.array
        dist.all_reduce(averaged, op="mean")
        counts = dist.all_reduce(xpnet.tensor([rank + 1, 7], device=device, dtype="int64"))
        sent = dist.broadcast(xpnet.tensor([value, -value], device=device), src=1)
        layer = nn.Linear(2, 2, device=device)
        layer.weight.grad = xpnet.full((2, 2), value, device=device)   # bias.grad stays None
        dist.average_gradients(layer)
        results["devices"][device] = {
            "sum": summed.tolist(), "mean": averaged.tolist(),
            "mean_in_place": averaged.array is array_before, "int_sum": counts.tolist(),
            "broadcast": sent.tolist(), "weight_grad": layer.weight.grad.tolist(),
            "bias_grad": layer.bias.grad.tolist()}
    results["sums"] = dist.all_reduce_sums({"loss": 0.5 * (rank + 1), "count": 10})

    # broadcast_parameters: other weights and other BatchNorm statistics on rank 1
    xpnet.manual_seed(100 + rank)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model(xpnet.randn(8, 4))                       # training mode: running stats move
    before = comm.gather(digest(model), root=0)
    reference = comm.bcast([t.numpy().copy() for t in [*model.parameters(), *model.buffers()]])
    dist.broadcast_parameters(model)
    after = comm.gather(digest(model), root=0)
    equal = all(np.array_equal(t.numpy(), r)
                for t, r in zip([*model.parameters(), *model.buffers()], reference))
    results["broadcast_parameters"] = {"before": before, "after": after,
                                       "equal_everywhere": comm.gather(equal, root=0)}

    # the sampler's shares of two epochs, padding included (11 samples over 2 ranks)
    sampler = DistributedSampler(11, seed=2)
    shares = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        shares.append(comm.gather(list(sampler), root=0))
    results["sampler"] = {"num_replicas": sampler.num_replicas, "shares": shares}
    dist.barrier()
    if rank == 0:
        with open(f"{out}/collectives.json", "w") as f:
            json.dump(results, f)


def run_nccl(out):
    """NCCL on each rank's GPU (a world of one GPU is a valid NCCL communicator too)."""
    dist.init("nccl")
    rank, size = dist.rank(), dist.world_size()
    device = dist.local_device("cuda")
    value = float(rank + 1)
    summed = dist.all_reduce(xpnet.tensor([value, 10 * value], device=device))
    averaged = dist.all_reduce(xpnet.tensor([value], device=device, dtype="float64"), "mean")
    sent = dist.broadcast(xpnet.tensor([value, -value], device=device), src=size - 1)
    layer = nn.Linear(2, 2, device=device)
    layer.weight.grad = xpnet.full((2, 2), value, device=device)
    layer.bias.grad = xpnet.full((2,), 2 * value, device=device)
    dist.average_gradients(layer)
    result = {"size": size, "device": device, "sum": summed.tolist(),
              "mean": averaged.tolist(), "broadcast": sent.tolist(),
              "weight_grad": layer.weight.grad.tolist(), "bias_grad": layer.bias.grad.tolist(),
              "communicators": [repr(c) for c in dist.world.world().nccl.values()]}
    dist.barrier()
    if rank == 0:
        with open(f"{out}/nccl.json", "w") as f:
            json.dump(result, f)


def run_fail():
    dist.init()
    if dist.rank() == 1:
        raise RuntimeError("rank 1 fails on purpose")
    dist.barrier()   # without the abort, rank 0 would wait here forever


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "train":
        run_train(sys.argv[2])
    elif mode == "collectives":
        run_collectives(sys.argv[2])
    elif mode == "nccl":
        run_nccl(sys.argv[2])
    elif mode == "fail":
        run_fail()
    else:
        raise SystemExit(f"job.py: unknown mode {mode!r}")
