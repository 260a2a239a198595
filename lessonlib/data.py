"""The course's data sets: synthetic shapes, scikit-learn digits, optional CIFAR-10/MNIST."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lessonlib.paths import build_dir, data_dir

SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "diamond")

# Per-channel mean/std of make_shapes(3000, 64, 0).images; test_data.py recomputes them.
SHAPES_MEAN = (0.5088, 0.5029, 0.5008)
SHAPES_STD = (0.2193, 0.2185, 0.2184)

MIN_SCALE, MAX_SCALE = 0.25, 0.60  # shape extent as a fraction of the image side
MIN_CONTRAST = 0.45  # least RGB distance between shape colour and background colour
NOISE_STD = 0.03  # per-pixel Gaussian noise on background and shape alike
_TEST_SEED_OFFSET = 1_000_003  # keeps the test split's seed away from any train seed

Transform = Callable[[torch.Tensor], torch.Tensor]


class DatasetNotFound(RuntimeError):
    """A real data set (CIFAR-10, MNIST) is not under the data folder."""


@dataclass
class ShapesData:
    """The arrays of a shapes data set: images (N,3,H,W), labels, masks (N,H,W), boxes."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    classes: tuple[str, ...] = SHAPE_CLASSES

    def __len__(self) -> int:
        return len(self.labels)


# --------------------------------------------------------------------------- shapes


def _inside(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v), in units of the shape's half-extent, are inside shape ``label``."""
    au, av = np.abs(u), np.abs(v)
    if label == 0:  # circle
        return u * u + v * v <= 1.0
    if label == 1:  # square
        return np.maximum(au, av) <= 0.82
    if label == 2:  # triangle, apex up
        return (v <= 1.0) & (2.0 * au <= v + 1.0)
    if label == 3:  # cross with bars of half-width 0.34
        return ((au <= 1.0) & (av <= 0.34)) | ((av <= 1.0) & (au <= 0.34))
    return au + av <= 1.0  # diamond


def _shape_masks(labels: np.ndarray, cx, cy, half, size: int) -> np.ndarray:
    """Boolean masks (N,H,W) of each sample's shape, centred at (cx, cy), half-extent half."""
    coords = np.arange(size, dtype=np.float64) + 0.5
    masks = np.zeros((len(labels), size, size), dtype=bool)
    for k in range(len(SHAPE_CLASSES)):
        idx = np.flatnonzero(labels == k)
        u = (coords[None, None, :] - cx[idx, None, None]) / half[idx, None, None]
        v = (coords[None, :, None] - cy[idx, None, None]) / half[idx, None, None]
        masks[idx] = _inside(k, u, v)
    return masks


