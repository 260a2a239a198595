"""Lesson 09 exercises: write four of the report's analyses yourself, with hooks and autograd.

Each function takes a model and a batch (or a shape) and returns plain numbers, lists or a
name. The model is in eval mode; leave it as you found it: same mode, same weights, no hooks.
Check your work with ``lessonlib check 09``. Stuck? ``lessonlib hint 09.1``.
"""

from __future__ import annotations

import torch
from torch import nn


def relu_zero_fractions(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """For every ``nn.ReLU`` module that runs in ``model(x)``: the fraction of outputs that are 0.

    Keys are names from ``model.named_modules()``; values are floats in [0, 1]. A ReLU
    module that runs several times in one forward pass (a residual block may call its
    ``relu`` twice) counts the values of all its calls together: zeros over all calls
    divided by values over all calls. Some ReLUs are ``inplace=True``. Run one forward pass
    without building a graph, and remove every hook you add, also when the forward raises.
    """
    raise NotImplementedError("TODO(09.1)")


def dead_units(model: nn.Module, x: torch.Tensor) -> dict[str, list[int]]:
    """For every ``nn.ReLU`` module that runs in ``model(x)``: its dead units, as sorted indices.

    A unit is an index along dimension 1 of the ReLU's output (a channel of an (N, C, H, W)
    map, a feature of an (N, F) batch). It is dead when its output is 0 for every sample,
    every position and every call of that module in the forward pass; a unit that fires
    once, anywhere, is alive. Return ``{name: [indices]}`` with an empty list for a ReLU
    with no dead unit. No hooks may be left on the model.
    """
    raise NotImplementedError("TODO(09.2)")


def gradient_flow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean |gradient| of the cross-entropy loss for each weight of ``model``.

    The loss is ``F.cross_entropy(model(x), y)`` (its default mean over the batch), with
    the model in the mode you got it in. Return ``{name: mean of |d loss / d weight|}`` for
    every parameter from ``model.named_parameters()`` that requires grad and has
    ``dim() >= 2`` (weight matrices and conv kernels, not biases), in that order; a weight
    the loss does not reach gets 0.0. The parameters' ``.grad`` may already hold values:
    they must neither leak into your numbers nor be changed.
    """
    raise NotImplementedError("TODO(09.3)")


def failing_layer(model: nn.Module, input_shape: tuple[int, ...]) -> str | None:
    """The name of the module whose forward fails on an input of ``input_shape``, or None.

    Run the model on the meta device (an input of that shape costs no memory or time there,
    and the shapes may be huge), on a copy, so the caller's model keeps its weights. The
    answer is the innermost module that had started its forward and not finished it when
    the error was raised: a leaf layer such as ``"head.0"`` when the layer itself rejects
    the shape, the enclosing module when its own ``forward`` code fails (``""`` for the
    model itself). Return None when the forward pass runs.
    """
    raise NotImplementedError("TODO(09.4)")
