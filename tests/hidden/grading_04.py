"""Lesson 04's graded cases: the visible tests' cases and the hidden ones, checked in the grader.

The sandbox builds each case's inputs (grading_04_inputs.py), calls the student's function
with the log directory ``runs`` and returns plain data plus the files the call wrote; the
checks below read those event files with TensorBoard's EventAccumulator and tbparse and
compare them with a training loop of our own, scikit-learn and numpy, never with the
solution.

The gloo cases run the job twice in the sandbox (see grading_04_inputs.py): every rank's
return value and event files come from the first run, rank 0's also from the second, which is
the sandbox's own call. Whether the first confusion matrix closed its figure is seen when the
second call starts; whether the second one closes its own is left to the visible tests
(``lessonlib check 04``), as the hidden test does.
"""

from __future__ import annotations

import copy
import functools
import io
import itertools
from functools import partial
from pathlib import Path

import numpy as np
import torch
from grading_04_inputs import (
    FIGURES,
    JOB,
    LOGDIR,
    RANK_FILE,
    STATUS_FILE,
    confusion_case,
    gloo_case,
    grid_case,
    histogram_case,
    perfect_confusion_case,
    training_run,
)
from torch import nn

from lessonlib.classroom import plaindata
from lessonlib.classroom.grading import Case, plain_text, show
from lessonlib.classroom.references.call_start import read_json, read_observed
from lessonlib.classroom.references.tb import accumulator, event_files, reference_losses

GLOO_TIMEOUT_S = 30.0


def _close(got, want, rel: float = 1e-4, abs_: float = 1e-12) -> bool:
    """pytest.approx's rule: |got - want| <= max(rel * |want|, abs)."""
    got, want = float(got), float(want)
    return abs(got - want) <= max(rel * abs(want), abs_)


def _logdir(files: Path) -> Path:
    folder = Path(files) / LOGDIR
    assert event_files(folder), (
        "no event file in the log directory: create a SummaryWriter with the logdir you were "
        "given, and close it."
    )
    return folder


def _series(folder: Path, tag: str) -> list[tuple[int, float]]:
    acc = accumulator(folder)
    if tag not in acc.Tags()["scalars"]:
        return []
    return [(e.step, e.value) for e in acc.Scalars(tag)]


# ---------------------------------------------------------------- 04.1


def check_training(got, inputs, files) -> None:
    _, x, y, steps, every, *tags = inputs.args
    loss_tag, acc_tag = tags or ("train/loss", "train/accuracy")
    want = [r for r in reference_losses(x, y, steps) if r[0] % every == 0]
    want_steps = [r[0] for r in want]
    assert got == want_steps, (
        f"with every={every} over {steps} steps log at {want_steps}; you returned {show(got)}."
    )
    folder = _logdir(files)
    assert {f.parent for f in event_files(folder)} == {folder}, (
        "log one run, directly in logdir (no subfolder)."
    )
    found = set(accumulator(folder).Tags()["scalars"])
    assert found == {loss_tag, acc_tag}, (
        f"expected the scalar tags {sorted({loss_tag, acc_tag})}, found {sorted(found)}."
    )
    for tag, column, what in ((loss_tag, 1, "loss"), (acc_tag, 2, "accuracy")):
        series = _series(folder, tag)
        assert [s for s, _ in series] == want_steps, (
            f"{tag} is logged at steps {[s for s, _ in series]}, want {want_steps} "
            "(pass the step as global_step)."
        )
        for (step, value), ref in zip(series, want, strict=True):
            assert _close(value, ref[column], abs_=0.0), (
                f"{tag} at step {step} is {value:.6g}; the training loop's {what} is "
                f"{ref[column]:.6g}."
            )


def check_nothing_logged(got, inputs, files) -> None:
    assert got == [], f"no step reaches the interval: return [], not {show(got)}."
    for folder in {f.parent for f in event_files(Path(files) / LOGDIR)}:
        assert accumulator(folder).Tags()["scalars"] == [], (
            "no step reached the interval, yet scalars were logged."
        )


# ---------------------------------------------------------------- 04.2


@functools.cache
def reference_parameters(inputs) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """name -> (weights, gradient or None) after one backward pass on a copy of the model."""
    model, x, y = copy.deepcopy(inputs.args[1]), inputs.args[2], inputs.args[3]
    nn.functional.cross_entropy(model(x), y).backward()
    return {
        name: (p.detach().clone(), None if p.grad is None else p.grad.clone())
        for name, p in model.named_parameters()
    }


