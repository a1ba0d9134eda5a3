"""Data-parallel training of a pyrnn.torch model across processes (torch.distributed DDP).

    torchrun --nproc_per_node 2 -m pyrnn.torch.train_ddp                 # 2 processes, gloo, CPU
    python -m pyrnn.torch.train_ddp --nproc 2                             # the same, spawning its own
    torchrun --nproc_per_node 4 -m pyrnn.torch.train_ddp --device cuda    # NCCL, one GPU per process
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-endpoint HOST:PORT -m pyrnn.torch.train_ddp --device cuda

The model: an embedding, pyrnn.torch.LSTM (pyrnn's kernels: the cpp backend for CPU tensors, the
cuda backend for CUDA tensors) and a linear head on the state at each sentence's last real token,
trained on pyrnn's built-in sentiment task (`pyrnn.datasets.load_sentiment`: the label depends on
negation scope, so it needs the word order). Every process builds the same model and draws the same
global batches (seeded); each runs its 1/world share of every batch, and DistributedDataParallel
averages the gradients, so a step equals one process's step on the whole batch (the loss is a
mean over equal shards). Process 0 prints per-epoch loss, time and held-out accuracy.
"""
from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

import pyrnn.torch as pt


class SentimentLSTM(torch.nn.Module):
    """ids (N, T) right-padded with pad_id -> class scores (N, classes)."""

    def __init__(self, vocab_size, embed=32, hidden=64, classes=2, pad_id=0):
        super().__init__()
        self.pad_id = pad_id
        self.embed = torch.nn.Embedding(vocab_size, embed)
        self.lstm = pt.LSTM(embed, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, classes)

    def forward(self, ids):
        hs, _ = self.lstm(self.embed(ids))                             # (N, T, H)
        last = ((ids != self.pad_id).sum(1) - 1).clamp(min=0)          # (N,) index of the last real token
        return self.head(hs[torch.arange(ids.shape[0], device=ids.device), last])


def _count(minimum):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        return v
    return parse


def _parser():
    p = argparse.ArgumentParser(prog="python -m pyrnn.torch.train_ddp", description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:3]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=_count(0), default=0,
                   help="spawn this many processes on this machine (without torchrun); default: run as "
                        "started (torchrun's RANK / WORLD_SIZE, else one process)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cpu: gloo; cuda: NCCL, one GPU per process (default cpu)")
    p.add_argument("--epochs", type=_count(1), default=2, help="default 2")
    p.add_argument("--steps", type=_count(0), default=0, help="stop after this many steps in all (default: every epoch)")
    p.add_argument("--batch", type=_count(1), default=64, help="global batch size, split over the processes (default 64)")
    p.add_argument("--hidden", type=_count(1), default=64, help="LSTM hidden size (default 64)")
    p.add_argument("--examples", type=_count(1), default=10000,
                   help="training sentences (default 10000; 2000 more are held out)")
    p.add_argument("--lr", type=float, default=0.003, help="Adam learning rate (default 0.003)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--seed", type=int, default=0, help="data, initial weights and batch order (default 0)")
    p.add_argument("--save", help="process 0 saves the trained model's state_dict here (torch.save)")
    return p


def train(args, rank=0, world_size=1, local_rank=0, quiet=False):
    """Train on this process's share; with world_size > 1 the process group must be initialised.
    Returns the trained model (unwrapped) and the last epoch's held-out accuracy."""
    from pyrnn.datasets import load_sentiment

    device = torch.device("cuda", local_rank) if args.device == "cuda" else torch.device("cpu")
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    if args.batch % world_size:
        raise ValueError(f"--batch: {args.batch} does not split evenly over {world_size} processes")
    if args.examples < args.batch:
        raise ValueError(f"--examples: {args.examples} training sentences make no batch of {args.batch}")
    (x, t), (x_test, t_test), vocab = load_sentiment(n=args.examples + 2000, test_size=2000, seed=args.seed)
    torch.manual_seed(args.seed)  # the same initial model in every process (DDP also broadcasts rank 0's)
    model = SentimentLSTM(len(vocab), hidden=args.hidden, pad_id=vocab.pad_id).to(device, dtype)
    net = model
    if world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    shard = args.batch // world_size
    x_all, t_all = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(t.astype(np.int64))
    steps_per_epoch = len(x) // args.batch
    step, acc = 0, float("nan")
    for epoch in range(args.epochs):
        t0, losses = time.perf_counter(), []
        order = torch.from_numpy(np.random.default_rng(args.seed + epoch).permutation(len(x)))  # same everywhere
        for i in range(steps_per_epoch):
            if args.steps and step == args.steps:
                break
            idx = order[i * args.batch + rank * shard:i * args.batch + (rank + 1) * shard]  # this process's share
            loss = F.cross_entropy(net(x_all[idx].to(device)), t_all[idx].to(device))  # mean over the share
            opt.zero_grad(set_to_none=True)
            loss.backward()  # DDP: gradients averaged over the processes during the backward
            opt.step()
            losses.append(loss.item())
            step += 1
        if rank == 0 and losses:
            acc = accuracy(model, x_test, t_test, device)
            if not quiet:
                print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f} (process 0's shares)  "
                      f"{time.perf_counter() - t0:.1f} s  held-out accuracy {acc:.4f}", flush=True)
        if args.steps and step == args.steps:
            break
    return model, acc


