"""Lesson 03 exercises: the numbers in a summary table, computed yourself.

Each function takes plain data (tensors, dicts of tensors, shapes, numbers) and returns plain
data. Check your work with ``lessonlib check 03``; stuck? ``lessonlib hint 03.2``.
"""

from __future__ import annotations

import torch

Pair = int | tuple[int, int]


def count_parameters(params: dict[str, torch.Tensor]) -> dict[str, int]:
    """Count the numbers in ``params`` (e.g. ``dict(model.named_parameters())``).

    Return ``{"total": ..., "trainable": ..., "non_trainable": ...}``: every element of
    every tensor, those of tensors with ``requires_grad``, and the rest. These are the
    "Total / Trainable / Non-trainable params" lines of torchinfo's table.
    """
    raise NotImplementedError("TODO(03.1)")


def conv2d_output_shape(
    input_shape: tuple[int, int, int, int],
    out_channels: int,
    kernel_size: Pair,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> tuple[int, int, int, int]:
    """The output shape ``(N, C_out, H_out, W_out)`` of ``nn.Conv2d`` on ``input_shape``.

    ``input_shape`` is ``(N, C_in, H, W)``. ``kernel_size``, ``stride``, ``padding`` and
    ``dilation`` are an int (same for height and width) or an ``(h, w)`` pair, as in
    ``nn.Conv2d``. Padding is zeros on both sides.
    """
    raise NotImplementedError("TODO(03.2)")


def conv2d_mult_adds(
    input_shape: tuple[int, int, int, int],
    out_channels: int,
    kernel_size: Pair,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
    groups: int = 1,
    bias: bool = True,
) -> int:
    """The mult-adds torchinfo reports for ``nn.Conv2d`` (these settings) on ``input_shape``.

    Count as torchinfo 1.8 does, for the whole batch: every weight once per output position
    of every image, and the bias (if any) once per output position too.
    """
    raise NotImplementedError("TODO(03.3)")


def params_size_mb(params: dict[str, torch.Tensor]) -> float:
    """The memory of the tensors in ``params`` in MB, as torchinfo's "Params size (MB)".

    Tensors may have different dtypes (float32, float16, float64 …). 1 MB = 10**6 bytes.
    Return the unrounded value.
    """
    raise NotImplementedError("TODO(03.4)")


def freeze_all_but(params: dict[str, torch.Tensor], head: str) -> list[str]:
    """Freeze every tensor in ``params`` except those of module ``head``; return what trains.

    ``params`` is ``dict(model.named_parameters())``, so changing a tensor's
    ``requires_grad`` changes the model. A name belongs to the head if it is inside module
    ``head`` (``"fc"`` owns ``"fc.weight"`` but not ``"fc2.weight"``). The head ends up
    trainable even if it was frozen before. Return the sorted names left trainable.
    """
    raise NotImplementedError("TODO(03.5)")
