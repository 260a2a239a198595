"""Lesson 04's hidden cases: other runs, judged by the visible judges. Never shipped."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("04")
GRID = {"lr": [0.05, 0.5], "seed": [2], "steps": [4, 12]}

CASES = [
    Case(
        "04.1",
        "an interval longer than the run",
        partial(visible.training_run, 4, 5, 7),
        visible.logged_training,
    ),
    Case(
        "04.3",
        "a grid with three keys",
        partial(visible.grid_case, GRID, 5, 4),
        visible.logged_grid,
    ),
    Case(
        "04.4",
        "a perfect classifier",
        partial(visible.confusion_case, "perfect"),
        visible.logged_confusion,
    ),
    Case(
        "04.5",
        "a 3-process gloo job",
        partial(visible.gloo_case, "loss"),
        visible.rank_zero_logged,
        timeout=visible.GLOO_TIMEOUT_S,
    ),
]
