"""Test-side references for Grad-CAM: captum's maps, hook counts, small seeded CNNs."""

from __future__ import annotations

import torch
from torch import nn


def seeded_cnn(seed: int = 0, n_classes: int = 5, inplace: bool = False) -> nn.Module:
    """Conv-BN-ReLU x2 with a pool between, then global average pooling and a linear head."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=inplace),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, n_classes),
        )
        # Non-trivial BatchNorm statistics, so eval mode differs from train mode.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


def seeded_images(n: int, size: int = 16, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=gen)


def captum_maps(model: nn.Module, layer: nn.Module, images, targets) -> torch.Tensor:
    """captum's LayerGradCam (ReLU) upsampled bilinearly to the input size: (N, H, W)."""
    from captum.attr import LayerAttribution, LayerGradCam

    attr = LayerGradCam(model, layer).attribute(images, target=targets, relu_attributions=True)
    up = LayerAttribution.interpolate(attr, tuple(images.shape[2:]), "bilinear")
    return up[:, 0].detach()


def pytorch_grad_cam_maps(model: nn.Module, layer: nn.Module, images, targets) -> torch.Tensor:
    """pytorch-grad-cam's GradCAM maps (N, H, W); it min-max scales them itself."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAM(model=model, target_layers=[layer]) as cam:
        out = cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    return torch.from_numpy(out)


def scaled(maps) -> torch.Tensor:
    """Each map scaled to [0, 1]; a constant map becomes zeros."""
    m = torch.as_tensor(maps, dtype=torch.float32)
    flat = m.reshape(len(m), -1)
    lo = flat.min(1, keepdim=True).values
    span = (flat.max(1, keepdim=True).values - lo).clamp_min(1e-12)
    return ((flat - lo) / span).reshape(m.shape)


def max_scaled_diff(a, b) -> float:
    return (scaled(a) - scaled(b)).abs().max().item()


def hook_total(model: nn.Module) -> int:
    """Module hooks of every kind left on ``model`` and its submodules."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, k)) for m in model.modules() for k in kinds)


def global_hook_total() -> int:
    """Hooks registered for every module at once (register_module_forward_hook and friends)."""
    from torch.nn.modules import module as mod

    names = [n for n in dir(mod) if n.startswith("_global_") and n.endswith("_hooks")]
    return sum(len(getattr(mod, n)) for n in names)
