"""One tracker interface, so a training loop logs once to TensorBoard, Visdom, MLflow, Neptune.

A ``Tracker`` logs parameters, metrics at a step, a matplotlib figure and a file (an artifact),
then closes. Each backend below is the whole adapter: the point of lesson 08 is to see what
each tool stores and how it names things, so the tools' own calls are in plain sight here.

Every backend works offline: TensorBoard and tensorboardX write event files, Visdom draws on a
local server (or logs to a file to replay later), MLflow writes to a local SQLite store, and
Neptune runs in its ``offline`` (or ``debug``) mode only; asking for its online modes is refused
before the client starts. A NaN or infinite metric is never logged anywhere: it is dropped with
one warning sentence, and the other metrics of that step are kept. Each tracker also times its
own calls (``seconds``), which is how the lesson measures logging overhead per step.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lessonlib.classroom.guard import refuse
from lessonlib.errors import LessonlibError

__all__ = [
    "NonFiniteMetricWarning",
    "Tracker",
    "MultiTracker",
    "TensorBoardTracker",
    "VisdomTracker",
    "MLflowTracker",
    "NeptuneTracker",
    "neptune_path",
    "mlflow_store_uri",
    "fresh_mlflow_store",
    "disk_usage",
    "FirstAnswer",
    "quiet_trackers",
]

NEPTUNE_PROJECT = "course/lesson08"
NEPTUNE_MODES = ("offline", "debug")  # the modes that never open a connection
PLAIN_TYPES = (bool, int, float, str)


def quiet_trackers() -> None:
    """Switch off what the trackers would send home or print on their own (telemetry, banners)."""
    import logging

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    for name in ("neptune", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its advice on pickles and pins, too


class NonFiniteMetricWarning(RuntimeWarning):
    """A metric was NaN or infinite; it was not logged (the step's other metrics were)."""


class Tracker:
    """Log params, metrics at a step, figures and files; ``close()`` (or leave a ``with``) at end.

    Subclasses implement ``_params``, ``_metrics``, ``_figure``, ``_artifact``, ``_close`` and
    ``stored()``. The public methods drop non-finite metrics and time every call: ``seconds``
    maps each kind of call to the seconds spent in it, ``steps`` counts ``log_metrics`` calls.
    """

    name = "tracker"

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.steps = 0
        self.closed = False

    @contextlib.contextmanager
    def _timed(self, kind: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - start

    def log_params(self, params: dict[str, Any]) -> None:
        """Record the run's hyper-parameters (values other than bool/int/float/str become str)."""
        plain = {str(k): v if isinstance(v, PLAIN_TYPES) else str(v) for k, v in params.items()}
        with self._timed("params"):
            self._params(plain)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Record each metric's value at ``step``; NaN and infinities are dropped with a warning."""
        finite = _finite(metrics, step, self.name)
        self.steps += 1
        if finite:
            with self._timed("metrics"):
                self._metrics(finite, int(step))

    def log_figure(self, figure: Any, name: str, step: int = 0) -> None:
        """Record a matplotlib figure as an image named ``name`` (the figure stays open)."""
        with self._timed("figure"):
            self._figure(figure, name, int(step))

    def log_artifact(self, path: str | Path, name: str | None = None) -> None:
        """Record a file (a model, a table) under ``name`` (default: the file's name)."""
        path = Path(path)
        if not path.is_file():
            raise LessonlibError(f"{path} is not a file: an artifact must be an existing file.")
        with self._timed("artifact"):
            self._artifact(path, name or path.name)

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        with self._timed("close"):
            self._close()

    def stored(self) -> list[Path]:
        """The files and folders where this tracker keeps what it logged."""
        return []

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # what each backend implements
    def _params(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def _metrics(self, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def _figure(self, figure: Any, name: str, step: int) -> None:
        raise NotImplementedError

    def _artifact(self, path: Path, name: str) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class MultiTracker(Tracker):
    """Several trackers behind one: each call goes to every one of them, in order."""

    name = "all trackers"

    def __init__(self, trackers: Iterable[Tracker]) -> None:
        super().__init__()
        self.trackers = list(trackers)

    def log_params(self, params: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log_params(params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        finite = _finite(metrics, step, "any tracker")  # one warning, not one per tracker
        self.steps += 1
        for tracker in self.trackers:
            tracker.log_metrics(finite, step)

    def log_figure(self, figure: Any, name: str, step: int = 0) -> None:
        for tracker in self.trackers:
            tracker.log_figure(figure, name, step)

    def log_artifact(self, path: str | Path, name: str | None = None) -> None:
        for tracker in self.trackers:
            tracker.log_artifact(path, name)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.closed = True

    def stored(self) -> list[Path]:
        return [p for tracker in self.trackers for p in tracker.stored()]


def _finite(metrics: dict[str, float], step: int, where: str) -> dict[str, float]:
    """The finite metrics of one step; a warning sentence for each NaN or infinity dropped."""
    finite = {}
    for tag, value in metrics.items():
        value = float(value)
        if math.isfinite(value):
            finite[tag] = value
        else:
            warnings.warn(
                f"{tag} at step {step} is {value}: not logged to {where}, the run goes on.",
                NonFiniteMetricWarning,
                stacklevel=3,
            )
    return finite


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


# ---------------------------------------------------------------- TensorBoard / tensorboardX


class TensorBoardTracker(Tracker):
    """Event files in ``logdir`` (one run), written by ``torch.utils.tensorboard`` or tensorboardX.

    Params go to a text card and, at close, to ``add_hparams`` with the last value of each
    metric; figures to ``add_figure``. TensorBoard has no place for files, so artifacts are
    copied into ``logdir/artifacts/``, where nothing in its UI shows them.
    """

    def __init__(self, logdir: str | Path, flavor: str = "torch") -> None:
        super().__init__()
        if flavor == "tensorboardX":
            from tensorboardX import SummaryWriter
        elif flavor == "torch":
            from torch.utils.tensorboard import SummaryWriter
        else:
            raise LessonlibError(f"flavor {flavor!r} is unknown: use 'torch' or 'tensorboardX'.")
        self.name = "tensorboardX" if flavor == "tensorboardX" else "TensorBoard"
        self.logdir = Path(logdir)
        _writable(self.logdir, self.name)
        self.writer = SummaryWriter(str(self.logdir))
        self.params: dict[str, Any] = {}
        self.last: dict[str, float] = {}

    def _params(self, params: dict[str, Any]) -> None:
        self.params.update(params)
        rows = "\n".join(f"| {k} | {v} |" for k, v in self.params.items())
        self.writer.add_text("parameters", f"| parameter | value |\n|---|---|\n{rows}", 0)

    def _metrics(self, metrics: dict[str, float], step: int) -> None:
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, step)
        self.last.update(metrics)

    def _figure(self, figure: Any, name: str, step: int) -> None:
        self.writer.add_figure(f"figures/{name}", figure, step, close=False)

    def _artifact(self, path: Path, name: str) -> None:
        target = self.logdir / "artifacts" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    def _close(self) -> None:
        if self.params:
            final = {f"hparam/{k}": v for k, v in self.last.items()}
            # What add_hparams writes, through this run's own writer: add_hparams opens a second
            # writer on the folder, and tensorboardX names event files by the second, so one
            # opened in the same second as the run's truncates the run's file.
            if self.name == "tensorboardX":
                from tensorboardX.summary import hparams
            else:
                from torch.utils.tensorboard.summary import hparams
            file_writer = self.writer._get_file_writer()
            for summary in hparams(self.params, final):
                file_writer.add_summary(summary)
            for tag, value in final.items():
                self.writer.add_scalar(tag, value)
        self.writer.close()

    def stored(self) -> list[Path]:
        return [self.logdir]


# ---------------------------------------------------------------- Visdom


class VisdomTracker(Tracker):
    """Windows on a Visdom server (or, with an offline client, lines in a replayable log file).

    One window per metric tag, one line per run (``name=run``), so runs are compared in the
    same chart; params go to a text pane, figures to an image pane. Visdom keeps no files: an
    artifact is only listed by name and size in a text pane. ``close()`` saves the environment
    (``viz.save``) into the server's env folder.
    """

    name = "Visdom"

    def __init__(self, viz: Any, run: str, env_file: str | Path | None = None) -> None:
        super().__init__()
        self.viz, self.run = viz, run
        self.env_file = Path(env_file) if env_file else None
        self.log_file = Path(viz.log_to_filename) if getattr(viz, "log_to_filename", None) else None

    def _params(self, params: dict[str, Any]) -> None:
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in params.items())
        self.viz.text(f"<b>{self.run}</b><table>{rows}</table>", win=f"params/{self.run}")

    def _metrics(self, metrics: dict[str, float], step: int) -> None:
        for tag, value in metrics.items():
            self.viz.line(
                Y=[value], X=[step], win=tag, name=self.run, update="append",
                opts={"title": tag, "showlegend": True},
            )  # fmt: skip

    def _figure(self, figure: Any, name: str, step: int) -> None:
        import numpy as np
        from PIL import Image

        image = np.asarray(Image.open(io.BytesIO(_png(figure))).convert("RGB")).transpose(2, 0, 1)
        self.viz.image(image, win=f"{name}/{self.run}", opts={"caption": f"{name}, step {step}"})

    def _artifact(self, path: Path, name: str) -> None:
        size = path.stat().st_size
        self.viz.text(f"artifact <b>{name}</b>: {size} bytes, kept at {path.name} (not by Visdom)",
                      win=f"artifacts/{self.run}", append=True)  # fmt: skip

    def _close(self) -> None:
        if not getattr(self.viz, "offline", False):
            self.viz.save([self.viz.env])

    def stored(self) -> list[Path]:
        return [p for p in (self.env_file, self.log_file) if p is not None]


# ---------------------------------------------------------------- MLflow


def mlflow_store_uri(store: str | Path) -> str:
    """A tracking URI for ``store``: a URI as given, a path as a SQLite file (``sqlite:///…``)."""
    text = str(store)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def fresh_mlflow_store(path: str | Path, template_dir: str | Path | None = None) -> Path:
    """An empty MLflow SQLite store at ``path`` (replacing any), without waiting on migrations.

    A new SQLite store runs MLflow's schema migrations (dozens of them, seconds). The first
    call keeps an empty migrated store for this MLflow version in ``template_dir`` (default:
    the store's own folder, so a lesson's files stay in its build folder); later calls copy it.
    """
    import mlflow

    path = Path(path)
    _writable(path.parent, "the MLflow store")
    folder = Path(template_dir) if template_dir is not None else path.parent
    template = folder / f".empty-mlflow-{mlflow.__version__}.db"
    if not template.is_file():
        quiet_trackers()
        from mlflow import MlflowClient

        folder.mkdir(parents=True, exist_ok=True)
        making = template.with_suffix(f".{os.getpid()}.tmp")
        making.unlink(missing_ok=True)
        MlflowClient(tracking_uri=mlflow_store_uri(making)).search_experiments()
        os.replace(making, template)
    _close_connections(mlflow_store_uri(path))
    path.unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return path


def _close_connections(uri: str) -> None:
    """Close MLflow's pooled connections to ``uri`` (they would keep reading a replaced file).

    MLflow keeps one SQLAlchemy engine per store URI for the life of the process; after the
    file is replaced (a lesson cell run twice in one kernel) its pooled connections would
    still point at the old, deleted file. Disposed, the engine reconnects to the new one.
    """
    import sys

    for name in (
        "mlflow.store.tracking.sqlalchemy_store",
        "mlflow.store.model_registry.sqlalchemy_store",
    ):
        module = sys.modules.get(name)
        engine = getattr(getattr(module, "SqlAlchemyStore", None), "_engine_map", {}).get(uri)
        if engine is not None:
            engine.dispose()


class MLflowTracker(Tracker):
    """One MLflow run in ``experiment`` of a local store (a SQLite file, by default).

    Params are strings in MLflow (``log_batch(params=…)``); metrics go in one ``log_batch`` per
    step, each a ``Metric(key, value, timestamp, step)``; figures become PNG artifacts under
    ``figures/``, files artifacts under ``artifacts/``; ``close()`` marks the run FINISHED.
    Artifacts live in a folder beside the store (``<store>.artifacts/`` unless given).
    """

    name = "MLflow"

    def __init__(
        self,
        store: str | Path,
        experiment: str,
        run_name: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        artifact_location: str | Path | None = None,
    ) -> None:
        refuse("08.1", "lessonlib.tracking.MLflowTracker")
        refuse("08.3", "lessonlib.tracking.MLflowTracker")
        super().__init__()
        quiet_trackers()
        self.uri = mlflow_store_uri(store)
        sqlite = self.uri.startswith("sqlite:///")
        self.store_file = Path(self.uri.removeprefix("sqlite:///")) if sqlite else None
        if self.store_file is not None:
            _writable(self.store_file.parent, "the MLflow store")
        artifacts = artifact_location or (
            f"{self.store_file}.artifacts" if self.store_file else None
        )
        self.artifact_root = Path(artifacts) if artifacts else None
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            self.experiment_id = found.experiment_id
        else:
            root = self.artifact_root
            location = str(root.resolve() / experiment) if root else None
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=location
            )
        self.run_id = self.client.create_run(
            self.experiment_id, run_name=run_name, tags=tags or {}
        ).info.run_id

    def _params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def _metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(tag, value, now, step) for tag, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def _figure(self, figure: Any, name: str, step: int) -> None:
        self.client.log_figure(self.run_id, figure, f"figures/{name}.png")

    def _artifact(self, path: Path, name: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            named = Path(folder, name)
            shutil.copyfile(path, named)
            self.client.log_artifact(self.run_id, str(named), "artifacts")

    def _close(self) -> None:
        self.client.set_terminated(self.run_id)

    def stored(self) -> list[Path]:
        return [p for p in (self.store_file, self.artifact_root) if p is not None]


# ---------------------------------------------------------------- Neptune


def neptune_path(tag: str) -> str:
    """The Neptune field a metric tag lands in: its ``/`` make namespaces (``train/loss``)."""
    parts = [p for p in str(tag).strip().split("/") if p]
    if not parts:
        raise LessonlibError(f"{tag!r} is not a usable Neptune field name: give a non-empty tag.")
    return "/".join(parts)


class NeptuneTracker(Tracker):
    """One Neptune run in ``offline`` mode (kept under ``data_dir``) or ``debug`` mode (none kept).

    The namespace API: params go to ``run["parameters"]`` (a dict assignment makes one field
    per key), a metric tag ``train/loss`` to the float series ``run["train/loss"]`` with
    ``.append(value, step=step)``, figures to ``run["figures/<name>"]`` (a PNG copied into the
    offline folder), files to ``run["artifacts/<name>"].upload(path)``, which in offline mode
    only records the path: ``neptune sync`` reads the file later, so keep it. ``neptune sync``
    itself needs a Neptune server and an API token; this course never contacts one.
    """

    name = "Neptune"

    def __init__(
        self,
        data_dir: str | Path,
        run_name: str | None = None,
        *,
        mode: str = "offline",
        project: str = NEPTUNE_PROJECT,
        tags: list[str] | None = None,
    ) -> None:
        refuse("08.4", "lessonlib.tracking.NeptuneTracker")
        super().__init__()
        if mode not in NEPTUNE_MODES:
            raise LessonlibError(
                f"Neptune's {mode!r} mode sends the run to a Neptune server, and there is none "
                "here: use mode='offline' (upload later with 'neptune sync') or 'debug'."
            )
        self.mode = mode
        self.data_dir = Path(data_dir).resolve()
        if mode == "offline":
            _writable(self.data_dir, "Neptune's offline folder")
        import neptune

        quiet_trackers()  # after the import, which sets neptune's logger to INFO
        before = os.environ.get("NEPTUNE_DATA_DIRECTORY")
        os.environ["NEPTUNE_DATA_DIRECTORY"] = str(self.data_dir)
        try:
            self.run = neptune.init_run(
                project=project, mode=mode, name=run_name, tags=tags or [],
                capture_stdout=False, capture_stderr=False, capture_traceback=False,
                capture_hardware_metrics=False, git_ref=False, source_files=[],
            )  # fmt: skip
        finally:
            if before is None:
                os.environ.pop("NEPTUNE_DATA_DIRECTORY", None)
            else:
                os.environ["NEPTUNE_DATA_DIRECTORY"] = before

    def _params(self, params: dict[str, Any]) -> None:
        self.run["parameters"] = params

    def _metrics(self, metrics: dict[str, float], step: int) -> None:
        for tag, value in metrics.items():
            self.run[neptune_path(tag)].append(value, step=step)

    def _figure(self, figure: Any, name: str, step: int) -> None:
        from neptune.types import File

        image = File.from_content(_png(figure), extension="png")
        self.run[f"figures/{neptune_path(name)}"].upload(image)

    def _artifact(self, path: Path, name: str) -> None:
        self.run[f"artifacts/{neptune_path(name)}"].upload(str(path.resolve()))

    def _close(self) -> None:
        self.run.stop()

    def folder(self) -> Path | None:
        """The run's offline folder (``<data_dir>/offline/run__<id>__…``), or None in debug mode."""
        found = sorted((self.data_dir / "offline").glob(f"run__{self.run._id}__*"))
        return found[0] if found else None

    def stored(self) -> list[Path]:
        folder = self.folder() if self.mode == "offline" else None
        return [folder] if folder else []


# ---------------------------------------------------------------- helpers


def _writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed; one sentence if nothing can be written there.

    A folder without any write permission bit counts as read-only even for root, who could
    write into it anyway: someone marked it so, to keep it as it is.
    """
    if folder.is_dir() and not folder.stat().st_mode & 0o222:
        raise LessonlibError(
            f"{what} folder {folder} is read-only: make it writable (chmod u+w) or give another "
            "folder, e.g. one under build/; nothing was logged."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LessonlibError(
            f"{what} folder {folder} is not writable ({reason.lower()}): give a folder you can "
            "write to, e.g. one under build/; nothing was logged."
        ) from None


class FirstAnswer:
    """Seconds from ``started`` (a ``time.perf_counter()``) until ``url`` first answers.

    A daemon thread polls the URL, so a server can boot while the caller trains; ``wait()``
    returns the seconds once it answered (one sentence if it never does).
    """

    def __init__(self, url: str, started: float, timeout: float = 120.0) -> None:
        import threading

        self.url, self.started, self.timeout = url, started, timeout
        self.seconds = float("nan")
        self._done = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        from lessonlib.web import answers

        while time.perf_counter() - self.started < self.timeout:
            if answers(self.url, timeout=1.0):
                self.seconds = time.perf_counter() - self.started
                break
            time.sleep(0.05)
        self._done.set()

    def wait(self, timeout: float = 60.0) -> float:
        """Block until the URL answered; return the seconds it took to answer first."""
        self._done.wait(timeout)
        if math.isnan(self.seconds):
            raise LessonlibError(f"nothing answered at {self.url}: is its server running?")
        return self.seconds


def disk_usage(paths: Iterable[str | Path]) -> int:
    """Bytes on disk under ``paths`` (files and folders; missing ones count 0)."""
    total = 0
    for path in map(Path, paths):
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total
