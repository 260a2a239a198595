"""Lesson 02 exercises: the arrays behind the figures.

Each function takes plain data (tensors, arrays, lists) — or a model to look inside — and
returns plain data, so that what a figure shows can be checked without looking at pixels.
Check your work with ``lessonlib check 02``; stuck? ``lessonlib hint 02.1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def unnormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)`` on ``images`` of shape (C,H,W) or (N,C,H,W).

    ``mean`` and ``std`` have one value per channel. Return a new tensor (leave ``images``
    as it is), clipped to [0, 1] so that ``imshow`` shows it without complaint.
    """
    raise NotImplementedError("TODO(02.1)")


def confusion_matrix(
    y_true: Sequence[int], y_pred: Sequence[int], n_classes: int, normalize: bool = False
) -> np.ndarray:
    """The (n_classes, n_classes) confusion matrix: entry [i, j] counts true i predicted as j.

    Labels are integers in ``range(n_classes)`` (lists, arrays or tensors); a class may be
    absent from both.
    With ``normalize=True`` divide each row by its sum, so that the diagonal holds each
    class's recall; a row with no samples stays all zeros. Counts are integers, normalized
    values floats. Compute it yourself (no scikit-learn).
    """
    raise NotImplementedError("TODO(02.2)")


def capture_activations(
    model: nn.Module, x: torch.Tensor, layer_names: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Run ``model(x)`` once and return ``{name: output of that submodule}`` for each name.

    Names are those of ``model.named_modules()`` (e.g. ``"features.2"``). Use forward
    hooks; return detached tensors; run without building a backward graph. Afterwards the
    model must carry no hook of yours — even if the forward pass raises — while hooks it
    already had stay in place. An unknown name raises ``KeyError`` before anything runs.
    """
    raise NotImplementedError("TODO(02.3)")


def filter_grid(
    weight: torch.Tensor, nrow: int = 8, padding: int = 1, pad_value: float = 1.0
) -> torch.Tensor:
    """Arrange conv filters ``weight`` (out, in, kh, kw) into one (H, W, 3) image for ``imshow``.

    ``in`` must be 1 (shown as gray) or 3 (RGB); otherwise raise ``ValueError``. Scale each
    filter on its own to [0, 1] (its minimum to 0, its maximum to 1; a constant filter
    becomes 0), then tile them ``nrow`` per row with ``padding`` pixels of ``pad_value``
    between and around them, exactly as ``torchvision.utils.make_grid`` lays out a batch.
    """
    raise NotImplementedError("TODO(02.4)")


def smooth_curve(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start.

    ``weight`` in [0, 1) is the slider: 0 returns the values unchanged, 0.9 smooths a lot.
    Start an average at 0; for each value, ``average = weight * average + (1 - weight) *
    value``; report ``average / (1 - weight ** k)`` after the k-th value (k = 1, 2, …), which
    removes the pull towards the starting 0.
    """
    raise NotImplementedError("TODO(02.5)")


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """Project (N, D) ``features`` onto their first two principal components: (N, 2).

    Centre the features (subtract the mean of each column), find the two directions of
    largest variance, and return the coordinates along them, largest variance first. The
    sign of each direction is arbitrary. Do it with torch (no scikit-learn).
    """
    raise NotImplementedError("TODO(02.6)")
