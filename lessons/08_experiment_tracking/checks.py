"""Lesson 08's visible cases: MLflow stores read back with MLflow's own client, Neptune's files.

Every case works in a throwaway folder: a trusted set-up step (``Inputs.before``) writes the
files the call needs there (an MLflow SQLite store, a TensorBoard event file), the learner's
function runs, and the judges read what is in that folder afterwards with ``MlflowClient``,
``mlflow.search_runs``, tbparse and Neptune's own operation classes — never with the
solution. No server is started and nothing reaches the network.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow would report usage online
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow  # noqa: E402 - imported once here, warm for every case
import neptune  # noqa: E402, F401
from mlflow import MlflowClient  # noqa: E402
from tbparse import SummaryReader  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from lessonlib.classroom.cases import (  # noqa: E402
    Case,
    InputFile,
    Inputs,
    expect,
    expect_close,
    expect_same_list,
    show,
)
from lessonlib.messages import _  # noqa: E402

LOGDIR = "runs"  # the TensorBoard run of 08.3, in the case's working folder
TIMEOUT = 60.0  # an MLflow store opens in about a second, more on a busy machine

# ---------------------------------------------------------------- set-up files


@functools.cache
def _empty_store() -> bytes:
    """An empty MLflow SQLite store: made once per process (its migrations take seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "empty.db")
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
        return path.read_bytes()


@functools.cache
def _store_bytes(spec: str) -> bytes:
    """An MLflow SQLite store of ``spec`` (JSON: experiment -> run name -> metric -> values)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "store.db")
        path.write_bytes(_empty_store())
        client = MlflowClient(tracking_uri=f"sqlite:///{path}")
        for experiment, runs in json.loads(spec).items():
            experiment_id = client.create_experiment(
                experiment, artifact_location=f"{folder}/artifacts"
            )
            for run_name, metrics in runs.items():
                run_id = client.create_run(experiment_id, run_name=run_name).info.run_id
                for metric, values in metrics.items():
                    for step, value in enumerate(values, start=1):
                        client.log_metric(run_id, metric, value, timestamp=step, step=step)
                client.set_terminated(run_id)
        return path.read_bytes()


@functools.cache
def _event_bytes(spec: str) -> bytes:
    """A TensorBoard event file of ``spec`` (JSON: tag -> [[step, value, wall time], ...])."""
    with tempfile.TemporaryDirectory() as folder:
        writer = SummaryWriter(folder)
        for tag, points in json.loads(spec).items():
            for step, value, wall in points:
                writer.add_scalar(tag, value, step, walltime=wall)
        writer.close()
        (event,) = Path(folder).glob("events.out.tfevents.*")
        return event.read_bytes()


def _put_files(files: dict[str, tuple[str, str]], args: tuple) -> None:
    """The cases' set-up step: write each named file (a store or an event file) into the cwd."""
    for name, (kind, spec) in files.items():
        data = _store_bytes(spec) if kind == "store" else _event_bytes(spec)
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _with_files(inputs: Inputs, files: dict[str, tuple[str, str]]) -> Inputs:
    inputs.before = partial(_put_files, files)
    return inputs


def _spec(value) -> str:
    return json.dumps(value, sort_keys=True)


def store_name(*parts) -> str:
    """A store file name of its own for each case: MLflow caches one store per tracking URI, so
    two cases of one process must never both use ``sqlite:///mlflow.db`` in different folders."""
    digest = hashlib.sha1(_spec(parts).encode()).hexdigest()[:10]
    return f"mlflow-{digest}.db"


# ---------------------------------------------------------------- 08.1


def run_case(
    experiment: str,
    run_name: str,
    params: dict,
    history: dict[str, list[float]],
    existing: dict | None = None,
) -> Inputs:
    """(store, experiment, run_name, params, history); the store holds ``existing`` runs."""
    store = store_name("08.1", experiment, run_name, params, history, existing)
    inputs = Inputs(
        store, experiment, run_name, dict(params), {k: list(v) for k, v in history.items()}
    )
    return _with_files(inputs, {store: ("store", _spec(existing or {}))})


@functools.cache
def _copies() -> list[str]:
    """The folders of the judge's copies of stores (made in the judge's process, on use)."""
    return []


def _store_uri(files, store: str) -> str:
    """A tracking URI for a copy of the store the call left, under a path never used before:
    MLflow keeps one pooled store per URI in a process, and the judge reads one submission's
    store after another from the same folder."""
    path = Path(files) / store
    expect(
        path.is_file() and path.stat().st_size > 0,
        _(
            "there is no MLflow store at {store} in the working folder: open the store path you "
            "were given (sqlite:///<store>)."
        ).format(store=store),
        hint=1,
    )
    made = _copies()
    while len(made) > 16:  # the judges of earlier cases are done with theirs
        shutil.rmtree(made.pop(0), ignore_errors=True)
    made.append(tempfile.mkdtemp(prefix="lessonlib-08-judge-"))
    copy = Path(made[-1]) / path.name
    copy.write_bytes(path.read_bytes())
    return f"sqlite:///{copy}"


