"""TensorBoard plumbing: a real server on a free port, event files read back, a logging Trainer.

Used by lesson 04, ``lessonlib tensorboard`` and the tests. The lesson itself calls
``SummaryWriter`` directly; what lives here is what a course needs around it: starting and
stopping the server like a user would, reading what was logged without hand-parsing event
files, and a small training loop that logs at an interval and refuses to plot a NaN.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lessonlib.errors import LessonlibError
from lessonlib.web import (  # noqa: F401 - lessons take free_port from here, beside the server
    chromium_path,
    free_port,
    local_page,
    outside_event_loop,
    port_is_free,
)

HOST = "127.0.0.1"
DEFAULT_PORT = 6006
# How many points per tag the server keeps. TensorBoard 2.21's scalars plugin reads
# ``--samples_per_plugin scalars=0`` as "downsample to zero points", not "keep all", so
# "all" here means a number larger than any lesson logs.
ALL_SAMPLES = 1_000_000
EVENT_GLOB = "events.out.tfevents.*"


class CorruptEventFileWarning(UserWarning):
    """An event file could not be read completely (corrupt, or cut short)."""


class NonFiniteLossWarning(RuntimeWarning):
    """The training loss became NaN or infinite; the value was not logged."""


# --------------------------------------------------------------------------- the server

_live_servers: weakref.WeakSet[Server] = weakref.WeakSet()


@dataclass(eq=False)
class Server:
    """A TensorBoard process we started: ``.url``, HTTP helpers, ``.stop()``; a context manager."""

    logdir: Path
    port: int
    reload_interval: float = 2.0
    host: str = HOST
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process (in its own process group, with its output in a temporary log)."""
        fd, log_name = tempfile.mkstemp(prefix="tensorboard-", suffix=".log")
        self.log_path = Path(log_name)
        with os.fdopen(fd, "w") as log:
            self.process = subprocess.Popen(
                tensorboard_command(self.logdir, self.port, self.reload_interval),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True,
            )  # fmt: skip
        self._stopped = False
        _live_servers.add(self)

    def wait_until_ready(self, timeout: float = 60) -> Server:
        """Block until the server answers (and lists a run, if the folder has event files).

        If another program took the port in the meantime, TensorBoard is restarted on the
        next free one.
        """
        for _ in range(5):
            try:
                _wait_until_ready(self, timeout)
                return self
            except _PortTaken:
                self.stop()
                self.port = free_port(self.port + 1)
                self.launch()
            except BaseException:
                self.stop()
                raise
        self.stop()
        raise LessonlibError(f"TensorBoard could not bind a free port up to {self.port}.")

    def get_json(self, path: str, **params: str) -> Any:
        """GET ``path`` (e.g. ``data/runs``) with query ``params`` and decode the JSON answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(self.url + path.lstrip("/") + query, timeout=10) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def runs(self) -> list[str]:
        """The run names the server has found so far."""
        return self.get_json("data/runs")

    def scalars(self, run: str, tag: str) -> list[tuple[float, int, float]]:
        """(wall time, step, value) of one scalar series, through the scalars plugin's data API."""
        rows = self.get_json("data/plugin/scalars/scalars", run=run, tag=tag)
        return [(float(w), int(s), float(v)) for w, s, v in rows]

    def wait_for_scalars(self, run: str, tag: str, count: int, timeout: float = 30) -> list:
        """Poll until the series has ``count`` points (the server loads files in the background)."""
        deadline = time.monotonic() + timeout
        rows: list = []
        while time.monotonic() < deadline:
            try:
                rows = self.scalars(run, tag)
            except urllib.error.HTTPError:
                rows = []  # the run or tag is not loaded yet
            if len(rows) >= count:
                return rows
            time.sleep(0.25)
        raise TimeoutError(f"{run}/{tag} has {len(rows)} of {count} points after {timeout:.0f} s.")

    def stop(self, timeout: float = 10) -> None:
        """Stop the server and its data-loading helper process; safe to call twice."""
        if self._stopped or self.process is None:
            return
        self._stopped = True
        # The server runs in its own process group, together with its Rust data server.
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)
        _signal_group(self.process.pid, signal.SIGKILL)  # anything left in the group
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _stop_forgotten_servers() -> None:
    for server in list(_live_servers):
        server.stop()


