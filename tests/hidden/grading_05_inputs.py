"""Inputs for lesson 05's graded calls: training histories, predictions, features, offline logs.

Every builder is deterministic, so the sandbox (which calls the student's function) and the
grader (which checks the answer) each build the same inputs from the same arguments.

05.1 and 05.2 write an offline Visdom log at the *relative* path they are given: it lands
in the call's work folder and comes back to the grader in ``files``. 05.4 gets an offline log
as an ``InputFile`` (written here with visdom's own client) and the URL of a Visdom server
that the grader runs for the sandbox (``ServiceURL("visdom")``).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from lessonlib.classroom.grading import InputFile, Inputs, ServiceURL
from lessonlib.classroom.references.visdom import history

CLASS_NAMES = ["cat", "dog", "fox", "owl"]

# ---------------------------------------------------------------- 05.1


def curves(epochs: int, seed: int, env: str) -> Inputs:
    """A loss history of ``epochs`` epochs, the log's relative path and an environment."""
    return Inputs(history(epochs, seed=seed), "run.log", env)


# ---------------------------------------------------------------- 05.2


def noisy_predictions(seed: int = 0, n: int = 200, env: str = "cm") -> Inputs:
    """Labels of four classes and predictions that are right about 70 % of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    predicted = np.where(rng.random(n) < 0.7, labels, rng.integers(0, 4, n))
    return Inputs(labels.tolist(), predicted.tolist(), list(CLASS_NAMES), "cm.log", env)


def unseen_class(env: str = "cm_unseen") -> Inputs:
    """Four class names, but class 3 never occurs (its row and column stay zero)."""
    labels, predicted = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]
    return Inputs(labels, predicted, ["a", "b", "c", "d"], "cm.log", env)


# ---------------------------------------------------------------- 05.3


def correlated_features(seed: int = 3, n: int = 120, d: int = 6, classes: int = 3) -> Inputs:
    """Correlated, off-centre features (N, D) and integer labels from 0."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 5.0
    return Inputs(features, rng.integers(0, classes, n))


def five_classes(seed: int = 4) -> Inputs:
    """Fifty 8-D points, ten per class 0..4."""
    rng = np.random.default_rng(seed)
    return Inputs(rng.standard_normal((50, 8)), np.repeat(np.arange(5), 10))


# ---------------------------------------------------------------- 05.4


def _offline_log(env: str, variant: str) -> bytes:
    from visdom import Visdom

    logging.getLogger("visdom").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "offline.log"
        viz = Visdom(offline=True, log_to_filename=str(path), env=env)
        if variant == "visible":
            viz.line(X=np.arange(4), Y=np.arange(4.0) ** 2, win="curve")
            viz.text("from the cluster", win="note")
            viz.bar(X=np.array([3.0, 1.0, 2.0]), win="bars")
        else:
            rng = np.random.default_rng(11)
            for step in range(1, 4):  # a curve streamed point by point
                viz.line(
                    X=np.array([step]),
                    Y=np.array([1.0 / step]),
                    win="loss",
                    update="append" if step > 1 else None,
                )
            viz.heatmap(X=rng.integers(0, 9, (3, 3)), win="confusion")
            viz.scatter(X=rng.standard_normal((12, 2)), Y=np.arange(12) % 3 + 1, win="emb")
        return path.read_bytes()


def log_to_replay(env: str = "replay", variant: str = "visible") -> Inputs:
    """An offline log written by visdom's own client, the grader's server URL, the env."""
    return Inputs(InputFile("offline.log", _offline_log(env, variant)), ServiceURL("visdom"), env)
