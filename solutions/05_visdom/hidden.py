"""Lesson 05's hidden cases: other histories, predictions, features and logs. Never shipped."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("05")

CASES = [
    Case(
        "05.1",
        "a seven-epoch history",
        partial(visible.curves, 7, 21, "curves_h"),
        visible.replayed_curves,
    ),
    Case(
        "05.2",
        "57 predictions, drawn as a heatmap",
        partial(visible.noisy_predictions, seed=5, n=57, env="cm_h"),
        visible.heatmap,
    ),
    Case(
        "05.3",
        "40 points in 10-D, four classes",
        partial(visible.correlated_features, seed=8, n=40, d=10, classes=4),
        visible.principal_components,
    ),
    Case(
        "05.4",
        "a streamed curve, a heatmap and a scatter plot",
        partial(visible.log_to_replay, env="replay_h", variant="hidden"),
        visible.server_holds_log,
        service="visdom",
    ),
]
