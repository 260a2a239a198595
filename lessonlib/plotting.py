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


# --------------------------------------------------------------------------- captioned figures

_figures = {"count": 0}


def show_figure(
    figure: Any,
    *,
    caption: str,
    alt: str,
    name: str | None = None,
    out_dir: Path | None = None,
    width: int | None = None,
    dpi: int = 110,
) -> Path | None:
    """Show a figure with a numbered caption and an alt text; save it first if ``name`` is given.

    ``figure`` is a matplotlib figure or the path of a PNG. In a notebook (the docs build)
    the output is an HTML ``<figure>`` holding the image, ``alt`` (what a reader who cannot
    see it should know) and "Figure N." plus ``caption`` (what to look at); outside one,
    one line with the number, the caption and the file. A matplotlib figure is closed
    afterwards, so it is not shown twice. Returns the saved PNG's path, if any.
    """
    path = _figure_png(figure, name, out_dir, dpi)
    if path is None and not hasattr(figure, "savefig"):
        print("(no image: graphviz's dot is missing)")
        return None
    _figures["count"] += 1
    number = _figures["count"]
    data = path.read_bytes() if path is not None else _png_bytes(figure, dpi)
    _display_figure([(data, alt, "")], number, caption, path, width)
    _close(figure)
    return path


def show_figures(
    images: Sequence[Path | Any],
    *,
    caption: str,
    alts: Sequence[str],
    labels: Sequence[str],
    width: int | None = None,
) -> None:
    """Show several images side by side as one numbered figure, each with its label and alt text."""
    if not (len(images) == len(alts) == len(labels)):
        raise ValueError("give one alt text and one label per image")
    panels = []
    for image, alt, label in zip(images, alts, labels, strict=True):
        path = _figure_png(image, None, None, 110)
        if path is None and not hasattr(image, "savefig"):
            print("(no image: graphviz's dot is missing)")
            return
        panels.append((path.read_bytes() if path else _png_bytes(image, 110), alt, label))
        _close(image)
    _figures["count"] += 1
    first_path = next((Path(i) for i in images if isinstance(i, (str, Path))), None)
    _display_figure(panels, _figures["count"], caption, first_path, width)


def _figure_png(figure: Any, name: str | None, out_dir: Path | None, dpi: int) -> Path | None:
    if isinstance(figure, (str, Path)):
        return Path(figure) if Path(figure).exists() else None
    if name is not None:
        out = out_dir if out_dir is not None else Path.cwd()
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.png"
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
        return path
    return None


def _png_bytes(figure: Any, dpi: int) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _close(figure: Any) -> None:
    if hasattr(figure, "savefig"):
        import matplotlib.pyplot as plt

        plt.close(figure)


def _shown_path(path: Path | None) -> str:
    """The file's path relative to the project (never the machine's absolute path)."""
    if path is None:
        return ""
    from lessonlib.paths import project_root

    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return Path(path).name


def _display_figure(
    panels: list[tuple[bytes, str, str]],
    number: int,
    caption: str,
    path: Path | None,
    width: int | None,
) -> None:
    import base64
    import html

    where = _shown_path(path)
    text = f"Figure {number}. {caption}" + (f" [{where}]" if where else "")
    shell = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        pass
    if shell is None:
        print(text)
        return
    from IPython.display import display

    style = f' style="max-width: min(100%, {width}px)"' if width else ""
    parts = []
    for data, alt, label in panels:
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        img = f'<img src="{src}" alt="{html.escape(alt, quote=True)}"{style}>'
        if len(panels) > 1:
            img = f"<figure>{img}<figcaption>{_inline_code(label)}</figcaption></figure>"
        parts.append(img)
    body = "".join(parts)
    if len(panels) > 1:
        body = f'<div class="lesson-panels">{body}</div>'
    markup = (
        f'<figure class="lesson-figure" id="figure-{number}">{body}'
        f"<figcaption><strong>Figure {number}.</strong> {_inline_code(caption)}</figcaption>"
        "</figure>"
    )
    display({"text/html": markup, "text/plain": text}, raw=True)


def _inline_code(text: str) -> str:
    """Escape ``text`` for HTML, keeping `backticks` as code."""
    import html
    import re

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
