"""Instructor-only checks for lesson 02: cases the visible tests do not show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from torch import nn
from torchvision import transforms
from torchvision.utils import make_grid


@pytest.mark.exercise("02.1", points=1)
def test_unnormalize_float64_batch(exercises):
    images = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mean, std = (0.1, 0.2, 0.3), (0.9, 0.8, 0.7)
    got = exercises.unnormalize(transforms.Normalize(mean, std)(images), mean, std)
    torch.testing.assert_close(got, images)


@pytest.mark.exercise("02.2", points=2)
def test_confusion_matrix_all_one_class(exercises):
    got = np.asarray(exercises.confusion_matrix([2] * 5, [2, 2, 0, 2, 2], 3, normalize=True))
    want = sklearn_confusion_matrix([2] * 5, [2, 2, 0, 2, 2], labels=range(3), normalize="true")
    np.testing.assert_allclose(got, want)


@pytest.mark.exercise("02.3", points=2)
def test_capture_a_nested_sequential(exercises):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Sequential(nn.Tanh(), nn.Linear(6, 2)))
    x = torch.randn(3, 4)
    got = exercises.capture_activations(model, x, ["1.0", "1"])
    with torch.no_grad():
        torch.testing.assert_close(got["1.0"], torch.tanh(model[0](x)))
        torch.testing.assert_close(got["1"], model(x))
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.exercise("02.4", points=2)
def test_filter_grid_exactly_one_row(exercises):
    weight = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    want = make_grid(weight, nrow=8, padding=1, normalize=True, scale_each=True, pad_value=1.0)
    got = torch.as_tensor(exercises.filter_grid(weight)).float()
    torch.testing.assert_close(got, want.permute(1, 2, 0), atol=1e-5, rtol=0)


@pytest.mark.exercise("02.5", points=1)
def test_smooth_a_single_value(exercises):
    assert exercises.smooth_curve([3.5], 0.9) == pytest.approx(
        pd.Series([3.5]).ewm(alpha=0.1).mean().tolist()
    )


@pytest.mark.exercise("02.6", points=2)
def test_pca_2d_of_float32_features(exercises):
    features = torch.randn(50, 3, generator=torch.Generator().manual_seed(2)) * torch.tensor(
        [3.0, 1.0, 0.1]
    )
    got = torch.as_tensor(exercises.pca_2d(features)).double().numpy()
    want = PCA(2).fit_transform(features.double().numpy())
    np.testing.assert_allclose(np.abs(got), np.abs(want), atol=1e-4)
