"""Lesson 07's visible checks: Grad-CAM against captum, the pointing game against a brute-force
count, overlays against matplotlib's colormaps, layer outputs against torchvision's feature
extractor. Never against a solution, nor against ``lessonlib.gradcam``.

Hooks left behind and detached results: in watched cases a ``before`` step (call_start.py)
calls your function on the case's model just before the checked call (for 07.4 also with an
unknown name and with a batch the model refuses) and records what each call raised, the
hooks it left and whether it returned tensors that need grad.
"""

from __future__ import annotations

import copy
import math
import sys
from functools import partial

import numpy as np
import torch
from torch import nn

from lessonlib.classroom.cases import Case, Inputs, expect, expect_close, show
from lessonlib.classroom.references import gradcam as ref
from lessonlib.classroom.references.call_start import read_observed, with_hook, write_observed
from lessonlib.messages import N_, _
from lessonlib.models import small_cnn

# ---------------------------------------------------------------- inputs


def make_model(kind: str, seed: int, inplace: bool = False, classes: int = 5) -> nn.Module:
    if kind == "cnn":
        return ref.seeded_cnn(seed, n_classes=classes, inplace=inplace)
    if kind == "small_cnn":
        return small_cnn(seed=seed, width=8).eval()
    from torchvision.models import resnet18

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return resnet18(weights=None, num_classes=classes).eval()


def _watch(function: str, calls: list[tuple], why: tuple = ("",)):
    """A ``before`` step: call the learner's ``function`` on each of ``calls`` and record, per
    call, the exception it raised (``why`` it must raise, if it must), the hooks it left on
    the model, the global module hooks it added and whether a returned tensor requires grad."""

    def before(args: tuple) -> None:
        func = sys.modules["exercises"].__dict__.get(function)
        records = []
        for call, must in zip(calls, why, strict=True):
            hooks_before, out, raised = ref.global_hook_total(), None, None
            try:
                out = func(*call)
            except Exception as exc:  # noqa: BLE001 - recorded for the judge
                raised = type(exc).__name__
            values = out.values() if isinstance(out, dict) else [out]
            records.append(
                {
                    "must_raise": must,
                    "raised": raised,
                    "hooks": ref.hook_total(call[0]),
                    "global": ref.global_hook_total() - hooks_before,
                    "grad": any(getattr(v, "requires_grad", False) is True for v in values),
                }
            )
        write_observed("calls", {"calls": records})

    return before


def cam_case(
    kind, seed, layer, n, size, image_seed, targets, watch=False, inplace=False, classes=5
):
    """(model, layer name, images, targets); with ``watch``, one earlier call is recorded."""
    images = ref.seeded_images(n, size=size, seed=image_seed)
    inputs = Inputs(make_model(kind, seed, inplace, classes), layer, images, torch.tensor(targets))
    return with_hook(inputs, _watch("grad_cam", [inputs.args])) if watch else inputs


def outputs_case(kind, seed, names, n, size=16, image_seed=1, classes=5, watch=False):
    """(model, layer names, images); with ``watch``, one earlier call is recorded."""
    net = make_model(kind, seed, classes=classes)
    inputs = Inputs(net, list(names), ref.seeded_images(n, size=size, seed=image_seed))
    return with_hook(inputs, _watch("layer_outputs", [inputs.args])) if watch else inputs


def outputs_after_failures() -> Inputs:
    """A small CNN after two calls that must raise: an unknown second name, 5-channel images."""
    net, images = make_model("cnn", 0), ref.seeded_images(1)
    bad = torch.randn(2, 5, 16, 16, generator=torch.Generator().manual_seed(0))
    calls = [(net, ["0", "no_such_layer"], images), (net, ["0", "4"], bad)]
    why = (N_("an unknown second name, 'no_such_layer'"), N_("5-channel images the model refuses"))
    return with_hook(Inputs(net, ["6"], images), _watch("layer_outputs", calls, why))


