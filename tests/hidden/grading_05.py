"""Lesson 05's graded cases: the visible tests' cases and hidden ones, checked in the grader.

The sandbox builds each case's inputs (grading_05_inputs.py), calls the student's function and
returns plain data plus the files it wrote. The checks below run in the grader, against
scikit-learn's confusion matrix and PCA, visdom's client, and visdom's own server code:

* an offline log the student wrote (05.1, 05.2) is replayed through visdom's server handlers
  (``register_window``, ``UpdateHandler``: the code a real server runs for each request),
  in memory, so the windows checked are the windows a server would hold;
* 05.4's verdict comes from the Visdom server the grader ran for the sandbox
  (``Case(..., service="visdom")``): ``state`` is what that server held once the sandbox
  had ended, compared with the grader's own replay of the same log.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from functools import partial
from pathlib import Path

import numpy as np
from grading_05_inputs import (
    correlated_features,
    curves,
    five_classes,
    log_to_replay,
    noisy_predictions,
    unseen_class,
)
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix

from lessonlib.classroom.grading import Case, show

MAX_LOG_BYTES = 2 * 2**20
MAX_LOG_LINES = 500


# ---------------------------------------------------------------- reading and replaying logs


def log_entries(path: Path) -> list[tuple[str, dict]]:
    """The (endpoint, message) pairs of a Visdom offline log, refusing anything else."""
    assert path.is_file() and not path.is_symlink(), (
        f"no log file at {path.name}: create the client with "
        "Visdom(offline=True, log_to_filename=log_path, env=env)."
    )
    assert path.stat().st_size <= MAX_LOG_BYTES, "the log is larger than the grader reads (2 MB)."
    entries = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            entry = None
        ok = isinstance(entry, list) and len(entry) == 2
        assert ok and isinstance(entry[0], str) and isinstance(entry[1], dict), (
            f"line {number} of the log is not a Visdom log entry ([endpoint, message])."
        )
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
    """What a fresh Visdom server holds after ``Visdom(...).replay_log`` of ``entries``.

    Each entry goes through the server code a request to its endpoint runs; a request the
    server would answer with an error changes what it changed before failing, as on a server.
    """
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


def _essence(win) -> object:
    """What a window shows: its type and its traces' data (not ids, titles or layout)."""
    try:
        if win.get("type") == "text":
            return ("text", win.get("content"))
        data = win["content"]["data"]
        keys = ("type", "name", "x", "y", "z")
        return (win.get("type"), [{k: t.get(k) for k in keys} for t in data])
    except (AttributeError, KeyError, TypeError):
        return None


def _close(got, want) -> bool:
    try:
        return len(got) == len(want) and all(
            math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)
            for a, b in zip(got, want, strict=True)
        )
    except (TypeError, ValueError):
        return False


def _windows_from_log(files: Path, rel: str, env: str) -> dict:
    return replayed(log_entries(files / rel)).get(env, {})


def _check_path(got, rel: str) -> None:
    absolute = isinstance(got, str) and os.path.isabs(got) and got.endswith("/" + rel)
    assert got == rel or absolute, f"return the log's path ({rel!r}), not {show(got)}."


# ---------------------------------------------------------------- 05.1


def check_replayed_curves(got, inputs, files, quiet: bool = False) -> None:
    hist, rel, env = inputs.args
    _check_path(got, rel)
    windows = _windows_from_log(files, rel, env)
    assert "loss" in windows, f"no window 'loss' in env {env!r} after replaying the log" + (
        "." if quiet else f": {show(sorted(windows))}."
    )
    traces = {t.get("name"): t for t in windows["loss"]["content"]["data"] if isinstance(t, dict)}
    assert set(traces) == {"train", "val"}, (
        f"the lines should be named train and val, not {show(sorted(map(str, traces)))}."
    )
    epochs = list(range(1, len(hist["train_loss"]) + 1))
    for name, key in (("train", "train_loss"), ("val", "val_loss")):
        assert _close(traces[name].get("x"), epochs), (
            f"{name}: x should be the epochs 1..{len(epochs)}."
        )
        assert _close(traces[name].get("y"), hist[key]), f"{name}: y differs from history[{key!r}]."


def check_streamed(got, inputs, files) -> None:
    _, rel, env = inputs.args
    _check_path(got, rel)
    calls = [(ep, msg) for ep, msg in log_entries(files / rel) if msg.get("win") == "loss"]
    assert calls, "nothing was logged for window 'loss'."
    assert calls[0][0] == "events", (
        "the first call must create the window (update=None), not update it."
    )
    updates = [msg for ep, msg in calls[1:] if ep == "update"]
    assert len(calls) >= 4 and len(updates) == len(calls) - 1, (
        "send one point per epoch: later calls update the window."
    )
    assert all(msg.get("append") for msg in updates), (
        "later calls must append (update='append'), not replace."
    )
    assert all(msg.get("eid") == env for _, msg in calls), "log into the env you were given."


# ---------------------------------------------------------------- 05.2


def _want_matrix(inputs) -> list[list[int]]:
    labels, predicted, names = inputs.args[:3]
    return confusion_matrix(labels, predicted, labels=range(len(names))).tolist()


def _check_matrix(got, want, quiet: bool) -> None:
    assert isinstance(got, list), f"return the matrix as a list of lists, not {show(got)}."
    assert got == want, (
        "that is not the confusion matrix: cell [i][j] counts true class i predicted as j."
        if quiet
        else f"scikit-learn counts {want}, you returned {show(got)}."
    )


def check_counts(got, inputs, files) -> None:
    _check_matrix(got, _want_matrix(inputs), quiet=False)


