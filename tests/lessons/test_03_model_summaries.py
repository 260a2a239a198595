"""Exercise checks for lesson 03, against torchinfo's own counts and torch's own layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchinfo import summary
from torchvision.models import resnet18

from lessonlib.classroom.references.summary_cases import CONV_CASES, ScaledNet


def seeded_resnet() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return resnet18(weights=None)


def torchinfo_counts(model: nn.Module, input_size) -> tuple[int, int]:
    stats = summary(model, input_size=input_size, verbose=0)
    return stats.total_params, stats.trainable_params


def meta_conv(input_shape, out_channels, kernel, stride, padding, dilation, groups=1, bias=True):
    conv = nn.Conv2d(
        input_shape[1],
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        bias,
        device="meta",
    )
    return conv, torch.empty(input_shape, device="meta")


@pytest.mark.exercise("03.1", points=1)
def test_count_parameters_of_a_partly_frozen_resnet(exercises):
    model = seeded_resnet()
    model.layer1.requires_grad_(False)
    model.bn1.requires_grad_(False)
    got = exercises.count_parameters(dict(model.named_parameters()))
    total, trainable = torchinfo_counts(model, (1, 3, 32, 32))
    want = {"total": total, "trainable": trainable, "non_trainable": total - trainable}
    assert got == want, f"torchinfo counts {want}, you counted {got}"
    assert all(type(v) is int for v in got.values()), "return Python ints"


@pytest.mark.exercise("03.1", points=1)
def test_count_parameters_includes_bare_parameters(exercises):
    model = ScaledNet()
    model.body.requires_grad_(False)
    got = exercises.count_parameters(dict(model.named_parameters()))
    total, trainable = torchinfo_counts(model, (2, 3, 10, 10))
    assert got["total"] == total, f"torchinfo counts {total} (scale included), you {got['total']}"
    assert got["trainable"] == trainable, f"trainable: want {trainable}, got {got['trainable']}"
    assert got["non_trainable"] == total - trainable


@pytest.mark.exercise("03.2", points=2)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[0])))
def test_conv2d_output_shape_matches_torch(exercises, case):
    conv, x = meta_conv(*case)
    want = tuple(conv(x).shape)
    got = exercises.conv2d_output_shape(*case)
    assert tuple(got) == want, f"nn.Conv2d gives {want}, you computed {tuple(got)}"


@pytest.mark.exercise("03.3", points=2)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[0])))
def test_conv2d_mult_adds_matches_torchinfo(exercises, case):
    conv, x = meta_conv(*case)
    want = summary(conv, input_data=x, device="meta", verbose=0).total_mult_adds
    got = exercises.conv2d_mult_adds(*case)
    assert got == want, f"torchinfo counts {want:,} mult-adds, you {got:,}"


@pytest.mark.exercise("03.3", points=2)
@pytest.mark.parametrize("groups,bias", [(8, False), (4, True), (1, False)])
def test_conv2d_mult_adds_with_groups_and_no_bias(exercises, groups, bias):
    case = ((2, 8, 12, 12), 16, 3, 1, 1, 1)
    conv, x = meta_conv(*case, groups=groups, bias=bias)
    want = summary(conv, input_data=x, device="meta", verbose=0).total_mult_adds
    got = exercises.conv2d_mult_adds(*case, groups=groups, bias=bias)
    assert got == want, f"groups={groups}, bias={bias}: torchinfo {want:,}, you {got:,}"


@pytest.mark.exercise("03.4", points=1)
def test_params_size_of_resnet18_matches_the_table(exercises):
    model = seeded_resnet()
    stats = summary(model, input_size=(1, 3, 32, 32), verbose=0)
    got = exercises.params_size_mb(dict(model.named_parameters()))
    assert got == pytest.approx(stats.total_param_bytes / 1e6, abs=1e-9)
    printed = next(ln for ln in str(stats).splitlines() if ln.startswith("Params size (MB)"))
    assert printed.endswith(f"{got:.2f}"), f"the table says {printed!r}, you {got:.2f}"


@pytest.mark.exercise("03.4", points=1)
def test_params_size_with_mixed_dtypes(exercises):
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.Linear(40, 40).half(), nn.Linear(40, 40, dtype=torch.float64)
    )
    want = summary(model, verbose=0).total_param_bytes / 1e6
    got = exercises.params_size_mb(dict(model.named_parameters()))
    assert got == pytest.approx(want, abs=1e-12), f"torchinfo: {want} MB, you: {got} MB"


@pytest.mark.exercise("03.5", points=2)
def test_freeze_resnet_backbone(exercises):
    model = seeded_resnet()
    model.fc.requires_grad_(False)  # the head must end up trainable anyway
    names = exercises.freeze_all_but(dict(model.named_parameters()), "fc")
    want = sorted(n for n, _ in model.fc.named_parameters(prefix="fc"))
    assert names == want, f"expected {want}, got {names}"
    _, trainable = torchinfo_counts(model, (1, 3, 32, 32))
    head = sum(p.numel() for p in model.fc.parameters())
    assert trainable == head, f"torchinfo sees {trainable:,} trainable, the head has {head:,}"


@pytest.mark.exercise("03.5", points=2)
def test_freeze_respects_module_boundaries(exercises):
    model = ScaledNet()
    names = exercises.freeze_all_but(dict(model.named_parameters()), "fc")
    assert names == ["fc.bias", "fc.weight"], f"fc2 and scale are not in module fc: {names}"
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert sorted(frozen) == sorted(
        n for n, _ in model.named_parameters() if not n.startswith("fc.")
    )