@torch.no_grad()
def accuracy(model, x, t, device, batch=500):
    model.eval()
    right = 0
    for s in range(0, len(x), batch):
        ids = torch.from_numpy(x[s:s + batch].astype(np.int64)).to(device)
        right += int((model(ids).argmax(1).cpu().numpy() == t[s:s + batch]).sum())
    model.train()
    return right / len(x)


def _threads(world_size):
    """Split this machine's cores over the processes on it: torch's and pyrnn's thread pools
    (PYRNN_NUM_THREADS and PYRNN_MALLOC_TUNE are read when pyrnn's C++ module loads, at the first
    op: set before it)."""
    n = max(1, (os.cpu_count() or 1) // max(world_size, 1))
    os.environ.setdefault("PYRNN_NUM_THREADS", str(n))
    os.environ.setdefault("PYRNN_MALLOC_TUNE", "1")  # this process is ours, as `pyrnn demo`'s (README: Layout)
    torch.set_num_threads(int(os.environ["PYRNN_NUM_THREADS"]))


def worker(rank, world_size, args, init_method, local_rank=None):
    """One process: join the group (gloo on CPU, NCCL on CUDA), train, save (process 0), leave."""
    local_rank = rank if local_rank is None else local_rank
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    _threads(local_world)
    if args.device == "cuda":
        torch.cuda.set_device(local_rank)
    if world_size > 1:
        dist.init_process_group("nccl" if args.device == "cuda" else "gloo", init_method=init_method,
                                rank=rank, world_size=world_size)
    try:
        if rank == 0:
            how = (f"{world_size} processes, {'NCCL' if args.device == 'cuda' else 'gloo'}" if world_size > 1
                   else "1 process (no process group)")
            print(f"pyrnn.torch DDP: {how} on {args.device}, global batch {args.batch} "
                  f"({args.batch // world_size} per process), {args.dtype}", flush=True)
        model, acc = train(args, rank, world_size, local_rank)
        if rank == 0:
            if args.save:
                torch.save(model.state_dict(), args.save)
            print(f"held-out accuracy: {acc:.4f}", flush=True)
        if world_size > 1:
            dist.barrier()  # no collective in flight when the group goes
    finally:
        if world_size > 1:
            _leave(dist)


def _leave(dist):
    """Tear the process group down while this interpreter is fully alive. A rank that exits while
    gloo's worker threads still hold work (tensors with Python references) dies at interpreter
    shutdown: the thread reaches for the GIL, is unwound, and std::terminate aborts the process
    (SIGABRT, "terminate called without an active exception"; seen once in CI). So: wait for every
    rank (the caller's barrier, on success only: a rank that failed must not wait on one
    blocked in a collective), free the DDP wrapper that holds the group (it sits in
    reference cycles, so it outlives train() until the collector runs), then destroy the group, which joins gloo's threads here and now."""
    gc.collect()
    dist.destroy_process_group()
    gc.collect()


def spawn(args, nproc):
    """Start nproc processes on this machine (torch.multiprocessing, file rendezvous) and wait."""
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as d:
        init = "file://" + os.path.join(d, "rendezvous")
        mp.spawn(worker, args=(nproc, args, init), nprocs=nproc, join=True)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.nproc:
        spawn(args, args.nproc)
    elif "WORLD_SIZE" in os.environ:  # started by torchrun (env:// rendezvous)
        worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args, "env://",
               local_rank=int(os.environ.get("LOCAL_RANK", 0)))
    else:
        worker(0, 1, args, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
