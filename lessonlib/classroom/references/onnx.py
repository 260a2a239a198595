"""Reference facts about ONNX files for lesson 06's checks: onnxruntime and onnx, not our code."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn


def batch(n: int, *shape: int, seed: int = 0) -> np.ndarray:
    """The checks' batches: float32 normal noise, seeded by ``seed + n``."""
    return np.random.default_rng(seed + n).standard_normal((n, *shape)).astype(np.float32)


class Head(nn.Module):
    """A forward argument not called ``x``, and a LayerNorm: exporters must cope with both."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).softmax(dim=-1)


def session(model: bytes | str) -> ort.InferenceSession:
    """An onnxruntime CPU session of a file's bytes or path, without its warnings."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def ort_output(model: bytes | str, inputs: np.ndarray) -> np.ndarray:
    """The first output of the model for ``inputs``, run by onnxruntime."""
    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: inputs})[0]


def torch_output(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(inputs)).numpy()


def ort_signature(model: bytes | str) -> dict[str, dict[str, list]]:
    """Inputs and outputs with their shapes, as onnxruntime reports them."""
    sess = session(model)
    return {
        "inputs": {i.name: list(i.shape) for i in sess.get_inputs()},
        "outputs": {o.name: list(o.shape) for o in sess.get_outputs()},
    }


def legacy_export(model: torch.nn.Module, example: torch.Tensor, **kwargs) -> bytes:
    """The TorchScript exporter's file (fast, one file), as bytes."""
    kwargs.setdefault("input_names", ["image"])
    kwargs.setdefault("output_names", ["logits"])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, dynamo=False, **kwargs)
    return buffer.getvalue()


def handmade_mlp(seed: int = 0) -> bytes:
    """A 2-layer MLP written node by node with onnx.helper, with a symbolic batch 'N'."""
    rng = np.random.default_rng(seed)
    shapes = {"w1": (4, 8), "b1": (8,), "w2": (8, 2), "b2": (2,)}
    weights = [
        numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k)
        for k, s in shapes.items()
    ]
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
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def shift_initializer(data: bytes, name_contains: str, delta: float) -> bytes:
    """A copy of the model with ``delta`` added to the first element of the first initializer
    whose name matches (so one output column differs: max and mean differences differ)."""
    model = onnx.load_from_string(data)
    for init in model.graph.initializer:
        if name_contains in init.name:
            shifted = numpy_helper.to_array(init).copy()
            shifted.flat[0] += np.float32(delta)
            init.CopyFrom(numpy_helper.from_array(shifted, init.name))
            return model.SerializeToString()
    raise AssertionError(f"no initializer named like {name_contains!r}")


def nested_graph() -> bytes:
    """ReduceMax, Greater, If (a Relu, a Neg in its branches), Twice (a local function)."""
    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in ("x", "y"))

    def branch(op: str) -> onnx.GraphProto:
        out = helper.make_tensor_value_info(f"{op}_out", TensorProto.FLOAT, ["N", 4])
        return helper.make_graph([helper.make_node(op, ["x"], [f"{op}_out"])], op, [], [out])

    nodes = [
        helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
        helper.make_node("Greater", ["m", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["h"], then_branch=branch("Relu"), else_branch=branch("Neg")),
        helper.make_node("Twice", ["h"], ["y"], domain="local"),
    ]
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    twice = helper.make_function(
        "local",
        "Twice",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    graph = helper.make_graph(nodes, "nested", [x], [y], [zero])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    model = helper.make_model(graph, opset_imports=opsets, functions=[twice])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()
