"""Exercise checks for lesson 07, against captum, matplotlib, torchvision and constructed cases."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

from lessonlib.classroom.references.gradcam import (
    captum_maps,
    global_hook_total,
    hook_total,
    max_scaled_diff,
    seeded_cnn,
    seeded_images,
)


def _resnet18(seed: int = 0, n_classes: int = 5):
    from torchvision.models import resnet18

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return resnet18(weights=None, num_classes=n_classes).eval()


# ----------------------------------------------------------------------------- 07.1


def _check_against_captum(exercises, model, layer_name, images, targets):
    hooks_before = global_hook_total()
    got = exercises.grad_cam(model, layer_name, images, targets)
    assert isinstance(got, torch.Tensor), f"return a tensor, not {type(got).__name__}"
    want_shape = (images.shape[0], *images.shape[2:])
    assert tuple(got.shape) == want_shape, f"maps of shape {want_shape}, got {tuple(got.shape)}"
    assert not got.requires_grad, "return detached maps"
    ref = captum_maps(model, model.get_submodule(layer_name), images, targets)
    diff = max_scaled_diff(got, ref)
    assert diff <= 1e-4, f"after min-max scaling your maps differ from captum's by {diff:.2e}"
    assert hook_total(model) == 0, "grad_cam left hooks on the model"
    assert global_hook_total() == hooks_before, "grad_cam left a global module hook"


@pytest.mark.exercise("07.1", points=3)
@pytest.mark.parametrize("layer_name", ["4", "5"])
def test_grad_cam_matches_captum_with_one_target_per_image(exercises, layer_name):
    model, images = seeded_cnn(0), seeded_images(6)
    targets = torch.tensor([0, 1, 2, 3, 4, 2])
    _check_against_captum(exercises, model, layer_name, images, targets)


@pytest.mark.exercise("07.1", points=3)
def test_grad_cam_matches_captum_on_the_lessons_cnn(exercises):
    from lessonlib.models import small_cnn

    model = small_cnn(seed=3, width=8).eval()
    images = seeded_images(4, size=64, seed=5)
    _check_against_captum(exercises, model, "features.8", images, torch.tensor([4, 0, 2, 2]))


@pytest.mark.exercise("07.1", points=3)
def test_grad_cam_matches_captum_on_resnet18_layer4(exercises):
    model, images = _resnet18(1), seeded_images(2, size=64, seed=2)
    _check_against_captum(exercises, model, "layer4", images, torch.tensor([3, 1]))


# ----------------------------------------------------------------------------- 07.2


def _constructed():
    masks = torch.zeros(5, 10, 10, dtype=torch.bool)
    masks[:, 3:6, 3:6] = True  # a 3x3 object, rows and columns 3..5
    maps = torch.zeros(5, 10, 10)
    maps[0, 4, 4] = 1.0  # on the object
    maps[1, 9, 0] = 1.0  # far away
    maps[2, 5, 7] = 1.0  # two columns right of (5, 5): distance 2
    maps[3, 7, 6] = 1.0  # two rows down, one column right of (5, 5): distance sqrt(5)
    maps[3, 4, 4] = 0.5  # a lower bump on the object does not count
    # maps[4] stays all zero: a flat map points nowhere
    return maps, masks


@pytest.mark.exercise("07.2", points=2)
def test_pointing_game_on_constructed_maps(exercises):
    maps, masks = _constructed()
    got = exercises.pointing_game(maps, masks)
    assert got == pytest.approx(1 / 5), f"only map 0 peaks on the object: want 0.2, got {got}"
    assert exercises.pointing_game(maps[:1], masks[:1]) == pytest.approx(1.0)
    assert exercises.pointing_game(maps[4:], masks[4:]) == pytest.approx(0.0), "a flat map misses"


@pytest.mark.exercise("07.2", points=2)
@pytest.mark.parametrize(
    ("tolerance", "want"), [(1.0, 1 / 5), (2.0, 2 / 5), (2.2, 2 / 5), (2.3, 3 / 5)]
)
def test_pointing_game_tolerance_is_euclidean(exercises, tolerance, want):
    maps, masks = _constructed()
    got = exercises.pointing_game(maps, masks, tolerance=tolerance)
    assert got == pytest.approx(want), f"tolerance {tolerance}: want {want}, got {got}"


@pytest.mark.exercise("07.2", points=2)
def test_pointing_game_first_maximum_and_random_cases(exercises):
    tie_map = torch.zeros(1, 4, 4)
    tie_map[0, 0, 2] = tie_map[0, 3, 3] = 2.0
    tie_mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    tie_mask[0, 3, 3] = True
    assert exercises.pointing_game(tie_map, tie_mask) == pytest.approx(0.0), (
        "with two equal maxima the first in row-major order, (0, 2), counts"
    )
    gen = torch.Generator().manual_seed(7)
    maps = torch.rand(40, 12, 12, generator=gen)
    masks = torch.zeros(40, 12, 12, dtype=torch.bool)
    for i in range(40):
        r, c = torch.randint(0, 9, (2,), generator=gen).tolist()
        masks[i, r : r + 3, c : c + 4] = True
    for tol in (0.0, 1.5, 3.0):
        hits = 0
        for cam, mask in zip(maps, masks, strict=True):
            pr, pc = divmod(int(cam.flatten().argmax()), 12)
            near = [math.hypot(r - pr, c - pc) for r in range(12) for c in range(12) if mask[r, c]]
            hits += min(near) <= tol
        got = exercises.pointing_game(maps, masks, tolerance=tol)
        assert got == pytest.approx(hits / 40), f"tolerance {tol}: want {hits / 40}, got {got}"


# ----------------------------------------------------------------------------- 07.3


@pytest.mark.exercise("07.3", points=2)
@pytest.mark.parametrize(("cmap", "alpha"), [("jet", 0.5), ("viridis", 0.3), ("magma", 0.8)])
def test_overlay_at_known_pixels(exercises, cmap, alpha):
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(7, 9, 3))
    cam = np.full((7, 9), 6.0)
    known = {(0, 0): (2.0, 0.0), (6, 8): (10.0, 1.0), (3, 4): (4.0, 0.25), (1, 7): (8.0, 0.75)}
    for (r, c), (value, _) in known.items():
        cam[r, c] = value
    got = np.asarray(exercises.overlay(image, cam, cmap=cmap, alpha=alpha))
    assert got.shape == (7, 9, 3), f"an (H, W, 3) array, got shape {got.shape}"
    colours = matplotlib.colormaps[cmap]
    for (r, c), (_, scaled) in [*known.items(), ((2, 2), (6.0, 0.5))]:
        want = (1 - alpha) * image[r, c] + alpha * np.array(colours(scaled)[:3])
        np.testing.assert_allclose(got[r, c], want, atol=1e-5, err_msg=f"pixel ({r}, {c})")


@pytest.mark.exercise("07.3", points=2)
def test_overlay_of_a_constant_map_uses_the_bottom_colour(exercises):
    image = np.zeros((4, 5, 3))
    got = np.asarray(exercises.overlay(image, np.full((4, 5), 3.0), cmap="viridis", alpha=1.0))
    bottom = np.array(matplotlib.colormaps["viridis"](0.0)[:3])
    np.testing.assert_allclose(got, np.broadcast_to(bottom, (4, 5, 3)), atol=1e-5)


# ----------------------------------------------------------------------------- 07.4


def _feature_extractor(model, names, images):
    from torchvision.models.feature_extraction import create_feature_extractor

    with torch.no_grad():
        return create_feature_extractor(model, return_nodes=names)(images)


@pytest.mark.exercise("07.4", points=2)
@pytest.mark.parametrize("which", ["cnn", "resnet18"])
def test_layer_outputs_match_torchvisions_feature_extractor(exercises, which):
    if which == "cnn":
        model, names, images = seeded_cnn(2), ["0", "4", "6"], seeded_images(3)
    else:
        model, images = _resnet18(2), seeded_images(2, size=64)
        names = ["layer1.0.conv1", "layer3.1.bn2", "fc"]
    got = exercises.layer_outputs(model, names, images)
    want = _feature_extractor(model, names, images)
    assert sorted(got) == sorted(names), f"one entry per name: {sorted(names)}, got {sorted(got)}"
    for name in names:
        assert not got[name].requires_grad, f"{name}: return detached outputs"
        torch.testing.assert_close(
            got[name], want[name], msg=f"output of {name} (changed in place after the hook?)"
        )
    assert hook_total(model) == 0, "layer_outputs left hooks on the model"


@pytest.mark.exercise("07.4", points=2)
def test_layer_outputs_leave_no_hook_when_something_fails(exercises):
    model = seeded_cnn(0)
    before = global_hook_total()
    with pytest.raises(RuntimeError):
        exercises.layer_outputs(model, ["0", "4"], torch.randn(2, 5, 16, 16))  # 5 channels
    assert hook_total(model) == 0, "a failing forward pass left hooks behind (use try/finally)"
    with pytest.raises(Exception):  # noqa: B017 (any error will do)
        exercises.layer_outputs(model, ["0", "no_such_layer"], seeded_images(1))
    assert hook_total(model) == 0, "an unknown second name left the first name's hook behind"
    assert global_hook_total() == before
    out = exercises.layer_outputs(model, ["6"], seeded_images(1))
    assert tuple(out["6"].shape) == (1, 8, 8, 8), "the model still works afterwards"
