"""The tracker interface, the MLflow server and ``lessonlib mlflow``: what is logged reads back."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lessonlib.errors import LessonlibError  # noqa: E402
from lessonlib.paths import project_root  # noqa: E402
from lessonlib.tracking import (  # noqa: E402
    MLflowTracker,
    MultiTracker,
    NeptuneTracker,
    NonFiniteMetricWarning,
    TensorBoardTracker,
    VisdomTracker,
    disk_usage,
    fresh_mlflow_store,
)
from lessonlib.web import answers, chromium_path, free_port  # noqa: E402

LOSSES = [1.5, 1.1, 0.8, 0.62, 0.5]
ACCURACY = [0.3, 0.5, 0.7]  # at steps 2, 4, 5


def log_a_run(tracker, artifact: Path) -> None:
    """A small run: params, a loss per step, accuracy at 3 steps, a figure and a file."""
    tracker.log_params({"lr": 0.003, "epochs": 5, "optimizer": "adam", "layers": [8, 16]})
    accuracy = iter(ACCURACY)
    for step, loss in enumerate(LOSSES, start=1):
        metrics = {"train/loss": loss}
        if step in (2, 4, 5):
            metrics["val/accuracy"] = next(accuracy)
        tracker.log_metrics(metrics, step)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(LOSSES)
    tracker.log_figure(fig, "loss_curve", 5)
    plt.close(fig)
    tracker.log_artifact(artifact)


def neptune_operations(folder: Path) -> list:
    """The operations of an offline Neptune run, through Neptune's own classes."""
    from neptune.internal.operation import Operation

    lines = (folder / "data-1.log").read_text(encoding="utf-8").splitlines()
    return [Operation.from_dict(json.loads(line)["obj"]) for line in lines]


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> Path:
    """One folder for the empty migrated store every test's fresh store is copied from."""
    return tmp_path_factory.mktemp("templates")


@pytest.fixture
def artifact(tmp_path) -> Path:
    path = tmp_path / "weights.pt"
    path.write_bytes(b"\x00" * 100)
    return path


