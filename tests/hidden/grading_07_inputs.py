"""Inputs for lesson 07's graded calls: seeded CNNs, resnet18s (weights=None), images, maps.

Every builder is deterministic, so the sandbox (which calls the student's function) and the
grader (which checks the answer) each build the same inputs from the same arguments.

"No hooks left behind" is seen the only way this design allows: some cases share their
model with an earlier case (``shared=True``), and when the sandbox starts the later call, a
``before`` hook counts the hooks still on that model (and the global module hooks added
since the first call began) and writes the count into the case's folder for the check. See
call_start.py for what that count is worth against a submission that sets out to forge it.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as _module

from lessonlib.classroom.grading import Inputs
from lessonlib.classroom.references.call_start import with_hook, write_observed
from lessonlib.classroom.references.gradcam import hook_total, seeded_cnn, seeded_images
from lessonlib.models import small_cnn

HOOKS = "hooks"  # the name of the record a shared model's second call gets


def resnet18(seed: int = 0, n_classes: int = 5) -> nn.Module:
    from torchvision.models import resnet18 as make

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make(weights=None, num_classes=n_classes).eval()


def global_hook_ids() -> list[int]:
    """Ids of the hooks registered for every module at once (register_module_forward_hook …)."""
    names = [n for n in dir(_module) if n.startswith("_global_") and n.endswith("_hooks")]
    return sorted({k for n in names for k in getattr(_module, n) if isinstance(k, int)})


# id(model) -> global hook ids when the first observed call on it began (in this process)
_FIRST_CALL: dict[int, list[int]] = {}


def _observe(model: nn.Module):
    def hook(args: tuple) -> None:
        now = global_hook_ids()
        if id(model) not in _FIRST_CALL:
            _FIRST_CALL[id(model)] = now
            return
        left = set(now) - set(_FIRST_CALL[id(model)])  # added since the first call began
        write_observed(HOOKS, {"module_hooks": hook_total(model), "global_hooks": len(left)})

    return hook


@functools.cache
def _model(kind: str, seed: int, inplace: bool = False, classes: int = 5) -> nn.Module:
    """One model object per arguments: cases that pass ``shared=True`` get the same one."""
    if kind == "cnn":
        return seeded_cnn(seed, n_classes=classes, inplace=inplace)
    if kind == "small_cnn":
        return small_cnn(seed=seed, width=8).eval()
    return resnet18(seed, n_classes=classes)


def model(
    kind: str, seed: int, inplace: bool = False, classes: int = 5, shared: bool = False
) -> nn.Module:
    build = _model if shared else _model.__wrapped__
    return build(kind, seed, inplace, classes)


# ---------------------------------------------------------------- 07.1


def cam_case(
    kind: str,
    seed: int,
    layer: str,
    n: int,
    size: int,
    image_seed: int,
    targets: list[int],
    inplace: bool = False,
    classes: int = 5,
    shared: bool = False,
) -> Inputs:
    """(model, layer name, images, targets); a shared model's calls are watched for hooks."""
    net = model(kind, seed, inplace, classes, shared)
    inputs = Inputs(net, layer, seeded_images(n, size=size, seed=image_seed), torch.tensor(targets))
    return with_hook(inputs, _observe(net)) if shared else inputs


# ---------------------------------------------------------------- 07.2


def constructed_maps() -> tuple[torch.Tensor, torch.Tensor]:
    """Five 10 x 10 maps around a 3 x 3 object: a hit, a miss, distance 2, sqrt(5), flat."""
    masks = torch.zeros(5, 10, 10, dtype=torch.bool)
    masks[:, 3:6, 3:6] = True
    maps = torch.zeros(5, 10, 10)
    maps[0, 4, 4] = 1.0
    maps[1, 9, 0] = 1.0
    maps[2, 5, 7] = 1.0
    maps[3, 7, 6] = 1.0
    maps[3, 4, 4] = 0.5
    return maps, masks


def pointing_constructed(first: int = 0, last: int = 5, tolerance: float | None = None) -> Inputs:
    maps, masks = constructed_maps()
    extra = {} if tolerance is None else {"tolerance": tolerance}
    return Inputs(maps[first:last], masks[first:last], **extra)


def pointing_tie() -> Inputs:
    """Two equal maxima; the first in row-major order, (0, 2), is off the object."""
    maps = torch.zeros(1, 4, 4)
    maps[0, 0, 2] = maps[0, 3, 3] = 2.0
    masks = torch.zeros(1, 4, 4, dtype=torch.bool)
    masks[0, 3, 3] = True
    return Inputs(maps, masks)


def pointing_random(tolerance: float) -> Inputs:
    """Forty random 12 x 12 maps, each with a 3 x 4 object somewhere."""
    gen = torch.Generator().manual_seed(7)
    maps = torch.rand(40, 12, 12, generator=gen)
    masks = torch.zeros(40, 12, 12, dtype=torch.bool)
    for i in range(40):
        r, c = torch.randint(0, 9, (2,), generator=gen).tolist()
        masks[i, r : r + 3, c : c + 4] = True
    return Inputs(maps, masks, tolerance=tolerance)


def pointing_edges(tolerance: float | None = None) -> Inputs:
    """Peaks at (0, 0): an empty mask, a mask sqrt(50) away, a mask on the peak."""
    maps = torch.zeros(3, 6, 6)
    maps[:, 0, 0] = 1.0
    masks = torch.zeros(3, 6, 6, dtype=torch.bool)
    masks[1, 5, 5] = True
    masks[2, 0, 0] = True
    extra = {} if tolerance is None else {"tolerance": tolerance}
    return Inputs(maps, masks, **extra)


# ---------------------------------------------------------------- 07.3

KNOWN_PIXELS = {(0, 0): 2.0, (6, 8): 10.0, (3, 4): 4.0, (1, 7): 8.0}  # the rest is 6.0


def overlay_known(cmap: str, alpha: float) -> Inputs:
    """A 7 x 9 map that is 6 everywhere but four pixels, over a random image."""
    image = np.random.default_rng(1).uniform(size=(7, 9, 3))
    cam = np.full((7, 9), 6.0)
    for (r, c), value in KNOWN_PIXELS.items():
        cam[r, c] = value
    return Inputs(image, cam, cmap=cmap, alpha=alpha)


def overlay_constant() -> Inputs:
    return Inputs(np.zeros((4, 5, 3)), np.full((4, 5), 3.0), cmap="viridis", alpha=1.0)


def overlay_extreme(alpha: float) -> Inputs:
    """A float32 image and a map in [-3, 7], in the gray colormap, positionally."""
    rng = np.random.default_rng(3)
    image = rng.uniform(size=(5, 6, 3)).astype(np.float32)
    cam = rng.uniform(-3, 7, size=(5, 6))
    return Inputs(image, cam, "gray", alpha)


# ---------------------------------------------------------------- 07.4


def outputs_case(
    kind: str,
    seed: int,
    names: list[str],
    n: int,
    size: int = 16,
    image_seed: int = 1,
    classes: int = 5,
    shared: bool = False,
) -> Inputs:
    """(model, layer names, images); a shared model's calls are watched for hooks."""
    net = model(kind, seed, classes=classes, shared=shared)
    inputs = Inputs(net, list(names), seeded_images(n, size=size, seed=image_seed))
    return with_hook(inputs, _observe(net)) if shared else inputs