def pointing_constructed(first: int = 0, last: int = 5, tolerance: float | None = None) -> Inputs:
    """Five 10 x 10 maps around a 3 x 3 object: a hit, a miss, distance 2, sqrt(5), flat."""
    masks = torch.zeros(5, 10, 10, dtype=torch.bool)
    masks[:, 3:6, 3:6] = True
    maps = torch.zeros(5, 10, 10)
    maps[0, 4, 4] = maps[1, 9, 0] = maps[2, 5, 7] = maps[3, 7, 6] = 1.0
    maps[3, 4, 4] = 0.5  # a lower bump on the object does not count
    extra = {} if tolerance is None else {"tolerance": tolerance}
    return Inputs(maps[first:last], masks[first:last], **extra)


def pointing_flat() -> Inputs:
    """Two flat maps (all 0, all 0.7) whose masks cover their first arg-max, and one hit."""
    maps = torch.zeros(3, 6, 6)
    maps[1] = 0.7
    maps[2, 3, 3] = 1.0
    masks = torch.zeros(3, 6, 6, dtype=torch.bool)
    masks[:, :4, :4] = True
    return Inputs(maps, masks)


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
    masks[1, 5, 5] = masks[2, 0, 0] = True
    return Inputs(maps, masks, **({} if tolerance is None else {"tolerance": tolerance}))


def overlay_known(cmap: str, alpha: float) -> Inputs:
    """A 7 x 9 map that is 6 everywhere but four pixels (2, 4, 8, 10), over a random image."""
    cam = np.full((7, 9), 6.0)
    cam[0, 0], cam[3, 4], cam[1, 7], cam[6, 8] = 2.0, 4.0, 8.0, 10.0
    return Inputs(np.random.default_rng(1).uniform(size=(7, 9, 3)), cam, cmap=cmap, alpha=alpha)


def overlay_constant() -> Inputs:
    return Inputs(np.zeros((4, 5, 3)), np.full((4, 5), 3.0), cmap="viridis", alpha=1.0)


def overlay_extreme(alpha: float) -> Inputs:
    """A float32 image and a map in [-3, 7], in the gray colormap, positionally."""
    rng = np.random.default_rng(3)
    image = rng.uniform(size=(5, 6, 3)).astype(np.float32)
    return Inputs(image, rng.uniform(-3, 7, size=(5, 6)), "gray", alpha)


# ---------------------------------------------------------------- what a recorded call left


def no_hooks_left(inputs, files, function: str, hint: int) -> None:
    """In a watched case, judge the calls the ``before`` step recorded."""
    if inputs.before is None:
        return
    record = read_observed(files, "calls")
    expect(record, _("the grader's record of the earlier call is missing (did you delete it?)."))
    for call in record["calls"]:
        why, after = call["must_raise"], _("after it returned")
        if why:
            why = _(why)  # a builder's N_() phrase, recorded in English
            hint, after = 3, _("after raising on {why}").format(why=why)
            expect(
                call["raised"],
                _("{function}() returned instead of raising on {why}.").format(
                    function=function, why=why
                ),
                hint,
            )
        keep = _("keep every handle and remove it in a finally block")
        expect(
            not call["hooks"],
            _("{function}() left {count} hook(s) {after}: {keep}.").format(
                function=function, count=call["hooks"], after=after, keep=keep
            ),
            hint,
        )
        expect(
            not call["global"],
            _("{function}() left a global module hook {after}.").format(
                function=function, after=after
            ),
            hint,
        )
        grad = _("{function}() returned tensors that require grad: return detached ones.").format(
            function=function
        )
        expect(not call["grad"], grad, hint)


# ---------------------------------------------------------------- 07.1


