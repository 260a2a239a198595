"""Plumbing for matplotlib figures of tensors: undo Normalize, grids as arrays, saving figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lessonlib.classroom.guard import refuse


def unnormalize(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], clamp: bool = True
) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)`` on (C,H,W) or (N,C,H,W) images; a new tensor.

    Normalize computes ``(x - mean) / std``; its inverse is Normalize again with mean
    ``-mean / std`` and std ``1 / std``. With ``clamp`` the result is clipped to [0, 1], the
    range ``imshow`` expects for float images.
    """
    refuse("02.1", "lessonlib.plotting.unnormalize")
    from torchvision.transforms import functional as F

    mean_t = torch.as_tensor(mean, dtype=images.dtype)
    std_t = torch.as_tensor(std, dtype=images.dtype)
    if mean_t.numel() != images.shape[-3] or std_t.numel() != images.shape[-3]:
        raise ValueError(
            f"mean and std need one value per channel ({images.shape[-3]}), "
            f"got {mean_t.numel()} and {std_t.numel()}"
        )
    out = F.normalize(images, (-mean_t / std_t).tolist(), (1 / std_t).tolist())
    return out.clamp(0.0, 1.0) if clamp else out


def inverse_normalize_uint8(
    image: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """Undo ``Normalize(mean, std)`` given in 0-255 units; a new (C,H,W) uint8 tensor.

    ``image`` is (C,H,W) with one mean and std per channel, or (H,W) grayscale with one of
    each (returned as (1,H,W)). Values are rounded and clipped to 0-255 before the cast:
    ``.to(torch.uint8)`` alone would wrap 256 to 0 and truncate 154.9 to 154. The cast
    returns a new tensor, so its result is what gets returned.
    """
    refuse("02.1", "lessonlib.plotting.inverse_normalize_uint8")
    x = image.detach()[None] if image.dim() == 2 else image.detach()
    mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
    if mean_t.numel() != x.shape[0] or std_t.numel() != x.shape[0]:
        raise ValueError(
            f"mean and std need one value per channel ({x.shape[0]}), "
            f"got {mean_t.numel()} and {std_t.numel()}"
        )
    return (x.float() * std_t + mean_t).round().clamp(0, 255).to(torch.uint8)


def gray_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """A (H,W) or (1,H,W) grayscale image as (3,H,W): the one channel repeated (a view)."""
    if image.dim() == 2:
        image = image[None]
    if image.dim() != 3 or image.shape[0] != 1:
        raise ValueError(f"expected a (H, W) or (1, H, W) image, got shape {tuple(image.shape)}")
    return image.expand(3, -1, -1)


def to_hwc(image: torch.Tensor) -> np.ndarray:
    """A (C,H,W) tensor as the (H,W,C) array ``imshow`` wants; one channel becomes (H,W)."""
    if image.dim() != 3:
        raise ValueError(f"expected a (C, H, W) image, got shape {tuple(image.shape)}")
    array = image.detach().cpu().permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def image_grid(
    images: torch.Tensor,
    nrow: int = 8,
    padding: int = 2,
    pad_value: float = 1.0,
    normalize: bool = False,
    scale_each: bool = False,
) -> np.ndarray:
    """``torchvision.utils.make_grid`` of (N,C,H,W) images as an (H,W,3) array for ``imshow``."""
    from torchvision.utils import make_grid

    grid = make_grid(
        images.detach().cpu(),
        nrow=nrow,
        padding=padding,
        pad_value=pad_value,
        normalize=normalize,
        scale_each=scale_each,
    )
    return to_hwc(grid)


def per_class_indices(
    labels: Sequence[int] | torch.Tensor | np.ndarray, per_class: int, n_classes: int | None = None
) -> list[int]:
    """The first ``per_class`` indices of each class, class by class (for a row per class)."""
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    picked: list[int] = []
    for k in range(n_classes):
        found = np.flatnonzero(labels == k)[:per_class].tolist()
        if len(found) < per_class:
            raise ValueError(f"class {k} has only {len(found)} samples, {per_class} asked for")
        picked += found
    return picked


def save_figure(fig: Any, name: str, out_dir: Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as ``out_dir/name.png`` (tight bounding box); return the path.

    The figure stays open, so ``plt.show()`` after it still displays it. In a notebook
    kernel whose matplotlib backend cannot draw inline (the docs build runs lessons with
    ``MPLBACKEND=Agg``), the saved PNG is displayed instead, so the page shows the figure.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if _kernel_without_inline_figures():
        from lessonlib.graphs import show_image

        show_image(path)
    return path


def _kernel_without_inline_figures() -> bool:
    """Running in a Jupyter kernel whose matplotlib backend will not show figures inline?"""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    import matplotlib

    return "inline" not in matplotlib.get_backend().lower()
