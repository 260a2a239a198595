"""Inputs for lesson 04's graded calls: seeded data, a model with a frozen layer, a gloo job.

Every builder is deterministic, so the sandbox (which calls the student's function) and the
grader (which checks the answer) each build the same inputs from the same arguments. Every
function writes TensorBoard events: each gets the relative log directory ``runs``, which
lands in the case's folder, and the grader reads the files that come back with tbparse and
TensorBoard's EventAccumulator.

Two cases use ``with_hook`` hooks (call_start.py), which run in the sandbox just before the
call:

* the second confusion matrix records the figures the first call left open;
* each gloo case runs a whole job, then sets one up around the call. The sandbox calls the
  student's function once, in its own process, and nothing of ours runs after that call, so
  it cannot wait there for the other ranks. The hook therefore first runs every rank of the
  job in forked processes (in ``job/`` inside the case's folder) and waits for them: their
  return values (``job/rank<r>.json``) and the event files they wrote (``job/runs``) come
  back whole. Then it forks ranks 1… again (in a folder the grader never reads), makes the
  sandbox's own process rank 0 of that second job, and lets the call run: its return value
  and its ``runs`` are rank 0's. Loopback works inside the sandbox's network namespace, and
  nothing else is reachable.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sys
import time
from datetime import timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402, F401 - warm for every sandbox

from lessonlib.classroom import plaindata  # noqa: E402
from lessonlib.classroom.grading import Inputs  # noqa: E402
from lessonlib.classroom.references.call_start import with_hook, write_observed  # noqa: E402
from lessonlib.classroom.references.tb import seeded_classification  # noqa: E402

LOGDIR = "runs"
JOB = "job"  # the first (complete) job's folder, inside the case's folder
FIGURES = "figures"  # the record the second confusion matrix gets
RANK_FILE = "rank{rank}.json"
STATUS_FILE = "status.json"
GROUP_TIMEOUT_S = 8.0  # a rank stuck in a collective raises after this long
JOB_WAIT_S = 15.0  # the longest the hook waits for the complete job


# ---------------------------------------------------------------- 04.1


@functools.cache
def warm_training() -> None:
    """One SGD step, so that every sandbox starts with what a first optimizer step imports.

    The first ``optimizer.step()`` in a process imports torch._dynamo (seconds); done here, in
    the warm process, it is not charged to each student's time limit.
    """
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.zeros(1, 2)).sum().backward()
    optimizer.step()


def training_run(
    steps: int, every: int, seed: int = 0, loss_tag: str | None = None, acc_tag: str | None = None
) -> Inputs:
    """(logdir, inputs, targets, steps, every[, loss_tag, acc_tag])."""
    warm_training()
    x, y = seeded_classification(seed=seed)
    tags = [t for t in (loss_tag, acc_tag) if t is not None]
    return Inputs(LOGDIR, x, y, steps, every, *tags)


# ---------------------------------------------------------------- 04.2


def model_with_a_frozen_layer() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = nn.Sequential(
            nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
        )
    model[2].requires_grad_(False)
    return model


def histogram_case(step: int = 7) -> Inputs:
    """(logdir, a model whose middle layer is frozen, inputs, targets, step)."""
    x, y = seeded_classification()
    return Inputs(LOGDIR, model_with_a_frozen_layer(), x, y, step)


# ---------------------------------------------------------------- 04.3


def grid_case(grid: dict[str, list], seed: int, classes: int = 3) -> Inputs:
    """(logdir, inputs, targets, grid)."""
    warm_training()
    x, y = seeded_classification(seed=seed, classes=classes)
    return Inputs(LOGDIR, x, y, {k: list(v) for k, v in grid.items()})


# ---------------------------------------------------------------- 04.4

_FIGURES_BEFORE: list[list[int]] = []  # open figures when the first confusion matrix began


def _figures_at_first_call(args: tuple) -> None:
    _FIGURES_BEFORE.append(plt.get_fignums())


def _figures_left_open(args: tuple) -> None:
    if _FIGURES_BEFORE:  # else the first call ran in an earlier sandbox, which ended early
        left = set(plt.get_fignums()) - set(_FIGURES_BEFORE[0])
        write_observed(FIGURES, {"left_open": len(left)})


def sampled_labels() -> tuple[list[int], list[int]]:
    """60 true labels in classes 0-2 (class 3 never occurs), 70 % predicted right."""
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 60).tolist()
    y_pred = [t if rng.random() < 0.7 else int(rng.integers(0, 4)) for t in y_true]
    return y_true, y_pred


def confusion_case() -> Inputs:
    y_true, y_pred = sampled_labels()
    names = ["circle", "square", "triangle", "cross"]
    inputs = Inputs(LOGDIR, y_true, y_pred, names, step=4, tag="eval/cm")
    return with_hook(inputs, _figures_at_first_call)


def perfect_confusion_case() -> Inputs:
    """A perfect classifier over six classes, positionally; records figures left open."""
    labels = [0, 1, 2, 3, 4, 5] * 3
    inputs = Inputs(LOGDIR, labels, list(labels), [f"class {k}" for k in range(6)], 9, "cm/perfect")
    return with_hook(inputs, _figures_left_open)


# ---------------------------------------------------------------- 04.5

_CHILDREN: list[int] = []  # ranks of the previous case's second job, still to reap
_JOBS = [0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _join(rank: int, world_size: int, port: int) -> None:
    """Join the job's gloo group; return once every rank has joined."""
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=GROUP_TIMEOUT_S),
    )
    dist.barrier()  # so a rank that fails at once cannot break another rank's set-up