def same_maps(got, inputs, files) -> None:
    model, layer, images, targets = inputs.args
    expect(
        isinstance(got, torch.Tensor),
        _("return a tensor of maps, not {got}.").format(got=show(got)),
        3,
    )
    want_shape = (images.shape[0], *images.shape[2:])
    size = _("return maps of shape (N, H, W) = {want}, not {got}.").format(
        want=want_shape, got=tuple(got.shape)
    )
    expect(tuple(got.shape) == want_shape, size, 3)
    plain = copy.deepcopy(model)  # captum reads A through hooks: no ReLU may change it in place
    inplace = any(isinstance(m, nn.ReLU) and m.inplace for m in plain.modules())
    for m in plain.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    want = ref.captum_maps(plain, plain.get_submodule(layer), images.clone(), targets.clone())
    what = (
        _(
            "min-max scaled, your maps and captum's LayerGradCam (a ReLU(inplace=True) after the "
            "layer changes A after your hook saw it)"
        )
        if inplace
        else _("min-max scaled, your maps and captum's LayerGradCam")
    )
    expect_close(
        ref.scaled(got), ref.scaled(want), what, rtol=0, atol=1e-4, hint=2 if inplace else 3
    )
    no_hooks_left(inputs, files, "grad_cam", hint=2)


# ---------------------------------------------------------------- 07.2


def reference_pointing(maps, masks, tolerance: float) -> float:
    """The pointing game, pixel by pixel with math.hypot."""
    hits = 0
    for cam, mask in zip(maps, masks, strict=True):
        if float(cam.max()) == float(cam.min()):
            continue
        row, col = divmod(int(cam.flatten().argmax()), cam.shape[1])
        near = [math.hypot(r - row, c - col) for r, c in torch.nonzero(mask).tolist()]
        hits += bool(near) and min(near) <= tolerance
    return hits / len(maps)


def same_score(got, inputs, files, what: str = N_("the fraction of hits"), hint: int = 1) -> None:
    maps, masks = inputs.args
    want = reference_pointing(maps, masks, float(inputs.kwargs.get("tolerance", 0.0)))
    if isinstance(got, torch.Tensor | np.ndarray) and got.ndim == 0:
        got = float(got)
    expect_close(got, want, _(what), hint=hint)


# ---------------------------------------------------------------- 07.3


def same_overlay(got, inputs, files) -> None:
    import matplotlib

    values = dict(zip(("image", "cam", "cmap", "alpha"), inputs.args, strict=False))
    values.update(inputs.kwargs)
    image = np.asarray(values["image"], dtype=np.float64)
    cam, cmap, alpha = values["cam"], values.get("cmap", "jet"), values.get("alpha", 0.5)
    expect(
        isinstance(got, np.ndarray | torch.Tensor),
        _("return an array, not {got}.").format(got=show(got)),
    )
    span = cam.max() - cam.min()
    colour = matplotlib.colormaps[cmap]((cam - cam.min()) / span if span > 0 else 0 * cam)[..., :3]
    mine = np.asarray(got, dtype=np.float64)
    rgba = _("return RGB, shape {want}, not {got}: drop the colormap's alpha.").format(
        want=(*cam.shape, 3), got=mine.shape
    )
    expect(mine.shape != (*cam.shape, 4), rgba, 2)
    swapped = alpha * image + (1 - alpha) * colour
    swap = mine.shape == swapped.shape and alpha != 0.5 and np.allclose(mine, swapped, atol=1e-5)
    expect(
        not swap,
        _("you swapped the weights: the colour gets alpha = {alpha:g}.").format(alpha=alpha),
        3,
    )
    want = (1 - alpha) * image + alpha * colour
    expect_close(mine, want, _("the overlay"), rtol=0, atol=1e-5, hint=2)


# ---------------------------------------------------------------- 07.4


def extracted_outputs(inputs) -> dict[str, torch.Tensor]:
    from torchvision.models.feature_extraction import create_feature_extractor

    model, names, images = inputs.args
    with torch.no_grad():
        return create_feature_extractor(model, return_nodes=list(names))(images.clone())


