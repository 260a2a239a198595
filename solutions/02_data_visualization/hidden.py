"""Lesson 02's hidden cases: other inputs, judged by the visible judges. Never shipped."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("02")

CASES = [
    Case(
        "02.1",
        "a float64 batch",
        partial(visible.normalized_images, "float64"),
        partial(visible.unnormalized, kind="float64"),
    ),
    Case(
        "02.2",
        "normalized, every sample of one class",
        partial(visible.label_pairs, "one class"),
        visible.same_confusion,
    ),
    Case("02.3", "a nested Sequential", visible.nested_and_layers, visible.captured),
    Case(
        "02.4",
        "exactly one row of filters",
        partial(visible.filters, "one row"),
        visible.filter_image,
    ),
    Case("02.5", "a single value", partial(visible.noisy_curve, 0.9, n=1), visible.smoothed),
    Case(
        "02.6",
        "float32 features",
        partial(visible.pca_features, "float32"),
        visible.principal_coordinates,
    ),
]
