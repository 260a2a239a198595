"""Inputs for lesson 02's graded calls: seeded images, labels, models, filters and curves.

Every builder is deterministic, so the sandbox (which calls the student's function) and the
grader (which checks the answer) each build the same inputs from the same arguments. Where a
check needs what the inputs were made from (the images before Normalize, the model), it
calls the same seeded functions below.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision import transforms

from lessonlib.classroom.grading import Inputs
from lessonlib.classroom.references.small_models import seeded_input
from lessonlib.models import small_cnn

MEAN, STD = (0.45, 0.5, 0.55), (0.2, 0.25, 0.3)
LAYERS = ["features.2", "features.6", "classifier.1"]


def seeded_uniform(*shape: int, seed: int = 0, low: float = 0.0, high: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=gen)


def seeded_labels(n: int, n_classes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes, size=n)


# ---------------------------------------------------------------- 02.1

# name -> (images before Normalize, mean, std)
_IMAGES = {
    "rgb batch": lambda: (seeded_uniform(4, 3, 8, 8), MEAN, STD),
    "one image outside [0, 1]": lambda: (
        seeded_uniform(3, 5, 7, seed=1, low=-0.5, high=1.5),
        MEAN,
        STD,
    ),
    "grayscale": lambda: (seeded_uniform(6, 1, 8, 8, seed=2), (0.3,), (0.4,)),
    "float64": lambda: (
        torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)),
        (0.1, 0.2, 0.3),
        (0.9, 0.8, 0.7),
    ),
}


def original_images(kind: str) -> tuple[torch.Tensor, tuple, tuple]:
    return _IMAGES[kind]()


def normalized_images(kind: str) -> Inputs:
    """Images through torchvision's Normalize, with the mean and std it used."""
    images, mean, std = original_images(kind)
    return Inputs(transforms.Normalize(mean, std)(images), mean, std)


# ---------------------------------------------------------------- 02.2

_LABELS = {
    "300 random labels as lists": lambda: (
        seeded_labels(300, 5, 0).tolist(),
        seeded_labels(300, 5, 1).tolist(),
        5,
        False,
    ),
    "tensors with an absent class": lambda: (
        torch.tensor([0, 0, 1, 2, 2, 2, 1, 0]),
        torch.tensor([0, 1, 1, 2, 0, 2, 1, 0]),
        4,
        False,
    ),
    "normalized, an absent true class": lambda: (
        np.concatenate([seeded_labels(120, 3, 2), [4, 4]]),
        np.concatenate([seeded_labels(120, 5, 3), [4, 0]]),
        5,
        True,
    ),
    "normalized, one true class": lambda: ([2] * 5, [2, 2, 0, 2, 2], 3, True),
}


def labels(kind: str) -> tuple:
    return _LABELS[kind]()


def label_pairs(kind: str) -> Inputs:
    y_true, y_pred, n_classes, normalize = labels(kind)
    if normalize:
        return Inputs(y_true, y_pred, n_classes, normalize=True)
    return Inputs(y_true, y_pred, n_classes)


# ---------------------------------------------------------------- 02.3


def seeded_cnn() -> nn.Module:
    return small_cnn(seed=0, width=4).eval()


def cnn_and_layers(n: int = 2, own_hook: bool = False) -> Inputs:
    """A small CNN, a seeded batch and three layer names; maybe a hook of the model's own."""
    model = seeded_cnn()
    if own_hook:
        model.features[2].register_forward_hook(_own_hook)
    return Inputs(model, seeded_input(n, 3, 32, 32), list(LAYERS))


def _own_hook(module, inputs, output) -> None:
    return None


def nested_model() -> tuple[nn.Module, torch.Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 6), nn.Sequential(nn.Tanh(), nn.Linear(6, 2)))
        x = torch.randn(3, 4)
    return model, x


def nested_and_layers() -> Inputs:
    model, x = nested_model()
    return Inputs(model, x, ["1.0", "1"])


# ---------------------------------------------------------------- 02.4


def filter_weights(kind: str) -> torch.Tensor:
    if kind == "rgb":
        return seeded_input(10, 3, 5, 5, seed=4)
    if kind == "gray with a constant filter":
        weight = seeded_input(9, 1, 3, 3, seed=5)
        weight[4] = 0.25
        return weight
    return torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(1))  # "one row"


def filters(kind: str, **settings) -> Inputs:
    """Conv filters (out, 1 or 3, kh, kw) and grid settings (nrow, padding, pad_value)."""
    return Inputs(filter_weights(kind), **settings)


# ---------------------------------------------------------------- 02.5


def noisy_curve() -> list[float]:
    rng = np.random.default_rng(7)
    return (np.exp(-np.linspace(0, 4, 120)) + 0.1 * rng.standard_normal(120)).tolist()


def curve_and_weight(weight: float) -> Inputs:
    return Inputs(noisy_curve(), weight)


def single_value() -> Inputs:
    return Inputs([3.5], 0.9)


# ---------------------------------------------------------------- 02.6


def pca_features(kind: str) -> torch.Tensor:
    if kind == "rotated":
        gen = torch.Generator().manual_seed(8)
        features = torch.randn(200, 6, generator=gen) * torch.tensor([5.0, 0.5, 3.0, 1.0, 0.2, 0.1])
        return features @ torch.linalg.qr(torch.randn(6, 6, generator=gen))[0] + 4.0
    gen = torch.Generator().manual_seed(2)  # "float32"
    return torch.randn(50, 3, generator=gen) * torch.tensor([3.0, 1.0, 0.1])


def features(kind: str) -> Inputs:
    return Inputs(pca_features(kind))
