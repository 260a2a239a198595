"""Lesson 06's graded cases: the visible tests' cases, checked in the grader.

The sandbox builds each case's inputs (grading_06_inputs.py), calls the student's function
and returns plain data plus the files it wrote; the checks below run in the grader against
onnx's and onnxruntime's own reading of the files and PyTorch's own outputs, never against
the solution.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from grading_06_inputs import (
    batch,
    cnn_to_export,
    cnn_with_weights_as_inputs,
    handmade_file,
    head_to_export,
    model_file_and_batch,
    training_cnn_file,
)

from lessonlib.classroom.grading import Case, show
from lessonlib.classroom.references.onnx import HANDMADE_OPS

EXPORT_TIMEOUT_S = 60.0


def session(model: bytes | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def ort_output(model: bytes | str, inputs: np.ndarray) -> np.ndarray:
    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: inputs})[0]


def torch_output(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(inputs)).numpy()


@functools.cache
def ort_signature(data: bytes) -> dict[str, dict[str, list]]:
    """Inputs and outputs with their shapes, as onnxruntime reports them."""
    sess = session(data)
    return {
        "inputs": {i.name: list(i.shape) for i in sess.get_inputs()},
        "outputs": {o.name: list(o.shape) for o in sess.get_outputs()},
    }


@functools.cache
def op_counts(data: bytes) -> dict[str, int]:
    return dict(Counter(node.op_type for node in onnx.load_from_string(data).graph.node))


def _file_bytes(inputs) -> bytes:
    """The grader's own copy of the case's ONNX file (the path in its copy of the inputs)."""
    return Path(inputs.args[0] if isinstance(inputs.args[0], str) else inputs.args[1]).read_bytes()


# ---------------------------------------------------------------- 06.1


def _written_file(got, files: Path) -> Path:
    assert isinstance(got, str), f"return the path as a str, not {type(got).__name__}."
    rel = Path(got)
    target = files / (rel.name if rel.is_absolute() else rel)
    root = files.resolve()
    resolved = target.resolve()
    assert resolved.is_relative_to(root) and resolved.is_file(), (
        f"no ONNX file at {show(got)}: write the file at the path you were given and return it."
    )
    return resolved


def check_dynamic_export(got, inputs, files, shape: tuple[int, ...]) -> None:
    path = _written_file(got, files)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # onnx raises its own error types on a bad file
        raise AssertionError(f"onnx.checker rejects the file ({type(exc).__name__}).") from exc
    model = inputs.args[0]
    for n in (1, 7):
        x = batch(n, *shape)
        try:
            got_out = ort_output(str(path), x)  # a path: the weights may sit in a .data file
        except Exception as exc:  # onnxruntime refuses a fixed batch with INVALID_ARGUMENT
            raise AssertionError(
                f"onnxruntime cannot run the file on a batch of {n} ({type(exc).__name__}): "
                "is the batch dimension dynamic?"
            ) from exc
        want = torch_output(model, x)
        assert got_out.shape == want.shape, (
            f"batch {n}: onnxruntime gave {got_out.shape}, PyTorch {want.shape}."
        )
        assert np.abs(got_out - want).max() <= 1e-4, (
            f"batch {n}: the exported model computes something else than the model."
        )


# ---------------------------------------------------------------- 06.2


def _check_counts(got) -> None:
    assert isinstance(got, dict) and all(
        isinstance(k, str) and type(v) is int for k, v in got.items()
    ), f"return a dict of op type -> int, not {show(got)}."


def check_handmade_counts(got, inputs, files) -> None:
    _check_counts(got)
    want = op_counts(_file_bytes(inputs))
    assert want == HANDMADE_OPS, "the grader's handmade graph is not what it should be."
    assert got == want, f"onnx reads {want}, you counted {got}."


def check_cnn_counts(got, inputs, files) -> None:
    _check_counts(got)
    want = op_counts(_file_bytes(inputs))
    assert want.get("BatchNormalization") == 3, "the grader's CNN export lost its BatchNorms."
    assert got == want, f"onnx reads {want}, you counted {got}."


def check_counts_quietly(got, inputs, files) -> None:
    _check_counts(got)
    assert got == op_counts(_file_bytes(inputs)), (
        f"{show(got)} is not how many nodes of each op_type the main graph has."
    )


# ---------------------------------------------------------------- 06.3


@functools.cache
def _want_difference(inputs) -> float:
    """max |onnxruntime - PyTorch| on the grader's own copy (built once, reused)."""
    model, path, x = inputs.args
    return float(np.abs(ort_output(_file_bytes(inputs), x) - torch_output(model, x)).max())


