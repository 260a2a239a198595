"""Exercise checks for lesson 04: event files are read back with TensorBoard and tbparse."""

from __future__ import annotations

import copy
import io
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from lessonlib.classroom.references.tb import (
    accumulator,
    event_files,
    reference_losses,
    scalar_series,
    seeded_classification,
)


@pytest.mark.exercise("04.1", points=2)
def test_log_training_at_an_interval(exercises, tmp_path):
    x, y = seeded_classification()
    got = exercises.log_training(str(tmp_path), x, y, 23, 5, "fit/loss", "fit/acc")
    want = [r for r in reference_losses(x, y, 23) if r[0] % 5 == 0]
    assert got == [r[0] for r in want], f"logged steps should be 5, 10, 15, 20; you returned {got}"
    files = event_files(tmp_path)
    assert files, "no event file in the log directory: did you create a SummaryWriter there?"
    assert {f.parent for f in files} == {tmp_path}, "log one run, directly in logdir"
    tags = set(accumulator(tmp_path).Tags()["scalars"])
    assert tags == {"fit/loss", "fit/acc"}, f"expected the tags fit/loss and fit/acc, found {tags}"
    loss = scalar_series(tmp_path, "fit/loss")
    acc = scalar_series(tmp_path, "fit/acc")
    assert [s for s, _ in loss] == [r[0] for r in want], f"loss steps are {[s for s, _ in loss]}"
    assert [s for s, _ in acc] == [r[0] for r in want], f"accuracy steps are {[s for s, _ in acc]}"
    np.testing.assert_allclose([v for _, v in loss], [r[1] for r in want], rtol=1e-4)
    np.testing.assert_allclose([v for _, v in acc], [r[2] for r in want], rtol=1e-4)


@pytest.mark.exercise("04.1", points=2)
def test_log_training_every_step_with_default_tags(exercises, tmp_path):
    x, y = seeded_classification(seed=4)
    got = exercises.log_training(str(tmp_path), x, y, 6, 1)
    assert got == [1, 2, 3, 4, 5, 6], f"every=1 logs each step; you returned {got}"
    ref = reference_losses(x, y, 6)
    series = scalar_series(tmp_path, "train/loss")
    assert [s for s, _ in series] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([v for _, v in series], [r[1] for r in ref], rtol=1e-4)
    assert [s for s, _ in scalar_series(tmp_path, "train/accuracy")] == [1, 2, 3, 4, 5, 6]


def _model_with_a_frozen_layer() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = nn.Sequential(
            nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
        )
    model[2].requires_grad_(False)
    return model


@pytest.mark.exercise("04.2", points=2)
def test_weight_and_grad_histograms(exercises, tmp_path):
    x, y = seeded_classification()
    model = _model_with_a_frozen_layer()
    reference = copy.deepcopy(model)
    nn.functional.cross_entropy(reference(x), y).backward()
    named = dict(reference.named_parameters())
    want = sorted(
        [f"weights/{n}" for n in named]
        + [f"grads/{n}" for n, p in named.items() if p.grad is not None]
    )
    got = exercises.log_weight_and_grad_histograms(str(tmp_path), model, x, y, 7)
    assert got == want, f"expected the tags {want}, got {got}"
    acc = accumulator(tmp_path)
    logged = sorted(acc.Tags()["histograms"])
    assert logged == want, f"the event file holds histograms {logged}"
    for tag in want:
        kind, name = tag.split("/", 1)
        values = named[name].detach() if kind == "weights" else named[name].grad
        (event,) = acc.Histograms(tag)
        h = event.histogram_value
        assert event.step == 7, f"{tag} logged at step {event.step}, not 7"
        assert h.num == values.numel(), (
            f"{tag} counts {h.num} values, the tensor has {values.numel()}"
        )
        assert h.min == pytest.approx(values.min().item(), abs=1e-6), f"{tag}: wrong minimum"
        assert h.max == pytest.approx(values.max().item(), abs=1e-6), f"{tag}: wrong maximum"
        assert h.sum == pytest.approx(values.sum().item(), rel=1e-4, abs=1e-6), f"{tag}: wrong sum"