def _open_store(files, store: str) -> MlflowClient:
    return MlflowClient(tracking_uri=_store_uri(files, store))


def _run(client: MlflowClient, run_id, hint: int):
    expect(
        type(run_id) is str,
        _("return the run id (a str), not {got}.").format(got=show(run_id)),
        hint,
    )
    try:
        return client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise AssertionError(
            _("the store has no run with the id {run_id!r} you returned.").format(run_id=run_id)
        ) from None


def _check_history(client, run, history: dict[str, list[float]], steps: dict[str, list[int]]):
    found = set(run.data.metrics)
    expect(
        found == set(history),
        _("the run should hold the metrics {want}, it holds {found}.").format(
            want=sorted(history), found=sorted(found)
        ),
        hint=3,
    )
    for name, values in history.items():
        points = sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)
        what = _("the steps of {name}").format(name=name)
        expect_same_list([m.step for m in points], steps[name], what, hint=3)
        what = _("the values of {name}").format(name=name)
        expect_close([m.value for m in points], values, what, hint=3)
    return found


def logged_run(got, inputs, files) -> None:
    store, experiment, run_name, params, history = inputs.args
    client = _open_store(files, store)
    run = _run(client, got, hint=2)
    named = client.get_experiment(run.info.experiment_id).name
    expect(
        named == experiment,
        _("the run is in experiment {got!r}, not {want!r}.").format(got=named, want=experiment),
        2,
    )
    same_name = client.search_experiments(filter_string=f"name = '{experiment}'")
    expect(
        len(same_name) == 1,
        _("the store has {count} experiments named {name!r}.").format(
            count=len(same_name), name=experiment
        ),
    )
    expect(
        run.info.run_name == run_name,
        _("the run is named {got!r}, not {want!r}.").format(got=run.info.run_name, want=run_name),
        hint=2,
    )
    want = {k: str(v) for k, v in params.items()}  # MLflow keeps every param as str(value)
    expect(
        run.data.params == want,
        _("the run's params are {got}, expected {want}.").format(
            got=show(run.data.params), want=show(want)
        ),
        hint=3,
    )
    steps = {name: list(range(1, len(values) + 1)) for name, values in history.items()}
    _check_history(client, run, history, steps)
    expect(
        run.info.status == "FINISHED",
        _("the run's status is {status}: end it (client.set_terminated(run_id)).").format(
            status=run.info.status
        ),
        hint=3,
    )


# ---------------------------------------------------------------- 08.2


def best_case(
    experiment: str,
    metric: str,
    runs: dict,
    lower_is_better: bool = True,
    others: dict | None = None,
) -> Inputs:
    """(store, experiment, metric, lower_is_better); the store holds ``runs`` and ``others``."""
    content = {experiment: runs, **(others or {})}
    store = store_name("08.2", experiment, metric, content, lower_is_better)
    inputs = Inputs(store, experiment, metric, lower_is_better)
    return _with_files(inputs, {store: ("store", _spec(content))})


def best_run_found(got, inputs, files) -> None:
    store, experiment, metric, lower_is_better = inputs.args
    mlflow.set_tracking_uri(_store_uri(files, store))
    order = "ASC" if lower_is_better else "DESC"
    frame = mlflow.search_runs(
        experiment_names=[experiment], order_by=[f"metrics.`{metric}` {order}"]
    ).dropna(subset=[f"metrics.{metric}"])
    want = frame.iloc[0]
    expect(
        type(got) is dict and {"run_id", "run_name", "value"} <= set(got),
        _("return a dict with run_id, run_name and value, not {got}.").format(got=show(got)),
        hint=3,
    )
    name = want["tags.mlflow.runName"]
    expect(
        got["run_id"] == want["run_id"],
        _(
            "search_runs ranks {name!r} first by the last value of {metric} "
            "({value:.4g}); you returned the run {got!r}."
        ).format(
            name=name,
            metric=metric,
            value=float(want[f"metrics.{metric}"]),
            got=got.get("run_name"),
        ),
        hint=2,
    )
    expect(
        got["run_name"] == name,
        _("the best run is named {want!r}, not {got!r}.").format(want=name, got=got["run_name"]),
        3,
    )
    what = _("the last value of {metric}").format(metric=metric)
    expect_close(got["value"], float(want[f"metrics.{metric}"]), what)


# ---------------------------------------------------------------- 08.3


