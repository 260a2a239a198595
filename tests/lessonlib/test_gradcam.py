"""lessonlib.gradcam: maps equal captum's and pytorch-grad-cam's, hooks always go, bad input."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from lessonlib.classroom.references.gradcam import (
    captum_maps,
    hook_total,
    max_scaled_diff,
    pytorch_grad_cam_maps,
    seeded_cnn,
    seeded_images,
)
from lessonlib.errors import LessonlibError
from lessonlib.gradcam import (
    LayerNotFoundError,
    TrainModeWarning,
    capture_outputs,
    grad_cam,
    grad_cam_and_logits,
    image_grid,
    layer_names,
    min_max,
    overlay,
    peak_distances,
    pointing_game,
    pointing_hits,
    randomized_copy,
    resolve_layer,
    to_rgb_image,
    zhang_tolerance,
)

# ----------------------------------------------------------------------------- layers


def test_resolve_layer_by_name_index_and_module():
    model = seeded_cnn()
    assert resolve_layer(model, "4") is model[4]
    assert resolve_layer(model, model[4]) is model[4]
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    assert resolve_layer(net, "layer4") is net.layer4
    assert resolve_layer(net, "layer4[1].conv2") is net.layer4[1].conv2
    assert "layer4.1.conv2" in layer_names(net)


def test_unknown_layer_is_one_sentence_with_the_nearest_names():
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    with pytest.raises(LayerNotFoundError) as info:
        resolve_layer(net, "layer5")
    msg = str(info.value)
    assert isinstance(info.value, LessonlibError) and isinstance(info.value, ValueError)
    assert "'layer5'" in msg and "'layer4'" in msg, msg
    assert "\n" not in msg and msg.endswith(".") and msg.count(". ") == 0, msg
    with pytest.raises(LayerNotFoundError, match="'layer4.1.conv2'"):
        resolve_layer(net, "layer4.1.conv3")


def test_a_module_from_another_model_is_refused():
    with pytest.raises(LayerNotFoundError, match="not part of"):
        resolve_layer(seeded_cnn(0), seeded_cnn(1)[4])


# ----------------------------------------------------------------------------- Grad-CAM


@pytest.mark.parametrize("layer", [0, 4, 6])
def test_maps_equal_captum(layer):
    model, x = seeded_cnn(0), seeded_images(6)
    targets = torch.tensor([0, 1, 2, 3, 4, 0])
    ours = grad_cam(model, str(layer), x, targets)
    ref = captum_maps(model, model[layer], x, targets)
    assert ours.shape == (6, 16, 16)
    assert (ours - ref).abs().max().item() < 1e-5
    assert max_scaled_diff(ours, ref) < 1e-4


def test_maps_equal_pytorch_grad_cam_after_min_max():
    model, x = seeded_cnn(2), seeded_images(4, seed=3)
    targets = [4, 3, 2, 1]
    ours = grad_cam(model, "4", x, targets)
    ref = pytorch_grad_cam_maps(model, model[4], x, targets)
    assert max_scaled_diff(ours, ref) < 1e-4


def test_resnet18_layer4_matches_captum():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18(weights=None, num_classes=7).eval()
    x = seeded_images(3, size=64)
    ours = grad_cam(net, "layer4", x, [1, 5, 6])
    ref = captum_maps(net, net.layer4, x, [1, 5, 6])
    assert max_scaled_diff(ours, ref) < 1e-4


def test_targets_default_to_the_prediction_and_an_int_means_all():
    model, x = seeded_cnn(0), seeded_images(5)
    maps, logits = grad_cam_and_logits(model, "4", x)
    pred = logits.argmax(1)
    assert torch.allclose(maps, grad_cam(model, "4", x, pred))
    assert torch.allclose(grad_cam(model, "4", x, 2), grad_cam(model, "4", x, [2] * 5))
    with torch.no_grad():
        assert torch.allclose(logits, model(x), atol=1e-6)


def test_batch_equals_one_image_at_a_time():
    model, x = seeded_cnn(1), seeded_images(4)
    targets = torch.tensor([3, 1, 4, 0])
    batch = grad_cam(model, "4", x, targets)
    single = torch.cat([grad_cam(model, "4", x[i : i + 1], targets[i : i + 1]) for i in range(4)])
    assert torch.allclose(batch, single, atol=1e-6)


def test_raw_maps_and_no_relu():
    model, x = seeded_cnn(0), seeded_images(3)
    low = grad_cam(model, "4", x, 1, upsample=False)
    assert low.shape == (3, 8, 8)
    signed = grad_cam(model, "4", x, 1, upsample=False, relu=False)
    assert torch.allclose(low, signed.clamp_min(0))
    assert (signed < 0).any(), "without ReLU some cells are negative"


def test_no_hooks_no_parameter_grads_and_grad_mode_restored():
    model, x = seeded_cnn(0), seeded_images(2)
    grad_cam(model, "4", x, [0, 1])
    assert hook_total(model) == 0
    assert all(p.grad is None for p in model.parameters()), "autograd.grad, not .backward()"
    assert torch.is_grad_enabled()
    with torch.no_grad():
        maps = grad_cam(model, "4", x, [0, 1])
        assert not torch.is_grad_enabled()
    assert torch.allclose(maps, grad_cam(model, "4", x, [0, 1]))


def test_hooks_removed_when_the_forward_fails():
    model = seeded_cnn(0)
    with pytest.raises(RuntimeError):
        grad_cam(model, "4", torch.randn(2, 5, 16, 16), 0)  # 5 channels: conv fails
    assert hook_total(model) == 0
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(model, "4", seeded_images(2), 9)
    assert hook_total(model) == 0


class _ViewNet(nn.Module):
    """A LeNet-style model that flattens with .view(), which needs the usual memory layout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 16 * 16, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).view(x.shape[0], -1))


