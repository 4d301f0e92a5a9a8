"""Data-parallel training on existing engines: MPI (mpi4py) for processes, NCCL for GPUs.

Every rank holds the whole model and trains on its share of each batch; after ``backward()``
the gradients are averaged over the ranks, so every rank takes the same optimizer step. The
engines are the standard ones: MPI through mpi4py for CPU processes and to bootstrap, NCCL
through ``cupy.cuda.nccl`` for CuPy tensors (ChainerMN's pair); the semantics are PyTorch
DDP's and Horovod's. Launch one process per core group or per GPU::

    pip install "xpnet[mpi]"
    mpiexec -n 4 python -m mpi4py train.py
    mpiexec -n 4 python -m mpi4py -m xpnet train mnist-cnn ...

(``python -m mpi4py`` aborts the whole job when one rank fails; :func:`init` also installs an
excepthook that does so for uncaught exceptions.) A hand-written loop::

    from xpnet import distributed as dist
    dist.init()                                    # MPI under mpiexec, a world of one otherwise
    device = dist.local_device("cuda")             # 'cuda:{local_rank}'; 'cpu' stays 'cpu'
    model = models.mnist_cnn(device=device)
    dist.broadcast_parameters(model)               # every rank starts from rank 0's weights
    sampler = data.DistributedSampler(train_set, shuffle=True, seed=0)
    loader = data.DataLoader(train_set, batch_size=64, sampler=sampler, device=device)
    for epoch in range(epochs):
        loader.set_epoch(epoch)                    # a new shuffle, the same on every rank
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            dist.average_gradients(model)          # one allreduce per 25 MB bucket
            optimizer.step()

``xpnet.fit`` does the same by itself once ``init()`` has found a world larger than one (through
:func:`xpnet.train.training_world`); give it a DataLoader with a ``DistributedSampler``
(:func:`xpnet.train.world_loader` builds one). This package holds the engines only: the world,
the MPI and NCCL communicators, the collectives.

In a world of one every function works and is the identity, so the same script runs without
``mpiexec``. See ``docs/distributed.md`` for the learning rate (the linear scaling rule) and
the cost of the allreduce.

>>> from xpnet import distributed
>>> distributed.world_size(), distributed.rank()
(1, 0)
"""
from .world import is_initialized, rank, local_rank, world_size, barrier, local_device
from .comm import init
from .collectives import (all_reduce, broadcast, broadcast_parameters, broadcast_object,
                          average_gradients, average_buffers, all_reduce_sums, BUCKET_BYTES)

__all__ = ["init", "is_initialized", "rank", "local_rank", "world_size", "barrier",
           "local_device", "all_reduce", "broadcast", "broadcast_parameters",
           "broadcast_object", "average_gradients", "average_buffers", "all_reduce_sums",
           "BUCKET_BYTES"]