def check_histograms(got, inputs, files) -> None:
    step = inputs.args[4]
    params = reference_parameters(inputs)
    grads = [f"grads/{n}" for n, (_, g) in params.items() if g is not None]
    want = sorted([f"weights/{n}" for n in params] + grads)
    assert got == want, f"expected the tags {want}, got {show(got)}."
    acc = accumulator(_logdir(files))
    logged = sorted(acc.Tags()["histograms"])
    assert logged == want, f"the event file holds the histograms {logged}, want {want}."
    for tag in want:
        kind, name = tag.split("/", 1)
        weights, grad = params[name]
        values = weights if kind == "weights" else grad
        events = acc.Histograms(tag)
        assert len(events) == 1, f"{tag} is logged {len(events)} times, want once."
        h = events[0].histogram_value
        assert events[0].step == step, f"{tag} is logged at step {events[0].step}, not {step}."
        assert h.num == values.numel(), (
            f"{tag} counts {h.num:g} values, the tensor has {values.numel()}."
        )
        assert _close(h.min, values.min(), 0, 1e-6) and _close(h.max, values.max(), 0, 1e-6), (
            f"{tag}: the minimum or maximum is not that of the "
            f"{'weights' if kind == 'weights' else 'gradient after one backward pass'}."
        )
        assert _close(h.sum, values.sum(), 1e-4, 1e-6), f"{tag}: the values' sum is wrong."


# ---------------------------------------------------------------- 04.3


def _hparam_runs(files: Path) -> tuple[dict[str, dict], object]:
    from tbparse import SummaryReader

    folder = _logdir(files)
    reader = SummaryReader(str(folder), extra_columns={"dir_name"})
    hp = reader.hparams
    assert not hp.empty, "no hparams found: log each run with add_hparams."
    runs = {d: dict(zip(g["tag"], g["value"], strict=True)) for d, g in hp.groupby("dir_name")}
    return runs, reader.scalars


def check_grid(got, inputs, files, check_returned: bool = True, quietly: bool = False) -> None:
    _, x, y, grid = inputs.args
    keys = sorted(grid)
    runs, scalars = _hparam_runs(files)
    want = sorted(itertools.product(*(map(float, grid[k]) for k in keys)))
    try:
        combos = sorted(tuple(float(r[k]) for k in keys) for r in runs.values())
    except (KeyError, TypeError, ValueError):
        combos = None
    assert combos == want, (
        f"{len(want)} runs with the hparams {keys}, one per combination; found hparams in "
        f"{len(runs)} folder(s){'' if combos is not None else ' without all of them'}."
    )
    assert "" not in runs and len(runs) == len(want), "give every run its own subfolder of logdir."
    for folder, values in runs.items():
        kwargs = {k: (float if k == "lr" else int)(float(values[k])) for k in keys}
        _, loss, accuracy = reference_losses(x, y, **kwargs)[-1]
        mine = scalars[scalars["dir_name"] == folder].set_index("tag")["value"]
        assert "hparam/loss" in mine and "hparam/accuracy" in mine, (
            f"run {folder} lacks the metrics hparam/loss and hparam/accuracy."
        )
        assert _close(mine["hparam/loss"], loss) and _close(mine["hparam/accuracy"], accuracy), (
            f"run {folder}: the metrics are not that combination's final loss and accuracy."
            if not quietly
            else f"run {folder}: wrong metrics."
        )
    if not check_returned:
        return
    assert isinstance(got, list | tuple) and len(got) == len(want), (
        f"return one dict per run ({len(want)}), not {show(got)}."
    )
    for item in got:
        assert isinstance(item, dict) and all(k in item for k in [*keys, "loss", "accuracy"]), (
            f"each run is a dict with {keys}, 'loss' and 'accuracy'; got {show(item)}."
        )
        kwargs = {k: item[k] for k in keys}
        _, loss, accuracy = reference_losses(x, y, **kwargs)[-1]
        assert _close(item["loss"], loss) and _close(item["accuracy"], accuracy), (
            f"the returned loss or accuracy of {show(kwargs)} is not that run's."
        )


# ---------------------------------------------------------------- 04.4


def check_confusion(got, inputs, files, second_call: bool = False) -> None:
    from PIL import Image
    from sklearn.metrics import confusion_matrix

    _, y_true, y_pred, names, *rest = inputs.args
    step = inputs.kwargs.get("step", rest[0] if rest else 0)
    tag = inputs.kwargs.get("tag", rest[1] if len(rest) > 1 else "confusion_matrix")
    want = confusion_matrix(y_true, y_pred, labels=range(len(names))).tolist()
    assert got == want, (
        f"scikit-learn's matrix is {want}; you returned {show(got)}."
        if not second_call
        else f"{show(got)} is not the confusion matrix (rows are true classes)."
    )
    acc = accumulator(_logdir(files))
    images = acc.Images(tag) if tag in acc.Tags()["images"] else []
    assert [e.step for e in images] == [step], (
        f"expected one image under {tag} at step {step}, found steps {[e.step for e in images]}."
    )
    try:
        picture = Image.open(io.BytesIO(images[0].encoded_image_string)).convert("L")
    except Exception as exc:  # PIL raises its own errors on a bad image
        raise AssertionError("the logged image cannot be read.") from exc
    pixels = np.asarray(picture)
    assert min(pixels.shape) >= 100, f"the logged figure is only {pixels.shape} pixels."
    assert pixels.std() > 5, "the logged figure is blank."
    if second_call:
        record = read_observed(files, FIGURES)
        assert record is not None, (
            "the grader's record of open figures is missing from the call's folder."
        )
        assert record.get("left_open") == 0, (
            f"the previous call left {show(record.get('left_open'))} matplotlib figure(s) open: "
            "log it with add_figure (which closes it)."
        )


