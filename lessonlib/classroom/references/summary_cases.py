"""Lesson 03's test cases, shared by the visible tests and the grading builders."""

from __future__ import annotations

import torch
from torch import nn

# input_shape, out_channels, kernel, stride, padding, dilation
CONV_CASES = [
    ((2, 3, 32, 32), 8, 3, 1, 0, 1),
    ((1, 3, 224, 224), 64, 7, 2, 3, 1),
    ((4, 16, 15, 17), 4, (3, 5), (2, 1), (1, 2), (2, 1)),
    ((1, 1, 28, 28), 6, 5, 3, 0, 1),
    ((3, 8, 20, 9), 8, 3, 2, 4, 3),
]


class ScaledNet(nn.Module):
    """A bare nn.Parameter next to layers, and two modules whose names share a prefix."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.scale = nn.Parameter(torch.ones(8))
        self.fc = nn.Linear(8, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        h = self.body(x).mean(dim=(2, 3)) * self.scale
        return self.fc2(self.fc(h))
