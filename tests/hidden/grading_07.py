"""Lesson 07's graded cases: the visible tests' cases and the hidden ones, checked in the grader.

The sandbox builds each case's inputs (grading_07_inputs.py), calls the student's function
and returns plain data; the checks below run in the grader against captum's LayerGradCam,
torchvision's feature extractor, matplotlib's colormaps and a brute-force pointing game,
never against the solution.

Hooks: a pair of cases shares one model, and the sandbox counts the hooks the first call
left on it just before the second call starts (see grading_07_inputs.py and call_start.py).
What only the visible tests (``lessonlib check 07``) can check: that returned tensors are
detached (plain data carries no autograd state), and that layer_outputs leaves no hook behind
when it raises (a call that raises is a failed case here).
"""

from __future__ import annotations

import copy
import functools
import math
from functools import partial

import matplotlib
import numpy as np
import torch
from grading_07_inputs import (
    HOOKS,
    KNOWN_PIXELS,
    cam_case,
    outputs_case,
    overlay_constant,
    overlay_extreme,
    overlay_known,
    pointing_constructed,
    pointing_edges,
    pointing_random,
    pointing_tie,
)
from torch import nn

from lessonlib.classroom.grading import Case, show
from lessonlib.classroom.references.call_start import read_observed
from lessonlib.classroom.references.gradcam import captum_maps, max_scaled_diff

CAM_TOLERANCE = 1e-4


def check_no_hooks_left(files, function: str, global_hooks: bool = True) -> None:
    """The record the sandbox wrote when this second call on a shared model began.

    ``global_hooks``: also count module hooks registered for every module at once since the
    first call began (the visible tests check those after grad_cam, not after layer_outputs).
    """
    record = read_observed(files, HOOKS)
    assert record is not None, (
        "the grader's record of the hooks on the model is missing from the call's folder "
        "(did your code delete files it did not write?)."
    )
    left = record.get("module_hooks")
    assert left == 0, (
        f"{show(left)} hook(s) from the earlier {function}() call were still on the model: "
        "keep every handle and remove it in a finally block."
    )
    left = record.get("global_hooks")
    assert not global_hooks or left == 0, (
        f"{show(left)} global module hook(s) from the earlier {function}() call were still "
        "registered: remove every hook you register."
    )


# ---------------------------------------------------------------- 07.1


def _plain_relus(model: nn.Module) -> nn.Module:
    """The same weights with every ReLU out of place (captum's hooks see the true A then)."""
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return plain


@functools.cache
def reference_cam(inputs) -> torch.Tensor:
    """captum's maps for the grader's own copy of the inputs (built once, reused)."""
    model, layer, images, targets = (inputs.args[i] for i in range(4))
    plain = _plain_relus(model)
    return captum_maps(plain, plain.get_submodule(layer), images.clone(), targets.clone())


def check_cam(got, inputs, files, second_call: bool = False, quietly: bool = False) -> None:
    images = inputs.args[2]
    assert isinstance(got, torch.Tensor), f"return a tensor, not {show(got)}."
    want_shape = (images.shape[0], *images.shape[2:])
    assert tuple(got.shape) == want_shape, (
        f"maps of shape {want_shape} (N, H, W), got {tuple(got.shape)}."
    )
    diff = max_scaled_diff(got, reference_cam(inputs))
    if quietly:
        assert diff <= CAM_TOLERANCE, (
            "after min-max scaling your maps differ from captum's LayerGradCam: an in-place "
            "ReLU after the layer, or the wrong layer's output?"
        )
    else:
        assert diff <= CAM_TOLERANCE, (
            f"after min-max scaling your maps differ from captum's by {diff:.2e}."
        )
    if second_call:
        check_no_hooks_left(files, "grad_cam")


# ---------------------------------------------------------------- 07.2


def reference_pointing(maps: torch.Tensor, masks: torch.Tensor, tolerance: float) -> float:
    """The pointing game, pixel by pixel with math.hypot."""
    hits = 0
    for cam, mask in zip(maps, masks, strict=True):
        if float(cam.max()) == float(cam.min()):
            continue
        width = cam.shape[1]
        row, col = divmod(int(cam.flatten().argmax()), width)
        near = [
            math.hypot(r - row, c - col)
            for r in range(mask.shape[0])
            for c in range(mask.shape[1])
            if mask[r, c]
        ]
        hits += bool(near) and min(near) <= tolerance
    return hits / len(maps)


def _number(got) -> float:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got)
    if isinstance(got, np.ndarray) and got.size == 1:
        return float(got)
    assert isinstance(got, int | float) and not isinstance(got, bool), (
        f"return the fraction of hits as a float, not {show(got)}."
    )
    return float(got)


def check_pointing(got, inputs, files, hint: str = "") -> None:
    maps, masks = inputs.args[0], inputs.args[1]
    tolerance = float(inputs.kwargs.get("tolerance", 0.0))
    want = reference_pointing(maps, masks, tolerance)
    mine = _number(got)
    message = f"want {want:g}, got {mine:g}" + (f" ({hint})" if hint else "") + "."
    assert math.isclose(mine, want, rel_tol=1e-6, abs_tol=1e-12), message