# ---------------------------------------------------------------- 04.5


def _read_rank(folder: Path, rank: int):
    """What rank ``rank`` of the grader's job returned (decoded as plain data)."""
    record = read_json(folder / RANK_FILE.format(rank=rank))
    assert record is not None, (
        f"rank {rank} of the job ended without returning (did it crash or hang?)."
    )
    if record.get("ok") is not True:
        raise AssertionError(f"rank {rank} raised {plain_text(record.get('error', ''), 200)}.")
    try:
        return plaindata.decode(record.get("value"))
    except plaindata.PlainDataError as exc:
        raise AssertionError(f"rank {rank} returned data the grader cannot read.") from exc


def _means_match(value, means: np.ndarray) -> bool:
    try:
        mine = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return mine.shape == means.shape and bool(np.allclose(mine, means, rtol=1e-6, atol=1e-9))


def _check_written(folder: Path, tag: str, means: np.ndarray, who: str) -> None:
    files = event_files(folder)
    assert files, f"{who}: rank 0 wrote no event file in its logdir."
    assert len(files) == 1, f"{who}: {len(files)} event files: only rank 0 may open a writer."
    series = _series(files[0].parent, tag)
    steps = list(range(1, len(means) + 1))
    assert [s for s, _ in series] == steps, (
        f"{who}: {tag} is logged at steps {[s for s, _ in series]}, want {steps}."
    )
    assert np.allclose([v for _, v in series], means, rtol=1e-6), (
        f"{who}: the logged values are not the means over the ranks."
    )


def check_gloo(got, inputs, files, rank_losses: list[list[float]], quietly: bool = False) -> None:
    means = np.mean(np.asarray(rank_losses, dtype=np.float64), axis=0)
    tag = inputs.args[3]
    assert _means_match(got, means), (
        f"rank 0 should return the means over the ranks {np.round(means, 6).tolist()}, "
        f"got {show(got)}."
        if not quietly
        else f"rank 0 returned {show(got)}, not each step's mean over all ranks."
    )
    job = Path(files) / JOB
    status = read_json(job / STATUS_FILE)
    assert status is not None, "the grader's record of the job is missing from the call's folder."
    for rank, code in enumerate(status.get("exits", [])):
        assert code != "killed", f"rank {rank} did not finish (a collective every rank must call?)."
    for rank in range(len(rank_losses)):
        value = _read_rank(job, rank)
        assert _means_match(value, means), (
            f"every rank returns the means; rank {rank} returned {show(value)}."
        )
    _check_written(job / LOGDIR, tag, means, "the job run by the grader")
    _check_written(Path(files) / LOGDIR, tag, means, "your call as rank 0")


GLOO_TWO = [[2.0, 1.5, 1.25, 0.5], [1.0, 0.5, 0.75, 0.25]]
GLOO_THREE = [[3.0, 2.0], [1.0, 0.0], [2.0, 4.0]]

CASES = [
    Case(
        "04.1",
        "23 steps logged every 5 under fit/loss and fit/acc",
        partial(training_run, 23, 5, 0, "fit/loss", "fit/acc"),
        check_training,
    ),
    Case("04.1", "6 steps logged every step", partial(training_run, 6, 1, 4), check_training),
    Case(
        "04.1",
        "an interval longer than the run (hidden case)",
        partial(training_run, 4, 5, 7),
        check_nothing_logged,
    ),
    Case("04.2", "a model with a frozen layer", histogram_case, check_histograms),
    Case(
        "04.3",
        "a 2 x 2 grid of lr and seed",
        partial(grid_case, {"lr": [0.1, 0.8], "seed": [0, 3]}, 1),
        check_grid,
    ),
    Case(
        "04.3",
        "a grid over steps",
        partial(grid_case, {"steps": [3, 9, 27]}, 2),
        partial(check_grid, check_returned=False),
    ),
    Case(
        "04.3",
        "a grid with three keys (hidden case)",
        partial(grid_case, {"lr": [0.05, 0.5], "seed": [2], "steps": [4, 12]}, 5, 4),
        partial(check_grid, quietly=True),
    ),
    # The second confusion matrix also checks that the first call closed its figure.
    Case("04.4", "60 sampled labels, one class never occurs", confusion_case, check_confusion),
    Case(
        "04.4",
        "a perfect classifier (hidden case)",
        perfect_confusion_case,
        partial(check_confusion, second_call=True),
    ),
    Case(
        "04.5",
        "a 2-process gloo job",
        partial(gloo_case, GLOO_TWO, "ddp/loss"),
        partial(check_gloo, rank_losses=GLOO_TWO),
        timeout=GLOO_TIMEOUT_S,
    ),
    Case(
        "04.5",
        "a 3-process gloo job (hidden case)",
        partial(gloo_case, GLOO_THREE, "loss"),
        partial(check_gloo, rank_losses=GLOO_THREE, quietly=True),
        timeout=GLOO_TIMEOUT_S,
    ),
]
