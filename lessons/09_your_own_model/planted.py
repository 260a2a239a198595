"""Lesson 09's model with three planted problems, and the same model with them fixed.

``lessonlib inspect lessons/09_your_own_model/planted.py:planted_net --input 8,3,64,64``
writes its report. The problems: ``hidden``'s bias starts at -8 so every unit after it is
dead; ``features.4`` is ``ReLU(inplace=True)``, which overwrites the conv output its hooks
saw; and ``hidden`` expects the 16×16 grid of a 64×64 image, so any other size fails.
"""

from __future__ import annotations

import torch
from torch import nn


class PlantedNet(nn.Module):
    """Two conv blocks, a hidden linear layer and a 5-class head (for 3×64×64 images)."""

    def __init__(self, dead_bias: float = -8.0, inplace: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(2),
        )
        self.hidden = nn.Linear(32 * 16 * 16, 64)
        self.act = nn.ReLU()
        self.head = nn.Linear(64, 5)
        with torch.no_grad():
            self.hidden.bias.fill_(dead_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.hidden(self.features(x).flatten(1))))


def planted_net(seed: int = 0) -> PlantedNet:
    """The model with all three problems (seeded weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PlantedNet()


def fixed_net(seed: int = 0) -> PlantedNet:
    """The same model with a zero bias and an out-of-place ReLU (the size stays fixed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PlantedNet(dead_bias=0.0, inplace=False)
