"""Lesson 05 exercises: Visdom plots you can log, check and replay.

The functions log through ``visdom.Visdom(offline=True, log_to_filename=...)`` (no server
needed) or talk to the server URL they are given, and return plain data. Check your work
with ``lessonlib check 05``; stuck? ``lessonlib hint 05.1``.
"""

from __future__ import annotations

import numpy as np


def log_training_curves(history: dict[str, list[float]], log_path: str, env: str) -> str:
    """Log train and val loss curves to the offline Visdom log ``log_path``; return the path.

    ``history["train_loss"]`` and ``history["val_loss"]`` hold one value per epoch. Draw
    one window with id ``"loss"`` in environment ``env``, with two lines named ``"train"``
    and ``"val"``, x = the epoch number (1, 2, ...). Send the curves the way a training
    loop does, epoch by epoch: the first call creates the window, later calls append to it.
    """
    raise NotImplementedError("TODO(05.1)")


def confusion_heatmap(
    labels: list[int], predicted: list[int], class_names: list[str], log_path: str, env: str
) -> list[list[int]]:
    """Return the confusion matrix and log it as a Visdom heatmap.

    Cell ``[i][j]`` counts the samples of true class ``i`` predicted as class ``j``; the
    matrix is K×K with K = ``len(class_names)``. Log it with ``viz.heatmap`` to window
    ``"confusion"`` of environment ``env`` in the offline log ``log_path``, with the class
    names as row names and column names.
    """
    raise NotImplementedError("TODO(05.2)")


def scatter_points(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, Y)`` ready for ``viz.scatter``: a 2-D view of ``features`` and its labels.

    ``features`` is (N, D); ``X`` is (N, 2): the features projected onto their first two
    principal components (after centring). ``labels`` holds class indices from 0; ``Y``
    holds them in the form ``viz.scatter`` requires.
    """
    raise NotImplementedError("TODO(05.3)")


def replay_into_server(log_path: str, server_url: str, env: str) -> list[str]:
    """Replay the offline Visdom log ``log_path`` into the server at ``server_url``.

    ``server_url`` looks like ``"http://127.0.0.1:8097"``. Return the sorted ids of the
    windows the server then has in environment ``env``.
    """
    raise NotImplementedError("TODO(05.4)")