def _rank(function, rank: int, world_size: int, port: int, args: tuple, out: str | None) -> int:
    """Fork one rank: it joins the group, calls ``function`` and writes what it returned."""
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        _join(rank, world_size, port)
        try:
            record = {"ok": True, "value": plaindata.encode(function(rank, world_size, *args))}
        except BaseException as exc:  # noqa: BLE001 - reported to the check
            record = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        if out is not None:
            with open(out + ".tmp", "w", encoding="utf-8") as fh:
                json.dump(record, fh, allow_nan=False)
            os.replace(out + ".tmp", out)
        code = 0
    except BaseException:  # noqa: BLE001 - a rank must never return into the sandbox's loop
        pass
    finally:
        os._exit(code)


def _reap(pids: list[int], deadline: float) -> dict[int, int | str]:
    """Wait for ``pids`` until ``deadline``; kill what is left. pid -> exit code or 'killed'."""
    status: dict[int, int | str] = {}
    while len(status) < len(pids):
        for pid in pids:
            if pid in status:
                continue
            try:
                done, code = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                status[pid] = "gone"
                continue
            if done:
                status[pid] = os.waitstatus_to_exitcode(code)
        if len(status) < len(pids) and time.monotonic() > deadline:
            for pid in pids:
                if pid not in status:
                    try:
                        os.kill(pid, 9)
                        os.waitpid(pid, 0)
                    except (ProcessLookupError, ChildProcessError):
                        pass
                    status[pid] = "killed"
        time.sleep(0.01)
    return status


def _run_job(args: tuple, rank_losses: list[list[float]]) -> None:
    """The ``before`` hook of a gloo case (see the module docstring)."""
    if dist.is_initialized():  # the previous gloo case's second job
        dist.destroy_process_group()
    _reap(_CHILDREN, time.monotonic() + 2.0)
    _CHILDREN.clear()
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    function = sys.modules["exercises"].__dict__.get("log_from_rank_zero")
    if not callable(function):
        return
    _, world_size, logdir, tag, _ = args
    os.makedirs(JOB, exist_ok=True)
    here = os.getcwd()
    os.chdir(JOB)
    try:
        port, started = _free_port(), time.monotonic()
        pids = [
            _rank(function, r, world_size, port, (logdir, tag, losses), RANK_FILE.format(rank=r))
            for r, losses in enumerate(rank_losses)
        ]
        status = _reap(pids, started + JOB_WAIT_S)
        with open(STATUS_FILE, "w", encoding="utf-8") as fh:
            exits = [status[pid] for pid in pids]
            json.dump({"exits": exits, "seconds": round(time.monotonic() - started, 3)}, fh)
        _JOBS[0] += 1
        aside = os.path.join(here, os.pardir, f".gloo-ranks-{_JOBS[0]}")
        os.makedirs(aside, exist_ok=True)
        os.chdir(aside)
        port = _free_port()
        _CHILDREN.extend(
            _rank(function, r, world_size, port, (logdir, tag, rank_losses[r]), None)
            for r in range(1, world_size)
        )
    finally:
        os.chdir(here)
    _join(0, world_size, port)


def _job_hook(rank_losses: list[list[float]]):
    return lambda args: _run_job(args, rank_losses)


def gloo_case(rank_losses: list[list[float]], tag: str) -> Inputs:
    """Rank 0's arguments (rank, world_size, logdir, tag, local_losses); the hook does the rest."""
    losses = [[float(v) for v in row] for row in rank_losses]
    inputs = Inputs(0, len(losses), LOGDIR, tag, losses[0])
    return with_hook(inputs, _job_hook(losses))
