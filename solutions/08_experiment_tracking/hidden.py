"""Lesson 08's hidden cases: other stores, logs and runs, judged by the visible judges."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

checks = lesson_checks("08")

CASES = [
    Case(
        "08.1",
        "a name with spaces beside other experiments; bool, int, str params (hidden case)",
        partial(
            checks.run_case,
            "my experiment",
            "seed 1",
            {"pretrained": False, "batch_size": 32, "schedule": "onecycle"},
            {"val/loss": [0.42]},
            {
                "my experiment": {"a": {"val/loss": [0.5]}, "b": {"val/loss": [0.45]}},
                "my experiment 2": {"c": {"val/loss": [0.4]}},
            },
        ),
        checks.logged_run,
        timeout=checks.TIMEOUT,
    ),
    Case(
        "08.2",
        "a better run in another experiment does not count (hidden case)",
        partial(
            checks.best_case,
            "shapes",
            "val/loss",
            {"a": {"val/loss": [0.7, 0.61]}, "b": {"val/loss": [0.66, 0.6]}},
            True,
            {"other": {"elsewhere": {"val/loss": [0.1]}}},
        ),
        checks.best_run_found,
        timeout=checks.TIMEOUT,
    ),
    Case(
        "08.3",
        "three tags at irregular steps, 150 points (hidden case)",
        partial(
            checks.migrate_case,
            "tb-import",
            "resnet",
            {
                "loss": list(range(1, 101)),
                "lr": [1, 25, 50, 75, 100],
                "eval/acc": [3, 7, 20, 33, 46, 59, 72, 85, 98] + list(range(100, 136)),
            },
            3,
        ),
        checks.migrated_run,
        timeout=checks.TIMEOUT,
    ),
    Case(
        "08.4",
        "a bool and a str param, a one-point series (hidden case)",
        partial(
            checks.neptune_case,
            "baseline",
            {"augment": True, "arch": "SmallCNN", "width": 8},
            {"val/loss": [0.37]},
            200,
        ),
        checks.neptune_run_logged,
        timeout=checks.TIMEOUT,
    ),
]
