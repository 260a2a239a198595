"""A real Visdom server for lesson 05's checks, and an independent reading of its windows."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import numpy as np


def read_log(path: str | Path) -> list[tuple[str, dict]]:
    """The (endpoint, message) pairs of a Visdom offline log, in order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [tuple(json.loads(line)) for line in lines if line.strip()]


def client(server):
    """A plain visdom client connected to ``server`` (a lessonlib Server)."""
    from visdom import Visdom

    logging.getLogger("visdom").setLevel(logging.ERROR)
    return Visdom(
        server="http://127.0.0.1",
        port=server.port,
        raise_exceptions=True,
        use_incoming_socket=False,
    )


def replayed_windows(server, log_path: str | Path, env: str) -> dict[str, dict]:
    """Replay ``log_path`` into ``server`` and return env's windows as the server stores them."""
    viz = client(server)
    viz.replay_log(str(log_path))
    return json.loads(viz.get_window_data(env=env))


def unique_env(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def history(epochs: int, seed: int = 0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    train = np.sort(rng.uniform(0.1, 2.0, epochs))[::-1]
    return {
        "train_loss": train.round(4).tolist(),
        "val_loss": (train + rng.uniform(0, 0.3, epochs)).round(4).tolist(),
    }
