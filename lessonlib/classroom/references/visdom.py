"""Lesson 05's reference: what a Visdom server holds after replaying an offline log, found by
running each entry through the server's own request handlers, in memory."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np

MAX_LOG_BYTES = 2 * 2**20
MAX_LOG_LINES = 500


def history(epochs: int, seed: int = 0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    train = np.sort(rng.uniform(0.1, 2.0, epochs))[::-1]
    return {
        "train_loss": train.round(4).tolist(),
        "val_loss": (train + rng.uniform(0, 0.3, epochs)).round(4).tolist(),
    }


def log_entries(path: Path) -> list[tuple[str, dict]]:
    """The (endpoint, message) pairs of a Visdom offline log; AssertionError for anything else."""
    assert path.is_file() and not path.is_symlink(), (
        f"no log file at {path.name}: create the client with "
        "Visdom(offline=True, log_to_filename=log_path, env=env)."
    )
    assert path.stat().st_size <= MAX_LOG_BYTES, "the log is larger than the grader reads (2 MB)."
    entries = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line) if line.strip() else ["", {}]
        except (ValueError, RecursionError):
            entry = None
        ok = isinstance(entry, list) and len(entry) == 2
        assert ok and isinstance(entry[0], str) and isinstance(entry[1], dict), (
            f"line {number} of the log is not a Visdom log entry ([endpoint, message])."
        )
        if entry[0]:
            entries.append((entry[0], entry[1]))
    assert len(entries) <= MAX_LOG_LINES, "the log has more entries than the grader replays."
    return entries


class _Handler:
    """What visdom's request handlers use of themselves: the state, and nobody subscribed."""

    def __init__(self) -> None:
        self.state: dict = {"main": {"jsons": {}, "reload": {}}}
        self.subs: dict = {}
        self.sources: dict = {}
        self.port = 0
        self.env_path = None  # never touches the disk
        self.login_enabled = False

    def write(self, _text) -> None:
        pass


def replayed(entries: list[tuple[str, dict]]) -> dict[str, dict]:
    """{env: {window id: window}} a fresh server holds after ``Visdom(...).replay_log``."""
    from visdom.server.handlers.web_handlers import CloseHandler, UpdateHandler
    from visdom.utils.server_utils import extract_eid, register_window, window
    from visdom.utils.shared_utils import get_rand_id

    logging.getLogger().setLevel(logging.CRITICAL)  # visdom logs a refused update as an error
    handler = _Handler()
    for endpoint, message in entries:
        msg = copy.deepcopy(message)
        # What the replaying client (Visdom._send) does before it posts.
        if msg.get("eid") is None:
            msg["eid"] = "main"
        if "win" in msg and msg["win"] is None:
            msg["win"] = "window_" + get_rand_id()
        try:
            if endpoint == "events" and msg.get("func") is None:
                register_window(handler, window(msg), extract_eid(msg))
            elif endpoint == "update":
                UpdateHandler.wrap_func(handler, msg)
            elif endpoint == "close":
                CloseHandler.wrap_func(handler, msg)
        except Exception:  # noqa: BLE001, S112 - the server answers 500 and goes on
            continue
    return {eid: env["jsons"] for eid, env in handler.state.items()}
