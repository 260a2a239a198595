"""Lesson 08's numbers: logging overhead per step for each tracker, and MLflow's time to answer.

1. Overhead: the lesson's training step (SmallCNN, 32x32 shapes, batch 32) with no logging,
   then with each tracker alone logging the loss at every step (MLflow both synchronous and
   with ``synchronous=False``). The loops run interleaved, ``--repeats`` times; the table
   shows the best-of milliseconds per step, wall and CPU (this process's threads, writers'
   background threads included; Visdom's server is another process), the overhead over the
   plain step, and the time spent inside the logging calls. On a busy machine trust the CPU
   columns: wall time then mostly measures the other programs. Target: the file writers
   (TensorBoard, tensorboardX, Neptune offline) cost < 1.5 ms of CPU per step.
2. ``lessonlib mlflow`` (one uvicorn process) against ``mlflow server --workers 1`` (its
   command line, then a uvicorn process): seconds from start to the first answer of
   ``GET /``, median of ``--starts``. Target: <= 5 s.

Run: ``python benchmarks/bench_tracking.py`` (``--repeats 3 --steps 100 --starts 3``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from lessonlib.data import SHAPES_MEAN, SHAPES_STD, shapes_splits
from lessonlib.models import SmallCNN
from lessonlib.tracking import (
    MLflowTracker,
    NeptuneTracker,
    TensorBoardTracker,
    Tracker,
    VisdomTracker,
    fresh_mlflow_store,
    quiet_trackers,
)
from lessonlib.web import answers, free_port

TRACKERS = (
    "none",
    "TensorBoard",
    "tensorboardX",
    "Visdom",
    "MLflow",
    "MLflow async",
    "Neptune offline",
)


class _AsyncMLflow(MLflowTracker):
    """MLflowTracker whose metric batches are queued (``log_batch(..., synchronous=False)``)."""

    name = "MLflow async"

    def _metrics(self, metrics, step):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(tag, value, now, step) for tag, value in metrics.items()]
        self.pending.append(self.client.log_batch(self.run_id, metrics=batch, synchronous=False))

    def _close(self):
        for operation in self.pending:
            operation.wait()
        super()._close()


def make_tracker(kind: str, folder: Path, run: str, viz) -> Tracker | None:
    if kind == "none":
        return None
    if kind in ("TensorBoard", "tensorboardX"):
        flavor = "torch" if kind == "TensorBoard" else "tensorboardX"
        return TensorBoardTracker(folder / kind / run, flavor=flavor)
    if kind == "Visdom":
        return VisdomTracker(viz, run)
    if kind == "MLflow":
        return MLflowTracker(folder / "mlflow.db", "bench", run)
    if kind == "MLflow async":
        tracker = _AsyncMLflow(folder / "mlflow.db", "bench-async", run)
        tracker.pending = []
        return tracker
    return NeptuneTracker(folder / "neptune", run)


def train(tracker: Tracker | None, x, y, steps: int) -> tuple[float, float]:
    """Seconds (wall, CPU) of ``steps`` training steps, each logging its loss to ``tracker``."""
    torch.manual_seed(0)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = torch.arange(len(x)).split(32)
    wall, cpu = time.perf_counter(), time.process_time()
    for step in range(1, steps + 1):
        idx = batches[step % len(batches)]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if tracker is not None:
            tracker.log_metrics({"train/loss": loss.item()}, step)
    if tracker is not None:
        tracker.close()  # flushing belongs to the cost
    return time.perf_counter() - wall, time.process_time() - cpu


def overhead(repeats: int, steps: int) -> None:
    from lessonlib.visdom import start_visdom, visdom_client

    quiet_trackers()
    torch.set_num_threads(1)
    train_set, _ = shapes_splits(n_train=640, n_test=10, size=32)
    mean = torch.tensor(SHAPES_MEAN).view(1, 3, 1, 1)
    x, y = (train_set.images - mean) / torch.tensor(SHAPES_STD).view(1, 3, 1, 1), train_set.labels
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fresh_mlflow_store(folder / "mlflow.db")
        server = start_visdom(env_path=folder / "envs", quiet=True)
        viz = visdom_client(server, env="bench")
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in TRACKERS}
        inside: dict[str, list[float]] = {k: [] for k in TRACKERS}
        train(None, x, y, 5)  # warm-up: first-call costs out of the measurement
        for r in range(repeats):
            for kind in TRACKERS:
                tracker = make_tracker(kind, folder, f"r{r}", viz)
                times[kind].append(train(tracker, x, y, steps))
                if tracker is not None:
                    inside[kind].append(tracker.seconds.get("metrics", 0.0) / steps)
        server.stop()
    base_wall = min(w for w, _ in times["none"]) / steps
    base_cpu = min(c for _, c in times["none"]) / steps
    print(f"overhead per step, best of {repeats} x {steps} steps (load {os.getloadavg()[0]:.1f})")
    print(f"{'tracker':16s} {'wall ms':>8s} {'cpu ms':>8s} {'+wall ms':>9s} {'+cpu ms':>8s} "
          f"{'+cpu %':>7s} {'in calls ms':>11s}")  # fmt: skip
    for kind in TRACKERS:
        wall = min(w for w, _ in times[kind]) / steps
        cpu = min(c for _, c in times[kind]) / steps
        calls = 1000 * min(inside[kind]) if inside[kind] else 0.0
        print(
            f"{kind:16s} {1000 * wall:8.2f} {1000 * cpu:8.2f} {1000 * (wall - base_wall):9.2f} "
            f"{1000 * (cpu - base_cpu):8.2f} {(cpu - base_cpu) / base_cpu:7.1%} {calls:11.2f}"
        )
    print(f"(plain step: {1000 * base_wall:.2f} ms wall, {1000 * base_cpu:.2f} ms CPU)")


def _first_answer(cmd: list[str], url: str | None, timeout: float = 120) -> float:
    """Seconds from starting ``cmd`` until its URL (given, or printed by it) answers ``GET /``."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        if url is None:
            line = proc.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        while time.perf_counter() - started < timeout:
            if answers(url + "/", timeout=1.0):
                return time.perf_counter() - started
            time.sleep(0.05)
        raise TimeoutError(f"{cmd[:3]} did not answer in {timeout} s")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def server_start(starts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = fresh_mlflow_store(Path(tmp) / "mlflow.db")
        MLflowTracker(store, "bench", "one").close()
        ours, theirs = [], []
        mlflow_cli = Path(sys.executable).parent / "mlflow"
        for _ in range(starts):
            port = free_port()
            ours.append(
                _first_answer(
                    [sys.executable, "-m", "lessonlib", "mlflow", str(store), "--port", str(port)],
                    None,
                )  # fmt: skip
            )
            port = free_port()
            theirs.append(
                _first_answer(
                    [
                        str(mlflow_cli),
                        "server",
                        "--backend-store-uri",
                        f"sqlite:///{store}",
                        "--port",
                        str(port),
                        "--workers",
                        "1",
                    ],
                    f"http://127.0.0.1:{port}",
                )  # fmt: skip
            )
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"time to first answer, median of {starts} (load {os.getloadavg()[0]:.1f}):")
    print(f"  lessonlib mlflow            {a:6.2f} s   ({', '.join(f'{t:.2f}' for t in ours)})")
    print(f"  mlflow server --workers 1   {b:6.2f} s   ({', '.join(f'{t:.2f}' for t in theirs)})")
    print(f"  ratio {b / a:.2f}x; target <= 5 s: {'met' if a <= 5 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--no-overhead", action="store_true")
    parser.add_argument("--no-server", action="store_true")
    args = parser.parse_args()
    if not args.no_overhead:
        overhead(args.repeats, args.steps)
    if not args.no_server:
        server_start(args.starts)


if __name__ == "__main__":
    main()
