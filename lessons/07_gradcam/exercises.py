"""Lesson 07 exercises: Grad-CAM by yourself, measured and shown, with no hooks left behind.

Each function takes tensors, arrays and names, and returns a tensor, an array, a number or a
dict of tensors. Check your work with ``lessonlib check 07``. Stuck? ``lessonlib hint 07.1``.
"""

from __future__ import annotations

import numpy as np
import torch
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
    raise NotImplementedError("TODO(07.1)")


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: float = 0.0) -> float:
    """The fraction of ``maps`` (N, H, W) whose maximum lies on the object in ``masks``.

    ``masks`` (N, H, W) is True on the object's pixels. Each map's maximum is the first
    arg-max in row-major order (what ``argmax`` of the flattened map gives). A map scores a
    hit when the mask is True there or, with ``tolerance > 0``, when some mask pixel lies
    within that Euclidean distance (in pixels) of it. A map whose values are all equal
    points nowhere: it is a miss.
    """
    raise NotImplementedError("TODO(07.2)")


def overlay(
    image: np.ndarray, cam: np.ndarray, cmap: str = "jet", alpha: float = 0.5
) -> np.ndarray:
    """The heat map ``cam`` (H, W) laid over ``image`` (H, W, 3, floats in [0, 1]).

    Min-max scale the map to [0, 1] (a constant map becomes all zeros). Colour it with
    matplotlib's colormap ``cmap``, keeping R, G and B. Return
    ``(1 - alpha) * image + alpha * colour``, an (H, W, 3) float array.
    """
    raise NotImplementedError("TODO(07.3)")


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
    raise NotImplementedError("TODO(07.4)")
