"""Instructor-only checks for lesson 07: in-place ReLU, more layers, edge cases."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from lessonlib.classroom.references.gradcam import (
    captum_maps,
    hook_total,
    max_scaled_diff,
    seeded_cnn,
    seeded_images,
)


def _resnet18(seed: int = 0):
    from torchvision.models import resnet18

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return resnet18(weights=None, num_classes=4).eval()


@pytest.mark.exercise("07.1", points=3)
@pytest.mark.parametrize("layer_name", ["1", "5"])
def test_grad_cam_with_an_inplace_relu_after_the_layer(exercises, layer_name):
    images, targets = seeded_images(5, seed=9), torch.tensor([4, 3, 2, 1, 0])
    plain = seeded_cnn(4)
    ref = captum_maps(plain, plain.get_submodule(layer_name), images, targets)
    model = seeded_cnn(4, inplace=True)  # same weights, ReLU(inplace=True) after the BatchNorm
    got = exercises.grad_cam(model, layer_name, images, targets)
    diff = max_scaled_diff(got, ref)
    assert diff <= 1e-4, f"the in-place ReLU after {layer_name} changed your maps ({diff:.2e})"
    assert hook_total(model) == 0


@pytest.mark.exercise("07.1", points=3)
def test_grad_cam_on_resnet18_layer3(exercises):
    model, images = _resnet18(3), seeded_images(3, size=64, seed=4)
    targets = torch.tensor([0, 3, 3])
    got = exercises.grad_cam(model, "layer3", images, targets)
    ref = captum_maps(model, model.layer3, images, targets)
    assert max_scaled_diff(got, ref) <= 1e-4
    assert hook_total(model) == 0


@pytest.mark.exercise("07.2", points=2)
def test_pointing_game_edge_cases(exercises):
    maps = torch.zeros(3, 6, 6)
    maps[:, 0, 0] = 1.0
    masks = torch.zeros(3, 6, 6, dtype=torch.bool)
    masks[1, 5, 5] = True  # distance sqrt(50) from the peak
    masks[2, 0, 0] = True
    # map 0 has an empty mask: nothing to point at
    assert exercises.pointing_game(maps, masks) == pytest.approx(1 / 3)
    assert exercises.pointing_game(maps, masks, tolerance=7.0) == pytest.approx(1 / 3)
    assert exercises.pointing_game(maps, masks, tolerance=7.1) == pytest.approx(2 / 3)


@pytest.mark.exercise("07.3", points=2)
def test_overlay_alpha_extremes(exercises):
    rng = np.random.default_rng(3)
    image = rng.uniform(size=(5, 6, 3)).astype(np.float32)
    cam = rng.uniform(-3, 7, size=(5, 6))
    np.testing.assert_allclose(exercises.overlay(image, cam, "gray", 0.0), image, atol=1e-6)
    pure = np.asarray(exercises.overlay(image, cam, "gray", 1.0))
    scaled = (cam - cam.min()) / (cam.max() - cam.min())
    want = matplotlib.colormaps["gray"](scaled)[..., :3]
    np.testing.assert_allclose(pure, want, atol=1e-5)


@pytest.mark.exercise("07.4", points=2)
def test_layer_outputs_of_whole_stages(exercises):
    model, images = _resnet18(5), seeded_images(2, size=64, seed=8)
    got = exercises.layer_outputs(model, ["layer2", "layer4.1.bn2"], images)
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        layer2 = model.layer2(model.layer1(stem))
        block = model.layer4[1]
        before = model.layer4[0](model.layer3(layer2))
        bn2 = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(before)))))
    torch.testing.assert_close(got["layer2"], layer2)
    torch.testing.assert_close(got["layer4.1.bn2"], bn2, msg="bn2's output, before += identity")
    assert hook_total(model) == 0
