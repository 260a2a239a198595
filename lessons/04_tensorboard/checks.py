"""Lesson 04's visible checks: your event files, read back with TensorBoard and tbparse.

``lessonlib check 04``, ``pytest`` and ``lessonlib grade`` all run these cases. Every function
gets the relative log directory ``runs`` (in the case's folder); the judges read the event
files that come back with TensorBoard's EventAccumulator and tbparse and compare them with a
training loop of our own, scikit-learn and numpy, never with a solution.

Two cases have a ``before`` hook, which runs in the sandbox just before the call. "Figures
left open" calls log_confusion_matrix once itself (into ``.grader/probe``) and records the
figures that call left open. In a gloo case nothing of ours runs after the sandbox's own call,
so the hook first runs a whole job (every rank a forked process, in ``job/``) and waits: each
rank's return value and event files come back from there. Then it forks ranks 1… of a second
job (in a folder the grader never reads) and makes the sandbox's own process its rank 0, so the
call itself is rank 0's. Loopback works inside the sandbox's network namespace.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import itertools
import json
import os
import socket
import sys
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.tensorboard import SummaryWriter  # noqa: F401 - warm for every sandbox

from lessonlib.classroom import plaindata
from lessonlib.classroom.cases import Case, Inputs, Mismatch, expect, expect_close, show
from lessonlib.classroom.references import call_start, tb
from lessonlib.messages import _

matplotlib.use("Agg")  # in the warm process, before anything imports pyplot

LOGDIR = "runs"
JOB, RANK_FILE, STATUS_FILE = "job", "rank{rank}.json", "status.json"
GROUP_TIMEOUT_S = 8.0  # a rank stuck in a collective raises after this long
JOB_WAIT_S = 15.0  # the longest the hook waits for the complete job
GLOO_TIMEOUT_S = 30.0


def run_folder(files: Path) -> Path:
    folder = Path(files) / LOGDIR
    expect(tb.event_files(folder), _("no event file in logdir: open a SummaryWriter there."), 1)
    return folder


@functools.cache
def warm_training() -> None:
    """One SGD step in the warm process, so no sandbox pays for importing torch._dynamo."""
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.zeros(1, 2)).sum().backward()
    optimizer.step()


# ---------------------------------------------------------------- 04.1


def training_run(steps: int, every: int, seed: int = 0, *tags: str) -> Inputs:
    """(logdir, inputs, targets, steps, every[, loss_tag, acc_tag])."""
    warm_training()
    return Inputs(LOGDIR, *tb.seeded_classification(seed=seed), steps, every, *tags)


def logged_training(got, inputs, files) -> None:
    _logdir, x, y, steps, every, *tags = inputs.args
    loss_tag, acc_tag = tags or ("train/loss", "train/accuracy")
    want = [r for r in tb.reference_losses(x, y, steps) if r[0] % every == 0]
    want_steps = [r[0] for r in want]
    expect(
        got == want_steps,
        _("with every={every} over {steps} steps log at {want}; you returned {got}.").format(
            every=every, steps=steps, want=want_steps, got=show(got)
        ),
        hint=2,
    )
    if not want:
        for folder in {f.parent for f in tb.event_files(Path(files) / LOGDIR)}:
            found = tb.accumulator(folder).Tags()["scalars"]
            expect(
                not found,
                _("no step reached the interval, yet {found} were logged.").format(found=found),
                2,
            )
        return
    folder = run_folder(files)
    expect(
        {f.parent for f in tb.event_files(folder)} == {folder},
        _("log one run, in logdir itself."),
        1,
    )
    found = sorted(tb.accumulator(folder).Tags()["scalars"])
    expect(
        found == sorted({loss_tag, acc_tag}),
        _("expected the tags {want}, found {found}.").format(
            want=sorted({loss_tag, acc_tag}), found=found
        ),
        3,
    )
    for tag, column in ((loss_tag, 1), (acc_tag, 2)):
        series = tb.scalar_series(folder, tag)
        steps_logged = [s for s, _v in series]
        expect(
            steps_logged == want_steps,
            _(
                "{tag} is logged at steps {got}, expected {want}: pass the step as global_step."
            ).format(tag=tag, got=steps_logged, want=want_steps),
            hint=2,
        )
        expect_close([v for _s, v in series], [r[column] for r in want], f"{tag}", 1e-4, 1e-6, 3)


# ---------------------------------------------------------------- 04.2


def histogram_case(step: int = 7) -> Inputs:
    """(logdir, a model whose middle layer is frozen, inputs, targets, step)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = nn.Sequential(
            nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
        )
    model[2].requires_grad_(False)
    return Inputs(LOGDIR, model, *tb.seeded_classification(), step)


