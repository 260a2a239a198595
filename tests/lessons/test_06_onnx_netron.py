"""Exercise checks for lesson 06, against onnxruntime's and onnx's own reading of the files."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
import torch

from lessonlib.classroom.references.onnx import (
    HANDMADE_OPS,
    Head,
    batch,
    handmade_mlp,
    legacy_export,
    ort_output,
    ort_signature,
    shift_initializer,
    torch_output,
)
from lessonlib.models import small_cnn


def _check_batches(exercises, model, example, tmp_path, shape):
    path = exercises.export_dynamic_batch(model, example, str(tmp_path / "model.onnx"))
    assert isinstance(path, str), f"return the path as a str, not {type(path).__name__}"
    onnx.checker.check_model(path, full_check=True)
    for n in (1, 7):
        x = batch(n, *shape)
        got = ort_output(path, x)  # raises INVALID_ARGUMENT if the batch is fixed
        want = torch_output(model, x)
        assert got.shape == want.shape, (
            f"batch {n}: onnxruntime gave {got.shape}, PyTorch {want.shape}"
        )
        assert np.abs(got - want).max() <= 1e-4, (
            f"batch {n}: the exported model computes something else"
        )


@pytest.mark.exercise("06.1", points=3)
def test_export_cnn_with_dynamic_batch(exercises, tmp_path):
    model = small_cnn(seed=3).eval()
    _check_batches(exercises, model, torch.randn(2, 3, 32, 32), tmp_path, (3, 32, 32))


@pytest.mark.exercise("06.1", points=3)
def test_export_model_whose_argument_is_not_x(exercises, tmp_path):
    torch.manual_seed(0)
    _check_batches(exercises, Head().eval(), torch.randn(3, 10), tmp_path, (10,))


@pytest.mark.exercise("06.2", points=1)
def test_count_ops_of_a_handmade_graph(exercises, tmp_path):
    path = handmade_mlp(tmp_path / "mlp.onnx")
    assert exercises.count_op_types(str(path)) == HANDMADE_OPS


@pytest.mark.exercise("06.2", points=1)
def test_count_ops_of_an_exported_cnn(exercises, tmp_path):
    model = small_cnn(seed=1).train()  # train mode: BatchNormalization stays in the graph
    path = legacy_export(
        model,
        torch.randn(2, 3, 32, 32),
        tmp_path / "cnn.onnx",
        training=torch.onnx.TrainingMode.TRAINING,
    )
    want = dict(Counter(node.op_type for node in onnx.load(str(path)).graph.node))
    got = exercises.count_op_types(str(path))
    assert got == want, f"onnx reads {want}, you counted {got}"
    assert want.get("BatchNormalization") == 3


@pytest.mark.exercise("06.3", points=2)
def test_difference_of_a_faithful_export(exercises, tmp_path):
    model = small_cnn(seed=2).eval()
    path = legacy_export(
        model,
        torch.randn(2, 3, 32, 32),
        tmp_path / "cnn.onnx",
        dynamic_axes={"image": {0: "batch"}},
    )
    x = batch(5, 3, 32, 32)
    want = float(np.abs(ort_output(path, x) - torch_output(model, x)).max())
    got = exercises.max_abs_difference(model, str(path), x)
    assert isinstance(got, float), f"return a float, not {type(got).__name__}"
    assert got == pytest.approx(want, rel=1e-3, abs=1e-7), (
        f"onnxruntime vs torch differ by {want:.3g}, you said {got:.3g}"
    )
    assert got <= 1e-5


@pytest.mark.exercise("06.3", points=2)
def test_difference_of_a_tampered_export(exercises, tmp_path):
    model = small_cnn(seed=4).eval()
    path = legacy_export(
        model,
        torch.randn(2, 3, 32, 32),
        tmp_path / "cnn.onnx",
        dynamic_axes={"image": {0: "batch"}},
    )
    tampered = shift_initializer(path, tmp_path / "tampered.onnx", "classifier.2.bias", 0.25)
    x = batch(4, 3, 32, 32, seed=9)
    want = float(np.abs(ort_output(tampered, x) - torch_output(model, x)).max())
    got = exercises.max_abs_difference(model, str(tampered), x)
    assert got == pytest.approx(want, rel=1e-4), (
        f"expected {want:.6f} (one bias shifted by 0.25), got {got}"
    )


@pytest.mark.exercise("06.4", points=2)
def test_signature_with_a_dynamic_batch_and_weights_as_inputs(exercises, tmp_path):
    path = legacy_export(
        small_cnn(seed=5).eval(),
        torch.randn(2, 3, 48, 48),
        tmp_path / "cnn.onnx",
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        keep_initializers_as_inputs=True,
    )
    got = exercises.io_signature(str(path))
    want = ort_signature(path)
    assert got == want, f"onnxruntime sees {want}, you returned {got}"


@pytest.mark.exercise("06.4", points=2)
def test_signature_of_a_handmade_graph(exercises, tmp_path):
    path = handmade_mlp(tmp_path / "mlp.onnx", seed=1)
    got = exercises.io_signature(str(path))
    assert got == ort_signature(path) == {"inputs": {"x": ["N", 4]}, "outputs": {"prob": ["N", 2]}}
