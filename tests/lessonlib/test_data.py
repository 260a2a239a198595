"""Tests of lessonlib.data: the shapes generator, the digits split, the real-set loaders."""

from __future__ import annotations

import hashlib
import re
import struct

import numpy as np
import pytest
import torch

from lessonlib import data
from lessonlib.data import (
    SHAPE_CLASSES,
    SHAPES_MEAN,
    SHAPES_STD,
    DatasetNotFound,
    ShapesDataset,
    digits_splits,
    get_dataset,
    load_torchvision_dataset,
    make_shapes,
    normalize_transform,
    shapes_splits,
)

# sha256 of make_shapes(50, 64, 0).images.tobytes(); data/README.md lists the full sets'.
SHAPES_50_64_0_SHA256 = "670c2cf019d46e0bbffc5cce1f24bfc06ac3c0f6b45b72fe7609845f68aca207"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Keep caches and 'real' data sets inside pytest's tmp folder."""
    monkeypatch.setenv("LESSONLIB_BUILD", str(tmp_path / "build"))
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("LESSONLIB_DATA", str(empty))


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(400, 32, seed=7)


def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?=\s|$)", text))


# --------------------------------------------------------------------------- shapes


def test_arrays_have_documented_shapes_and_types(shapes):
    assert shapes.images.shape == (400, 3, 32, 32) and shapes.images.dtype == np.float32
    assert shapes.labels.shape == (400,) and shapes.labels.dtype == np.int64
    assert shapes.masks.shape == (400, 32, 32) and shapes.masks.dtype == bool
    assert shapes.boxes.shape == (400, 4) and shapes.boxes.dtype == np.int64
    assert shapes.classes == SHAPE_CLASSES == ("circle", "square", "triangle", "cross", "diamond")
    assert 0.0 <= shapes.images.min() and shapes.images.max() <= 1.0