def has_event_files(logdir: Path | str) -> bool:
    """Is there at least one TensorBoard event file under ``logdir``?"""
    return next(Path(logdir).rglob(EVENT_GLOB), None) is not None


def tensorboard_command(logdir: Path, port: int, reload_interval: float = 2.0) -> list[str]:
    """The command line that serves ``logdir`` on 127.0.0.1:``port`` with every point kept."""
    samples = f"scalars={ALL_SAMPLES},histograms=1000,images=100,audio=20,tensors=1000"
    return [
        sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", HOST,
        "--port", str(port), "--samples_per_plugin", samples,
        "--reload_interval", str(reload_interval),
    ]  # fmt: skip


def start_tensorboard(
    logdir: Path | str,
    port: int | None = None,
    *,
    wait: bool = True,
    timeout: float = 60,
    reload_interval: float = 2.0,
) -> Server:
    """Start TensorBoard on ``logdir`` at ``port`` (or the next free one) and wait until it answers.

    Returns once the server answers HTTP and, if ``logdir`` holds event files, lists at
    least one run; with ``wait=False`` at once (call ``.wait_until_ready()`` later). Stop
    it with ``.stop()`` or use it as a context manager.
    """
    logdir = Path(logdir).resolve()
    if not logdir.is_dir():
        raise LessonlibError(
            f"{logdir} is not a folder: give the folder your SummaryWriter wrote to."
        )
    server = Server(logdir, free_port(DEFAULT_PORT if port is None else port), reload_interval)
    server.launch()
    return server.wait_until_ready(timeout) if wait else server


class _PortTaken(Exception):
    pass


def _wait_until_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    want_runs = has_event_files(server.logdir)
    while time.monotonic() < deadline:
        if not server.alive:
            log = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
            if "could not bind" in log.lower() or "address already in use" in log.lower():
                raise _PortTaken
            last = next((ln for ln in reversed(log.splitlines()) if ln.strip()), "no output")
            raise LessonlibError(f"TensorBoard exited while starting ({last.strip()}).")
        try:
            # Another TensorBoard may hold the port (started at the same moment, e.g. by a
            # lesson running beside this one): trust only an answer about our own folder.
            served = server.get_json("data/environment").get("data_location")
            if served == str(server.logdir):
                runs = server.runs()
                if runs or not want_runs:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(0.2)
    raise LessonlibError(f"TensorBoard did not answer on {server.url} within {timeout:.0f} s.")


# --------------------------------------------------------------------------- reading events


@dataclass
class EventFileCheck:
    """What a pass over an event file's records found."""

    path: Path
    records: int
    problem: str | None = None  # None, "truncated" or "corrupt"
    detail: str = ""


def check_event_file(path: Path | str) -> EventFileCheck:
    """Walk the records of one event file with TensorBoard's record reader (checksums included)."""
    from tensorboard.compat.tensorflow_stub import errors
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

    path = Path(path)
    reader = PyRecordReader_New(str(path))
    records = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return EventFileCheck(path, records)
        except errors.DataLossError as err:
            kind = "truncated" if "truncated" in str(err).lower() else "corrupt"
            return EventFileCheck(path, records, kind, str(err))
        records += 1


def _readable_event_files(logdir: Path) -> Iterable[Path]:
    """Event files under ``logdir``; a corrupt one is skipped with one sentence, a cut one kept."""
    for path in sorted(logdir.rglob(EVENT_GLOB)):
        check = check_event_file(path)
        if check.problem == "corrupt":
            warnings.warn(
                f"skipped {path}: record {check.records + 1} fails its checksum (a corrupt file).",
                CorruptEventFileWarning,
                stacklevel=3,
            )
            continue
        if check.problem == "truncated":
            warnings.warn(
                f"{path} ends in a cut-off record (a writer that was not closed, or a copy in "
                f"progress); read its {check.records} complete records.",
                CorruptEventFileWarning,
                stacklevel=3,
            )
        yield path


def _run_name(logdir: Path, event_file: Path) -> str:
    """TensorBoard's name for the run holding ``event_file``: its folder below logdir, or "."."""
    return event_file.parent.relative_to(logdir).as_posix()


