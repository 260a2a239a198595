"""Lesson 03's hidden cases: other models and layers, judged by the visible judges."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("03")

CASES = [
    Case(
        "03.1",
        "no parameters at all",
        partial(visible.parameters_of, "nothing"),
        partial(visible.same_counts, name="nothing"),
    ),
    Case(
        "03.2",
        "a pointwise conv with stride 2",
        partial(visible.call_with, [3, 5, 9, 6], 7, 1, stride=2),
        visible.same_shape,
    ),
    Case(
        "03.3",
        "resnet18's first layer",
        partial(visible.call_with, [2, 3, 64, 64], 64, 7, 2, 3, bias=False),
        visible.same_mult_adds,
    ),
    Case(
        "03.4",
        "a bfloat16 layer",
        partial(visible.parameters_of, "bfloat16 Linear"),
        partial(visible.same_size, name="bfloat16 Linear"),
    ),
    Case(
        "03.5",
        "a nested head, layer4.1 of resnet18",
        partial(visible.parameters_and_head, "resnet18", "layer4.1"),
        partial(visible.trainable_head, name="resnet18"),
    ),
]