def check_pointing_quietly(got, inputs, files) -> None:
    maps, masks = inputs.args[0], inputs.args[1]
    tolerance = float(inputs.kwargs.get("tolerance", 0.0))
    mine = _number(got)
    assert math.isclose(mine, reference_pointing(maps, masks, tolerance), abs_tol=1e-9), (
        f"{mine:g} is not the fraction of maps whose peak is on (or near enough to) the object: "
        "think about an empty mask."
    )


# ---------------------------------------------------------------- 07.3


def reference_overlay(image, cam, cmap: str, alpha: float) -> np.ndarray:
    cam = np.asarray(cam, dtype=np.float64)
    span = cam.max() - cam.min()
    scaled = (cam - cam.min()) / span if span > 0 else np.zeros_like(cam)
    colour = np.asarray(matplotlib.colormaps[cmap](scaled))[..., :3]
    return (1 - alpha) * np.asarray(image, dtype=np.float64) + alpha * colour


def _rgb(got, shape: tuple[int, ...]) -> np.ndarray:
    assert isinstance(got, np.ndarray | torch.Tensor | list), (
        f"return an (H, W, 3) array, not {show(got)}."
    )
    try:
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"return an (H, W, 3) array of floats, not {show(got)}.") from exc
    assert array.shape == shape, f"an (H, W, 3) array of shape {shape}, got shape {array.shape}."
    return array


def _overlay_args(inputs) -> tuple:
    names = ("image", "cam", "cmap", "alpha")
    values = dict(zip(names, inputs.args, strict=False))
    values.update(inputs.kwargs)
    return values["image"], values["cam"], values.get("cmap", "jet"), values.get("alpha", 0.5)


def check_overlay(got, inputs, files) -> None:
    image, cam, cmap, alpha = _overlay_args(inputs)
    mine = _rgb(got, (*np.shape(cam), 3))
    want = reference_overlay(image, cam, cmap, alpha)
    pixels = [*KNOWN_PIXELS, (2, 2)] if np.shape(cam) == (7, 9) else []
    for r, c in pixels:
        assert np.allclose(mine[r, c], want[r, c], atol=1e-5, rtol=0), (
            f"pixel ({r}, {c}): want {np.round(want[r, c], 4).tolist()}, "
            f"got {np.round(mine[r, c], 4).tolist()}."
        )
    assert np.allclose(mine, want, atol=1e-5, rtol=0), (
        "the blend differs from (1 - alpha) * image + alpha * colormap(min-max scaled map)."
    )


def check_overlay_quietly(got, inputs, files) -> None:
    image, cam, cmap, alpha = _overlay_args(inputs)
    mine = _rgb(got, (*np.shape(cam), 3))
    atol = 1e-6 if alpha == 0 else 1e-5
    assert np.allclose(mine, reference_overlay(image, cam, cmap, alpha), atol=atol, rtol=0), (
        f"with alpha = {alpha:g} the overlay is not what it should be (mind the dtype, and "
        "the colormap's alpha channel)."
    )


# ---------------------------------------------------------------- 07.4


@functools.cache
def feature_extractor_outputs(inputs) -> dict[str, torch.Tensor]:
    from torchvision.models.feature_extraction import create_feature_extractor

    model, names, images = (inputs.args[i] for i in range(3))
    with torch.no_grad():
        return create_feature_extractor(model, return_nodes=list(names))(images.clone())


@functools.cache
def stage_outputs(inputs) -> dict[str, torch.Tensor]:
    """resnet18's layer2 and layer4[1].bn2 (before += identity), computed module by module."""
    model, _, images = (inputs.args[i] for i in range(3))
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        layer2 = model.layer2(model.layer1(stem))
        block = model.layer4[1]
        before = model.layer4[0](model.layer3(layer2))
        bn2 = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(before)))))
    return {"layer2": layer2, "layer4.1.bn2": bn2}


def _compare_outputs(got, want: dict[str, torch.Tensor], quietly: bool) -> None:
    assert isinstance(got, dict), f"return a dict of layer name -> tensor, not {show(got)}."
    names = sorted(want)
    assert sorted(got, key=str) == names, (
        f"one entry per name: {names}, got {sorted(map(str, got))}."
    )
    for name in names:
        mine = got[name]
        assert isinstance(mine, torch.Tensor), f"{name}: return a tensor, not {show(mine)}."
        assert tuple(mine.shape) == tuple(want[name].shape), (
            f"{name}: shape {tuple(mine.shape)}, the layer's output has {tuple(want[name].shape)}."
        )
        try:
            torch.testing.assert_close(mine, want[name])
        except AssertionError as exc:
            raise AssertionError(
                f"{name}: not that layer's output"
                + ("." if quietly else " (changed in place after the hook saw it?).")
            ) from exc


def check_outputs(got, inputs, files, second_call: bool = False) -> None:
    _compare_outputs(got, feature_extractor_outputs(inputs), quietly=False)
    if second_call:
        check_no_hooks_left(files, "layer_outputs", global_hooks=False)


