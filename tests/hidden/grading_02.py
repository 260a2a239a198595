"""Lesson 02's graded cases: the visible tests' cases and the hidden ones, checked in the grader.

The sandbox builds each case's inputs (grading_02_inputs.py), calls the student's function
and returns plain data; the checks below run in the grader against torchvision,
scikit-learn, pandas and torch itself, never against the solution.

What only the visible tests (``lessonlib check 02``) can check, because the grader sees the
returned value and nothing else: that unnormalize and filter_grid leave their input alone,
that capture_activations removes its hooks (also when the forward pass raises) and returns
detached tensors, and that a function raises on bad input (a call that raises is a failed
case here).
"""

from __future__ import annotations

import functools
from functools import partial

import numpy as np
import pandas as pd
import torch
from grading_02_inputs import (
    LAYERS,
    cnn_and_layers,
    curve_and_weight,
    features,
    filter_weights,
    filters,
    label_pairs,
    labels,
    nested_and_layers,
    nested_model,
    normalized_images,
    original_images,
    pca_features,
    seeded_cnn,
    single_value,
)
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.utils import make_grid

from lessonlib.classroom.grading import Case, show
from lessonlib.classroom.references.small_models import seeded_input


def _tensor(got, what: str) -> torch.Tensor:
    assert isinstance(got, torch.Tensor | np.ndarray), f"return {what}, not {show(got)}."
    return torch.as_tensor(got)


def _array(got) -> np.ndarray:
    if isinstance(got, torch.Tensor):
        return got.numpy()
    assert isinstance(got, np.ndarray | list | tuple), f"return an array, not {show(got)}."
    try:
        return np.asarray(got)
    except ValueError as exc:
        raise AssertionError(f"return an (n, n) array, not {show(got)}.") from exc


def _close(got: torch.Tensor, want: torch.Tensor, message: str, **tolerances) -> None:
    try:
        torch.testing.assert_close(got, want, **tolerances)
    except AssertionError as exc:
        raise AssertionError(message) from exc


# ---------------------------------------------------------------- 02.1


def check_unnormalize(got, inputs, files, kind: str, quietly: bool = False) -> None:
    got = _tensor(got, "a tensor")
    images = original_images(kind)[0]
    assert tuple(got.shape) == tuple(images.shape), (
        f"shape {tuple(got.shape)}, want {tuple(images.shape)}."
    )
    tolerances = {} if quietly else {"atol": 1e-6, "rtol": 0}
    message = (
        "the values are not the images before Normalize (mind the dtype)."
        if quietly
        else "the values are not the images before Normalize, clipped to [0, 1]."
    )
    _close(got, images.clamp(0, 1), message, **tolerances)


# ---------------------------------------------------------------- 02.2


@functools.cache
def sklearn_matrix(kind: str) -> np.ndarray:
    y_true, y_pred, n_classes, normalize = labels(kind)
    return sklearn_confusion_matrix(
        np.asarray(y_true),
        np.asarray(y_pred),
        labels=range(n_classes),
        normalize="true" if normalize else None,
    )


def check_counts(got, inputs, files, kind: str, integer: bool = False) -> None:
    got = _array(got)
    want = sklearn_matrix(kind)
    assert got.shape == want.shape, f"shape {got.shape}, want {want.shape}."
    if integer:
        assert np.issubdtype(got.dtype, np.integer), f"counts are integers, got {got.dtype}."
    assert np.array_equal(got, want), "the counts differ from scikit-learn's confusion_matrix."


def check_normalized(got, inputs, files, kind: str, quietly: bool = False) -> None:
    got = _array(got).astype(float)
    want = sklearn_matrix(kind)
    assert got.shape == want.shape, f"shape {got.shape}, want {want.shape}."
    tolerance = {"rtol": 1e-7, "atol": 0} if quietly else {"rtol": 1e-7, "atol": 1e-12}
    assert np.allclose(got, want, **tolerance), (
        "each row should be divided by its true class's count (a row without samples stays 0)."
        if not quietly
        else "the normalized rows are not right."
    )


# ---------------------------------------------------------------- 02.3


@functools.cache
def feature_extractor_outputs(n: int) -> dict[str, torch.Tensor]:
    model, x = seeded_cnn(), seeded_input(n, 3, 32, 32)
    with torch.no_grad():
        return create_feature_extractor(model, return_nodes={name: name for name in LAYERS})(x)


def _activations(got, names) -> dict:
    assert isinstance(got, dict), f"return a dict of layer name -> tensor, not {show(got)}."
    assert sorted(got) == sorted(names), f"keys {sorted(got)}, want {sorted(names)}."
    return got


def check_activations(got, inputs, files, n: int) -> None:
    got = _activations(got, LAYERS)
    want = feature_extractor_outputs(n)
    for name in LAYERS:
        mine = _tensor(got[name], f"a tensor for {name}")
        assert tuple(mine.shape) == tuple(want[name].shape), (
            f"{name}: shape {tuple(mine.shape)}, torchvision's feature extractor gives "
            f"{tuple(want[name].shape)}."
        )
        _close(mine, want[name], f"{name}: the values differ from the layer's output.")


def check_nested_activations(got, inputs, files) -> None:
    got = _activations(got, ["1.0", "1"])
    model, x = nested_model()
    with torch.no_grad():
        want = {"1.0": torch.tanh(model[0](x)), "1": model(x)}
    for name, value in want.items():
        mine = _tensor(got[name], f"a tensor for {name}")
        assert tuple(mine.shape) == tuple(value.shape), f"{name}: wrong shape."
        _close(mine, value, f"{name}: not the output of that (nested) module.")