def _backgrounds(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth textured backgrounds (N,3,H,W float32: gradient + stripes) and their base colours."""
    base = rng.uniform(0.15, 0.85, size=(n, 3))
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    grad_amp = rng.uniform(0.0, 0.12, size=(n, 3))
    stripe_angle = rng.uniform(0.0, np.pi, size=n)
    stripe_freq = rng.uniform(2.0, 8.0, size=n) / size
    stripe_phase = rng.uniform(0.0, 2 * np.pi, size=n)
    stripe_amp = rng.uniform(0.0, 0.05, size=n)

    # Both patterns are separable in x and y, so only (N, size) vectors need trigonometry.
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size - 0.5
    f32 = np.float32
    gx = (np.cos(angle)[:, None] * coords).astype(f32)[:, None, :]
    gy = (np.sin(angle)[:, None] * coords).astype(f32)[:, :, None]
    along = gx + gy
    wave = 2 * np.pi * stripe_freq * size
    phase_x = wave[:, None] * np.cos(stripe_angle)[:, None] * coords + stripe_phase[:, None]
    phase_y = wave[:, None] * np.sin(stripe_angle)[:, None] * coords
    amp = stripe_amp[:, None]
    sin_x, cos_x = (amp * np.sin(phase_x)).astype(f32), (amp * np.cos(phase_x)).astype(f32)
    sin_y, cos_y = np.sin(phase_y).astype(f32), np.cos(phase_y).astype(f32)
    stripes = sin_x[:, None, :] * cos_y[:, :, None]
    stripes += cos_x[:, None, :] * sin_y[:, :, None]
    bg = np.empty((n, 3, size, size), dtype=np.float32)
    for c in range(3):
        np.multiply(grad_amp[:, c, None, None].astype(np.float32), along, out=bg[:, c])
        bg[:, c] += stripes
        bg[:, c] += base[:, c, None, None].astype(np.float32)
    return bg, base


def _shape_colours(rng: np.random.Generator, bg_colours: np.ndarray, tries: int = 16) -> np.ndarray:
    """A random colour per sample, at least MIN_CONTRAST away from its background colour."""
    n = len(bg_colours)
    candidates = rng.uniform(0.0, 1.0, size=(n, tries, 3))
    dist = np.linalg.norm(candidates - bg_colours[:, None, :], axis=2)
    ok = dist >= MIN_CONTRAST
    # First candidate that is far enough; the farthest one in the (rare) case none is.
    pick = np.where(ok.any(axis=1), ok.argmax(axis=1), dist.argmax(axis=1))
    return candidates[np.arange(n), pick]


def _tight_boxes(masks: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of each mask, inclusive pixel indices (as torchvision's masks_to_boxes)."""
    cols, rows = masks.any(axis=1), masks.any(axis=2)
    size_x, size_y = masks.shape[2], masks.shape[1]
    x0 = cols.argmax(axis=1)
    x1 = size_x - 1 - cols[:, ::-1].argmax(axis=1)
    y0 = rows.argmax(axis=1)
    y1 = size_y - 1 - rows[:, ::-1].argmax(axis=1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def make_shapes(n: int, size: int = 64, seed: int = 0) -> ShapesData:
    """Generate n deterministic shape images (size x size) with labels, masks and boxes."""
    if n < 0 or size < 16:
        raise ValueError(f"need n >= 0 and size >= 16, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    half = rng.uniform(MIN_SCALE, MAX_SCALE, size=n) * size / 2
    # One pixel of margin so that every shape lies fully inside the image.
    cx = rng.uniform(half + 1, size - half - 1)
    cy = rng.uniform(half + 1, size - half - 1)
    masks = _shape_masks(labels, cx, cy, half, size)

    pixels, bg_colours = _backgrounds(rng, n, size)
    colours = _shape_colours(rng, bg_colours).astype(np.float32)
    np.copyto(pixels, colours[:, :, None, None], where=masks[:, None])
    noise = rng.standard_normal(pixels.shape, dtype=np.float32)
    noise *= np.float32(NOISE_STD)
    pixels += noise
    del noise
    # Quantise to 8-bit levels so tiny float differences between machines cannot change bytes.
    np.clip(pixels, 0.0, 1.0, out=pixels)
    pixels *= np.float32(255)
    np.rint(pixels, out=pixels)
    return ShapesData(_from_levels(pixels), labels, masks, _tight_boxes(masks))


def _from_levels(levels: np.ndarray) -> np.ndarray:
    """Float32 images in [0,1] from 8-bit levels (given as uint8 or as whole float32 values)."""
    images = levels.astype(np.float32, copy=False)
    images /= np.float32(255)
    return images


def _source_digest() -> str:
    """A short hash of this file, so cached arrays follow changes to the generator."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]


def _shapes_cache_path(n: int, size: int, seed: int) -> Path:
    """Where the arrays of make_shapes(n, size, seed) are cached."""
    name = f"shapes_n{n}_s{size}_seed{seed}_{_source_digest()}.npz"
    return build_dir("cache", "data") / name


def load_shapes(n: int, size: int = 64, seed: int = 0) -> ShapesData:
    """make_shapes(n, size, seed), read from the .npz cache when it is there."""
    path = _shapes_cache_path(n, size, seed)
    if path.exists():
        try:
            with np.load(path) as f:
                images = _from_levels(f["levels"])
                return ShapesData(images, f["labels"], f["masks"], f["boxes"])
        except Exception:  # a damaged cache file (of any kind of damage) is regenerated
            pass
    data = make_shapes(n, size, seed)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    levels = np.rint(data.images * 255).astype(np.uint8)  # a quarter of the float32 size
    np.savez(tmp, levels=levels, labels=data.labels, masks=data.masks, boxes=data.boxes)
    os.replace(tmp, path)
    for stale in path.parent.glob(f"shapes_n{n}_s{size}_seed{seed}_*.npz"):
        if stale != path and ".tmp" not in stale.name:  # made by an earlier data.py
            stale.unlink(missing_ok=True)
    return data


class ShapesDataset(Dataset):
    """A torch Dataset of (image tensor (3,H,W), label) pairs over ShapesData."""

    def __init__(self, data: ShapesData, transform: Transform | None = None) -> None:
        self.data = data
        self.transform = transform
        self.images = torch.from_numpy(np.ascontiguousarray(data.images))
        self.labels = torch.from_numpy(np.ascontiguousarray(data.labels))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    @property
    def masks(self) -> np.ndarray:
        """Binary masks (N,H,W) of the shapes."""
        return self.data.masks

    @property
    def boxes(self) -> np.ndarray:
        """Tight boxes (N,4) as inclusive (x0, y0, x1, y1)."""
        return self.data.boxes

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, indexed by label."""
        return self.data.classes


def shapes_test_seed(seed: int = 0) -> int:
    """The seed of the test split that goes with train seed ``seed``."""
    return seed + _TEST_SEED_OFFSET


def shapes_splits(
    n_train: int = 3000,
    n_test: int = 600,
    size: int = 64,
    seed: int = 0,
    transform: Transform | None = None,
) -> tuple[ShapesDataset, ShapesDataset]:
    """Train and test ShapesDatasets generated from disjoint seeds derived from ``seed``."""
    train = ShapesDataset(load_shapes(n_train, size, seed), transform)
    test = ShapesDataset(load_shapes(n_test, size, shapes_test_seed(seed)), transform)
    return train, test


def normalize_transform():
    """torchvision's Normalize with the shapes set's per-channel mean and std."""
    from torchvision import transforms

    return transforms.Normalize(SHAPES_MEAN, SHAPES_STD)


# --------------------------------------------------------------------------- digits


def _digits_arrays(test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """scikit-learn's digits as (x_train, x_test, y_train, y_test), a stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    return train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )


class DigitsDataset(Dataset):
    """scikit-learn's 8x8 digits: images (1,8,8) in [0,1], or (64,) vectors when flat."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, flat: bool = False) -> None:
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        self.images = x.reshape(len(x), 64) if flat else x.reshape(len(x), 1, 8, 8)
        self.labels = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
        self.flat = flat
        self.classes = tuple(str(d) for d in range(10))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


def digits_splits(
    test_fraction: float = 0.2, seed: int = 0, flat: bool = False
) -> tuple[DigitsDataset, DigitsDataset]:
    """Deterministic stratified train/test DigitsDatasets."""
    x_train, x_test, y_train, y_test = _digits_arrays(test_fraction, seed)
    return DigitsDataset(x_train, y_train, flat), DigitsDataset(x_test, y_test, flat)


# --------------------------------------------------------------------------- real sets

_TORCHVISION_SETS = {
    "cifar10": ("CIFAR10", "CIFAR-10", "cifar-10-batches-py"),
    "mnist": ("MNIST", "MNIST", "MNIST/raw (the four *-ubyte files)"),
}


def _missing_message(name: str) -> str:
    """The one-sentence message of DatasetNotFound for set ``name``."""
    cls_name, pretty, layout = _TORCHVISION_SETS[name]
    return (
        f"{pretty} is not under {data_dir()}: place {layout} there "
        f"(torchvision's {cls_name}(root='data', download=True) on a machine with internet "
        "does it); the lessons use the offline shapes and digits sets instead."
    )


def load_torchvision_dataset(name: str, train: bool = True, transform: Transform | None = None):
    """torchvision's CIFAR10 or MNIST from data_dir(), no download; DatasetNotFound if absent."""
    import torchvision

    key = name.lower()
    if key not in _TORCHVISION_SETS:
        raise ValueError(
            f"unknown torchvision data set {name!r}; known: {sorted(_TORCHVISION_SETS)}"
        )
    cls = getattr(torchvision.datasets, _TORCHVISION_SETS[key][0])
    try:
        return cls(root=str(data_dir()), train=train, transform=transform, download=False)
    except RuntimeError as err:
        raise DatasetNotFound(_missing_message(key)) from err


def get_dataset(name: str, train: bool = True) -> Dataset:
    """A data set by name: shapes, digits, cifar10 or mnist (shapes if a real set is absent)."""
    key = name.lower()
    if key == "shapes":
        return shapes_splits()[0 if train else 1]
    if key == "digits":
        return digits_splits()[0 if train else 1]
    if key in _TORCHVISION_SETS:
        from torchvision import transforms

        try:
            return load_torchvision_dataset(key, train, transforms.ToTensor())
        except DatasetNotFound:
            print(f"note: {key} is not under {data_dir()}; using the offline shapes set instead.")
            return shapes_splits()[0 if train else 1]
    raise ValueError(f"unknown data set {name!r}; choose shapes, digits, cifar10 or mnist")
