"""Lesson 04 exercises, solved: write TensorBoard logs that someone else can read back.

Each function gets a log directory and plain values, writes event files with
``torch.utils.tensorboard.SummaryWriter`` and returns plain data. The checks read your
event files with TensorBoard's own reader from outside your code, so close (or at least
flush) every writer you open. Check your work with ``lessonlib check 04``; stuck?
``lessonlib hint 04.1``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn


def train_steps(
    inputs: torch.Tensor, targets: torch.Tensor, steps: int = 20, lr: float = 0.5, seed: int = 0
) -> Iterator[tuple[int, float, float]]:
    """The given training loop (written for you): yields ``(step, loss, accuracy)``, steps 1…steps.

    A linear classifier ``nn.Linear(inputs.shape[1], n_classes)`` whose weights come from
    ``torch.manual_seed(seed)``, trained with full-batch SGD at learning rate ``lr`` on
    cross-entropy. Loss and accuracy are those of each step's forward pass, before its update.
    """
    n_classes = int(targets.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Linear(inputs.shape[1], n_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for step in range(1, steps + 1):
        logits = model(inputs)
        loss = nn.functional.cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        accuracy = (logits.argmax(1) == targets).float().mean().item()
        yield step, loss.item(), accuracy


def log_training(
    logdir: str,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    every: int,
    loss_tag: str = "train/loss",
    acc_tag: str = "train/accuracy",
) -> list[int]:
    """Run ``train_steps(inputs, targets, steps)``; log loss and accuracy every ``every`` steps.

    Log under ``loss_tag`` and ``acc_tag`` in ``logdir`` (one run), with the step number as
    ``global_step``, at steps ``every, 2*every, …`` only (not every step). Return the list of
    steps you logged.
    """
    from torch.utils.tensorboard import SummaryWriter

    logged = []
    with SummaryWriter(logdir) as writer:
        for step, loss, accuracy in train_steps(inputs, targets, steps):
            if step % every == 0:
                writer.add_scalar(loss_tag, loss, step)
                writer.add_scalar(acc_tag, accuracy, step)
                logged.append(step)
    return logged


def log_weight_and_grad_histograms(
    logdir: str, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, step: int
) -> list[str]:
    """Log histograms of every parameter's weights and gradients at ``step``; return the tags.

    Compute the cross-entropy of ``model(inputs)`` against ``targets`` and back-propagate it
    once. Then, for each ``(name, param)`` in ``model.named_parameters()``, log the values
    under ``weights/<name>`` and the gradient under ``grads/<name>``. A parameter that got
    no gradient (frozen with ``requires_grad=False``) gets only its weights histogram. Return
    the tags you wrote, sorted.
    """
    from torch.utils.tensorboard import SummaryWriter

    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(inputs), targets).backward()
    tags = []
    with SummaryWriter(logdir) as writer:
        for name, param in model.named_parameters():
            writer.add_histogram(f"weights/{name}", param, step)
            tags.append(f"weights/{name}")
            if param.grad is not None:
                writer.add_histogram(f"grads/{name}", param.grad, step)
                tags.append(f"grads/{name}")
    return sorted(tags)


def hparam_grid(
    logdir: str, inputs: torch.Tensor, targets: torch.Tensor, grid: dict[str, list]
) -> list[dict]:
    """Train once per combination of ``grid`` values and log each run with ``add_hparams``.

    ``grid`` maps keyword arguments of ``train_steps`` (``lr``, ``seed``, ``steps``) to lists
    of values, e.g. ``{"lr": [0.1, 1.0], "seed": [0, 1]}`` means four runs. Give every run
    its own subfolder of ``logdir`` and log there, with ``add_hparams``, the combination's
    values and the metrics ``hparam/loss`` and ``hparam/accuracy`` (the last step's loss
    and accuracy). Return one dict per run: the combination plus ``loss`` and ``accuracy``.
    """
    import itertools
    from pathlib import Path

    from torch.utils.tensorboard import SummaryWriter

    names = sorted(grid)
    runs = []
    for values in itertools.product(*(grid[n] for n in names)):
        hparams = dict(zip(names, values, strict=True))
        *_, (_, loss, accuracy) = train_steps(inputs, targets, **hparams)
        run = ",".join(f"{k}={v}" for k, v in hparams.items())
        with SummaryWriter(str(Path(logdir) / run)) as writer:
            metrics = {"hparam/loss": loss, "hparam/accuracy": accuracy}
            writer.add_hparams(hparams, metrics, run_name=".")
        runs.append({**hparams, "loss": loss, "accuracy": accuracy})
    return runs


def log_confusion_matrix(
    logdir: str,
    y_true: list[int],
    y_pred: list[int],
    class_names: list[str],
    step: int = 0,
    tag: str = "confusion_matrix",
) -> list[list[int]]:
    """Draw the confusion matrix as a matplotlib figure, log it with ``add_figure``; return it.

    The matrix has one row per true class and one column per predicted class, in the order
    of ``class_names`` (class ``k`` is ``class_names[k]``), including classes that never
    occur. Label both axes with the class names and write each count in its cell. Log the
    figure under ``tag`` at ``step``; return the matrix as a list of rows of ints.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    n = len(class_names)
    matrix = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[t, p] += 1
    fig, ax = plt.subplots(figsize=(1 + 0.6 * n, 1 + 0.6 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    fig.tight_layout()
    with SummaryWriter(logdir) as writer:
        writer.add_figure(tag, fig, step)  # closes the figure
    return matrix.tolist()


def log_from_rank_zero(
    rank: int, world_size: int, logdir: str, tag: str, local_losses: list[float]
) -> list[float]:
    """In a 2-process (or larger) job, average each step's loss over the ranks; only rank 0 logs.

    This runs in each of ``world_size`` processes; a gloo process group is already set up
    (``torch.distributed`` is ready to use). ``local_losses[i]`` is this process's loss at
    step ``i + 1``. Average every step's loss over all ranks with ``dist.all_reduce``; on
    rank 0 only, log the mean under ``tag`` at that step. The other ranks must not open a
    writer at all (even an unused one leaves an event file). Every rank returns the means.
    """
    import torch.distributed as dist

    means = []
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(logdir)
    for step, loss in enumerate(local_losses, start=1):
        total = torch.tensor([float(loss)], dtype=torch.float64)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        mean = total.item() / world_size
        means.append(mean)
        if writer is not None:
            writer.add_scalar(tag, mean, step)
    if writer is not None:
        writer.close()
    return means