def test_models_that_need_contiguous_tensors_still_work():
    model, x = _ViewNet().eval(), seeded_images(3)
    with pytest.raises(RuntimeError, match="view"):
        model(x.contiguous(memory_format=torch.channels_last))
    ours = grad_cam(model, "conv", x, [0, 1, 2])
    assert max_scaled_diff(ours, captum_maps(model, model.conv, x, [0, 1, 2])) < 1e-4
    assert hook_total(model) == 0


def test_inplace_relu_after_the_target_layer_gives_the_same_maps():
    x, targets = seeded_images(4), [0, 1, 2, 3]
    plain = grad_cam(seeded_cnn(3), "5", x, targets)  # BatchNorm, then ReLU
    inplace_model = seeded_cnn(3, inplace=True)
    assert torch.allclose(grad_cam(inplace_model, "5", x, targets), plain, atol=1e-6)
    assert hook_total(inplace_model) == 0


def test_train_mode_warns_and_eval_does_not():
    model, x = seeded_cnn(0), seeded_images(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grad_cam(model, "4", x)
    model.train()
    with pytest.warns(TrainModeWarning, match=r"model\.eval\(\)"):
        grad_cam(model, "4", x)


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.side = nn.Conv2d(3, 4, 1)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        self.side(x)  # computed but unused
        return self.head(self.conv(self.conv(x)).mean((2, 3)))


def test_bad_layers_get_one_clear_sentence():
    model, x = _Twice().eval(), seeded_images(2)
    with pytest.raises(ValueError, match="ran 2 times"):
        grad_cam(model, "conv", x)
    with pytest.raises(ValueError, match="do not depend on layer 'side'"):
        grad_cam(model, "side", x)
    with pytest.raises(ValueError, match="not a \\(N, C, H, W\\) feature map"):
        grad_cam(seeded_cnn(0), "8", seeded_images(2))  # Flatten's output
    with pytest.raises(ValueError, match="one per image"):
        grad_cam(seeded_cnn(0), "4", seeded_images(3), [0, 1])
    with pytest.raises(ValueError, match="batch"):
        grad_cam(seeded_cnn(0), "4", seeded_images(1)[0])
    assert hook_total(model) == 0


def test_capture_outputs_matches_slicing_and_cleans_up():
    model, x = seeded_cnn(0), seeded_images(2)
    with capture_outputs(model, ["0", "6"]) as outs, torch.no_grad():
        model(x)
        assert hook_total(model) == 2
    assert hook_total(model) == 0
    with torch.no_grad():
        assert torch.equal(outs["0"], model[0](x))
        assert torch.allclose(outs["6"], model[:7](x))
    with pytest.raises(RuntimeError), capture_outputs(model, ["4"]):
        model(torch.randn(1, 2, 8, 8))
    assert hook_total(model) == 0


# ----------------------------------------------------------------------------- measuring


def test_min_max():
    maps = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[4.0, 4.0], [4.0, 4.0]]])
    out = min_max(maps)
    assert torch.allclose(out[0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]))
    assert torch.equal(out[1], torch.zeros(2, 2))


