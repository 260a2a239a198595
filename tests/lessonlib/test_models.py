"""Tests of lessonlib.models: the small models, the training loop and the checkpoint cache."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lessonlib import models
from lessonlib.data import digits_splits, shapes_splits
from lessonlib.models import (
    SmallCNN,
    TinyMLP,
    TrainResult,
    checkpoint_path,
    small_cnn,
    tiny_mlp,
    train_classifier,
    trained_digits_mlp,
    trained_shapes_cnn,
)

TINY_SHAPES = {"n_train": 60, "n_test": 20, "size": 32, "epochs": 1}


@pytest.fixture(autouse=True)
def _isolated_build(tmp_path, monkeypatch):
    """Keep every cache inside pytest's tmp folder."""
    monkeypatch.setenv("LESSONLIB_BUILD", str(tmp_path / "build"))


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _fail_training(*args, **kwargs):
    raise AssertionError("trained although a cached checkpoint exists")


# --------------------------------------------------------------------------- models


def test_tiny_mlp_shapes_and_parameter_count():
    model = TinyMLP(64, 32, 10)
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)  # image batches are flattened
    assert _n_params(model) == 64 * 32 + 32 + 32 * 10 + 10
    assert _n_params(tiny_mlp()) == 8 * 16 + 16 + 16 * 3 + 3


def test_seeded_factories_give_identical_weights_and_keep_global_rng():
    state = torch.get_rng_state()
    assert _same_weights(tiny_mlp(3), tiny_mlp(3))
    assert not _same_weights(tiny_mlp(3), tiny_mlp(4))
    assert _same_weights(small_cnn(1), small_cnn(1))
    assert not _same_weights(small_cnn(1), small_cnn(2))
    assert torch.equal(torch.get_rng_state(), state)


def test_small_cnn_output_shape_for_several_sizes():
    model = SmallCNN().eval()
    for size in (32, 64):
        assert model(torch.zeros(2, 3, size, size)).shape == (2, 5)
    assert SmallCNN(in_channels=1, n_classes=10).eval()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("width", [4, 8, 16])
def test_small_cnn_parameter_count_matches_hand_formula(width):
    c1, c2, c3 = width, 2 * width, 4 * width
    conv = (9 * 3 * c1 + c1) + (9 * c1 * c2 + c2) + (9 * c2 * c3 + c3)
    batch_norm = 2 * (c1 + c2 + c3)
    head = c3 * 5 + 5
    assert _n_params(SmallCNN(width=width)) == conv + batch_norm + head


