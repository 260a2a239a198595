"""Lesson 07 exercises: Grad-CAM by yourself, measured and shown, with no hooks left behind.

Each function takes tensors, arrays and names, and returns a tensor, an array, a number or a
dict of tensors. Check your work with ``lessonlib check 07``. Stuck? ``lessonlib hint 07.1``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


def grad_cam(
    model: nn.Module, layer_name: str, images: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Grad-CAM maps (N, H, W) of ``images`` (N, C, H, W), one target class per image.

    ``layer_name`` is a name from ``model.named_modules()`` (e.g. ``"features.8"``). The layer's
    output A has shape (N, K, h, w). Take the gradient of each image's target logit
    (``logits[i, targets[i]]``) with respect to A. Weight each channel by its gradient
    averaged over the h x w positions, sum the weighted channels, and apply ReLU. Then
    upsample the (h, w) map bilinearly (``align_corners=False``) to the images' H x W.
    Return a detached float tensor. The model is in eval mode. When you return, the model
    must hold no hooks. Some models apply ``ReLU(inplace=True)`` right after the layer: the
    lesson shows what that does to a hook.
    """
    layer = dict(model.named_modules())[layer_name]
    kept = {}

    def keep(module, inputs, output):
        kept["A"] = output
        return output.clone()  # later in-place ops change the clone, not A

    handle = layer.register_forward_hook(keep)
    try:
        logits = model(images)
    finally:
        handle.remove()
    targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1, 1)
    score = logits.gather(1, targets).sum()  # images do not interact in eval mode
    (grads,) = torch.autograd.grad(score, kept["A"])
    with torch.no_grad():
        weights = grads.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * kept["A"]).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=images.shape[2:], mode="bilinear", align_corners=False)
    return cam[:, 0].detach()


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: float = 0.0) -> float:
    """The fraction of ``maps`` (N, H, W) whose maximum lies on the object in ``masks``.

    ``masks`` (N, H, W) is True on the object's pixels. Each map's maximum is the first
    arg-max in row-major order (what ``argmax`` of the flattened map gives). A map scores a
    hit when the mask is True there or, with ``tolerance > 0``, when some mask pixel lies
    within that Euclidean distance (in pixels) of it. A map whose values are all equal
    points nowhere: it is a miss.
    """
    maps = torch.as_tensor(maps).float()
    masks = torch.as_tensor(masks).bool()
    width = maps.shape[2]
    hits = 0
    for cam, mask in zip(maps, masks, strict=True):
        if cam.max() == cam.min():
            continue
        peak = cam.flatten().argmax().item()
        py, px = divmod(peak, width)
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if len(ys) and ((ys - py) ** 2 + (xs - px) ** 2).min().item() <= tolerance**2:
            hits += 1
    return hits / len(maps)


def overlay(
    image: np.ndarray, cam: np.ndarray, cmap: str = "jet", alpha: float = 0.5
) -> np.ndarray:
    """The heat map ``cam`` (H, W) laid over ``image`` (H, W, 3, floats in [0, 1]).

    Min-max scale the map to [0, 1] (a constant map becomes all zeros). Colour it with
    matplotlib's colormap ``cmap``, keeping R, G and B. Return
    ``(1 - alpha) * image + alpha * colour``, an (H, W, 3) float array.
    """
    import matplotlib

    cam = np.asarray(cam, dtype=np.float64)
    span = cam.max() - cam.min()
    scaled = (cam - cam.min()) / span if span > 0 else np.zeros_like(cam)
    colour = matplotlib.colormaps[cmap](scaled)[..., :3]
    return (1.0 - alpha) * np.asarray(image, dtype=np.float64) + alpha * colour


def layer_outputs(
    model: nn.Module, layer_names: list[str], images: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The outputs of the named layers for ``images``, from one forward pass with hooks.

    Return ``{name: output}`` for every name in ``layer_names``: detached copies, because the
    model may change an output in place after the hook saw it (resnet's blocks do
    ``out += identity`` right after ``bn2``). When the function ends, the model must hold no
    hooks, whether it returns or raises. An unknown name or a failing forward pass raises an
    error, but it leaves no hook behind.
    """
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in layer_names:
            layer = modules[name]  # a KeyError here must not leave earlier hooks behind

            def keep(module, inputs, output, name=name):
                outputs[name] = output.detach().clone()

            handles.append(layer.register_forward_hook(keep))
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return outputs