def check_heatmap(got, inputs, files, quiet: bool = False) -> None:
    want = _want_matrix(inputs)
    _check_matrix(got, want, quiet)
    _, _, names, rel, env = inputs.args
    windows = _windows_from_log(files, rel, env)
    assert "confusion" in windows, f"no window 'confusion' in env {env!r} after replaying the log."
    data = windows["confusion"]["content"]["data"]
    assert len(data) == 1 and isinstance(data[0], dict), "the window should hold one heatmap."
    trace = data[0]
    assert trace.get("type") == "heatmap", f"draw it with viz.heatmap, not as {trace.get('type')}."
    assert trace.get("z") == want, "the heatmap's cells differ from the confusion matrix."
    assert trace.get("x") == names and trace.get("y") == names, (
        "label the rows and columns with the class names."
    )


# ---------------------------------------------------------------- 05.3


def _pair(got) -> tuple[np.ndarray, np.ndarray]:
    assert isinstance(got, tuple | list) and len(got) == 2, (
        f"return a pair (X, Y), not {show(got)}."
    )
    try:
        return np.asarray(got[0], dtype=np.float64), np.asarray(got[1])
    except (TypeError, ValueError) as exc:
        raise AssertionError("X should be numbers, an (N, 2) array.") from exc


def check_principal_components(got, inputs, files) -> None:
    features, labels = inputs.args
    x, y = _pair(got)
    want = PCA(n_components=2).fit_transform(features)
    assert x.shape == want.shape, f"X should be (N, 2) = {want.shape}, got {x.shape}."
    for k in range(2):  # a principal component's sign is arbitrary
        sign = np.sign(x[:, k] @ want[:, k])
        assert np.allclose(sign * x[:, k], want[:, k], atol=1e-6), (
            f"column {k} of X is not principal component {k + 1}."
        )
    assert y.shape == labels.shape and np.array_equal(y, labels + 1), (
        "Y should hold the labels as viz.scatter wants them: from 1 to K."
    )


def check_scatter_accepts(got, inputs, files) -> None:
    from visdom import Visdom

    logging.getLogger("visdom").setLevel(logging.ERROR)
    _, labels = inputs.args
    x, y = _pair(got)
    viz = Visdom(send=False, use_incoming_socket=False)  # builds the request, sends nothing
    try:
        msg, _ = viz.scatter(X=x, Y=y, win="emb")
    except Exception as exc:  # visdom refuses with an AssertionError of its own
        raise AssertionError(f"viz.scatter refuses (X, Y): {exc}".strip()) from exc
    classes = len(np.unique(labels))
    assert len(msg["data"]) == classes, f"viz.scatter should draw one trace per class ({classes})."


# ---------------------------------------------------------------- 05.4


def check_replay(got, inputs, files, state, quiet: bool = False) -> None:
    log_path, _, env = inputs.args  # the grader's own copy of the log
    want = replayed(log_entries(Path(log_path))).get(env, {})
    assert want, "the grader's log replays into nothing."
    held = state.get(env) if isinstance(state, dict) else None
    assert isinstance(held, dict) and held, (
        f"after the call the server holds no window in env {env!r}: replay the log into the "
        "server at server_url."
    )
    assert sorted(held) == sorted(want), (
        f"after the call the server holds other windows in env {env!r} than the log has."
        if quiet
        else f"after the call the server holds {show(sorted(held))} in env {env!r}, "
        f"the log has {sorted(want)}."
    )
    for win in sorted(want):
        assert _essence(held[win]) == _essence(want[win]), (
            f"window {win!r} on the server differs from the one in the log."
        )
    assert got == sorted(want), (
        "return the sorted ids of the windows the server holds in env."
        if quiet
        else f"the server holds {sorted(want)}, you returned {show(got)}."
    )


CASES = [
    Case(
        "05.1",
        "a one-epoch history, replayed into Visdom",
        partial(curves, 1, 1, "curves_1"),
        check_replayed_curves,
    ),
    Case(
        "05.1",
        "a five-epoch history, replayed into Visdom",
        partial(curves, 5, 5, "curves_5"),
        check_replayed_curves,
    ),
    Case(
        "05.1",
        "a four-epoch history, logged epoch by epoch",
        partial(curves, 4, 7, "streamed"),
        check_streamed,
    ),
    Case(
        "05.1",
        "a seven-epoch history (hidden case)",
        partial(curves, 7, 21, "curves_h"),
        partial(check_replayed_curves, quiet=True),
    ),
    Case("05.2", "200 predictions of four classes", noisy_predictions, check_counts),
    Case(
        "05.2",
        "a class that never occurs, drawn as a heatmap",
        unseen_class,
        check_heatmap,
    ),
    Case(
        "05.2",
        "57 predictions, drawn as a heatmap (hidden case)",
        partial(noisy_predictions, seed=5, n=57, env="cm_h"),
        partial(check_heatmap, quiet=True),
    ),
    Case("05.3", "120 correlated 6-D points", correlated_features, check_principal_components),
    Case(
        "05.3",
        "50 points of five classes, given to viz.scatter",
        five_classes,
        check_scatter_accepts,
    ),
    Case(
        "05.3",
        "40 points in 10-D, four classes (hidden case)",
        partial(correlated_features, seed=8, n=40, d=10, classes=4),
        check_principal_components,
    ),
    Case(
        "05.4",
        "a log with a line, a text and a bar window",
        log_to_replay,
        check_replay,
        service="visdom",
    ),
    Case(
        "05.4",
        "a streamed curve, a heatmap and a scatter plot (hidden case)",
        partial(log_to_replay, env="replay_h", variant="hidden"),
        partial(check_replay, quiet=True),
        service="visdom",
    ),
]
