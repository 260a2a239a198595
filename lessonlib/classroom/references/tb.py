"""Reference facts for lesson 04's checks: a training loop of our own, and event files read back.

Event files are read with TensorBoard's EventAccumulator and with tbparse, never parsed by hand.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

EVERYTHING = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}


def seeded_classification(n: int = 90, features: int = 6, classes: int = 3, seed: int = 0):
    """Inputs (n, features) and integer targets with every class present."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=gen)
    y = torch.arange(n) % classes
    return x + 0.8 * nn.functional.one_hot(y, features).float(), y


def reference_losses(x, y, steps: int = 20, lr: float = 0.5, seed: int = 0) -> list[tuple]:
    """(step, loss, accuracy) of the lesson's linear classifier, trained by hand (no optimizer)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        init = nn.Linear(x.shape[1], int(y.max()) + 1)
    w = init.weight.detach().clone().requires_grad_(True)
    b = init.bias.detach().clone().requires_grad_(True)
    out = []
    for step in range(1, steps + 1):
        logits = x @ w.T + b
        loss = nn.functional.cross_entropy(logits, y)
        gw, gb = torch.autograd.grad(loss, (w, b))
        acc = (logits.argmax(1) == y).float().mean().item()
        out.append((step, loss.item(), acc))
        with torch.no_grad():
            w -= lr * gw
            b -= lr * gb
    return out


def event_files(logdir: Path) -> list[Path]:
    return sorted(Path(logdir).rglob("events.out.tfevents.*"))


def accumulator(folder: Path) -> EventAccumulator:
    """Everything one run folder holds (all event files in it), nothing downsampled."""
    acc = EventAccumulator(str(folder), size_guidance=EVERYTHING)
    acc.Reload()
    return acc


def scalar_series(folder: Path, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in accumulator(folder).Scalars(tag)]