def read_scalars(logdir: Path | str):
    """Every scalar under ``logdir`` as a DataFrame: run, tag, step, value, wall_time.

    Reads each event file with TensorBoard's ``EventAccumulator`` (all points kept). A
    corrupt file is skipped with a one-sentence ``CorruptEventFileWarning``; the others are read.
    """
    import pandas as pd
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = Path(logdir)
    rows = []
    for path in _readable_event_files(logdir):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
        acc.Reload()
        run = _run_name(logdir, path)
        for tag in acc.Tags().get("scalars", []):
            rows.extend((run, tag, ev.step, ev.value, ev.wall_time) for ev in acc.Scalars(tag))
    frame = pd.DataFrame(rows, columns=["run", "tag", "step", "value", "wall_time"])
    return frame.sort_values(["run", "tag", "step", "wall_time"], ignore_index=True)


def event_files(logdir: Path | str) -> list[Path]:
    """The event files under ``logdir``, sorted (one per writer that was opened)."""
    return sorted(Path(logdir).rglob(EVENT_GLOB))


# --------------------------------------------------------------------------- training


class Trainer:
    """A small training loop that logs to TensorBoard every ``log_every`` steps, not every step.

    Per interval: ``train/loss`` and ``train/accuracy`` (means over the interval) and
    ``train/lr``. Per epoch: ``loss`` and ``accuracy`` with ``add_scalars`` (train vs val on
    one chart; they land in sub-runs ``<run>/loss_train``, ``<run>/loss_val``), and
    histograms of each layer's weights and their gradients. By default only weight
    matrices and kernels (``param.dim() > 1``) get histograms: biases and norm scales hold
    a handful of values, and every histogram costs time (``histograms="all"`` logs them
    all, ``histograms=None`` none). Losses stay tensors until the
    interval ends, so the loop does not wait on ``.item()`` each step. A NaN or infinite
    loss is reported as a ``NonFiniteLossWarning`` naming its step, and that interval is
    not plotted.
    """

    def __init__(
        self,
        model,
        optimizer,
        writer,
        *,
        log_every: int = 10,
        histograms: str | None = "weights",
        histogram_bins: int | str = 64,
        loss_fn=None,
    ) -> None:
        import torch.nn.functional as F

        if log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {log_every}")
        self.model, self.optimizer, self.writer = model, optimizer, writer
        self.log_every = log_every
        if histograms not in ("weights", "all", None):
            raise ValueError(f"histograms must be 'weights', 'all' or None, got {histograms!r}")
        self.histograms = histograms
        self.histogram_bins = histogram_bins
        self.loss_fn = loss_fn or F.cross_entropy
        self.step = 0
        self.bad_steps: list[int] = []
        # (loss, predicted classes, labels) of each step, detached: turned into numbers only
        # once per interval and once per epoch, so the steps themselves do no extra work
        self._interval: list[tuple] = []
        self._epoch: list[tuple] = []

    def train_step(self, x, y):
        """One optimisation step; returns the (detached) loss tensor."""
        if not self.model.training:  # model.train() walks every module: not on every step
            self.model.train()
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        record = (loss.detach(), logits.detach().argmax(1), y)
        self._interval.append(record)
        self._epoch.append(record)
        if self.step % self.log_every == 0:
            self.flush_interval()
        return loss.detach()

    def flush_interval(self) -> None:
        """Log the means of the steps since the last log (called every ``log_every`` steps)."""
        import torch

        if not self._interval:
            return
        losses = torch.stack([loss for loss, _, _ in self._interval])
        finite = torch.isfinite(losses)
        first_step = self.step - len(losses) + 1
        if not bool(finite.all()):
            bad = first_step + int((~finite).nonzero()[0, 0])
            self.bad_steps.append(bad)
            warnings.warn(
                f"the training loss is {losses[bad - first_step].item()} at step {bad}, so steps "
                f"{first_step}-{self.step} were not plotted: lower the learning rate or check "
                "the inputs.",
                NonFiniteLossWarning,
                stacklevel=3,
            )
        else:
            self.writer.add_scalar("train/loss", losses.mean().item(), self.step)
            accuracy = _accuracy(self._interval)
            self.writer.add_scalar("train/accuracy", accuracy, self.step)
            self.writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step)
        self._interval = []

    def log_histograms(self, epoch: int) -> None:
        """Histograms of the weights and gradients (``weights/<name>``, ``grads/<name>``)."""
        for name, param in self.model.named_parameters():
            if self.histograms != "all" and param.dim() < 2:
                continue
            for kind, values in (("weights", param), ("grads", param.grad)):
                if values is None:
                    continue
                try:
                    self.writer.add_histogram(
                        f"{kind}/{name}", values, epoch, bins=self.histogram_bins
                    )
                except ValueError:
                    pass  # numpy cannot bin NaNs; the loss warning has already said what went wrong

    def evaluate(self, x, y, batch_size: int = 512) -> tuple[float, float]:
        """Mean loss and accuracy on (x, y) without gradients."""
        import torch

        self.model.eval()
        loss_sum, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                logits = self.model(x[i : i + batch_size])
                target = y[i : i + batch_size]
                loss_sum += float(self.loss_fn(logits, target)) * len(target)
                correct += int((logits.argmax(1) == target).sum())
        return loss_sum / len(x), correct / len(x)

    def fit(self, loader, epochs: int, val: tuple | None = None) -> dict[str, list[float]]:
        """Train for ``epochs`` over ``loader``, logging as described above; return the history.

        ``val`` is an optional (inputs, labels) pair evaluated after every epoch.
        """
        import torch

        history: dict[str, list[float]] = {
            k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc")
        }
        for epoch in range(1, epochs + 1):
            self._epoch = []
            for x, y in loader:
                self.train_step(x, y)
            sizes = torch.tensor([len(y) for _, _, y in self._epoch], dtype=torch.float32)
            losses = torch.stack([loss for loss, _, _ in self._epoch]).float().cpu()
            metrics = {
                "train_loss": float(losses @ sizes / sizes.sum()),
                "train_acc": _accuracy(self._epoch),
            }
            if val is not None:
                metrics["val_loss"], metrics["val_acc"] = self.evaluate(*val)
            for key, value in metrics.items():
                history[key].append(value)
            for chart, suffix in (("loss", "_loss"), ("accuracy", "_acc")):
                pairs = {k.split("_")[0]: v for k, v in metrics.items() if k.endswith(suffix)}
                if all(math.isfinite(v) for v in pairs.values()):
                    self.writer.add_scalars(chart, pairs, epoch)  # train vs val on one chart
            if self.histograms:
                self.log_histograms(epoch)
        self.flush_interval()
        return history


