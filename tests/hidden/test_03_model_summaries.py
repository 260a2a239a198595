"""Instructor-only checks for lesson 03: cases the visible tests do not show."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchinfo import summary
from torchvision.models import resnet18


@pytest.mark.exercise("03.1", points=1)
def test_count_parameters_of_nothing(exercises):
    assert exercises.count_parameters({}) == {"total": 0, "trainable": 0, "non_trainable": 0}


@pytest.mark.exercise("03.2", points=2)
def test_pointwise_conv_with_stride(exercises):
    conv = nn.Conv2d(5, 7, 1, stride=2, device="meta")
    want = tuple(conv(torch.empty(3, 5, 9, 6, device="meta")).shape)
    assert tuple(exercises.conv2d_output_shape((3, 5, 9, 6), 7, 1, stride=2)) == want


@pytest.mark.exercise("03.3", points=2)
def test_mult_adds_of_resnet18_first_layer(exercises):
    model = resnet18(weights=None)
    stats = summary(model, input_size=(2, 3, 64, 64), verbose=0, depth=1)
    conv1 = next(layer for layer in stats.summary_list if layer.var_name == "conv1")
    got = exercises.conv2d_mult_adds((2, 3, 64, 64), 64, 7, 2, 3, bias=False)
    assert got == conv1.macs


@pytest.mark.exercise("03.4", points=1)
def test_params_size_of_bfloat16(exercises):
    model = nn.Linear(100, 100, dtype=torch.bfloat16)
    want = summary(model, verbose=0).total_param_bytes / 1e6
    assert exercises.params_size_mb(dict(model.named_parameters())) == pytest.approx(want)


@pytest.mark.exercise("03.5", points=2)
def test_freeze_a_nested_head(exercises):
    model = resnet18(weights=None)
    names = exercises.freeze_all_but(dict(model.named_parameters()), "layer4.1")
    want = sorted(n for n, _ in model.layer4[1].named_parameters(prefix="layer4.1"))
    assert names == want
    assert not model.layer4[0].conv1.weight.requires_grad
