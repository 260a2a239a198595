"""Exercise checks for lesson 05: logs replayed into a real Visdom server, read back from it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix

from lessonlib.classroom.references.visdom import (
    client,
    history,
    read_log,
    replayed_windows,
    unique_env,
)
from lessonlib.visdom import start_visdom

# visdom's client calls the deprecated logger.warn when it connects without a socket.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_visdom(env_path=tmp_path_factory.mktemp("visdom") / "envs", quiet=True)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.exercise("05.1", points=3)
@pytest.mark.parametrize("epochs", [1, 5])
def test_training_curves_replay_into_the_server(exercises, server, tmp_path, epochs):
    hist, env, log = history(epochs, seed=epochs), unique_env("curves"), tmp_path / "run.log"
    got = exercises.log_training_curves(hist, str(log), env)
    assert str(got) == str(log), "return the log's path"
    windows = replayed_windows(server, log, env)
    assert "loss" in windows, (
        f"no window 'loss' in env {env!r} after replaying the log: {sorted(windows)}"
    )
    traces = {t["name"]: t for t in windows["loss"]["content"]["data"]}
    assert set(traces) == {"train", "val"}, (
        f"lines should be named train and val, not {sorted(traces)}"
    )
    for name, key in (("train", "train_loss"), ("val", "val_loss")):
        assert traces[name]["x"] == pytest.approx(list(range(1, epochs + 1))), (
            f"{name}: x should be the epochs 1..{epochs}"
        )
        assert traces[name]["y"] == pytest.approx(hist[key]), (
            f"{name}: y differs from history[{key!r}]"
        )


@pytest.mark.exercise("05.1", points=3)
def test_training_curves_are_streamed_epoch_by_epoch(exercises, tmp_path):
    hist, log = history(4, seed=7), tmp_path / "run.log"
    exercises.log_training_curves(hist, str(log), "streamed")
    calls = [(endpoint, msg) for endpoint, msg in read_log(log) if msg.get("win") == "loss"]
    assert calls, "nothing was logged for window 'loss'"
    assert calls[0][0] == "events", (
        "the first call must create the window (update=None), not update it"
    )
    updates = [msg for endpoint, msg in calls[1:] if endpoint == "update"]
    assert len(calls) >= 4 and len(updates) == len(calls) - 1, (
        "send one point per epoch: later calls update the window"
    )
    assert all(msg.get("append") for msg in updates), (
        "later calls must append (update='append'), not replace"
    )
    assert all(msg["eid"] == "streamed" for _, msg in calls), "log into the env you were given"


@pytest.mark.exercise("05.2", points=2)
def test_confusion_matrix_matches_scikit_learn(exercises, tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    predicted = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 4, 200))
    names = ["cat", "dog", "fox", "owl"]
    got = exercises.confusion_heatmap(
        labels.tolist(), predicted.tolist(), names, str(tmp_path / "cm.log"), "cm"
    )
    want = confusion_matrix(labels, predicted, labels=range(4)).tolist()
    assert got == want, f"scikit-learn counts {want}, you returned {got}"


@pytest.mark.exercise("05.2", points=2)
def test_confusion_heatmap_in_the_server_with_unseen_classes(exercises, server, tmp_path):
    labels, predicted = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]  # class 3 never occurs
    names = ["a", "b", "c", "d"]
    env, log = unique_env("cm"), tmp_path / "cm.log"
    got = exercises.confusion_heatmap(labels, predicted, names, str(log), env)
    want = confusion_matrix(labels, predicted, labels=range(4)).tolist()
    assert got == want, f"a 4x4 matrix even for unseen classes: want {want}, got {got}"
    windows = replayed_windows(server, log, env)
    assert "confusion" in windows, f"no window 'confusion' in env {env!r}: {sorted(windows)}"
    (trace,) = windows["confusion"]["content"]["data"]
    assert trace["type"] == "heatmap", f"draw it with viz.heatmap, not as {trace['type']}"
    assert trace["z"] == want, "the heatmap's cells differ from the confusion matrix"
    assert trace["x"] == names and trace["y"] == names, (
        "label the rows and columns with the class names"
    )


@pytest.mark.exercise("05.3", points=2)
def test_scatter_points_are_the_principal_components(exercises):
    rng = np.random.default_rng(3)
    features = rng.standard_normal((120, 6)) @ rng.standard_normal((6, 6)) + 5.0
    labels = rng.integers(0, 3, 120)
    x, y = exercises.scatter_points(features, labels)
    want = PCA(n_components=2).fit_transform(features)
    x = np.asarray(x)
    assert x.shape == (120, 2), f"X should be (N, 2), got {x.shape}"
    for k in range(2):  # a principal component's sign is arbitrary
        sign = np.sign(x[:, k] @ want[:, k])
        assert np.allclose(sign * x[:, k], want[:, k], atol=1e-6), (
            f"column {k} is not principal component {k + 1}"
        )
    assert np.array_equal(np.asarray(y), labels + 1), "viz.scatter's labels run from 1 to K"


@pytest.mark.exercise("05.3", points=2)
def test_scatter_points_are_accepted_by_visdom(exercises, tmp_path):
    from visdom import Visdom

    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(5), 10)
    x, y = exercises.scatter_points(rng.standard_normal((50, 8)), labels)
    viz = Visdom(offline=True, log_to_filename=str(tmp_path / "s.log"))
    viz.scatter(X=np.asarray(x), Y=np.asarray(y), win="emb")  # asserts labels start at 1
    ((_, msg),) = read_log(tmp_path / "s.log")
    assert len(msg["data"]) == 5, "one trace per class"


@pytest.mark.exercise("05.4", points=2)
def test_replay_into_server(exercises, server, tmp_path):
    from visdom import Visdom

    env, log = unique_env("replay"), tmp_path / "offline.log"
    offline = Visdom(offline=True, log_to_filename=str(log), env=env)
    offline.line(X=np.arange(4), Y=np.arange(4.0) ** 2, win="curve")
    offline.text("from the cluster", win="note")
    offline.bar(X=np.array([3.0, 1.0, 2.0]), win="bars")
    got = exercises.replay_into_server(str(log), server.url, env)
    assert got == ["bars", "curve", "note"], (
        f"the server should now hold the three logged windows, got {got}"
    )
    stored = json.loads(client(server).get_window_data("curve", env=env))
    assert stored["content"]["data"][0]["y"] == [0.0, 1.0, 4.0, 9.0]
