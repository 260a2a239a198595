"""Lesson 05's visible checks: logs replayed through Visdom's own server code, matrices and
PCA against scikit-learn, scatter points against visdom's client, and 05.4 against what the
real Visdom server the grader ran for that call held afterwards (``state``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from lessonlib.classroom.cases import (
    Case,
    InputFile,
    Inputs,
    Mismatch,
    ServiceURL,
    expect,
    expect_close,
    expect_same_list,
    show,
)
from lessonlib.classroom.references.visdom import history, log_entries, replayed
from lessonlib.messages import _

# ---------------------------------------------------------------- inputs


def curves(epochs: int, seed: int, env: str) -> Inputs:
    """A loss history of ``epochs`` epochs, the log's relative path and an environment."""
    return Inputs(history(epochs, seed=seed), "run.log", env)


def noisy_predictions(seed: int = 0, n: int = 200, env: str = "cm") -> Inputs:
    """Labels of four classes and predictions that are right about 70 % of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    predicted = np.where(rng.random(n) < 0.7, labels, rng.integers(0, 4, n))
    names = ["cat", "dog", "fox", "owl"]
    return Inputs(labels.tolist(), predicted.tolist(), names, "cm.log", env)


def unseen_class() -> Inputs:
    """Four class names, but class 3 never occurs (its row and column stay zero)."""
    labels, predicted = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]
    return Inputs(labels, predicted, ["a", "b", "c", "d"], "cm.log", "cm_unseen")


def correlated_features(seed: int = 3, n: int = 120, d: int = 6, classes: int = 3) -> Inputs:
    """Correlated, off-centre features (N, D) and integer labels from 0."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 5.0
    return Inputs(features, rng.integers(0, classes, n))


def five_classes(seed: int = 4) -> Inputs:
    """Fifty 8-D points, ten per class 0..4."""
    rng = np.random.default_rng(seed)
    return Inputs(rng.standard_normal((50, 8)), np.repeat(np.arange(5), 10))


def log_to_replay(env: str = "replay", variant: str = "visible") -> Inputs:
    """An offline log written by visdom's own client, the grader's server URL, the env."""
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
                update = "append" if step > 1 else None
                viz.line(X=np.array([step]), Y=np.array([1.0 / step]), win="loss", update=update)
            viz.heatmap(X=rng.integers(0, 9, (3, 3)), win="confusion")
            viz.scatter(X=rng.standard_normal((12, 2)), Y=np.arange(12) % 3 + 1, win="emb")
        data = path.read_bytes()
    return Inputs(InputFile("offline.log", data), ServiceURL("visdom"), env)


# ---------------------------------------------------------------- shared


def traces(files: Path, rel: str, env: str, win: str, hint: int, got=None) -> list:
    """The traces of window ``win`` after replaying the log the call wrote (``got``: its path)."""
    if got is not None:
        absolute = isinstance(got, str) and os.path.isabs(got) and got.endswith("/" + rel)
        expect(
            got == rel or absolute,
            _("return the log's path ({path!r}), not {got}.").format(path=rel, got=show(got)),
            1,
        )
    entries = log_entries(files / rel)
    windows = replayed(entries).get(env, {})
    first = next((ep for ep, msg in entries if msg.get("win") == win), None)
    late = _(
        "the first call for window {win!r} updates it before it exists: use update=None."
    ).format(win=win)
    expect(win in windows or first != "update", late, 3)
    have = show(sorted(windows))
    expect(
        win in windows,
        _("the replayed log has no window {win!r} in env {env!r} ({have}).").format(
            win=win, env=env, have=have
        ),
        hint,
    )
    return [t for t in windows[win]["content"]["data"] if isinstance(t, dict)]


def shown(win: dict) -> object:
    """What a window shows: its type and its traces' data (not ids, titles or layout)."""
    if win.get("type") == "text":
        return ("text", win.get("content"))
    data = win.get("content", {}).get("data", [])
    return (win.get("type"), [{k: t.get(k) for k in ("type", "name", "x", "y", "z")} for t in data])


# ---------------------------------------------------------------- 05.1