def logged_histograms(got, inputs, files) -> None:
    _logdir, model, x, y, step = inputs.args
    model = copy.deepcopy(model)
    nn.functional.cross_entropy(model(x), y).backward()
    tensors = {f"weights/{n}": p.detach() for n, p in model.named_parameters()}
    tensors.update(
        {f"grads/{n}": p.grad for n, p in model.named_parameters() if p.grad is not None}
    )
    want = sorted(tensors)
    expect(
        type(got) is list, _("return the sorted list of tags, not {got}.").format(got=show(got)), 3
    )
    logged = sorted(tb.accumulator(run_folder(files)).Tags()["histograms"])
    for mine, what in ((got, _("your tags")), (logged, _("the event file's histograms"))):
        extra, missing = sorted(set(mine) - set(want)), sorted(set(want) - set(mine))
        if extra:
            raise Mismatch(
                _("{what} include {tag}: no such parameter, or it has no grad.").format(
                    what=what, tag=extra[0]
                ),
                2,
            )
        if missing:
            raise Mismatch(
                _("{what} lack {tag}.").format(what=what, tag=missing[0]),
                1 if "grads/" in missing[0] else 3,
            )
    expect(got == want, _("return the tags sorted: {got}.").format(got=show(got)), 3)
    acc = tb.accumulator(run_folder(files))
    for tag in want:
        events, values = acc.Histograms(tag), tensors[tag]
        expect(
            [e.step for e in events] == [step],
            _("{tag} is logged at steps {got}, expected [{step}].").format(
                tag=tag, got=[e.step for e in events], step=step
            ),
            3,
        )
        h, hint = events[0].histogram_value, 1 if tag.startswith("grads/") else 3
        mine, ref = [h.num, h.min, h.max, h.sum], [values.numel(), values.min(), values.max()]
        ref = [float(v) for v in [*ref, values.sum()]]
        what = _("{tag}: the histogram's [count, min, max, sum]").format(tag=tag)
        expect_close(mine, ref, what, 1e-4, 1e-6, hint)


# ---------------------------------------------------------------- 04.3


def grid_case(grid: dict[str, list], seed: int, classes: int = 3) -> Inputs:
    """(logdir, inputs, targets, grid)."""
    warm_training()
    return Inputs(LOGDIR, *tb.seeded_classification(seed=seed, classes=classes), grid)


METRICS = ("loss", "accuracy")


def final_metrics(x, y, combo: dict) -> tuple[float, float]:
    kwargs = {k: (float if k == "lr" else int)(float(v)) for k, v in combo.items()}
    return tb.reference_losses(x, y, **kwargs)[-1][1:]


def logged_grid(got, inputs, files) -> None:
    from tbparse import SummaryReader

    _logdir, x, y, grid = inputs.args
    keys = sorted(grid)
    reader = SummaryReader(str(run_folder(files)), extra_columns={"dir_name"})
    hp, scalars = reader.hparams, reader.scalars
    expect(not hp.empty, _("no hparams found: log each run with add_hparams."), hint=3)
    runs = {d: dict(zip(g["tag"], g["value"], strict=True)) for d, g in hp.groupby("dir_name")}
    expect("" not in runs, _("give every run its own subfolder of logdir."), hint=2)
    want = sorted(itertools.product(*(map(float, grid[k]) for k in keys)))
    found = sorted(tuple(float(r.get(k, "nan")) for k in keys) for r in runs.values())
    expect(
        found == want,
        _(
            "expected {want} runs with the hparams {keys}, one per combination; found "
            "{count} run(s) with {found}."
        ).format(
            want=len(want),
            keys=keys,
            count=len(runs),
            found=f"{found[:3]}{'…' if len(found) > 3 else ''}",
        ),
        hint=1,
    )
    for folder, values in runs.items():
        mine = scalars[scalars["dir_name"] == folder].set_index("tag")["value"]
        expect(
            "hparam/loss" in mine and "hparam/accuracy" in mine,
            _("run {folder} lacks the metrics hparam/loss and hparam/accuracy.").format(
                folder=folder
            ),
            hint=3,
        )
        for key, ref in zip(
            METRICS, final_metrics(x, y, {k: values[k] for k in keys}), strict=True
        ):
            what = _("run {folder}: the final {metric}").format(folder=folder, metric=key)
            expect_close(mine[f"hparam/{key}"], ref, what, 1e-4, 1e-9, 2)
    expect(
        isinstance(got, list) and len(got) == len(want),
        _("return one dict per run ({count}), not {got}.").format(count=len(want), got=show(got)),
        hint=3,
    )
    for item in got:
        expect(
            isinstance(item, dict) and all(k in item for k in [*keys, "loss", "accuracy"]),
            _("each run is a dict with {keys}, 'loss' and 'accuracy'; got {got}.").format(
                keys=keys, got=show(item)
            ),
            hint=3,
        )
        combo = {k: item[k] for k in keys}
        for key, ref in zip(METRICS, final_metrics(x, y, combo), strict=True):
            what = _("the {metric} you returned for {combo}").format(metric=key, combo=show(combo))
            expect_close(item[key], ref, what, 1e-4, 1e-9, 2)


