"""Lesson 06 exercises, solved."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch.export import Dim


def export_dynamic_batch(model: torch.nn.Module, example: torch.Tensor, path: str) -> str:
    """Export ``model`` to the ONNX file ``path`` so that its batch dimension is dynamic."""
    model.eval()
    batch = Dim("batch", min=1, max=4096)
    torch.onnx.export(
        model,
        (example,),
        path,
        dynamo=True,
        verbose=False,
        input_names=["input"],
        output_names=["output"],
        dynamic_shapes=({0: batch},),  # positional: works whatever forward's argument is called
    )
    return str(Path(path))


def count_op_types(onnx_path: str) -> dict[str, int]:
    """Return how many nodes of each op type the model's main graph has."""
    model = onnx.load(onnx_path, load_external_data=False)
    return dict(Counter(node.op_type for node in model.graph.node))


def max_abs_difference(model: torch.nn.Module, onnx_path: str, inputs: np.ndarray) -> float:
    """Return max |PyTorch output - onnxruntime output| over all elements for ``inputs``."""
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (got,) = session.run(None, {name: inputs})
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(inputs)).numpy()
    return float(np.abs(got - want).max())


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param if d.dim_param else d.dim_value for d in value.type.tensor_type.shape.dim]


def io_signature(onnx_path: str) -> dict[str, dict[str, list[int | str]]]:
    """Return the graph's inputs and outputs with their shapes."""
    graph = onnx.load(onnx_path, load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    return {
        "inputs": {v.name: _dims(v) for v in graph.input if v.name not in weights},
        "outputs": {v.name: _dims(v) for v in graph.output},
    }
