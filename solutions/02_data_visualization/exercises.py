"""Lesson 02 exercises, solved. Never shipped to students."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def unnormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """TODO(02.1) solved: x = x_norm * std + mean, per channel, clipped to [0, 1]."""
    shape = (-1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=images.dtype).reshape(shape)
    std_t = torch.as_tensor(std, dtype=images.dtype).reshape(shape)
    return (images * std_t + mean_t).clamp(0.0, 1.0)


def confusion_matrix(
    y_true: Sequence[int], y_pred: Sequence[int], n_classes: int, normalize: bool = False
) -> np.ndarray:
    """TODO(02.2) solved: count pairs with np.add.at; divide rows by their sums."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    if not normalize:
        return counts
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)


def capture_activations(
    model: nn.Module, x: torch.Tensor, layer_names: Sequence[str]
) -> dict[str, torch.Tensor]:
    """TODO(02.3) solved: one forward hook per layer, removed in a finally block."""
    modules = dict(model.named_modules())
    missing = [name for name in layer_names if name not in modules]
    if missing:
        raise KeyError(f"no submodule named {missing[0]!r}")
    captured: dict[str, torch.Tensor] = {}

    def keeper(name: str):
        def hook(module, inputs, output):
            captured[name] = output.detach()

        return hook

    handles = [modules[name].register_forward_hook(keeper(name)) for name in layer_names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def filter_grid(
    weight: torch.Tensor, nrow: int = 8, padding: int = 1, pad_value: float = 1.0
) -> torch.Tensor:
    """TODO(02.4) solved: min-max scale each filter, tile them like make_grid, to HWC."""
    if weight.dim() != 4 or weight.shape[1] not in (1, 3):
        raise ValueError(f"filters must be (out, 1 or 3, kh, kw), got {tuple(weight.shape)}")
    w = weight.detach().float()
    if w.shape[1] == 1:
        w = w.expand(-1, 3, -1, -1)
    low = w.amin(dim=(1, 2, 3), keepdim=True)
    high = w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - low) / (high - low).clamp(min=1e-5)
    n, _, kh, kw = w.shape
    if n == 1:
        return w[0].permute(1, 2, 0)
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = torch.full(
        (3, rows * (kh + padding) + padding, cols * (kw + padding) + padding), pad_value
    )
    for k in range(n):
        top = (k // cols) * (kh + padding) + padding
        left = (k % cols) * (kw + padding) + padding
        grid[:, top : top + kh, left : left + kw] = w[k]
    return grid.permute(1, 2, 0)


def smooth_curve(values: Sequence[float], weight: float) -> list[float]:
    """TODO(02.5) solved: the debiased exponential moving average TensorBoard draws."""
    average, out = 0.0, []
    for k, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**k))
    return out


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """TODO(02.6) solved: centre, SVD, coordinates on the first two right singular vectors."""
    centred = features.double() - features.double().mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ vh[:2].T).to(features.dtype)