@pytest.mark.exercise("04.3", points=3)
def test_hparam_grid_runs_and_metrics(exercises, tmp_path):
    from tbparse import SummaryReader

    x, y = seeded_classification(seed=1)
    grid = {"lr": [0.1, 0.8], "seed": [0, 3]}
    returned = exercises.hparam_grid(str(tmp_path), x, y, grid)
    reader = SummaryReader(str(tmp_path), extra_columns={"dir_name"})
    hp = reader.hparams
    assert not hp.empty, "no hparams found: log each run with add_hparams"
    runs = {d: dict(zip(g["tag"], g["value"], strict=True)) for d, g in hp.groupby("dir_name")}
    assert len(runs) == 4, f"2 x 2 values make 4 runs, found hparams in {sorted(runs)}"
    combos = sorted((float(r["lr"]), int(float(r["seed"]))) for r in runs.values())
    assert combos == sorted(itertools.product([0.1, 0.8], [0, 3])), f"runs cover {combos}"
    scalars = reader.scalars
    for folder, values in runs.items():
        lr, seed = float(values["lr"]), int(float(values["seed"]))
        _, loss, accuracy = reference_losses(x, y, lr=lr, seed=seed)[-1]
        mine = scalars[scalars["dir_name"] == folder].set_index("tag")["value"]
        assert "hparam/loss" in mine and "hparam/accuracy" in mine, (
            f"run {folder} lacks the metrics hparam/loss and hparam/accuracy"
        )
        assert mine["hparam/loss"] == pytest.approx(loss, rel=1e-4), (
            f"run {folder}: wrong final loss"
        )
        assert mine["hparam/accuracy"] == pytest.approx(accuracy, rel=1e-4), (
            f"run {folder}: wrong accuracy"
        )
    assert len(returned) == 4, f"return one dict per run, got {len(returned)}"
    for item in returned:
        _, loss, accuracy = reference_losses(x, y, lr=item["lr"], seed=item["seed"])[-1]
        assert item["loss"] == pytest.approx(loss, rel=1e-4)
        assert item["accuracy"] == pytest.approx(accuracy, rel=1e-4)


@pytest.mark.exercise("04.3", points=3)
def test_hparam_grid_over_steps(exercises, tmp_path):
    from tbparse import SummaryReader

    x, y = seeded_classification(seed=2)
    exercises.hparam_grid(str(tmp_path), x, y, {"steps": [3, 9, 27]})
    reader = SummaryReader(str(tmp_path), extra_columns={"dir_name"})
    hp = reader.hparams
    steps = sorted(int(float(v)) for v in hp[hp["tag"] == "steps"]["value"])
    assert steps == [3, 9, 27], f"expected three runs with steps 3, 9, 27; found {steps}"
    folders = set(hp["dir_name"])
    assert len(folders) == 3 and "" not in folders, "give every run its own subfolder of logdir"


@pytest.mark.exercise("04.4", points=2)
def test_confusion_matrix_figure(exercises, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 60).tolist()  # class 3 never occurs
    y_pred = [t if rng.random() < 0.7 else int(rng.integers(0, 4)) for t in y_true]
    names = ["circle", "square", "triangle", "cross"]
    before = set(plt.get_fignums())
    got = exercises.log_confusion_matrix(
        str(tmp_path), y_true, y_pred, names, step=4, tag="eval/cm"
    )
    want = confusion_matrix(y_true, y_pred, labels=range(4)).tolist()
    assert got == want, f"scikit-learn's matrix is {want}; you returned {got}"
    assert set(plt.get_fignums()) == before, (
        "the figure stays open: log it with add_figure (it closes it)"
    )
    images = accumulator(tmp_path).Images("eval/cm")
    assert [e.step for e in images] == [4], (
        f"expected one image at step 4, found steps {[e.step for e in images]}"
    )
    picture = np.asarray(Image.open(io.BytesIO(images[0].encoded_image_string)).convert("L"))
    assert min(picture.shape) >= 100, f"the logged figure is only {picture.shape} pixels"
    assert picture.std() > 5, "the logged figure is blank"


@pytest.mark.exercise("04.5", points=3)
def test_only_rank_zero_writes(exercises, tmp_path):
    from lessonlib.distributed import run_ranks

    losses = [[2.0, 1.5, 1.25, 0.5], [1.0, 0.5, 0.75, 0.25]]
    results = run_ranks(
        exercises.__file__, "log_from_rank_zero", 2, str(tmp_path), "ddp/loss",
        rank_args=[(losses[0],), (losses[1],)],
    )  # fmt: skip
    means = np.mean(losses, axis=0)
    for rank, result in enumerate(results):
        np.testing.assert_allclose(result, means, err_msg=f"rank {rank} returned {result}")
    files = event_files(tmp_path)
    assert len(files) == 1, f"only rank 0 may open a writer; found {len(files)} event files"
    series = scalar_series(files[0].parent, "ddp/loss")
    assert [s for s, _ in series] == [1, 2, 3, 4], f"steps logged: {[s for s, _ in series]}"
    np.testing.assert_allclose([v for _, v in series], means, rtol=1e-6)
