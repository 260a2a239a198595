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