def check_faithful_difference(got, inputs, files) -> None:
    assert type(got) is float, f"return a float, not {type(got).__name__}."
    want = _want_difference(inputs)
    assert want <= 1e-5, "the grader's faithful export is not faithful."
    assert math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-7), (
        f"onnxruntime vs torch differ by {want:.3g}, you said {got:.3g}."
    )


def check_tampered_difference(got, inputs, files) -> None:
    assert isinstance(got, float | int) and not isinstance(got, bool), (
        f"return a float, not {type(got).__name__}."
    )
    want = _want_difference(inputs)
    assert math.isclose(got, want, rel_tol=1e-4), (
        f"expected {want:.6f} (one bias shifted by 0.25), got {show(got)}."
    )


def check_faithful_difference_quietly(got, inputs, files) -> None:
    assert type(got) is float, f"return a float, not {type(got).__name__}."
    assert math.isclose(got, _want_difference(inputs), rel_tol=1e-3, abs_tol=1e-7), (
        f"{got:.3g} is not the largest absolute difference between the two outputs."
    )


# ---------------------------------------------------------------- 06.4


def check_signature(got, inputs, files, expected: dict | None = None) -> None:
    want = ort_signature(_file_bytes(inputs))
    if expected is not None:
        assert want == expected, "the grader's handmade graph is not what it should be."
    assert got == want, f"onnxruntime sees {want}, you returned {show(got)}."


def check_signature_quietly(got, inputs, files) -> None:
    assert got == ort_signature(_file_bytes(inputs)), (
        f"{show(got)} is not the graph's inputs and outputs (weights are not inputs)."
    )


CASES = [
    Case(
        "06.1",
        "a SmallCNN exported with a dynamic batch",
        cnn_to_export,
        partial(check_dynamic_export, shape=(3, 32, 32)),
        timeout=EXPORT_TIMEOUT_S,
    ),
    Case(
        "06.1",
        "a model whose forward argument is not x",
        head_to_export,
        partial(check_dynamic_export, shape=(10,)),
        timeout=EXPORT_TIMEOUT_S,
    ),
    Case("06.2", "a graph written node by node", handmade_file, check_handmade_counts),
    Case("06.2", "a CNN exported in training mode", training_cnn_file, check_cnn_counts),
    Case(
        "06.2",
        "a CNN whose weights are listed as inputs (hidden case)",
        cnn_with_weights_as_inputs,
        check_counts_quietly,
    ),
    Case(
        "06.3", "a faithful export of a SmallCNN", model_file_and_batch, check_faithful_difference
    ),
    Case(
        "06.3",
        "one image through another SmallCNN (hidden case)",
        partial(model_file_and_batch, seed=7, n=1, batch_seed=3),
        check_faithful_difference_quietly,
    ),
    Case(
        "06.3",
        "an export with one bias shifted by 0.25",
        partial(model_file_and_batch, seed=4, n=4, batch_seed=9, shift=0.25),
        check_tampered_difference,
    ),
    Case(
        "06.4",
        "a dynamic-batch CNN whose weights are listed as inputs",
        cnn_with_weights_as_inputs,
        check_signature,
    ),
    Case(
        "06.4",
        "a graph written node by node",
        partial(handmade_file, seed=1),
        partial(
            check_signature, expected={"inputs": {"x": ["N", 4]}, "outputs": {"prob": ["N", 2]}}
        ),
    ),
    Case(
        "06.4",
        "a CNN exported in training mode, fixed batch (hidden case)",
        training_cnn_file,
        check_signature_quietly,
    ),
]