def test_one_run_lands_in_every_backend(tmp_path, artifact, templates):
    from mlflow import MlflowClient
    from visdom import Visdom

    from lessonlib.tensorboard import read_scalars

    store = fresh_mlflow_store(tmp_path / "mlflow.db", templates)
    viz = Visdom(offline=True, log_to_filename=str(tmp_path / "visdom.log"), env="t")
    backends = [
        TensorBoardTracker(tmp_path / "tb"),
        TensorBoardTracker(tmp_path / "tbx", flavor="tensorboardX"),
        VisdomTracker(viz, "run1"),
        MLflowTracker(store, "exp", "run1", tags={"data": "shapes"}),
        NeptuneTracker(tmp_path / "neptune", "run1"),
    ]
    with MultiTracker(backends) as tracker:
        log_a_run(tracker, artifact)

    for folder in ("tb", "tbx"):
        scalars = read_scalars(tmp_path / folder)
        loss = scalars.query("tag == 'train/loss'").sort_values("step")
        assert loss.step.tolist() == [1, 2, 3, 4, 5]
        assert loss.value.tolist() == pytest.approx(LOSSES)
        assert scalars.query("tag == 'val/accuracy'").step.tolist() == [2, 4, 5]
        assert (tmp_path / folder / "artifacts" / "weights.pt").stat().st_size == 100

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    run = client.get_run(backends[3].run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "run1"
    assert run.data.params == {
        "lr": "0.003",
        "epochs": "5",
        "optimizer": "adam",
        "layers": "[8, 16]",
    }
    assert run.data.tags["data"] == "shapes"
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted((m.step, m.value) for m in history) == list(enumerate(LOSSES, start=1))
    files = {f.path for f in client.list_artifacts(run.info.run_id, "artifacts")}
    assert files == {"artifacts/weights.pt"}
    assert [f.path for f in client.list_artifacts(run.info.run_id, "figures")] == [
        "figures/loss_curve.png"
    ]

    folder = backends[4].folder()
    ops = {"/".join(op.path): op for op in neptune_operations(folder)}
    assert ops["parameters/lr"].value == 0.003 and ops["parameters/epochs"].value == 5
    assert ops["parameters/layers"].value == "[8, 16]"  # not a Neptune type: kept as str
    loss_points = [
        (v.step, v.value)
        for op in neptune_operations(folder)
        if "/".join(op.path) == "train/loss"
        for v in op.values
    ]
    assert loss_points == list(enumerate(LOSSES, start=1))
    assert Path(ops["artifacts/weights.pt"].file_path).name == "weights.pt"
    assert type(ops["figures/loss_curve"]).__name__ == "UploadFile"

    calls = (tmp_path / "visdom.log").read_text().splitlines()
    assert len(calls) == 1 + 5 + 3 + 1 + 1  # params, losses, accuracies, figure, artifact
    for tracker in backends:
        assert tracker.steps == 5 and tracker.seconds["metrics"] > 0
    assert disk_usage(backends[3].stored()) > 100_000  # the SQLite schema alone is ~1 MB


def test_a_nan_metric_is_dropped_with_one_warning(tmp_path, templates):
    from mlflow import MlflowClient

    store = fresh_mlflow_store(tmp_path / "mlflow.db", templates)
    backends = [TensorBoardTracker(tmp_path / "tb"), MLflowTracker(store, "exp", "nan")]
    with MultiTracker(backends) as tracker, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.log_metrics({"train/loss": float("nan"), "val/accuracy": 0.9}, 3)
        tracker.log_metrics({"train/loss": 0.5}, 4)
    nan_warnings = [w for w in caught if w.category is NonFiniteMetricWarning]
    assert len(nan_warnings) == 1
    assert str(nan_warnings[0].message) == (
        "train/loss at step 3 is nan: not logged to any tracker, the run goes on."
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    run_id = backends[1].run_id
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")] == [
        (4, 0.5)
    ]
    assert client.get_run(run_id).data.metrics["val/accuracy"] == 0.9


@pytest.mark.parametrize("mode", ["async", "sync", "read-only"])
def test_neptune_online_modes_are_refused_before_the_client_starts(tmp_path, mode):
    with pytest.raises(LessonlibError) as err:
        NeptuneTracker(tmp_path / "neptune", "r", mode=mode)
    message = str(err.value)
    assert "there is none here" in message and "mode='offline'" in message
    assert len(message.splitlines()) == 1 and not (tmp_path / "neptune").exists()


def test_neptune_debug_mode_writes_nothing(tmp_path):
    with NeptuneTracker(tmp_path / "neptune", "r", mode="debug") as tracker:
        tracker.log_metrics({"loss": 1.0}, 1)
    assert tracker.stored() == [] and not any(tmp_path.rglob("data-*.log"))


def test_a_read_only_store_folder_is_one_sentence_and_nothing_is_written(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for make in (
            lambda: MLflowTracker(locked / "mlflow.db", "exp"),
            lambda: NeptuneTracker(locked, "r"),
            lambda: TensorBoardTracker(locked),
        ):
            with pytest.raises(LessonlibError) as err:
                make()
            assert "is read-only" in str(err.value) and "nothing was logged" in str(err.value)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_a_fresh_store_is_empty_and_its_template_stays_beside_it(tmp_path):
    from mlflow import MlflowClient

    store = fresh_mlflow_store(tmp_path / "mlflow.db")
    MLflowTracker(store, "exp", "r").close()
    again = fresh_mlflow_store(tmp_path / "mlflow.db")  # a copy of the template, not migrations
    names = [e.name for e in MlflowClient(f"sqlite:///{again}").search_experiments()]
    assert names == ["Default"]
    assert [p.name for p in tmp_path.glob(".empty-mlflow-*.db")] != []


def test_a_missing_artifact_is_one_sentence(tmp_path):
    with TensorBoardTracker(tmp_path / "tb") as tracker, pytest.raises(LessonlibError) as err:
        tracker.log_artifact(tmp_path / "nope.pt")
    assert str(err.value).endswith("an artifact must be an existing file.")


def test_nothing_reaches_outside_this_machine(tmp_path):
    """Every tracker, run with an audit hook that records each socket use to another host."""
    script = textwrap.dedent(
        f"""
        import ipaddress, json, sys
        outside = []
        def loopback(host):
            try:
                return ipaddress.ip_address(host).is_loopback
            except ValueError:
                return host in ("localhost", "")
        def hook(event, args):
            if event == "socket.connect":
                address = args[1]
                if isinstance(address, tuple) and not loopback(str(address[0])):
                    outside.append(str(address))
            elif event == "socket.getaddrinfo" and not loopback(str(args[0])):
                outside.append(str(args[0]))
        sys.addaudithook(hook)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from pathlib import Path
        from visdom import Visdom
        import mlflow
        from lessonlib.tracking import *
        root = Path({str(tmp_path)!r})
        (root / "w.pt").write_bytes(b"1")
        store = fresh_mlflow_store(root / "mlflow.db")
        viz = Visdom(offline=True, log_to_filename=str(root / "v.log"))
        with MultiTracker([
            TensorBoardTracker(root / "tb"), TensorBoardTracker(root / "tbx", "tensorboardX"),
            VisdomTracker(viz, "r"), MLflowTracker(store, "e", "r"),
            NeptuneTracker(root / "n", "r"),
        ]) as t:
            t.log_params({{"lr": 0.1}})
            for step in range(1, 4):
                t.log_metrics({{"loss": 1.0 / step}}, step)
            fig, ax = plt.subplots()
            t.log_figure(fig, "f")
            t.log_artifact(root / "w.pt")
        mlflow.set_tracking_uri(f"sqlite:///{{store}}")
        print(len(mlflow.search_runs(experiment_names=["e"])))
        print(json.dumps(outside))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NEPTUNE_"))}
    env.pop("DO_NOT_TRACK", None)  # the library must switch telemetry off by itself
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *_, runs, outside = done.stdout.strip().splitlines()
    assert runs == "1"
    assert json.loads(outside) == [], "a tracker tried to reach another host"


# ---------------------------------------------------------------- the server and its CLI


def _cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lessonlib", *args],
        cwd=project_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )


@pytest.fixture(scope="module")
def logged_store(tmp_path_factory, templates) -> tuple[Path, dict[str, str]]:
    """A store with two finished runs of known losses; run name -> run id."""
    folder = tmp_path_factory.mktemp("store")
    store = fresh_mlflow_store(folder / "mlflow.db", templates)
    ids = {}
    for name, scale in (("lr0.01", 1.0), ("lr0.1", 2.0)):
        with MLflowTracker(store, "served", name) as tracker:
            tracker.log_params({"lr": float(name[2:])})
            for step, loss in enumerate(LOSSES, start=1):
                tracker.log_metrics({"train/loss": scale * loss}, step)
            ids[name] = tracker.run_id
    return store, ids


def test_cli_serves_the_store_reads_back_over_rest_and_stops_on_ctrl_c(logged_store):
    from lessonlib.mlflow_server import rest

    store, ids = logged_store
    proc = _cli("mlflow", str(store), "--port", str(free_port()))
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        answered = proc.stdout.readline()
        assert "answers at" in answered, answered + proc.stderr.read()
        assert answers(url + "/")
        experiments = rest(url, "experiments/search", {"max_results": 10})["experiments"]
        served = next(e["experiment_id"] for e in experiments if e["name"] == "served")
        found = rest(url, "runs/search", {"experiment_ids": [served]})["runs"]
        assert {r["info"]["run_name"] for r in found} == set(ids)
        for name, run_id in ids.items():
            points = rest(url, "metrics/get-history", run_id=run_id, metric_key="train/loss")
            scale = 1.0 if name == "lr0.01" else 2.0
            got = sorted((m["step"], m["value"]) for m in points["metrics"])
            assert got == [(s, pytest.approx(scale * v)) for s, v in enumerate(LOSSES, 1)]
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err and "stopping MLflow." in out
    assert not answers(url + "/")
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):  # nothing of the group is left running
        os.killpg(proc.pid, 0)


def test_cli_busy_port_is_one_sentence(logged_store):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = _cli("mlflow", str(logged_store[0]), "--port", str(busy.getsockname()[1]))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.startswith("error: port") and len(err.strip().splitlines()) == 1


def test_cli_without_a_store_says_to_run_the_lesson(tmp_path):
    env = dict(os.environ, LESSONLIB_BUILD=str(tmp_path / "build"))
    proc = _cli("mlflow", env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1
    assert "run 'lessonlib run 08' first" in err


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="needs the system chromium")
def test_ui_draws_the_runs_chart_offline(logged_store, tmp_path):
    from PIL import Image

    from lessonlib.mlflow_server import rest, screenshot_mlflow, start_mlflow

    store, ids = logged_store
    with start_mlflow(store, log=tmp_path / "server.log") as server:
        experiments = rest(server, "experiments/search", {"max_results": 10})["experiments"]
        served = next(e["experiment_id"] for e in experiments if e["name"] == "served")
        shot = screenshot_mlflow(server.url, tmp_path / "ui.png", served, run_names=list(ids))
    assert shot["lines"] >= 1, "the chart view drew no line"
    colours = Image.open(shot["path"]).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "a blank page"
