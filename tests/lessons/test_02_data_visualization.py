"""Exercise checks for lesson 02, against torchvision, scikit-learn, pandas and torch itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from torch import nn
from torchvision import transforms
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.utils import make_grid

from lessonlib.classroom.references.small_models import seeded_input
from lessonlib.models import small_cnn

MEAN, STD = (0.45, 0.5, 0.55), (0.2, 0.25, 0.3)


def seeded_uniform(*shape: int, seed: int = 0, low: float = 0.0, high: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=gen)


def seeded_labels(n: int, n_classes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes, size=n)


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ----------------------------------------------------------------------------- 02.1


@pytest.mark.exercise("02.1", points=1)
def test_unnormalize_inverts_normalize(exercises):
    images = seeded_uniform(4, 3, 8, 8)
    normed = transforms.Normalize(MEAN, STD)(images)
    kept = normed.clone()
    got = exercises.unnormalize(normed, MEAN, STD)
    assert got.shape == images.shape, f"shape {tuple(got.shape)}, want {tuple(images.shape)}"
    torch.testing.assert_close(got, images, atol=1e-6, rtol=0)
    assert torch.equal(normed, kept), "unnormalize must not change its input"


@pytest.mark.exercise("02.1", points=1)
def test_unnormalize_one_image_and_clipping(exercises):
    image = seeded_uniform(3, 5, 7, seed=1, low=-0.5, high=1.5)  # outside [0, 1] on purpose
    got = exercises.unnormalize(transforms.Normalize(MEAN, STD)(image), MEAN, STD)
    torch.testing.assert_close(got, image.clamp(0, 1), atol=1e-6, rtol=0)


@pytest.mark.exercise("02.1", points=1)
def test_unnormalize_grayscale(exercises):
    digits = seeded_uniform(6, 1, 8, 8, seed=2)
    got = exercises.unnormalize(transforms.Normalize((0.3,), (0.4,))(digits), (0.3,), (0.4,))
    torch.testing.assert_close(got, digits, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- 02.2


@pytest.mark.exercise("02.2", points=2)
def test_confusion_matrix_counts_match_sklearn(exercises):
    y_true, y_pred = seeded_labels(300, 5, 0), seeded_labels(300, 5, 1)
    got = np.asarray(exercises.confusion_matrix(y_true.tolist(), y_pred.tolist(), 5))
    want = sklearn_confusion_matrix(y_true, y_pred, labels=range(5))
    assert got.shape == (5, 5), f"shape {got.shape}"
    assert np.issubdtype(got.dtype, np.integer), f"counts are integers, got {got.dtype}"
    np.testing.assert_array_equal(got, want)


@pytest.mark.exercise("02.2", points=2)
def test_confusion_matrix_with_an_absent_class_and_tensors(exercises):
    y_true = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0])
    y_pred = torch.tensor([0, 1, 1, 2, 0, 2, 1, 0])
    got = np.asarray(exercises.confusion_matrix(y_true, y_pred, 4))
    np.testing.assert_array_equal(got, sklearn_confusion_matrix(y_true, y_pred, labels=range(4)))


@pytest.mark.exercise("02.2", points=2)
def test_confusion_matrix_normalized_by_true_class(exercises):
    y_true = np.concatenate([seeded_labels(120, 3, 2), [4, 4]])  # class 3 absent
    y_pred = np.concatenate([seeded_labels(120, 5, 3), [4, 0]])
    got = np.asarray(exercises.confusion_matrix(y_true, y_pred, 5, normalize=True), dtype=float)
    want = sklearn_confusion_matrix(y_true, y_pred, labels=range(5), normalize="true")
    np.testing.assert_allclose(got, want, atol=1e-12)


# ----------------------------------------------------------------------------- 02.3

LAYERS = ["features.2", "features.6", "classifier.1"]


def seeded_cnn() -> nn.Module:
    return small_cnn(seed=0, width=4).eval()


@pytest.mark.exercise("02.3", points=2)
def test_capture_matches_torchvision_feature_extractor(exercises):
    model, x = seeded_cnn(), seeded_input(2, 3, 32, 32)
    got = exercises.capture_activations(model, x, LAYERS)
    assert sorted(got) == sorted(LAYERS), f"keys {sorted(got)}"
    with torch.no_grad():
        want = create_feature_extractor(model, return_nodes={n: n for n in LAYERS})(x)
    for name in LAYERS:
        assert tuple(got[name].shape) == tuple(want[name].shape), f"{name}: wrong shape"
        torch.testing.assert_close(got[name], want[name])
        assert got[name].grad_fn is None and not got[name].requires_grad, f"{name}: not detached"


@pytest.mark.exercise("02.3", points=2)
def test_capture_removes_its_hooks_and_keeps_others(exercises):
    model, x = seeded_cnn(), seeded_input(1, 3, 32, 32)
    calls = []
    mine = model.features[2].register_forward_hook(lambda *args: calls.append(1))
    exercises.capture_activations(model, x, LAYERS)
    assert hooks_left(model) == 1, f"{hooks_left(model) - 1} of your hooks are still on the model"
    assert len(model.features[2]._forward_hooks) == 1, "the model's own hook was removed"
    assert calls == [1], "the model's own hook should have run once"
    mine.remove()


@pytest.mark.exercise("02.3", points=2)
def test_capture_removes_hooks_when_forward_fails(exercises):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 2))
    with pytest.raises(RuntimeError):
        exercises.capture_activations(model, seeded_input(1, 3, 8, 8), ["1"])
    assert hooks_left(model) == 0, "hooks left behind after the forward pass raised"
    with pytest.raises(KeyError):
        exercises.capture_activations(model, seeded_input(1, 3, 8, 8), ["1", "nope"])
    assert hooks_left(model) == 0, "hooks left behind after an unknown layer name"


# ----------------------------------------------------------------------------- 02.4


def reference_grid(weight, nrow, padding, pad_value):
    grid = make_grid(
        weight, nrow=nrow, padding=padding, normalize=True, scale_each=True, pad_value=pad_value
    )
    return grid.permute(1, 2, 0)


@pytest.mark.exercise("02.4", points=2)
def test_filter_grid_of_rgb_filters(exercises):
    weight = seeded_input(10, 3, 5, 5, seed=4)
    kept = weight.clone()
    got = exercises.filter_grid(weight, nrow=4, padding=2, pad_value=0.3)
    want = reference_grid(weight, 4, 2, 0.3)
    assert tuple(got.shape) == tuple(want.shape), (
        f"shape {tuple(got.shape)}, want {tuple(want.shape)}"
    )
    torch.testing.assert_close(torch.as_tensor(got).float(), want, atol=1e-5, rtol=0)
    assert torch.equal(weight, kept), "filter_grid must not change the weights"


@pytest.mark.exercise("02.4", points=2)
def test_filter_grid_defaults_gray_and_constant_filters(exercises):
    weight = seeded_input(9, 1, 3, 3, seed=5)
    weight[4] = 0.25  # a constant filter
    got = exercises.filter_grid(weight)
    torch.testing.assert_close(
        torch.as_tensor(got).float(), reference_grid(weight, 8, 1, 1.0), atol=1e-5, rtol=0
    )


@pytest.mark.exercise("02.4", points=2)
def test_filter_grid_refuses_other_channel_counts(exercises):
    with pytest.raises(ValueError):
        exercises.filter_grid(seeded_input(4, 16, 3, 3))


# ----------------------------------------------------------------------------- 02.5


@pytest.mark.exercise("02.5", points=1)
@pytest.mark.parametrize("weight", [0.0, 0.6, 0.9, 0.99])
def test_smooth_curve_matches_pandas_ewm(exercises, weight):
    rng = np.random.default_rng(7)
    values = (np.exp(-np.linspace(0, 4, 120)) + 0.1 * rng.standard_normal(120)).tolist()
    got = exercises.smooth_curve(values, weight)
    want = pd.Series(values).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()
    assert len(got) == len(values), f"{len(got)} values for {len(values)}"
    np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- 02.6


@pytest.mark.exercise("02.6", points=2)
def test_pca_2d_matches_sklearn_up_to_sign(exercises):
    gen = torch.Generator().manual_seed(8)
    features = torch.randn(200, 6, generator=gen) * torch.tensor([5.0, 0.5, 3.0, 1.0, 0.2, 0.1])
    features = features @ torch.linalg.qr(torch.randn(6, 6, generator=gen))[0] + 4.0
    got = torch.as_tensor(exercises.pca_2d(features)).double().numpy()
    want = PCA(n_components=2).fit_transform(features.double().numpy())
    assert got.shape == (200, 2), f"shape {got.shape}"
    for j in range(2):
        sign = np.sign(got[:, j] @ want[:, j]) or 1.0
        np.testing.assert_allclose(
            sign * got[:, j],
            want[:, j],
            atol=1e-4,
            rtol=1e-4,
            err_msg=f"component {j + 1} differs from scikit-learn's",
        )
