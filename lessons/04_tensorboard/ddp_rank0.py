"""Lesson 04's distributed part: 2 CPU processes train one model with DDP; only rank 0 logs.

Started by lesson.py (a notebook cannot spawn its own functions) with
    python -m torch.distributed.run --standalone --nproc-per-node 2 ddp_rank0.py RUNS_DIR
``--standalone`` picks a free port for the rendezvous on every run. For contrast, every
rank also writes to RUNS_DIR/ddp_every_rank — the mistake this part is about.
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from torch.utils.tensorboard import SummaryWriter


def main(runs: Path) -> None:
    dist.init_process_group("gloo")  # torchrun set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = DDP(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.randn(2048, 64, generator=torch.Generator().manual_seed(0))
    train = TensorDataset(x, x[:, :10].argmax(1))  # a learnable 10-class toy problem
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, seed=0)
    loader = DataLoader(train, batch_size=64, sampler=sampler)

    writer = SummaryWriter(runs / "ddp") if rank == 0 else None  # the right way
    careless = SummaryWriter(runs / "ddp_every_rank")  # the mistake: every rank writes
    step = 0
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()  # DDP averages the gradients over the ranks here
            optimizer.step()
            step += 1
            careless.add_scalar("train/loss", loss.item(), step)  # this rank's own batch
            mean = loss.detach().clone()
            dist.all_reduce(mean)  # every rank must take part, writer or not
            if writer is not None:
                writer.add_scalar("train/loss", mean.item() / world, step)
    careless.close()
    if writer is not None:
        writer.add_text("ddp", f"{world} processes, backend {dist.get_backend()}, {step} steps")
        writer.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