def _accuracy(records: list[tuple]) -> float:
    import torch

    predicted = torch.cat([p for _, p, _ in records])
    return (predicted == torch.cat([y for _, _, y in records])).float().mean().item()


# --------------------------------------------------------------------------- screenshots


def chromium_available() -> bool:
    return chromium_path() is not None


def _need_chromium() -> None:
    if not chromium_available():
        raise LessonlibError(
            "chromium is missing: install it with 'sudo apt-get install chromium' "
            "(or 'make system')."
        )


_DRAWN_LINES_JS = """els => els.filter(e => (e.getAttribute('d') || '').includes('L')
                                       && e.getBoundingClientRect().width > 0).length"""


def screenshot_dashboard(
    url: str,
    path: Path | str,
    dashboard: str = "scalars",
    *,
    query: str = "",
    width: int = 1280,
    height: int = 900,
    timeout: float = 60,
    min_lines: int = 1,
    ignore_outliers: bool = False,
    crop: bool = False,
) -> dict[str, Any]:
    """Open ``url#dashboard`` in headless chromium, wait until it is drawn, save a PNG.

    For ``scalars`` "drawn" means at least ``min_lines`` chart lines (SVG paths through
    several points), their count steady for a second; for other dashboards, that the
    page's network is idle. ``query`` is appended to the hash (e.g. ``&tagFilter=^train``);
    the scalars page's "ignore outliers" box is unticked unless ``ignore_outliers``, so no
    curve leaves its chart.
    Returns what was found: chart cards, drawn lines, requests to other hosts (refused, so
    the picture is the same offline). Works in a notebook too (``web.outside_event_loop``).
    With ``crop`` the picture keeps only the charts (``DASHBOARD_CROPS``), not the header or
    the runs sidebar.
    """
    _need_chromium()
    return outside_event_loop(
        _screenshot, url, Path(path), dashboard, query, (width, height), timeout, min_lines,
        ignore_outliers, crop,
    )  # fmt: skip