def _series(seed: int, steps: list[int], start: float, scale: float) -> list[list[float]]:
    """Seeded [step, value, wall time] points: a noisy decay, walls 0.25 s apart."""
    import random

    rng = random.Random(seed)
    return [
        [step, round(scale * math.exp(-step / 20) + rng.uniform(0, 0.05), 6), start + 0.25 * i]
        for i, step in enumerate(steps)
    ]


def migrate_case(
    experiment: str, run_name: str, tags: dict[str, list[int]], seed: int = 0
) -> Inputs:
    """(logdir, store, experiment, run_name); logdir holds one run with ``tags`` at those steps."""
    start = 1_760_000_000.0 + seed
    points = {
        tag: _series(seed + k, steps, start + k / 8, 1.0 + k)
        for k, (tag, steps) in enumerate(tags.items())
    }
    store = store_name("08.3", experiment, run_name, tags, seed)
    inputs = Inputs(LOGDIR, store, experiment, run_name)
    event = f"{LOGDIR}/events.out.tfevents.{int(start)}.course.0.0"
    return _with_files(inputs, {store: ("store", "{}"), event: ("events", _spec(points))})


def migrated_run(got, inputs, files) -> None:
    logdir, store, experiment, run_name = inputs.args
    reference = SummaryReader(str(Path(files) / logdir), extra_columns={"wall_time"}).scalars
    client = _open_store(files, store)
    run = _run(client, got, hint=3)
    named = client.get_experiment(run.info.experiment_id).name
    expect(
        named == experiment,
        _("the run is in experiment {got!r}, not {want!r}.").format(got=named, want=experiment),
        3,
    )
    expect(
        run.info.run_name == run_name,
        _("the run is named {got!r}, not {want!r}.").format(got=run.info.run_name, want=run_name),
        3,
    )
    tags = sorted(reference.tag.unique())
    held = sorted(run.data.metrics)
    expect(
        held == tags,
        _("the TensorBoard run has the tags {tags}; the MLflow run holds {held}.").format(
            tags=tags, held=held
        ),
        hint=2,
    )
    for tag in tags:
        want = reference[reference.tag == tag].sort_values("step")
        points = sorted(client.get_metric_history(run.info.run_id, tag), key=lambda m: m.step)
        what = _("the steps of {name}").format(name=tag)
        expect_same_list([m.step for m in points], want.step.tolist(), what, 2)
        what = _("the values of {name}").format(name=tag)
        expect_close([m.value for m in points], want.value.tolist(), what, hint=2)
        stamps = [int(w * 1000) for w in want.wall_time]
        got_stamps = [m.timestamp for m in points]
        off = [abs(g - w) for g, w in zip(got_stamps, stamps, strict=True)]
        expect(
            max(off) <= 1,
            _(
                "{tag}'s timestamps should be the wall times in milliseconds ({want} for the "
                "first point), got {got}."
            ).format(tag=tag, want=stamps[0], got=got_stamps[0]),
            hint=2,
        )
    expect(
        run.info.status == "FINISHED",
        _("the run's status is {status}: end it.").format(status=run.info.status),
        3,
    )


# ---------------------------------------------------------------- 08.4


def neptune_case(
    run_name: str, params: dict, history: dict[str, list[float]], size: int = 64
) -> Inputs:
    """(run_name, params, history, artifact): the artifact is a file of ``size`` bytes."""
    data = bytes(range(256))[:size] * 1
    return Inputs(
        run_name,
        dict(params),
        {k: list(v) for k, v in history.items()},
        InputFile("weights.pt", data),
    )


def neptune_fields(folder: Path) -> dict[str, tuple[str, object]]:
    """Field path -> (operation type, value) of a Neptune offline run, read with Neptune's classes.

    Series collect their ``(step, value)`` points; an uploaded file gives its file's name.
    """
    from neptune.internal.operation import Operation

    fields: dict[str, tuple[str, object]] = {}
    logs = sorted(folder.glob("data-*.log"), key=lambda p: int(p.stem.split("-")[1]))
    for log in logs:
        for line in log.read_text(encoding="utf-8").splitlines():
            op = Operation.from_dict(json.loads(line)["obj"])
            path = "/".join(op.path)
            kind = type(op).__name__
            if kind == "LogFloats":
                points = fields.get(path, (kind, []))[1]
                points.extend((v.step, v.value) for v in op.values)
                fields[path] = (kind, points)
            elif kind == "UploadFile":
                fields[path] = (kind, Path(op.file_path).name if op.file_path else op.tmp_file_name)
            elif hasattr(op, "value"):
                fields[path] = (kind, op.value)
    return fields


_KINDS = {bool: "AssignBool", int: "AssignInt", float: "AssignFloat", str: "AssignString"}