def same_outputs(got, inputs, files, reference=extracted_outputs) -> None:
    want = reference(inputs)
    expect(
        isinstance(got, dict),
        _("return a dict of layer name -> tensor, not {got}.").format(got=show(got)),
        2,
    )
    names = sorted(map(str, got))
    expect(
        names == sorted(want),
        _("return one entry per name, {want}, not {got}.").format(
            want=sorted(want), got=show(names)
        ),
        2,
    )
    for name in want:
        expect(
            isinstance(got[name], torch.Tensor),
            _("{name}: return a tensor.").format(name=name),
            2,
        )
        what = _("{name}'s output (changed in place after your hook saw it? keep a clone)").format(
            name=name
        )
        expect_close(got[name], want[name], what, rtol=1e-4, atol=1e-5, hint=2)
    no_hooks_left(inputs, files, "layer_outputs", hint=1)


SIX = [0, 1, 2, 3, 4, 2]
FLAT = partial(same_score, what=N_("a flat map is a miss, so the fraction of hits"), hint=2)
TIE = partial(same_score, what=N_("the first maximum in row-major order counts: hits"), hint=2)
EUCLID = partial(same_score, what=N_("with a Euclidean tolerance, the fraction of hits"), hint=3)
CASES = [
    Case(
        "07.1",
        "a small CNN's layer 4",
        partial(cam_case, "cnn", 0, "4", 6, 16, 1, SIX, True),
        same_maps,
    ),
    Case(
        "07.1", "the same CNN's layer 5", partial(cam_case, "cnn", 0, "5", 6, 16, 1, SIX), same_maps
    ),
    Case(
        "07.1",
        "the lesson's SmallCNN, features.8",
        partial(cam_case, "small_cnn", 3, "features.8", 4, 64, 5, [4, 0, 2, 2]),
        same_maps,
    ),
    Case(
        "07.1",
        "a BatchNorm followed by ReLU(inplace=True)",
        partial(cam_case, "cnn", 4, "1", 5, 16, 9, [4, 3, 2, 1, 0], inplace=True),
        same_maps,
    ),
    Case(
        "07.1",
        "resnet18's layer4",
        partial(cam_case, "resnet18", 1, "layer4", 2, 64, 2, [3, 1]),
        same_maps,
        timeout=20.0,
    ),
    Case("07.2", "five constructed maps, one on the object", pointing_constructed, same_score),
    Case(
        "07.2", "one map that peaks on the object", partial(pointing_constructed, 0, 1), same_score
    ),
    Case("07.2", "two flat maps over the object, and a hit", pointing_flat, FLAT),
    *(
        Case(
            "07.2",
            f"five constructed maps, tolerance {tol:g}",
            partial(pointing_constructed, tolerance=tol),
            EUCLID,
        )
        for tol in (1.0, 2.0, 2.2, 2.3)
    ),
    Case("07.2", "two equal maxima", pointing_tie, TIE),
    *(
        Case(
            "07.2",
            f"forty random maps, tolerance {tol:g}",
            partial(pointing_random, tol),
            partial(same_score, hint=3),
        )
        for tol in (0.0, 1.5, 3.0)
    ),
    *(
        Case(
            "07.3",
            f"a map with known pixels, {cmap}, alpha {alpha:g}",
            partial(overlay_known, cmap, alpha),
            same_overlay,
        )
        for cmap, alpha in (("jet", 0.5), ("viridis", 0.3), ("magma", 0.8))
    ),
    Case("07.3", "a constant map, alpha 1", overlay_constant, same_overlay),
    Case(
        "07.4",
        "three layers of a small CNN",
        partial(outputs_case, "cnn", 2, ["0", "4", "6"], 3, watch=True),
        same_outputs,
    ),
    Case(
        "07.4",
        "resnet18: a conv, a bn2 before += identity, and fc",
        partial(outputs_case, "resnet18", 2, ["layer1.0.conv1", "layer3.1.bn2", "fc"], 2, 64),
        same_outputs,
        timeout=20.0,
    ),
    Case(
        "07.4",
        "a small CNN after an unknown name and a failing forward pass",
        outputs_after_failures,
        same_outputs,
    ),
]