def _screenshot(
    url, path: Path, dashboard, query, size, timeout, min_lines, ignore_outliers, crop=False
) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    host = urllib.parse.urlparse(url).netloc
    outside: list[str] = []
    with local_page(url, size[0], size[1]) as (_context, page):

        def note_request(request) -> None:
            if urllib.parse.urlparse(request.url).netloc not in (host, ""):
                outside.append(request.url)  # e.g. the Roboto font link, unreachable offline

        page.on("request", note_request)
        page.goto(
            f"{url.rstrip('/')}/#{dashboard}{query}", wait_until="load", timeout=timeout * 1000
        )
        lines = cards = 0
        if dashboard == "scalars":
            cards, lines = _wait_for_scalars(page, timeout, min_lines, ignore_outliers)
            page.wait_for_timeout(500)  # let the last transitions finish before the picture
        else:
            _wait_for_idle(page, dashboard, min(timeout, IDLE_TIMEOUT_S))
            page.wait_for_timeout(1000)
        if crop:
            x, y, w, h = DASHBOARD_CROPS[dashboard]
            w = min(w, size[0] - x)  # a narrower window: the dashboard reflows into it
            page.screenshot(path=str(path), clip={"x": x, "y": y, "width": w, "height": h})
        else:
            page.screenshot(path=str(path))
    return {"path": path, "cards": cards, "lines": lines, "outside_requests": outside}


# How long a dashboard may keep requests open before it is photographed as it is. On a loaded
# machine one slow answer of the server could hold "network idle" past any hard limit and
# fail the whole lesson (seen once, on a fresh clone running two lessons beside other work).
IDLE_TIMEOUT_S = 20.0


