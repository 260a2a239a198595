"""Lesson 06 exercises: export to ONNX, and read the file back.

Each function takes a model and/or a path and returns plain data (a path, numbers, dicts).
Check your work with ``lessonlib check 06``; stuck? ``lessonlib hint 06.1``.
"""

from __future__ import annotations

import numpy as np
import torch


def export_dynamic_batch(model: torch.nn.Module, example: torch.Tensor, path: str) -> str:
    """Export ``model`` to the ONNX file ``path`` so that its batch dimension is dynamic.

    ``example`` is one input batch (e.g. shape (2, 3, 64, 64)); the exported file must
    accept any batch size (onnxruntime will be given batches of 1 and 7) and compute what
    the model computes in eval mode. Return the path of the .onnx file as a str.
    """
    raise NotImplementedError("TODO(06.1)")


def count_op_types(onnx_path: str) -> dict[str, int]:
    """Return how many nodes of each op type the model's main graph has, e.g. {"Conv": 3, ...}.

    Count the nodes of the top-level graph (``graph.node``), not of subgraphs or functions.
    """
    raise NotImplementedError("TODO(06.2)")


def max_abs_difference(model: torch.nn.Module, onnx_path: str, inputs: np.ndarray) -> float:
    """Return max |PyTorch output - onnxruntime output| over all elements for ``inputs``.

    ``model`` is run in eval mode; ``onnx_path`` is a file with one input and one output;
    ``inputs`` is a float32 array for that input.
    """
    raise NotImplementedError("TODO(06.3)")


def io_signature(onnx_path: str) -> dict[str, dict[str, list[int | str]]]:
    """Return the graph's inputs and outputs with their shapes.

    ``{"inputs": {name: dims}, "outputs": {name: dims}}`` where each dim is an int for a
    fixed size, or the dimension's name (a str, e.g. "batch") for a dynamic one. Weights
    that an exporter also lists as graph inputs (they are initializers) are not inputs.
    """
    raise NotImplementedError("TODO(06.4)")
