"""Instructor-only checks for lesson 04: edge cases, read back with TensorBoard and tbparse."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lessonlib.classroom.references.tb import (
    accumulator,
    event_files,
    reference_losses,
    seeded_classification,
)


@pytest.mark.exercise("04.1", points=2)
def test_an_interval_longer_than_the_run_logs_nothing(exercises, tmp_path):
    x, y = seeded_classification(seed=7)
    assert exercises.log_training(str(tmp_path), x, y, 4, 5) == []
    for folder in {f.parent for f in event_files(tmp_path)}:
        assert accumulator(folder).Tags()["scalars"] == [], "no step reached the interval"


@pytest.mark.exercise("04.3", points=3)
def test_hparam_grid_with_three_keys(exercises, tmp_path):
    from tbparse import SummaryReader

    x, y = seeded_classification(seed=5, classes=4)
    grid = {"lr": [0.05, 0.5], "seed": [2], "steps": [4, 12]}
    returned = exercises.hparam_grid(str(tmp_path), x, y, grid)
    reader = SummaryReader(str(tmp_path), extra_columns={"dir_name"})
    runs = {
        d: dict(zip(g["tag"], g["value"], strict=True))
        for d, g in reader.hparams.groupby("dir_name")
    }
    combos = sorted(
        (float(r["lr"]), int(float(r["seed"])), int(float(r["steps"]))) for r in runs.values()
    )
    assert combos == sorted(itertools.product([0.05, 0.5], [2], [4, 12])), combos
    scalars = reader.scalars
    for folder, r in runs.items():
        _, loss, acc = reference_losses(
            x, y, steps=int(float(r["steps"])), lr=float(r["lr"]), seed=int(float(r["seed"]))
        )[-1]
        mine = scalars[scalars["dir_name"] == folder].set_index("tag")["value"]
        assert mine["hparam/loss"] == pytest.approx(loss, rel=1e-4)
        assert mine["hparam/accuracy"] == pytest.approx(acc, rel=1e-4)
    assert len(returned) == 4


@pytest.mark.exercise("04.4", points=2)
def test_a_perfect_classifier_gives_a_diagonal(exercises, tmp_path):
    labels = [0, 1, 2, 3, 4, 5] * 3
    names = [f"class {k}" for k in range(6)]
    got = exercises.log_confusion_matrix(str(tmp_path), labels, labels, names, 9, "cm/perfect")
    assert got == (np.eye(6, dtype=int) * 3).tolist()
    assert [e.step for e in accumulator(tmp_path).Images("cm/perfect")] == [9]


@pytest.mark.exercise("04.5", points=3)
def test_three_ranks_still_one_writer(exercises, tmp_path):
    from lessonlib.distributed import run_ranks

    losses = [[3.0, 2.0], [1.0, 0.0], [2.0, 4.0]]
    results = run_ranks(
        exercises.__file__, "log_from_rank_zero", 3, str(tmp_path), "loss",
        rank_args=[(row,) for row in losses],
    )  # fmt: skip
    want = np.mean(losses, axis=0)
    for result in results:
        np.testing.assert_allclose(result, want)
    files = event_files(tmp_path)
    assert len(files) == 1, f"{len(files)} event files: only rank 0 may write"
    series = [(e.step, e.value) for e in accumulator(files[0].parent).Scalars("loss")]
    assert [s for s, _ in series] == [1, 2]
    np.testing.assert_allclose([v for _, v in series], want)
