"""Inputs for lesson 06's graded calls: seeded models, batches and ONNX files.

Every builder is deterministic, so the sandbox (which calls the student's function) and the
grader (which checks the answer) each build the same inputs from the same arguments.

Three exercises take the *path* of an ONNX file: the builders hand the file's bytes over as
an ``InputFile``. The sandbox writes it into its own work folder and passes that path; the
grader's copy of the inputs holds the path of the grader's own copy, which is what the checks
read.
"""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from lessonlib.classroom.grading import InputFile, Inputs
from lessonlib.classroom.references.onnx import Head, batch, handmade_mlp, shift_initializer
from lessonlib.models import small_cnn


def _seeded_head(seed: int = 0) -> Head:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Head().eval()


def _legacy_bytes(model: nn.Module, example: torch.Tensor, **kwargs) -> bytes:
    """The TorchScript exporter's file, as bytes (the tests' way of making ONNX files)."""
    kwargs.setdefault("input_names", ["image"])
    kwargs.setdefault("output_names", ["logits"])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, dynamo=False, **kwargs)
    return buffer.getvalue()


def _example(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- 06.1


@functools.cache
def warm_exporter() -> None:
    """Export a tiny model once, so every sandbox forked later starts with the exporter loaded.

    The first dynamo export in a process spends seconds importing and setting up; done here,
    in the warm process, it is not charged to each student's time limit.
    """
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            nn.Linear(2, 2).eval(),
            (torch.zeros(2, 2),),
            dynamo=True,
            verbose=False,
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},),
        )


def cnn_to_export(seed: int = 3) -> Inputs:
    """A SmallCNN in eval mode, a (2, 3, 32, 32) example and a relative path to write."""
    warm_exporter()
    return Inputs(small_cnn(seed=seed).eval(), _example(2, 3, 32, 32), "model.onnx")


def head_to_export(seed: int = 0) -> Inputs:
    """A model whose forward argument is ``features``, with LayerNorm and GELU."""
    warm_exporter()
    return Inputs(_seeded_head(seed), _example(3, 10, seed=seed), "model.onnx")


# ---------------------------------------------------------------- 06.2 and 06.4


def handmade_file(seed: int = 0) -> Inputs:
    """A 2-layer MLP written node by node with onnx.helper (a symbolic batch 'N')."""
    with tempfile.TemporaryDirectory() as tmp:
        data = handmade_mlp(Path(tmp) / "mlp.onnx", seed=seed).read_bytes()
    return Inputs(InputFile("mlp.onnx", data))


def training_cnn_file(seed: int = 1) -> Inputs:
    """A SmallCNN exported in training mode: BatchNormalization stays in the graph."""
    model = small_cnn(seed=seed).train()
    data = _legacy_bytes(model, _example(2, 3, 32, 32), training=torch.onnx.TrainingMode.TRAINING)
    return Inputs(InputFile("cnn.onnx", data))


def cnn_with_weights_as_inputs(seed: int = 5) -> Inputs:
    """A dynamic-batch SmallCNN whose initializers are also listed as graph inputs."""
    data = _legacy_bytes(
        small_cnn(seed=seed).eval(),
        _example(2, 3, 48, 48),
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        keep_initializers_as_inputs=True,
    )
    return Inputs(InputFile("cnn.onnx", data))


# ---------------------------------------------------------------- 06.3


def model_file_and_batch(
    seed: int = 2, n: int = 5, batch_seed: int = 0, shift: float = 0.0
) -> Inputs:
    """A SmallCNN, its dynamic-batch export (one bias shifted by ``shift``) and a batch."""
    model = small_cnn(seed=seed).eval()
    data = _legacy_bytes(model, _example(2, 3, 32, 32), dynamic_axes={"image": {0: "batch"}})
    if shift:
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "cnn.onnx", Path(tmp) / "tampered.onnx"
            src.write_bytes(data)
            data = shift_initializer(src, out, "classifier.2.bias", shift).read_bytes()
    onnx.checker.check_model(onnx.load_from_string(data))
    return Inputs(model, InputFile("cnn.onnx", data), batch(n, 3, 32, 32, seed=batch_seed))