def check_stage_outputs(got, inputs, files) -> None:
    _compare_outputs(got, stage_outputs(inputs), quietly=True)


RESNET_NAMES = ["layer1.0.conv1", "layer3.1.bn2", "fc"]

CASES = [
    # 07.1: the first two share a model, and so do the two in-place ones.
    Case(
        "07.1",
        "a small CNN's layer 4, six images",
        partial(cam_case, "cnn", 0, "4", 6, 16, 1, [0, 1, 2, 3, 4, 2], shared=True),
        check_cam,
    ),
    Case(
        "07.1",
        "the same CNN's layer 5, called a second time",
        partial(cam_case, "cnn", 0, "5", 6, 16, 1, [0, 1, 2, 3, 4, 2], shared=True),
        partial(check_cam, second_call=True),
    ),
    Case(
        "07.1",
        "the lesson's SmallCNN, features.8",
        partial(cam_case, "small_cnn", 3, "features.8", 4, 64, 5, [4, 0, 2, 2]),
        check_cam,
    ),
    Case(
        "07.1",
        "resnet18's layer4",
        partial(cam_case, "resnet18", 1, "layer4", 2, 64, 2, [3, 1]),
        check_cam,
        timeout=20.0,
    ),
    Case(
        "07.1",
        "a layer followed by an in-place ReLU (hidden case)",
        partial(cam_case, "cnn", 4, "1", 5, 16, 9, [4, 3, 2, 1, 0], inplace=True, shared=True),
        partial(check_cam, quietly=True),
    ),
    Case(
        "07.1",
        "another layer of that model, called a second time (hidden case)",
        partial(cam_case, "cnn", 4, "5", 5, 16, 9, [4, 3, 2, 1, 0], inplace=True, shared=True),
        partial(check_cam, second_call=True, quietly=True),
    ),
    Case(
        "07.1",
        "another resnet18's layer3 (hidden case)",
        partial(cam_case, "resnet18", 3, "layer3", 3, 64, 4, [0, 3, 3], classes=4),
        partial(check_cam, quietly=True),
        timeout=20.0,
    ),
    # 07.2
    Case(
        "07.2",
        "five constructed maps",
        pointing_constructed,
        partial(check_pointing, hint="only map 0 peaks on the object"),
    ),
    Case(
        "07.2",
        "one map that peaks on the object",
        partial(pointing_constructed, 0, 1),
        check_pointing,
    ),
    Case(
        "07.2",
        "a flat map",
        partial(pointing_constructed, 4, 5),
        partial(check_pointing, hint="a flat map points nowhere"),
    ),
    *(
        Case(
            "07.2",
            f"five constructed maps, tolerance {tol:g}",
            partial(pointing_constructed, tolerance=tol),
            partial(check_pointing, hint="the tolerance is a Euclidean distance in pixels"),
        )
        for tol in (1.0, 2.0, 2.2, 2.3)
    ),
    Case(
        "07.2",
        "two equal maxima",
        pointing_tie,
        partial(check_pointing, hint="the first maximum in row-major order counts"),
    ),
    *(
        Case(
            "07.2",
            f"forty random maps, tolerance {tol:g}",
            partial(pointing_random, tol),
            check_pointing,
        )
        for tol in (0.0, 1.5, 3.0)
    ),
    *(
        Case(
            "07.2",
            f"an empty mask and a far one{'' if tol is None else f', tolerance {tol:g}'} "
            "(hidden case)",
            partial(pointing_edges, tol),
            check_pointing_quietly,
        )
        for tol in (None, 7.0, 7.1)
    ),
    # 07.3
    *(
        Case(
            "07.3",
            f"a map with known pixels, {cmap}, alpha {alpha:g}",
            partial(overlay_known, cmap, alpha),
            check_overlay,
        )
        for cmap, alpha in (("jet", 0.5), ("viridis", 0.3), ("magma", 0.8))
    ),
    Case("07.3", "a constant map, alpha 1", overlay_constant, check_overlay),
    *(
        Case(
            "07.3",
            f"gray, alpha {alpha:g} (hidden case)",
            partial(overlay_extreme, alpha),
            check_overlay_quietly,
        )
        for alpha in (0.0, 1.0)
    ),
    # 07.4: the first and the last share a model.
    Case(
        "07.4",
        "three layers of a small CNN",
        partial(outputs_case, "cnn", 2, ["0", "4", "6"], 3, shared=True),
        check_outputs,
    ),
    Case(
        "07.4",
        "resnet18: a conv, a bn2 before += identity, and fc",
        partial(outputs_case, "resnet18", 2, RESNET_NAMES, 2, size=64),
        check_outputs,
        timeout=20.0,
    ),
    Case(
        "07.4",
        "resnet18's whole stages (hidden case)",
        partial(outputs_case, "resnet18", 5, ["layer2", "layer4.1.bn2"], 2, 64, 8, classes=4),
        check_stage_outputs,
        timeout=20.0,
    ),
    Case(
        "07.4",
        "the first small CNN again, called a second time",
        partial(outputs_case, "cnn", 2, ["6"], 1, shared=True),
        partial(check_outputs, second_call=True),
    ),
]