def _wait_for_idle(page, dashboard: str, seconds: float) -> bool:
    """Wait until the page's network is idle, at most ``seconds``; say so if it never was."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_load_state("networkidle", timeout=seconds * 1000)
        return True
    except PlaywrightTimeout:
        print(
            f"the {dashboard} dashboard still had requests open after {seconds:.0f} s: "
            "photographed as it was (rerun the lesson if its picture looks unfinished).",
            file=sys.stderr,
        )
        return False


def _wait_for_scalars(page, timeout: float, min_lines: int, ignore_outliers: bool) -> tuple:
    """Wait until the scalars page drew ``min_lines`` lines, their count steady for a second;
    set its "ignore outliers" box to ``ignore_outliers``. Returns (chart cards, lines)."""
    deadline = time.monotonic() + timeout
    lines = steady = 0  # steady: polls in a row with the same count (the charts have all drawn)
    while time.monotonic() < deadline:
        before = lines
        lines = page.locator("vz-line-chart2 path.line").evaluate_all(_DRAWN_LINES_JS)
        steady = steady + 1 if lines == before else 0
        if lines >= min_lines and steady >= 4:
            break
        page.wait_for_timeout(250)
    if lines < min_lines:
        raise TimeoutError(
            f"the scalars dashboard drew {lines} of {min_lines} lines in {timeout:.0f} s."
        )
    cards = page.locator("tf-scalar-card").count()
    outliers = page.locator("paper-checkbox", has_text="Ignore outliers").first
    if outliers.get_attribute("aria-checked") != str(ignore_outliers).lower():
        outliers.click()
    return cards, lines


# Where each dashboard draws what matters at 1280×900: (x, y, width, height) of the part to
# keep, leaving out the header and the runs sidebar (which shows the machine's logdir path).
# In a narrower window the width shrinks with it (the dashboards reflow their cards); the
# sidebar is 280 px wide at 960 px and 300 px at 1280 px, so the crops start at 280 (HParams:
# its filters take 224 px at 1100 px).
DASHBOARD_CROPS = {
    "scalars": (280, 64, 1000, 650),
    "images": (280, 64, 1000, 480),
    "histograms": (280, 64, 1000, 620),
    "distributions": (280, 64, 1000, 620),
    "graphs": (280, 64, 260, 320),
    "projector": (0, 64, 1280, 760),
    "hparams": (224, 64, 1056, 340),
    "pr_curves": (280, 64, 1000, 620),
    "text": (280, 64, 1000, 560),
    "custom_scalars": (280, 64, 1000, 400),
    "audio": (280, 64, 1000, 200),
}
# Dashboards that keep drawing once their data arrived (the projector loads the sprite,
# then computes PCA): extra milliseconds to wait before the picture.
DASHBOARD_SETTLE_MS = {"projector": 3500}
# What a dashboard shows once it has drawn, waited for before settling: the graph explorer
# lays the graph out, then titles it and zooms it to fit (a picture any earlier catches the
# nodes half-way, cut off at the left).
DASHBOARD_READY = {"graphs": "text=Main Graph"}


def screenshot_dashboards(
    url: str,
    shots: list[tuple],
    *,
    width: int = 1280,
    height: int = 900,
    scale: float = 1.5,
    settle_ms: int = 600,
    timeout: float = 60,
    min_lines: int = 1,
    ignore_outliers: bool = False,
) -> list[dict[str, Any]]:
    """Photograph several dashboards in one browser: ``(dashboard, path, query[, server])``.

    Each is opened at ``<server>#<dashboard><query>`` (``server`` defaults to ``url``; others
    must be on the same host), left until its network is idle and ``settle_ms`` more, and
    cropped to the part that matters (``DASHBOARD_CROPS``), at ``scale`` device pixels per
    CSS pixel so it stays sharp when shown at page width. ``scalars`` waits as
    ``screenshot_dashboard`` does, for ``min_lines`` steady lines. One tab per server, each
    opened at the start (a second server's app loads while the first is photographed); within
    a tab the app follows the hash instead of reloading its 6 MB of script. Returns one dict
    per shot, in order: ``path``, ``dashboard``, ``cards`` and ``lines`` (scalars), ``idle``
    (False: still loading after ``IDLE_TIMEOUT_S``, photographed anyway, with a warning) and
    ``outside_requests`` (refused requests to other hosts, for the whole browser).
    """
    _need_chromium()
    return outside_event_loop(
        _screenshots, url, shots, (width, height), scale, settle_ms, timeout, min_lines,
        ignore_outliers,
    )  # fmt: skip


def _screenshots(
    url, shots, size, scale, settle_ms, timeout, min_lines=1, ignore_outliers=False
) -> list[dict[str, Any]]:
    width, height = size
    plan = [(d, Path(p), q, (rest[0] if rest else url).rstrip("/")) for d, p, q, *rest in shots]
    hosts = {urllib.parse.urlparse(server).netloc for *_, server in plan} | {""}
    outside: list[str] = []
    done: list[dict[str, Any]] = []
    with local_page(url, width, height, device_scale_factor=scale) as (context, first):

        def note_request(request) -> None:
            if urllib.parse.urlparse(request.url).netloc not in hosts:
                outside.append(request.url)

        context.on("request", note_request)
        tabs: dict[str, Any] = {}
        showing: dict[str, str] = {}
        for dashboard, _path, query, server in plan:  # every server's app starts loading now
            if server not in tabs:
                tabs[server] = first if not tabs else context.new_page()
                showing[server] = f"#{dashboard}{query}"
                tabs[server].goto(f"{server}/{showing[server]}", wait_until="commit",
                                  timeout=timeout * 1000)  # fmt: skip
        for dashboard, path, query, server in plan:
            page, target = tabs[server], f"#{dashboard}{query}"
            if showing[server] != target:  # the app follows the hash: no reload
                page.evaluate("h => { location.hash = h }", target)
                showing[server] = target
            page.bring_to_front()
            page.wait_for_load_state("load", timeout=timeout * 1000)
            cards = lines = 0
            idle = True
            if dashboard == "scalars":  # drawn when its lines are: no need to wait for idle
                cards, lines = _wait_for_scalars(page, timeout, min_lines, ignore_outliers)
            else:
                idle = _wait_for_idle(page, dashboard, min(timeout, IDLE_TIMEOUT_S))
            if dashboard in DASHBOARD_READY:
                page.locator(DASHBOARD_READY[dashboard]).first.wait_for(timeout=timeout * 1000)
            page.wait_for_timeout(DASHBOARD_SETTLE_MS.get(dashboard, settle_ms))
            x, y, w, h = DASHBOARD_CROPS.get(dashboard, (0, 64, width, height - 64))
            w = min(w, width - x)  # a narrower window: the dashboard reflows
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), clip={"x": x, "y": y, "width": w, "height": h})
            done.append({"path": path, "dashboard": dashboard, "cards": cards, "lines": lines,
                         "idle": idle, "outside_requests": outside})  # fmt: skip
    return done