# ---------------------------------------------------------------- 04.4


def _figures_left(args: tuple) -> None:
    """The ``before`` hook: one call of the learner's own, then the figures it left open."""
    import matplotlib.pyplot as plt

    f = sys.modules["exercises"].__dict__.get("log_confusion_matrix")
    if callable(f):
        before = set(plt.get_fignums())
        try:
            f(os.path.join(".grader", "probe"), *args[1:])
        except Exception:  # noqa: BLE001 - the case's own call raises it too
            return
        call_start.write_observed("figures", {"left_open": len(set(plt.get_fignums()) - before)})


def confusion_case(kind: str = "sampled", watch: bool = False) -> Inputs:
    if kind == "sampled":  # 60 labels in classes 0-2 (class 3 never occurs), 70 % right
        rng = np.random.default_rng(0)
        y_true = rng.integers(0, 3, 60).tolist()
        y_pred = [t if rng.random() < 0.7 else int(rng.integers(0, 4)) for t in y_true]
        names = ["circle", "square", "triangle", "cross"]
        inputs = Inputs(LOGDIR, y_true, y_pred, names, step=4, tag="eval/cm")
    else:  # a perfect classifier over six classes, positionally
        labels = [0, 1, 2, 3, 4, 5] * 3
        inputs = Inputs(
            LOGDIR, labels, list(labels), [f"class {k}" for k in range(6)], 9, "cm/perfect"
        )
    return call_start.with_hook(inputs, _figures_left) if watch else inputs


def logged_confusion(got, inputs, files, watch: bool = False) -> None:
    from PIL import Image
    from sklearn.metrics import confusion_matrix

    _logdir, y_true, y_pred, names, *rest = inputs.args
    step = inputs.kwargs.get("step", rest[0] if rest else 0)
    tag = inputs.kwargs.get("tag", rest[1] if len(rest) > 1 else "confusion_matrix")
    want = confusion_matrix(y_true, y_pred, labels=range(len(names)))
    expect(
        isinstance(got, list) and all(isinstance(r, list) for r in got),
        _("return a list of rows, not {got}.").format(got=show(got)),
        3,
    )
    if got == want.T.tolist() != want.tolist():
        raise Mismatch(_("your matrix is transposed: one row per true class."), 1)
    what = _("the matrix (a row per true class, a column per prediction)")
    expect_close(got, want, what, hint=1)
    acc = tb.accumulator(run_folder(files))
    images = acc.Images(tag) if tag in acc.Tags()["images"] else []
    expect(
        [e.step for e in images] == [step],
        _("expected one image under {tag} at step {step}, found steps {found}.").format(
            tag=tag, step=step, found=[e.step for e in images]
        ),
        3,
    )
    try:
        pixels = np.asarray(Image.open(io.BytesIO(images[0].encoded_image_string)).convert("L"))
    except Exception as exc:  # PIL raises its own errors on a bad image
        raise Mismatch(_("the logged image cannot be read."), 3) from exc
    expect(
        min(pixels.shape) >= 100,
        _("the logged figure is only {shape} pixels.").format(shape=pixels.shape),
        2,
    )
    expect(pixels.std() > 5, _("the logged figure is blank."), 2)
    if watch:
        record = call_start.read_observed(files, "figures")
        expect(record is not None, _("the grader's record of open figures is missing."))
        left = record.get("left_open")
        expect(
            left == 0,
            _(
                "a call left {count} matplotlib figure(s) open: log it with add_figure "
                "(which closes it)."
            ).format(count=show(left)),
            3,
        )


# ---------------------------------------------------------------- 04.5

GLOO = {  # tag -> each rank's losses
    "ddp/loss": [[2.0, 1.5, 1.25, 0.5], [1.0, 0.5, 0.75, 0.25]],
    "loss": [[3.0, 2.0], [1.0, 0.0], [2.0, 4.0]],
}


