"""Lesson 05 exercises, solved."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import numpy as np
from visdom import Visdom


def log_training_curves(history: dict[str, list[float]], log_path: str, env: str) -> str:
    """Log train and val loss curves to the offline Visdom log ``log_path``; return the path."""
    viz = Visdom(offline=True, log_to_filename=log_path, env=env)
    pairs = zip(history["train_loss"], history["val_loss"], strict=True)
    for epoch, (train, val) in enumerate(pairs, start=1):
        viz.line(
            X=np.array([[epoch, epoch]]),
            Y=np.array([[train, val]]),
            win="loss",
            update="append" if epoch > 1 else None,
            opts=dict(title="loss", legend=["train", "val"], xlabel="epoch"),
        )
    return log_path


def confusion_heatmap(
    labels: list[int], predicted: list[int], class_names: list[str], log_path: str, env: str
) -> list[list[int]]:
    """Return the confusion matrix and log it as a Visdom heatmap."""
    k = len(class_names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    viz = Visdom(offline=True, log_to_filename=log_path, env=env)
    viz.heatmap(
        X=matrix,
        win="confusion",
        opts=dict(title="confusion", rownames=list(class_names), columnnames=list(class_names)),
    )
    return matrix.tolist()


def scatter_points(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, Y)`` ready for ``viz.scatter``: a 2-D view of ``features`` and its labels."""
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, np.asarray(labels, dtype=np.int64) + 1


def replay_into_server(log_path: str, server_url: str, env: str) -> list[str]:
    """Replay the offline Visdom log ``log_path`` into the server at ``server_url``."""
    url = urlparse(server_url)
    viz = Visdom(
        server=f"http://{url.hostname}",
        port=url.port,
        raise_exceptions=True,
        use_incoming_socket=False,
    )
    viz.replay_log(log_path)
    return sorted(json.loads(viz.get_window_data(env=env)))