# ---------------------------------------------------------------- 02.4


def check_grid(got, inputs, files, kind: str, nrow=8, padding=1, pad_value=1.0) -> None:
    got = _tensor(got, "an (H, W, 3) tensor").float()
    weight = filter_weights(kind)
    want = make_grid(
        weight, nrow=nrow, padding=padding, normalize=True, scale_each=True, pad_value=pad_value
    ).permute(1, 2, 0)
    assert tuple(got.shape) == tuple(want.shape), (
        f"shape {tuple(got.shape)}, make_grid gives {tuple(want.shape)}."
    )
    _close(
        got,
        want,
        "the pixels differ from make_grid(normalize=True, scale_each=True)'s.",
        atol=1e-5,
        rtol=0,
    )


# ---------------------------------------------------------------- 02.5


def check_smoothing(got, inputs, files, quietly: bool = False) -> None:
    values, weight = inputs.args
    assert isinstance(got, list | tuple | np.ndarray | torch.Tensor), (
        f"return a list of floats, not {show(got)}."
    )
    mine = np.asarray(got, dtype=float)
    want = pd.Series(values).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()
    assert mine.shape == want.shape, f"{len(mine)} values for {len(values)}."
    tolerance = {"rtol": 1e-6, "atol": 1e-12} if quietly else {"rtol": 1e-9, "atol": 1e-12}
    assert np.allclose(mine, want, **tolerance), (
        "the values differ from pandas' ewm(alpha=1 - weight).mean() (debiased, like TensorBoard)."
    )


# ---------------------------------------------------------------- 02.6


@functools.cache
def sklearn_pca(kind: str) -> np.ndarray:
    return PCA(n_components=2).fit_transform(pca_features(kind).double().numpy())


def check_pca(got, inputs, files, kind: str) -> None:
    mine = _tensor(got, "an (n, 2) tensor").double().numpy()
    want = sklearn_pca(kind)
    assert mine.shape == want.shape, f"shape {mine.shape}, want {want.shape}."
    for j in range(2):
        sign = np.sign(mine[:, j] @ want[:, j]) or 1.0
        assert np.allclose(sign * mine[:, j], want[:, j], atol=1e-4, rtol=1e-4), (
            f"component {j + 1} differs from scikit-learn's PCA (up to sign)."
        )


CASES = [
    Case(
        "02.1",
        "an RGB batch",
        partial(normalized_images, "rgb batch"),
        partial(check_unnormalize, kind="rgb batch"),
    ),
    Case(
        "02.1",
        "one image outside [0, 1]",
        partial(normalized_images, "one image outside [0, 1]"),
        partial(check_unnormalize, kind="one image outside [0, 1]"),
    ),
    Case(
        "02.1",
        "grayscale digits",
        partial(normalized_images, "grayscale"),
        partial(check_unnormalize, kind="grayscale"),
    ),
    Case(
        "02.1",
        "a float64 batch (hidden case)",
        partial(normalized_images, "float64"),
        partial(check_unnormalize, kind="float64", quietly=True),
    ),
    Case(
        "02.2",
        "300 labels in 5 classes, as lists",
        partial(label_pairs, "300 random labels as lists"),
        partial(check_counts, kind="300 random labels as lists", integer=True),
    ),
    Case(
        "02.2",
        "tensors, and a class nobody predicted",
        partial(label_pairs, "tensors with an absent class"),
        partial(check_counts, kind="tensors with an absent class"),
    ),
    Case(
        "02.2",
        "normalized by true class, one class absent",
        partial(label_pairs, "normalized, an absent true class"),
        partial(check_normalized, kind="normalized, an absent true class"),
    ),
    Case(
        "02.2",
        "normalized, every sample of one class (hidden case)",
        partial(label_pairs, "normalized, one true class"),
        partial(check_normalized, kind="normalized, one true class", quietly=True),
    ),
    Case(
        "02.3",
        "three layers of a small CNN",
        cnn_and_layers,
        partial(check_activations, n=2),
    ),
    Case(
        "02.3",
        "a model that already has a hook of its own",
        partial(cnn_and_layers, n=1, own_hook=True),
        partial(check_activations, n=1),
    ),
    Case(
        "02.3",
        "a nested Sequential (hidden case)",
        nested_and_layers,
        check_nested_activations,
    ),
    Case(
        "02.4",
        "ten RGB filters, nrow=4, padding=2, pad_value=0.3",
        partial(filters, "rgb", nrow=4, padding=2, pad_value=0.3),
        partial(check_grid, kind="rgb", nrow=4, padding=2, pad_value=0.3),
    ),
    Case(
        "02.4",
        "gray filters with a constant one, default settings",
        partial(filters, "gray with a constant filter"),
        partial(check_grid, kind="gray with a constant filter"),
    ),
    Case(
        "02.4",
        "exactly one row of filters (hidden case)",
        partial(filters, "one row"),
        partial(check_grid, kind="one row"),
    ),
    *(
        Case(
            "02.5",
            f"a noisy curve, weight {weight}",
            partial(curve_and_weight, weight),
            check_smoothing,
        )
        for weight in (0.0, 0.6, 0.9, 0.99)
    ),
    Case(
        "02.5", "a single value (hidden case)", single_value, partial(check_smoothing, quietly=True)
    ),
    Case(
        "02.6",
        "200 rotated, shifted 6-d features",
        partial(features, "rotated"),
        partial(check_pca, kind="rotated"),
    ),
    Case(
        "02.6",
        "float32 features (hidden case)",
        partial(features, "float32"),
        partial(check_pca, kind="float32"),
    ),
]
