"""Reference facts about ONNX files for lesson 06's checks: onnxruntime and onnx, not our code."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn


def batch(n: int, *shape: int, seed: int = 0) -> np.ndarray:
    """The tests' batches: float32 normal noise, seeded by ``seed + n``."""
    return np.random.default_rng(seed + n).standard_normal((n, *shape)).astype(np.float32)


class Head(nn.Module):
    """A forward argument not called ``x``, and a LayerNorm: exporters must cope with both."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).softmax(dim=-1)


def session(path: str | Path) -> ort.InferenceSession:
    """An onnxruntime CPU session that keeps its warnings to itself."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_output(path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """The first output of the model at ``path`` for ``inputs``, run by onnxruntime."""
    sess = session(path)
    return sess.run(None, {sess.get_inputs()[0].name: inputs})[0]


def torch_output(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(inputs)).numpy()


def legacy_export(model: torch.nn.Module, example: torch.Tensor, path: Path, **kwargs) -> Path:
    """The TorchScript exporter (fast, one file): the tests' way of making ONNX files."""
    kwargs.setdefault("input_names", ["image"])
    kwargs.setdefault("output_names", ["logits"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, **kwargs)
    return path


def ort_signature(path: str | Path) -> dict[str, dict[str, list]]:
    """Inputs and outputs with their shapes, as onnxruntime reports them."""
    sess = session(path)
    return {
        "inputs": {i.name: list(i.shape) for i in sess.get_inputs()},
        "outputs": {o.name: list(o.shape) for o in sess.get_outputs()},
    }


HANDMADE_OPS = {"MatMul": 2, "Add": 2, "Relu": 1, "Sigmoid": 1, "Identity": 1}


def handmade_mlp(path: Path, seed: int = 0) -> Path:
    """A 2-layer MLP written node by node with onnx.helper: its op counts are HANDMADE_OPS."""
    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.standard_normal((4, 8)).astype(np.float32),
        "b1": rng.standard_normal(8).astype(np.float32),
        "w2": rng.standard_normal((8, 2)).astype(np.float32),
        "b2": rng.standard_normal(2).astype(np.float32),
    }
    nodes = [
        helper.make_node("Identity", ["x"], ["x0"]),
        helper.make_node("MatMul", ["x0", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["o0"]),
        helper.make_node("Add", ["o0", "b2"], ["o1"]),
        helper.make_node("Sigmoid", ["o1"], ["prob"]),
    ]
    graph = helper.make_graph(
        nodes,
        "handmade_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def shift_initializer(path: Path, out: Path, name_contains: str, delta: float) -> Path:
    """A copy of the model with ``delta`` added to the first initializer whose name matches."""
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if name_contains in init.name:
            init.CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(delta), init.name)
            )
            onnx.save(model, str(out))
            return out
    raise AssertionError(f"no initializer named like {name_contains!r}")
