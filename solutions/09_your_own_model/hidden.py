"""Lesson 09's hidden cases: other models and shapes, judged by the visible judges."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("09")

CASES = [
    Case(
        "09.1",
        "a CNN with two in-place ReLUs",
        partial(visible.model_and_batch, "cnn"),
        visible.same_zero_fractions,
    ),
    Case(
        "09.1",
        "another MLP, eight samples",
        partial(visible.model_and_batch, "mlp", seed=3, n=8),
        visible.same_zero_fractions,
    ),
    Case(
        "09.2",
        "a CNN with two in-place ReLUs",
        partial(visible.model_and_batch, "cnn", seed=5),
        visible.same_dead_units,
    ),
    Case(
        "09.2",
        "another block that calls its ReLU twice",
        partial(visible.model_and_batch, "twice", seed=2, n=4),
        visible.same_dead_units,
    ),
    Case(
        "09.3",
        "a layer the forward never uses",
        partial(visible.loss_case, "spare"),
        visible.same_gradient_flow,
    ),
    Case(
        "09.3",
        "another MLP with dropout, seven samples",
        partial(visible.loss_case, "mlp", seed=4, n=7),
        visible.same_gradient_flow,
    ),
    Case(
        "09.4",
        "the model inside a Sequential",
        partial(visible.shape_case, "nested", (1, 3, 48, 48)),
        visible.same_failing_layer,
        timeout=30.0,
    ),
    Case(
        "09.4",
        "one channel where the first conv wants three",
        partial(visible.shape_case, "plain", (2, 1, 32, 32)),
        visible.same_failing_layer,
        timeout=30.0,
    ),
    Case(
        "09.4",
        "a batch of 64 images of 2048×2048 (free on meta)",
        partial(visible.shape_case, "plain", (64, 3, 2048, 2048)),
        visible.same_failing_layer,
        timeout=30.0,
    ),
]