def test_pointing_hits_on_constructed_maps():
    masks = torch.zeros(4, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 2:5] = True
    maps = torch.zeros(4, 8, 8)
    maps[0, 3, 3] = 1.0  # on the object
    maps[1, 7, 7] = 1.0  # far away
    maps[2, 5, 6] = 1.0  # 1 right and 1 down of the corner (4, 4): distance sqrt(5)
    maps[2, 3, 3] = 0.5
    # maps[3] stays flat: it points nowhere
    assert pointing_hits(maps, masks).tolist() == [True, False, False, False]
    assert pointing_hits(maps, masks, tolerance=2).tolist() == [True, False, False, False]
    assert pointing_hits(maps, masks, tolerance=2.3).tolist() == [True, False, True, False]
    assert pointing_game(maps, masks) == 0.25
    assert pointing_game(maps.numpy(), masks.numpy(), tolerance=3) == 0.5


def test_pointing_hits_first_maximum_wins_and_shapes_are_checked():
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[3, 3] = True
    cam = torch.zeros(4, 4)
    cam[0, 1] = cam[3, 3] = 2.0  # a tie: the first in row-major order is (0, 1)
    assert pointing_hits(cam, mask).tolist() == [False]
    with pytest.raises(ValueError, match="one shape"):
        pointing_hits(torch.zeros(2, 4, 4), torch.zeros(2, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="tolerance"):
        pointing_hits(cam, mask, tolerance=-1)


def test_peak_distances():
    masks = torch.zeros(3, 9, 9, dtype=torch.bool)
    masks[:, 4, 4] = True
    maps = torch.zeros(3, 9, 9)
    maps[0, 4, 4] = 1.0
    maps[1, 1, 8] = 1.0  # 3 up, 4 right: distance 5
    got = peak_distances(maps, masks)
    assert got[:2].tolist() == [0.0, 5.0] and got[2] == float("inf")
    assert peak_distances(torch.rand(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool)).isinf().all()


def test_zhang_tolerance():
    assert zhang_tolerance(224) == 15
    assert zhang_tolerance(64) == 4


def test_randomized_copy_changes_only_the_named_layers():
    model = seeded_cnn(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rnd = randomized_copy(model, ["9"], seed=1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items()), "original kept"
    changed = {k for k, v in rnd.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"9.weight", "9.bias"}
    full = randomized_copy(model, seed=1)
    assert not full.training
    assert torch.equal(full[1].running_mean, torch.zeros(6))
    assert not torch.equal(full[0].weight, model[0].weight)


# ----------------------------------------------------------------------------- showing


def test_overlay_values_follow_matplotlib():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(6, 5, 3)).astype(np.float32)
    cam = np.full((6, 5), 2.0)
    cam[0, 0], cam[5, 4], cam[2, 3] = 0.0, 4.0, 1.0  # min, max, a quarter
    out = overlay(image, cam, cmap="viridis", alpha=0.4)
    assert out.shape == (6, 5, 3) and out.dtype == np.float32
    cmap = matplotlib.colormaps["viridis"]
    for (r, c), v in {(0, 0): 0.0, (5, 4): 1.0, (2, 3): 0.25, (1, 1): 0.5}.items():
        want = 0.6 * image[r, c] + 0.4 * np.array(cmap(v)[:3])
        np.testing.assert_allclose(out[r, c], want, atol=1e-6)


def test_overlay_accepts_tensors_uint8_and_small_maps():
    img = torch.rand(3, 8, 8)
    out = overlay(img, torch.rand(2, 2), alpha=0.0)
    np.testing.assert_allclose(out, img.permute(1, 2, 0).numpy(), atol=1e-6)
    u8 = np.full((4, 4, 3), 255, dtype=np.uint8)
    assert np.allclose(to_rgb_image(u8), 1.0)
    assert to_rgb_image(np.zeros((4, 4))).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="alpha"):
        overlay(img, torch.rand(8, 8), alpha=1.5)
    with pytest.raises(ValueError, match="one \\(h, w\\) map"):
        overlay(img, torch.rand(2, 8, 8))


def test_image_grid_lays_out_rows_with_titles():
    import matplotlib.pyplot as plt

    maps = torch.rand(3, 8, 8)
    fig = image_grid(
        [list(torch.rand(3, 3, 8, 8)), [overlay(torch.rand(3, 8, 8), m) for m in maps]],
        [["a", "b", "c"], ["d", "e", "f"]],
        contours=maps > 0.5,
    )
    try:
        assert len(fig.axes) == 6
        assert [ax.get_title() for ax in fig.axes] == list("abcdef")
        assert all(len(ax.images) == 1 for ax in fig.axes)
    finally:
        plt.close(fig)
