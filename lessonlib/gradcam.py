"""Grad-CAM from hooks and autograd, and the tools to look at and measure its maps.

``grad_cam`` records the target layer's output with a forward hook, asks autograd for the
gradient of the target scores with respect to it (one forward and one backward for the
whole batch), weights each channel by its spatially averaged gradient, sums, applies ReLU
and upsamples to the input size. Hooks live in context managers that always remove them.
"""

from __future__ import annotations

import copy
import difflib
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lessonlib.classroom.guard import refuse
from lessonlib.errors import LessonlibError

Targets = int | Sequence[int] | torch.Tensor | None


class LayerNotFoundError(LessonlibError, ValueError):
    """A layer name that the model does not have."""


class TrainModeWarning(UserWarning):
    """Grad-CAM was asked of a model in train mode (BatchNorm and Dropout change the maps)."""


# --------------------------------------------------------------------------- layers


def layer_names(model: nn.Module) -> list[str]:
    """The dotted names of every submodule, as ``model.named_modules()`` gives them."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layer(model: nn.Module, name: str | nn.Module) -> nn.Module:
    """The submodule called ``name`` (``"layer4"``, ``"features.8"``, ``"layer4[1].conv2"``).

    A module that belongs to ``model`` is returned as is. An unknown name raises
    LayerNotFoundError with one sentence listing the nearest valid names.
    """
    if isinstance(name, nn.Module):
        if any(m is name for m in model.modules()):
            return name
        raise LayerNotFoundError(
            f"the {type(name).__name__} passed as target layer is not part of this "
            f"{type(model).__name__}; pass one of its submodules or its name."
        )
    key = re.sub(r"\[(-?\d+)\]", r".\1", str(name).strip()).strip(".")
    modules = dict(model.named_modules())
    if key and key in modules:
        return modules[key]
    names = layer_names(model)
    if not names:
        raise LayerNotFoundError(
            f"{type(model).__name__} has no submodules, so there is no layer {name!r} to hook."
        )
    near = difflib.get_close_matches(key, names, n=3, cutoff=0.0)
    listed = ", ".join(repr(n) for n in near)
    raise LayerNotFoundError(
        f"{type(model).__name__} has no layer {name!r}; the nearest valid names are {listed} "
        "(print(model) or lessonlib.gradcam.layer_names(model) lists them all)."
    )


def warn_if_training(model: nn.Module, what: str = "Grad-CAM") -> None:
    """Warn when ``model`` is in train mode: BatchNorm and Dropout then change the result."""
    if model.training:
        warnings.warn(
            f"{what} on a model in train mode: BatchNorm uses batch statistics and Dropout "
            "drops channels, so the maps change from call to call; call model.eval() first.",
            TrainModeWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------- hooks


@contextmanager
def capture_outputs(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record copies of the named layers' outputs while the ``with`` block runs.

    Copies, because a model may change an output in place after the hook saw it (resnet's
    blocks do ``out += identity`` right after ``bn2``).

    The hooks are removed when the block ends, also when it raises.
    """
    refuse("07.4", "lessonlib.gradcam.capture_outputs")
    layers = {name: resolve_layer(model, name) for name in names}
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name, layer in layers.items():

            def save(_module, _inputs, output, name=name):
                outputs[name] = output.detach().clone()  # later in-place ops cannot touch it

            handles.append(layer.register_forward_hook(save))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class _Recording:
    """What the Grad-CAM forward hook saw: the activation (a leaf) and how often it ran."""

    layer_name: str
    activation: torch.Tensor | None = None
    calls: int = 0
    problems: list[str] = field(default_factory=list)

    def hook(self, _module: nn.Module, _inputs, output):
        self.calls += 1
        if self.calls > 1:
            return None
        if not isinstance(output, torch.Tensor) or output.dim() < 3:
            kind = type(output).__name__
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ""
            self.problems.append(
                f"layer {self.layer_name!r} returns a {kind}{shape}, not a (N, C, H, W) feature "
                "map; pick a convolutional layer or block"
            )
            return None
        # A detached leaf: the gradient stops here (nothing is computed for the layers
        # before it), and the clone handed on keeps in-place ops downstream (ReLU(inplace=True),
        # ``out += identity``) from overwriting the activation or breaking the graph.
        self.activation = output.detach().requires_grad_(True)
        torch.set_grad_enabled(True)  # the outer no_grad block restores the old mode
        return self.activation.clone()