def test_same_seed_gives_identical_bytes_and_other_seeds_differ():
    a, b, c = make_shapes(30, 32, 3), make_shapes(30, 32, 3), make_shapes(30, 32, 4)
    for name in ("images", "labels", "masks", "boxes"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.images.tobytes() != c.images.tobytes()
    assert a.masks.tobytes() != c.masks.tobytes()


def test_checksum_of_small_case_is_stable():
    images = make_shapes(50, 64, 0).images
    assert hashlib.sha256(images.tobytes()).hexdigest() == SHAPES_50_64_0_SHA256


def test_masks_are_non_empty_and_boxes_tight(shapes):
    assert shapes.masks.any(axis=(1, 2)).all()
    for mask, box in zip(shapes.masks, shapes.boxes, strict=True):
        ys, xs = np.nonzero(mask)
        assert tuple(box) == (xs.min(), ys.min(), xs.max(), ys.max())


def test_boxes_match_torchvision_masks_to_boxes(shapes):
    from torchvision.ops import masks_to_boxes

    expected = masks_to_boxes(torch.from_numpy(shapes.masks)).to(torch.int64).numpy()
    np.testing.assert_array_equal(shapes.boxes, expected)


def test_shapes_lie_fully_inside_with_documented_scale(shapes):
    border = np.concatenate(
        [shapes.masks[:, 0], shapes.masks[:, -1], shapes.masks[:, :, 0], shapes.masks[:, :, -1]]
    )
    assert not border.any()
    side = (shapes.boxes[:, 2:] - shapes.boxes[:, :2] + 1).max(axis=1) / 32
    assert side.min() >= 0.2 and side.max() <= 0.6 + 1 / 32


def test_every_pixel_of_the_shape_has_the_shape_colour(shapes):
    img, mask = shapes.images[0], shapes.masks[0]
    inside = img[:, mask]
    # Shape pixels are one colour plus small noise; the background varies more.
    assert inside.std(axis=1).max() < 0.06
    assert np.abs(inside.mean(axis=1) - img[:, ~mask].mean(axis=1)).max() > 0.1


def test_all_classes_present_and_balanced():
    counts = np.bincount(make_shapes(103, 32, 1).labels, minlength=5)
    assert counts.min() >= 20 and counts.max() - counts.min() <= 1


def test_shape_colour_contrasts_with_background(shapes):
    m = shapes.masks[:, None]
    fg = (shapes.images * m).sum(axis=(2, 3)) / m.sum(axis=(2, 3))
    bg = (shapes.images * ~m).sum(axis=(2, 3)) / (~m).sum(axis=(2, 3))
    assert np.linalg.norm(fg - bg, axis=1).min() > 0.3


def test_colour_does_not_predict_class():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    d = make_shapes(1000, 32, 11)
    m = d.masks[:, None]
    shape_colour = (d.images * m).sum(axis=(2, 3)) / m.sum(axis=(2, 3))
    image_colour = d.images.mean(axis=(2, 3))
    for features in (shape_colour, image_colour):
        clf = LogisticRegression(max_iter=1000)
        assert cross_val_score(clf, features, d.labels, cv=5).mean() < 0.35


def test_mean_std_constants_match_a_recomputation():
    images = make_shapes(3000, 64, 0).images
    np.testing.assert_allclose(images.mean(axis=(0, 2, 3)), SHAPES_MEAN, atol=1e-3)
    np.testing.assert_allclose(images.std(axis=(0, 2, 3)), SHAPES_STD, atol=1e-3)


def test_normalize_transform_uses_the_constants():
    image = torch.rand(3, 8, 8)
    out = normalize_transform()(image)
    mean, std = torch.tensor(SHAPES_MEAN)[:, None, None], torch.tensor(SHAPES_STD)[:, None, None]
    torch.testing.assert_close(out, (image - mean) / std)


def test_dataset_items_and_attributes(shapes):
    ds = ShapesDataset(shapes)
    image, label = ds[3]
    assert isinstance(image, torch.Tensor) and image.shape == (3, 32, 32)
    assert image.dtype == torch.float32 and label == int(shapes.labels[3])
    np.testing.assert_array_equal(image.numpy(), shapes.images[3])
    assert len(ds) == 400 and ds.classes == SHAPE_CLASSES
    assert ds.masks is shapes.masks and ds.boxes is shapes.boxes
    flipped = ShapesDataset(shapes, transform=lambda x: x.flip(-1))[3][0]
    torch.testing.assert_close(flipped, image.flip(-1))


def test_splits_use_disjoint_seeds_and_are_cached(monkeypatch, tmp_path):
    train, test = shapes_splits(n_train=40, n_test=20, size=32, seed=5)
    assert (len(train), len(test)) == (40, 20)
    assert train.data.images[:20].tobytes() != test.data.images.tobytes()
    assert len(list((tmp_path / "build" / "cache" / "data").glob("*.npz"))) == 2

    def no_generation(*args):
        raise AssertionError("a cached set was generated again")

    monkeypatch.setattr(data, "make_shapes", no_generation)
    again, _ = shapes_splits(n_train=40, n_test=20, size=32, seed=5)
    assert again.data.images.tobytes() == train.data.images.tobytes()
    assert again.data.boxes.tobytes() == train.data.boxes.tobytes()


# --------------------------------------------------------------------------- digits


def test_digits_split_sizes_ranges_and_determinism():
    train, test = digits_splits()
    assert (len(train), len(test)) == (1437, 360)
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32 and isinstance(label, int)
    assert train.images.min() >= 0 and train.images.max() == 1.0
    assert train.labels.dtype == torch.int64
    again, _ = digits_splits()
    assert torch.equal(train.images, again.images) and torch.equal(train.labels, again.labels)
    other, _ = digits_splits(seed=1)
    assert not torch.equal(train.labels, other.labels)


def test_digits_split_is_stratified():
    train, test = digits_splits(test_fraction=0.2)
    n_train = torch.bincount(train.labels, minlength=10)
    n_test = torch.bincount(test.labels, minlength=10)
    share = n_test.float() / (n_train + n_test).float()
    assert (share - 0.2).abs().max() < 0.02


def test_digits_flat_vectors():
    train, _ = digits_splits(flat=True)
    assert train[0][0].shape == (64,)
    square, _ = digits_splits()
    torch.testing.assert_close(train.images, square.images.reshape(-1, 64))


# --------------------------------------------------------------------------- real sets


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_missing_real_set_raises_one_sentence_error(name, tmp_path):
    with pytest.raises(DatasetNotFound) as info:
        load_torchvision_dataset(name)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert _sentences(message) == 1 and message.endswith(".")
    assert str(tmp_path / "data") in message and "download=True" in message


def test_unknown_real_set_is_a_value_error():
    with pytest.raises(ValueError):
        load_torchvision_dataset("imagenet")
    with pytest.raises(ValueError):
        get_dataset("imagenet")


def _write_idx(path, magic: int, array: np.ndarray) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_files_placed_by_hand_are_used(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    for split in ("train", "t10k"):
        _write_idx(raw / f"{split}-images-idx3-ubyte", 2051, images)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", 2049, np.array([7, 1, 4]))
    ds = load_torchvision_dataset("mnist", train=False)
    assert len(ds) == 3 and ds[2][1] == 4
    assert type(get_dataset("mnist")).__name__ == "MNIST"


def test_get_dataset_falls_back_to_shapes_with_a_notice(capsys, monkeypatch):
    monkeypatch.setattr(data, "shapes_splits", lambda: shapes_splits(20, 10, 32, 0))
    ds = get_dataset("cifar10", train=False)
    assert isinstance(ds, ShapesDataset) and len(ds) == 10
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and "shapes" in out


def test_get_dataset_offline_sets():
    assert len(get_dataset("digits", train=False)) == 360
    assert isinstance(get_dataset("Digits"), torch.utils.data.Dataset)
