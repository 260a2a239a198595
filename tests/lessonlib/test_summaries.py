import hashlib

import pytest
import torch
from torch import nn
from torchinfo import summary
from torchvision.models import resnet18, vgg16

from lessonlib.errors import LessonlibError
from lessonlib.summaries import (
    ForwardFailed,
    explain_forward_failure,
    meta_copy,
    summary_on_meta,
    summary_text,
)


def fingerprint(model: nn.Module) -> dict[str, tuple]:
    """Device, storage address and a hash of the bytes of every parameter and buffer."""
    out = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        digest = hashlib.blake2b(t.detach().contiguous().numpy(), digest_size=16)  # no copy
        out[name] = (t.device.type, t.data_ptr(), digest.hexdigest())
    return out


class LeNetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).view(-1, 6 * 14 * 14))


def test_meta_copy_copies_structure_not_data():
    model = resnet18(weights=None)
    model.layer1.requires_grad_(False)
    before = fingerprint(model)
    twin = meta_copy(model)
    assert fingerprint(model) == before
    assert all(t.is_meta for t in [*twin.parameters(), *twin.buffers()])
    assert [(n, p.shape, p.requires_grad) for n, p in twin.named_parameters()] == [
        (n, p.shape, p.requires_grad) for n, p in model.named_parameters()
    ]


def test_meta_copy_keeps_tied_weights_tied():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    model[1].weight = model[0].weight
    twin = meta_copy(model)
    assert twin[1].weight is twin[0].weight


def test_vgg16_batch_250_on_meta_leaves_the_callers_weights_alone():
    model = vgg16(weights=None)
    before = fingerprint(model)
    stats = summary_on_meta(model, (250, 3, 224, 224), verbose=0)
    assert stats.total_params == sum(p.numel() for p in model.parameters()) == 138_357_544
    assert fingerprint(model) == before, "the caller's weights changed"


def test_summary_on_meta_matches_the_cpu_summary():
    model = resnet18(weights=None)
    cpu = summary(model, input_size=(2, 3, 64, 64), verbose=0)
    meta = summary_on_meta(model, (2, 3, 64, 64), verbose=0)
    for field in (
        "total_params",
        "trainable_params",
        "total_mult_adds",
        "total_param_bytes",
        "total_output_bytes",
        "total_input",
    ):
        assert getattr(meta, field) == getattr(cpu, field), field
    assert str(meta) == str(cpu)


def test_summary_on_meta_builds_from_a_factory_and_forwards_options():
    text = summary_text(
        lambda: nn.Sequential(nn.Linear(8, 4), nn.ReLU()),
        (3, 8),
        col_names=("output_size", "num_params"),
        depth=1,
    )
    assert "Total params: 36" in text and "[3, 4]" in text


def test_summary_on_meta_refuses_device_and_input_data():
    with pytest.raises(TypeError):
        summary_on_meta(nn.Linear(2, 2), (1, 2), device="cpu")


def test_forward_failure_is_one_sentence_naming_layer_and_shapes():
    model = resnet18(weights=None)
    with pytest.raises(ForwardFailed) as info:
        summary_on_meta(model, (2, 1, 64, 64))
    message = str(info.value)
    assert isinstance(info.value, LessonlibError)
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")
    assert "'conv1'" in message and "(2, 1, 64, 64)" in message
    assert "3 input channels, got 1" in message
    assert len(message) < 300


def test_explain_names_a_linear_layer_and_its_input_width():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(100, 2))
    text = explain_forward_failure(model, (5, 3, 8, 8))
    assert text.startswith("Layer '2' (Linear(")
    assert "(5, 144)" in text and "expects the last dimension to be 100, got 144" in text


def test_explain_a_failure_in_the_models_own_forward():
    text = explain_forward_failure(LeNetish(), (2, 3, 28, 28))
    assert text.startswith(
        "The forward of LeNetish itself fails after 'pool' returned (2, 6, 12, 12)"
    )
    assert "invalid for input of size 1728" in text


def test_explain_a_too_small_image_for_pooling():
    with torch.device("meta"):
        model = vgg16(weights=None)
    text = explain_forward_failure(model, (1, 3, 16, 16))
    assert "'features.30'" in text and "(1, 512, 1, 1)" in text and "does not fit" in text


def test_explain_returns_none_and_leaves_no_hooks():
    model = LeNetish()
    assert explain_forward_failure(model, (2, 3, 32, 32)) is None
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_explain_falls_back_to_cpu_when_meta_cannot_run_the_model():
    class NeedsData(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if x.sum().item() > -1:  # data-dependent: impossible on meta
                x = self.fc(x)
            return self.fc(x[:, :3])

    model = NeedsData()
    before = fingerprint(model)
    text = explain_forward_failure(model, (2, 4))
    assert text.startswith("Layer 'fc'") and "(2, 3)" in text
    assert fingerprint(model) == before and model.training