def neptune_run_logged(got, inputs, files) -> None:
    run_name, params, history, artifact = inputs.args
    runs = sorted(Path(files).glob(".neptune/offline/run__*"))
    expect(
        len(runs) == 1,
        _(
            "expected one offline run under .neptune/offline in the working folder, found {count}"
            " (start it with neptune.init_run(mode='offline'), once)."
        ).format(count=len(runs)),
        hint=1,
    )
    meta = json.loads((runs[0] / "metadata.json").read_text(encoding="utf-8"))
    expect(
        meta.get("mode") == "offline",
        _("the run's mode is {mode!r}, not 'offline'.").format(mode=meta.get("mode")),
        1,
    )
    fields = neptune_fields(runs[0])
    named = fields.get("sys/name", ("", None))[1]
    expect(
        named == run_name,
        _("name the run {want!r} (init_run(name=...)), not {got!r}.").format(
            want=run_name, got=named
        ),
        hint=1,
    )
    for key, value in params.items():
        kind, logged = fields.get(f"parameters/{key}", (None, None))
        expect(
            kind is not None,
            _("the field parameters/{key} is missing.").format(key=key),
            hint=2,
        )
        expect(
            kind == _KINDS[type(value)] and logged == value,
            _(
                "parameters/{key} should be {want!r} ({want_type}), Neptune got {got!r} ({kind})."
            ).format(key=key, want=value, want_type=type(value).__name__, got=logged, kind=kind),
            hint=2,
        )
    for name, values in history.items():
        kind, points = fields.get(name, (None, []))
        expect(
            kind == "LogFloats",
            _("the float series {name} is missing (run[{key!r}].append).").format(
                name=name, key=name
            ),
            2,
        )
        what = _("the steps of {name}").format(name=name)
        expect_same_list([s for s, _v in points], list(range(1, len(values) + 1)), what, 3)
        what = _("the values of {name}").format(name=name)
        expect_close([v for _s, v in points], values, what, hint=3)
    field = f"artifacts/{Path(artifact).name}"
    kind, name = fields.get(field, (None, None))
    expect(
        kind == "UploadFile" and name == Path(artifact).name,
        _("upload the file as {field}.").format(field=field),
        3,
    )
    want = sorted([f"parameters/{k}" for k in params] + list(history) + [field])
    expect_same_list(got, want, _("the fields you wrote"), hint=3)


CASES = [
    Case(
        "08.1",
        "two metrics over five steps, three params",
        partial(
            run_case,
            "shapes",
            "lr0.003",
            {"lr": 0.003, "epochs": 5, "optimizer": "adam"},
            {"train/loss": [1.6, 1.2, 0.9, 0.7, 0.55], "val/accuracy": [0.3, 0.5, 0.7, 0.8, 0.85]},
        ),
        logged_run,
        timeout=TIMEOUT,
    ),
    Case(
        "08.1",
        "the store already has the experiment, with an earlier run",
        partial(
            run_case,
            "shapes",
            "lr0.01",
            {"lr": 0.01},
            {"train/loss": [1.4, 1.0, 0.9]},
            {"shapes": {"lr0.001": {"train/loss": [1.6, 1.5, 1.45]}}},
        ),
        logged_run,
        timeout=TIMEOUT,
    ),
    Case(
        "08.2",
        "the last val/loss decides, not the lowest; another experiment does not count",
        partial(
            best_case,
            "shapes",
            "val/loss",
            {
                "lr0.001": {"val/loss": [0.9, 0.7, 0.6]},
                "lr0.01": {"val/loss": [0.5, 0.4, 0.65]},
                "lr0.003": {"val/loss": [0.8, 0.6, 0.55]},
            },
            True,
            {"old-runs": {"lr0.1": {"val/loss": [0.3, 0.2]}}},
        ),
        best_run_found,
        timeout=TIMEOUT,
    ),
    Case(
        "08.2",
        "higher val/accuracy is better; one run never logged it",
        partial(
            best_case,
            "digits",
            "val/accuracy",
            {
                "small": {"val/accuracy": [0.5, 0.81]},
                "crashed": {"train/loss": [2.3]},
                "wide": {"val/accuracy": [0.6, 0.9]},
                "deep": {"val/accuracy": [0.7, 0.88]},
            },
            False,
        ),
        best_run_found,
        timeout=TIMEOUT,
    ),
    Case(
        "08.3",
        "two tags from step 0, with their wall times",
        partial(
            migrate_case,
            "from-tensorboard",
            "cnn",
            {"train/loss": list(range(0, 40, 2)), "val/accuracy": [0, 10, 20, 30]},
        ),
        migrated_run,
        timeout=TIMEOUT,
    ),
    Case(
        "08.4",
        "params of three types, a nested metric, a file",
        partial(
            neptune_case,
            "lr0.003",
            {"lr": 0.003, "epochs": 4, "optimizer": "adam"},
            {"train/loss": [1.5, 1.0, 0.8, 0.6], "val/top1/accuracy": [0.4, 0.7]},
        ),
        neptune_run_logged,
        timeout=TIMEOUT,
    ),
]
