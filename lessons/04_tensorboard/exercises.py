"""Lesson 04 exercises: write TensorBoard logs that someone else can read back.

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
    raise NotImplementedError("TODO(04.1)")


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
    raise NotImplementedError("TODO(04.2)")


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
    raise NotImplementedError("TODO(04.3)")


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
    raise NotImplementedError("TODO(04.4)")


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
    raise NotImplementedError("TODO(04.5)")
