"""Small seeded models and inputs the exercise tests build their cases from."""

from __future__ import annotations

import torch
from torch import nn


def seeded_mlp(seed: int = 0, sizes: tuple[int, ...] = (8, 16, 3)) -> nn.Sequential:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)


def seeded_input(*shape: int, seed: int = 1, requires_grad: bool = False) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).requires_grad_(requires_grad)


def seeded_conv_net() -> nn.Sequential:
    """Conv, BatchNorm, ReLU, Flatten, Linear for (N, 1, 8, 8) inputs; weights from seed 0."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)
        )


def shared_weight_net():
    """One weight used twice (weight tying) and a view in the middle: (output, tensors)."""
    w = seeded_input(4, 4, seed=7, requires_grad=True)
    b = seeded_input(4, seed=8, requires_grad=True)
    x = seeded_input(2, 4, seed=9)
    h = torch.tanh(x @ w + b)
    out = (h @ w.t()).view(-1)[:5].sum()
    return out, {"w": w, "b": b, "x": x, "h": h}