def replayed_curves(got, inputs, files) -> None:
    hist, rel, env = inputs.args
    lines = {t.get("name"): t for t in traces(files, rel, env, "loss", 2, got)}
    names = sorted(map(str, lines))
    expect(
        names == ["train", "val"],
        _("name the lines train and val, not {got}.").format(got=show(names)),
        2,
    )
    epochs = list(range(1, len(hist["train_loss"]) + 1))
    for name in ("train", "val"):
        points = len(lines[name].get("x") or [])
        lost = _("line {name} has {points} of {epochs} points: later calls must append.").format(
            name=name, points=points, epochs=len(epochs)
        )
        expect(points >= len(epochs), lost, 3)
        what = _("line {name}'s x (the epochs)").format(name=name)
        expect_close(lines[name].get("x"), epochs, what, hint=2)
        what = _("line {name}'s y").format(name=name)
        expect_close(lines[name].get("y"), hist[f"{name}_loss"], what, hint=2)


def streamed(got, inputs, files) -> None:
    hist, rel, env = inputs.args
    traces(files, rel, env, "loss", 2, got)
    calls = [(ep, msg) for ep, msg in log_entries(files / rel) if msg.get("win") == "loss"]
    envs = [msg.get("eid") for _ep, msg in calls if msg.get("eid") != env]
    expect(not envs, _("log into env {env!r}, not {got}.").format(env=env, got=show(envs[:1])), 1)
    expect(calls[0][0] == "events", _("the first call must create the window (update=None)."), 3)
    epochs = len(hist["train_loss"])
    expect(
        len(calls) == epochs,
        _("send one call per epoch: {want}, not {got}.").format(want=epochs, got=len(calls)),
        2,
    )
    for i, (endpoint, msg) in enumerate(calls[1:], start=2):
        ok = endpoint == "update" and msg.get("append")
        expect(ok, _("call {i} must append to window 'loss' (update='append').").format(i=i), 3)


# ---------------------------------------------------------------- 05.2


def same_matrix(got, inputs, files) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    labels, predicted, names = inputs.args[:3]
    k = len(names)
    want = confusion_matrix(labels, predicted, labels=range(k)).tolist()
    rows = type(got) is list and all(type(row) is list for row in got)
    expect(
        rows,
        _("return the matrix as a list of lists (.tolist()), not {got}.").format(got=show(got)),
        3,
    )
    square = len(got) == k and all(len(row) == k for row in got)
    expect(
        square,
        _("return a {k}x{k} matrix: a row and a column for every class name.").format(k=k),
        2,
    )
    for i, j in np.ndindex(k, k):
        if got[i][j] != want[i][j]:
            raise Mismatch(
                _(
                    "cell [{i}][{j}] (true {true}, predicted {predicted}): scikit-learn "
                    "counts {want}, you have {got}."
                ).format(
                    i=i,
                    j=j,
                    true=names[i],
                    predicted=names[j],
                    want=want[i][j],
                    got=show(got[i][j]),
                ),
                1,
            )
    return want


def heatmap(got, inputs, files) -> None:
    want = same_matrix(got, inputs, files)
    _labels, _predicted, names, rel, env = inputs.args
    data = traces(files, rel, env, "confusion", 3)
    kind = data[0].get("type") if len(data) == 1 else _("{count} traces").format(count=len(data))
    expect(
        kind == "heatmap",
        _("draw one viz.heatmap in the window, not {got}.").format(got=show(kind)),
        3,
    )
    expect(data[0].get("z") == want, _("the heatmap's cells differ from the matrix you return."), 3)
    for axis in ("x", "y"):
        labelled = data[0].get(axis) is not None
        expect(labelled, _("label the rows and columns: opts rownames and columnnames."), 3)
        expect_same_list(data[0].get(axis), names, _("the heatmap's rownames/columnnames"), 3)


# ---------------------------------------------------------------- 05.3