@contextmanager
def _recording(layer: nn.Module, layer_name: str) -> Iterator[_Recording]:
    record = _Recording(layer_name)
    handle = layer.register_forward_hook(record.hook)
    try:
        yield record
    finally:
        handle.remove()


def hook_count(model: nn.Module) -> int:
    """How many module hooks (forward, pre-forward, backward) ``model`` and its children hold."""
    attrs = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
    )
    return sum(len(getattr(m, a, {})) for m in model.modules() for a in attrs)


# --------------------------------------------------------------------------- Grad-CAM


def _target_indices(targets: Targets, logits: torch.Tensor) -> torch.Tensor:
    """The target class of each sample: argmax when None, an int for all, or one per sample."""
    n, n_classes = logits.shape
    if targets is None:
        return logits.argmax(1)
    t = torch.as_tensor(targets, dtype=torch.long, device=logits.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(
            f"got {t.numel()} targets for a batch of {n}; give one per image or one int."
        )
    bad = (t < 0) | (t >= n_classes)
    if bad.any():
        raise ValueError(
            f"target class {int(t[bad][0])} is out of range: the model has {n_classes} outputs."
        )
    return t


def _recorded_forward(
    model: nn.Module, module: nn.Module, name: str, batch: torch.Tensor
) -> tuple[torch.Tensor, _Recording]:
    """The logits of ``batch`` and what the hook on ``module`` recorded during the forward."""
    with _recording(module, name) as record:
        with torch.no_grad():  # the hook turns grad mode on from the target layer onwards
            logits = model(batch)
    return logits, record


def grad_cam(
    model: nn.Module,
    layer: str | nn.Module,
    images: torch.Tensor,
    targets: Targets = None,
    *,
    upsample: bool = True,
    relu: bool = True,
) -> torch.Tensor:
    """Grad-CAM maps (N, H, W) of ``images`` (N, C, H, W) for ``targets`` at ``layer``.

    ``targets``: None (each image's predicted class), one int for all, or one per image.
    With ``upsample=False`` the maps keep the layer's resolution (N, h, w). Values are not
    rescaled; use ``min_max`` for display.
    """
    maps, _ = grad_cam_and_logits(model, layer, images, targets, upsample=upsample, relu=relu)
    return maps


def grad_cam_and_logits(
    model: nn.Module,
    layer: str | nn.Module,
    images: torch.Tensor,
    targets: Targets = None,
    *,
    upsample: bool = True,
    relu: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``grad_cam``'s maps and the model's logits (N, classes) from the same forward pass."""
    refuse("07.1", "lessonlib.gradcam.grad_cam")
    if images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) batch, got shape {tuple(images.shape)}.")
    warn_if_training(model)
    name = layer if isinstance(layer, str) else type(layer).__name__
    module = resolve_layer(model, layer)
    batch = images
    if images.device.type == "cpu":
        # oneDNN's CPU convolutions run ~20 % faster on channels-last input; same maps.
        batch = images.contiguous(memory_format=torch.channels_last)
    try:
        logits, record = _recorded_forward(model, module, name, batch)
    except RuntimeError:
        if batch is images:
            raise
        # Some models need the usual layout (a .view() after a conv): run the batch as given.
        logits, record = _recorded_forward(model, module, name, images)
    if record.problems:
        raise ValueError(record.problems[0] + ".")
    if record.calls != 1:
        raise ValueError(
            f"layer {name!r} ran {record.calls} times in one forward pass; Grad-CAM needs a "
            "layer that runs once (a shared module, like resnet's relu, runs several times)."
        )
    logits = logits if logits.dim() == 2 else logits.reshape(len(images), -1)
    chosen = _target_indices(targets, logits)
    # One backward for the batch: in eval mode the samples do not interact, so the gradient
    # of the summed scores w.r.t. sample i's activation is that of sample i's own score.
    act = record.activation
    with torch.enable_grad():  # also when the caller is inside torch.no_grad()
        score = logits.gather(1, chosen[:, None]).sum()
        if not score.requires_grad:
            raise ValueError(f"the model's outputs do not depend on layer {name!r}.")
        (grads,) = torch.autograd.grad(score, act, allow_unused=True)
    if grads is None:
        raise ValueError(f"the model's outputs do not depend on layer {name!r}.")
    with torch.no_grad():
        weights = grads.mean(dim=tuple(range(2, grads.dim())), keepdim=True)
        cam = (weights * act).sum(dim=1, keepdim=True)
        if relu:
            cam = F.relu(cam)
        if upsample and cam.shape[2:] != images.shape[2:]:
            cam = F.interpolate(cam, size=images.shape[2:], mode="bilinear", align_corners=False)
    return cam[:, 0].detach(), logits.detach()


def min_max(maps: torch.Tensor | np.ndarray, eps: float = 1e-12) -> torch.Tensor:
    """Scale each map (first axis = sample) to [0, 1]; a constant map becomes all zeros."""
    m = torch.as_tensor(maps, dtype=torch.float32)
    flat = m.reshape(len(m), -1)
    lo = flat.min(1, keepdim=True).values
    span = (flat.max(1, keepdim=True).values - lo).clamp_min(eps)
    return ((flat - lo) / span).reshape(m.shape)


def randomized_copy(
    model: nn.Module, layers: Sequence[str] | None = None, seed: int = 0
) -> nn.Module:
    """A copy of ``model`` with the named layers (all by default) re-initialised at random.

    This is the model-randomisation test of Adebayo et al. (2018): an explanation that
    still looks the same for a network with random weights does not explain the network.
    BatchNorm layers also forget their running statistics. The copy is in eval mode.
    """
    clone = copy.deepcopy(model)
    targets = [resolve_layer(clone, n) for n in layers] if layers is not None else [clone]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for top in targets:
            for module in top.modules():
                if hasattr(module, "reset_running_stats"):
                    module.reset_running_stats()
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    return clone.eval()


# --------------------------------------------------------------------------- measuring


def peak_distances(
    maps: torch.Tensor | np.ndarray, masks: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """Per map: the Euclidean distance in pixels from its maximum to the nearest mask pixel.

    0 when the maximum lies on the object. The maximum is the first arg-max in row-major
    order. A map whose values are all equal (e.g. all zero after ReLU) points nowhere, and
    an empty mask has no object: both give ``inf``.
    """
    refuse("07.2", "lessonlib.gradcam.pointing_game")
    m = torch.as_tensor(maps).float()
    k = torch.as_tensor(masks).bool()
    if m.dim() == 2:
        m, k = m[None], k[None]
    if m.shape != k.shape or m.dim() != 3:
        raise ValueError(
            f"maps {tuple(m.shape)} and masks {tuple(k.shape)} must be (N, H, W) and of one shape."
        )
    n, h, w = m.shape
    flat = m.reshape(n, -1)
    peak = flat.argmax(1)
    py, px = (peak // w).float(), (peak % w).float()
    yy = torch.arange(h, dtype=torch.float32)[None, :, None]
    xx = torch.arange(w, dtype=torch.float32)[None, None, :]
    d2 = (yy - py[:, None, None]) ** 2 + (xx - px[:, None, None]) ** 2
    d2 = d2.masked_fill(~k, float("inf"))
    dist = d2.reshape(n, -1).min(1).values.sqrt()
    flat_map = flat.max(1).values == flat.min(1).values
    return dist.masked_fill(flat_map, float("inf"))


def pointing_hits(
    maps: torch.Tensor | np.ndarray, masks: torch.Tensor | np.ndarray, tolerance: float = 0
) -> torch.Tensor:
    """Per map: does its maximum lie on the object, or within ``tolerance`` pixels of it?

    See ``peak_distances``: flat maps and empty masks are misses.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}.")
    return peak_distances(maps, masks) <= tolerance


def pointing_game(
    maps: torch.Tensor | np.ndarray, masks: torch.Tensor | np.ndarray, tolerance: float = 0
) -> float:
    """The fraction of maps whose maximum lies on the object mask (Zhang et al., 2016).

    Zhang et al. count a hit within 15 pixels of the object on ~224-pixel images;
    ``zhang_tolerance(size)`` scales that to other image sizes.
    """
    hits = pointing_hits(maps, masks, tolerance)
    if hits.numel() == 0:
        raise ValueError("the pointing game needs at least one map and mask.")
    return hits.float().mean().item()


def zhang_tolerance(image_size: int) -> int:
    """The pointing game's 15-pixel tolerance at 224 pixels, scaled to ``image_size`` pixels."""
    return round(15 * image_size / 224)


# --------------------------------------------------------------------------- showing


def to_rgb_image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """An (H, W, 3) float array in [0, 1] from a (3, H, W) tensor, an (H, W, 3) or (H, W) array."""
    a = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if a.dtype == np.uint8:
        a = a / 255.0
    a = a.astype(np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise ValueError(f"expected an image (3,H,W), (H,W,3) or (H,W), got shape {a.shape}.")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.clip(a, 0.0, 1.0)


def overlay(
    image: torch.Tensor | np.ndarray,
    cam: torch.Tensor | np.ndarray,
    cmap: str = "jet",
    alpha: float = 0.5,
) -> np.ndarray:
    """The heat map over the image: ``(1 - alpha) * image + alpha * cmap(min_max(cam))``.

    ``image`` in [0, 1] (undo any normalisation first); ``cam`` (h, w) of any range, bilinearly
    resized to the image when smaller. Returns an (H, W, 3) float32 array in [0, 1].
    """
    refuse("07.3", "lessonlib.gradcam.overlay")
    import matplotlib

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}.")
    rgb = to_rgb_image(image)
    c = torch.as_tensor(np.asarray(cam.detach().cpu() if isinstance(cam, torch.Tensor) else cam))
    c = c.float().squeeze()
    if c.dim() != 2:
        raise ValueError(f"cam must be one (h, w) map, got shape {tuple(c.shape)}.")
    if tuple(c.shape) != rgb.shape[:2]:
        c = F.interpolate(c[None, None], rgb.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    heat = matplotlib.colormaps[cmap](min_max(c[None])[0].numpy())[..., :3]
    return ((1.0 - alpha) * rgb + alpha * heat).astype(np.float32)


def image_grid(
    rows: Sequence[Sequence],
    titles: Sequence[Sequence[str]] | None = None,
    contours: Sequence | None = None,
    cmap: str = "jet",
    cell: float = 1.6,
):
    """A matplotlib figure with one image per cell, axes off; returns the Figure.

    ``rows`` holds rows of images: (3, H, W) tensors, (H, W, 3) arrays (shown as RGB) or
    (H, W) maps (shown with ``cmap``). ``contours`` optionally gives one mask per column,
    outlined in white on every row.
    """
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    title_h = 0.35 if titles is not None else 0.05  # inches above each row
    height = n_rows * (cell + title_h)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols, height), squeeze=False)
    # A fixed layout: tight_layout and bbox_inches="tight" each cost a full extra draw.
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - title_h / height,
        wspace=0.05,
        hspace=title_h / cell,
    )
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            a = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
            ax = axes[r, c]
            if a.ndim == 2:
                ax.imshow(a, cmap=cmap)
            else:
                ax.imshow(to_rgb_image(a))
            if contours is not None and c < len(contours):
                ax.contour(np.asarray(contours[c]), levels=[0.5], colors="white", linewidths=0.8)
            if titles is not None and c < len(titles[r]):
                ax.set_title(titles[r][c], fontsize=min(11.0, 6.5 * cell))  # legible on a page
    for ax in axes.flat:
        ax.axis("off")
    return fig