def test_small_cnn_layout_for_grad_cam():
    model = SmallCNN()
    modules = dict(model.named_modules())
    convs = [name for name, m in modules.items() if isinstance(m, nn.Conv2d)]
    assert model.target_layer_name == convs[-1] == "features.8"
    assert isinstance(model.features, nn.Sequential) and len(model.features) == 12
    kinds = [type(m) for m in model.features[:4]]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    assert isinstance(model.classifier[0], nn.AdaptiveAvgPool2d)
    assert all(not m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


def test_context_blocks_keep_the_8x8_grid_and_widen_the_view():
    plain, wide = SmallCNN(), SmallCNN(context_blocks=3)
    x = torch.zeros(2, 3, 64, 64)
    assert plain.features(x).shape[-2:] == (4, 4)  # the last max-pool halves the 8x8 grid
    assert wide.features(x).shape[-2:] == (8, 8)  # no last pool: Grad-CAM's grid stays 8x8
    layer = wide.get_submodule(wide.target_layer_name)
    assert isinstance(layer, nn.Conv2d) and wide.target_layer_name == "features.17"
    # Receptive field, measured: which input columns can change one central output cell.
    base = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    for model, layer_name, want in ((plain, "features.8", 33), (wide, "features.17", 81)):
        model.eval()
        body = model.features[: int(layer_name.split(".")[1]) + 1]
        with torch.no_grad():
            ref = body(base)
            cy, cx = ref.shape[2] // 2, ref.shape[3] // 2
            batch = base.repeat(128, 1, 1, 1)
            batch[torch.arange(128), :, :, torch.arange(128)] += 10.0  # column c lit up
            moved = (body(batch)[:, :, cy, cx] - ref[:, :, cy, cx]).abs().amax(1) > 1e-6
        cols = moved.nonzero()
        assert int(cols.max() - cols.min() + 1) == want, (layer_name, cols.flatten().tolist())


# --------------------------------------------------------------------------- training


def test_train_classifier_records_history_and_is_seeded():
    train, test = shapes_splits(n_train=64, n_test=32, size=32, seed=0)
    seen = []
    state = torch.get_rng_state()
    a = small_cnn(0, width=4)
    result = train_classifier(
        a, train, test, epochs=2, batch_size=16, on_epoch=lambda e, m: seen.append((e, sorted(m)))
    )
    keys = ["train_acc", "train_loss", "val_acc", "val_loss"]
    assert seen == [(1, keys), (2, keys)]
    assert sorted(result.history) == keys and all(len(v) == 2 for v in result.history.values())
    assert result.test_accuracy == result.history["val_acc"][-1]
    assert not a.training and a.features[0].weight.is_contiguous()
    assert torch.equal(torch.get_rng_state(), state)
    b = small_cnn(0, width=4)
    train_classifier(b, train, test, epochs=2, batch_size=16)
    assert _same_weights(a, b)


def test_train_classifier_learns_digits():
    train, test = digits_splits(flat=True)
    result = train_classifier(
        tiny_mlp(0, 64, 32, 10), train, test, epochs=3, lr=1e-2, batch_size=32
    )
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert result.test_accuracy > 0.85


def test_unknown_schedule_is_rejected():
    train, test = digits_splits(flat=True)
    with pytest.raises(ValueError):
        train_classifier(tiny_mlp(0, 64, 8, 10), train, test, epochs=1, schedule="warp")


# --------------------------------------------------------------------------- cache


def test_trained_shapes_cnn_is_cached(monkeypatch, tmp_path):
    model, result = trained_shapes_cnn(**TINY_SHAPES)
    assert isinstance(model, SmallCNN) and not model.training and not result.from_cache
    assert result.config["epochs"] == 1 and len(result.history["val_acc"]) == 1
    files = list((tmp_path / "build" / "cache" / "models").glob("shapes_cnn_*.pt"))
    assert files == [checkpoint_path("shapes_cnn", result.config)]

    monkeypatch.setattr(models, "train_classifier", _fail_training)
    again, cached = trained_shapes_cnn(**TINY_SHAPES)
    assert cached.from_cache and not again.training
    assert _same_weights(model, again)
    assert cached.history == result.history and cached.test_accuracy == result.test_accuracy


def test_misspelt_training_option_is_rejected():
    with pytest.raises(TypeError):
        trained_shapes_cnn(epochs=1, widht=4)


def test_cache_key_follows_config_and_source(monkeypatch):
    config = {"epochs": 1, "seed": 0}
    path = checkpoint_path("shapes_cnn", config)
    assert path.name.startswith("shapes_cnn_") and path.suffix == ".pt"
    assert checkpoint_path("shapes_cnn", {"epochs": 2, "seed": 0}) != path
    monkeypatch.setattr(models, "_source_digest", lambda: "edited")
    assert checkpoint_path("shapes_cnn", config) != path


def test_damaged_checkpoint_is_retrained():
    _, result = trained_shapes_cnn(**TINY_SHAPES)
    checkpoint_path("shapes_cnn", result.config).write_bytes(b"not a checkpoint")
    _, again = trained_shapes_cnn(**TINY_SHAPES)
    assert not again.from_cache and again.history == result.history


def test_trained_digits_mlp_is_cached(monkeypatch):
    model, result = trained_digits_mlp(epochs=1)
    assert isinstance(model, TinyMLP) and isinstance(result, TrainResult)
    assert not result.from_cache and result.test_accuracy > 0.5
    monkeypatch.setattr(models, "train_classifier", _fail_training)
    again, cached = trained_digits_mlp(epochs=1)
    assert cached.from_cache and _same_weights(model, again)