def _pair(got) -> tuple[np.ndarray, np.ndarray]:
    expect(
        isinstance(got, tuple | list) and len(got) == 2,
        _("return (X, Y), not {got}.").format(got=show(got)),
        3,
    )
    try:
        return np.asarray(got[0], dtype=np.float64), np.asarray(got[1])
    except (TypeError, ValueError):
        raise Mismatch(_("X should be numbers, an (N, 2) array."), 2) from None


def principal_components(got, inputs, files) -> None:
    from sklearn.decomposition import PCA

    features, labels = inputs.args
    x, y = _pair(got)
    want = PCA(n_components=2).fit_transform(features)
    expect(
        x.shape == want.shape,
        _("X should be (N, 2) = {want}, not {got}.").format(want=want.shape, got=x.shape),
        2,
    )
    for k in range(2):  # a principal component's sign is arbitrary
        column = np.sign(x[:, k] @ want[:, k]) * x[:, k]
        mean = column.mean()  # every principal component of centred features has mean 0
        expect(
            abs(mean) < 1e-6,
            _(
                "column {k} of X has mean {mean:.3g}, not 0: centre the "
                "features (subtract each column's mean) before you project them."
            ).format(k=k, mean=mean),
            1,
        )
        what = _("column {k} of X (component {component})").format(k=k, component=k + 1)
        expect_close(column, want[:, k], what, atol=1e-6, hint=2)
    ints = y.shape == labels.shape and np.issubdtype(y.dtype, np.integer)
    expect(
        ints,
        _("Y should be integers of shape {want}, not {got}.").format(
            want=labels.shape, got=show(got[1])
        ),
        3,
    )
    expect_same_list(y.tolist(), (labels + 1).tolist(), _("the labels, from 1 to K,"), 3)


def scatter_accepts(got, inputs, files) -> None:
    from visdom import Visdom

    logging.getLogger("visdom").setLevel(logging.ERROR)
    x, y = _pair(got)
    viz = Visdom(send=False, use_incoming_socket=False)  # builds the request, sends nothing
    try:
        msg, _endpoint = viz.scatter(X=x, Y=y, win="emb")
    except Exception as exc:  # noqa: BLE001 - visdom refuses with an AssertionError of its own
        raise Mismatch(
            _("viz.scatter refuses (X, Y): {error}").format(error=exc).strip(), 3
        ) from None
    classes, drawn = len(np.unique(inputs.args[1])), len(msg["data"])
    expect(
        drawn == classes,
        _("viz.scatter draws {drawn} traces, not one per class.").format(drawn=drawn),
        3,
    )


# ---------------------------------------------------------------- 05.4


def server_holds_log(got, inputs, files, state) -> None:
    log_path, _url, env = inputs.args  # the grader's own copy of the log
    want = replayed(log_entries(Path(log_path))).get(env, {})
    held = state.get(env) if isinstance(state, dict) else None
    expect(held, _("after the call the server holds no window in env {env!r}.").format(env=env), 1)
    what = _("the windows the server holds in env {env!r}").format(env=env)
    expect_same_list(sorted(held), sorted(want), what, 1)
    for win in sorted(want):
        expect(
            shown(held[win]) == shown(want[win]),
            _("window {win!r} differs from the log's.").format(win=win),
            1,
        )
    expect_same_list(got, sorted(want), _("the window ids you returned"), 3)


CASES = [
    Case("05.1", "a one-epoch history", partial(curves, 1, 1, "curves_1"), replayed_curves),
    Case("05.1", "a five-epoch history", partial(curves, 5, 5, "curves_5"), replayed_curves),
    Case(
        "05.1", "a four-epoch history, epoch by epoch", partial(curves, 4, 7, "streamed"), streamed
    ),
    Case("05.2", "200 predictions of four classes", noisy_predictions, same_matrix),
    Case("05.2", "a class that never occurs, drawn as a heatmap", unseen_class, heatmap),
    Case(
        "05.3", "120 correlated, off-centre 6-D points", correlated_features, principal_components
    ),
    Case("05.3", "50 points of five classes, given to viz.scatter", five_classes, scatter_accepts),
    Case(
        "05.4",
        "a log with a line, a text and a bar window",
        log_to_replay,
        server_holds_log,
        service="visdom",
    ),
]