_CHILDREN: list[int] = []  # ranks of the previous case's second job, still to reap
_JOBS = [0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _join(rank: int, world_size: int, port: int) -> None:
    """Join the job's gloo group; return once every rank has joined."""
    timeout = timedelta(seconds=GROUP_TIMEOUT_S)
    url = f"tcp://127.0.0.1:{port}"
    dist.init_process_group(
        "gloo", init_method=url, rank=rank, world_size=world_size, timeout=timeout
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
        except BaseException as exc:  # noqa: BLE001 - reported to the judge
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
        for pid in (p for p in pids if p not in status):
            try:
                done, code = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                status[pid] = "gone"
                continue
            if done:
                status[pid] = os.waitstatus_to_exitcode(code)
        if len(status) < len(pids) and time.monotonic() > deadline:
            for pid in (p for p in pids if p not in status):
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
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
            json.dump({"exits": [status[pid] for pid in pids]}, fh)
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


def gloo_case(tag: str) -> Inputs:
    """Rank 0's arguments (rank, world_size, logdir, tag, local_losses); the hook does the rest."""
    losses = GLOO[tag]
    inputs = Inputs(0, len(losses), LOGDIR, tag, losses[0])
    return call_start.with_hook(inputs, lambda args: _run_job(args, losses))


def _written(folder: Path, tag: str, means: np.ndarray, who: str) -> None:
    files = tb.event_files(folder)
    expect(files, _("{who}: rank 0 wrote no event file in its logdir.").format(who=who), hint=1)
    expect(
        len(files) == 1,
        _("{who}: {count} event files: only rank 0 may open a writer.").format(
            who=who, count=len(files)
        ),
        1,
    )
    series = tb.scalar_series(files[0].parent, tag)
    steps = list(range(1, len(means) + 1))
    logged = [s for s, _v in series]
    expect(
        logged == steps,
        _("{who}: {tag} is logged at steps {got}, expected {want}.").format(
            who=who, tag=tag, got=logged, want=steps
        ),
        3,
    )
    what = _("{who}: the logged means").format(who=who)
    expect_close([v for _s, v in series], means, what, 1e-6, 1e-9, 2)


def rank_zero_logged(got, inputs, files) -> None:
    tag = inputs.args[3]
    means = np.mean(np.asarray(GLOO[tag], dtype=np.float64), axis=0)
    expect_close(got, means, _("your call as rank 0: the means over the ranks"), 1e-6, 1e-9, 2)
    job = Path(files) / JOB
    status = call_start.read_json(job / STATUS_FILE)
    expect(
        status is not None, _("the grader's record of the job is missing from the call's folder.")
    )
    for rank, code in enumerate(status.get("exits", [])):
        expect(
            code != "killed",
            _("rank {rank} did not finish (a collective it skipped?).").format(rank=rank),
            2,
        )
        record = call_start.read_json(job / RANK_FILE.format(rank=rank)) or {}
        expect(
            record.get("ok"),
            _("rank {rank} raised {error}.").format(
                rank=rank, error=str(record.get("error"))[:200]
            ),
            2,
        )
        value = plaindata.decode(record.get("value"))
        what = _("rank {rank} of the grader's job: the means").format(rank=rank)
        expect_close(value, means, what, 1e-6, 1e-9, 2)
    _written(job / LOGDIR, tag, means, _("the job run by the grader"))
    _written(Path(files) / LOGDIR, tag, means, _("your call as rank 0"))


CASES = [
    Case(
        "04.1",
        "23 steps logged every 5 under fit/loss and fit/acc",
        partial(training_run, 23, 5, 0, "fit/loss", "fit/acc"),
        logged_training,
    ),
    Case("04.1", "6 steps logged every step", partial(training_run, 6, 1, 4), logged_training),
    Case("04.2", "a model with a frozen layer", histogram_case, logged_histograms),
    Case(
        "04.3",
        "a 2 x 2 grid of lr and seed",
        partial(grid_case, {"lr": [0.1, 0.8], "seed": [0, 3]}, 1),
        logged_grid,
    ),
    Case("04.3", "a grid over steps", partial(grid_case, {"steps": [3, 9, 27]}, 2), logged_grid),
    Case("04.4", "60 sampled labels, one class never occurs", confusion_case, logged_confusion),
    Case(
        "04.4",
        "figures left open",
        partial(confusion_case, watch=True),
        partial(logged_confusion, watch=True),
    ),
    Case(
        "04.5",
        "a 2-process gloo job",
        partial(gloo_case, "ddp/loss"),
        rank_zero_logged,
        timeout=GLOO_TIMEOUT_S,
    ),
]
