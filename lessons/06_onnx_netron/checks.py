"""Lesson 06's visible checks: against onnx's and onnxruntime's own reading of the files and
PyTorch's own outputs. Files come as ``InputFile``s: you get a copy's path, the judge its own."""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import torch

from lessonlib.classroom.cases import (
    Case,
    InputFile,
    Inputs,
    Mismatch,
    expect,
    expect_close,
    expect_same_list,
    show,
)
from lessonlib.classroom.references import onnx as ref
from lessonlib.messages import _
from lessonlib.models import small_cnn

# ---------------------------------------------------------------- inputs


def _example(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@functools.cache
def warm_exporter() -> None:
    """Export once here, so no sandbox forked later spends seconds setting the exporter up."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        dims = ({0: torch.export.Dim("batch", min=1, max=64)},)
        linear = torch.nn.Linear(2, 2).eval()
        torch.onnx.export(linear, (torch.zeros(2, 2),), dynamo=True, dynamic_shapes=dims)


def cnn_to_export(seed: int = 3) -> Inputs:
    """A SmallCNN in eval mode, a (2, 3, 32, 32) example and a relative path to write."""
    warm_exporter()
    return Inputs(small_cnn(seed=seed).eval(), _example(2, 3, 32, 32), "model.onnx")


def head_to_export(seed: int = 0) -> Inputs:
    """A model whose forward argument is ``features``, with LayerNorm and GELU."""
    warm_exporter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = ref.Head().eval()
    return Inputs(head, _example(3, 10, seed=seed), "model.onnx")


def handmade_file(seed: int = 0) -> Inputs:
    """A 2-layer MLP written node by node with onnx.helper (a symbolic batch 'N')."""
    return Inputs(InputFile("mlp.onnx", ref.handmade_mlp(seed)))


def nested_file() -> Inputs:
    """Four top-level nodes; an If's branches and a local function hold three more."""
    return Inputs(InputFile("nested.onnx", ref.nested_graph()))


def training_cnn_file(seed: int = 1) -> Inputs:
    """A SmallCNN exported in training mode: BatchNormalization stays in the graph."""
    mode = torch.onnx.TrainingMode.TRAINING
    data = ref.legacy_export(small_cnn(seed=seed).train(), _example(2, 3, 32, 32), training=mode)
    return Inputs(InputFile("cnn.onnx", data))


def cnn_with_weights_as_inputs(seed: int = 5) -> Inputs:
    """A dynamic-batch SmallCNN whose initializers are also listed as graph inputs."""
    data = ref.legacy_export(
        small_cnn(seed=seed).eval(),
        _example(2, 3, 48, 48),
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        keep_initializers_as_inputs=True,
    )
    return Inputs(InputFile("cnn.onnx", data))


def model_file_and_batch(seed=2, n=5, batch_seed=0, shift=0.0) -> Inputs:
    """A SmallCNN, its dynamic-batch export (one bias shifted by ``shift``) and a batch."""
    model = small_cnn(seed=seed).eval()
    data = ref.legacy_export(model, _example(2, 3, 32, 32), dynamic_axes={"image": {0: "batch"}})
    if shift:
        data = ref.shift_initializer(data, "classifier.2.bias", shift)
    return Inputs(model, InputFile("cnn.onnx", data), ref.batch(n, 3, 32, 32, seed=batch_seed))


def _file(inputs) -> bytes:  # the grader's own copy of the case's ONNX file
    return Path(next(a for a in inputs.args if isinstance(a, str))).read_bytes()


# ---------------------------------------------------------------- 06.1


def dynamic_export(got, inputs, files) -> None:
    import onnx

    model, example, _path = inputs.args
    expect(isinstance(got, str), _("return the path as a str, not {got}.").format(got=show(got)), 3)
    path = (files / Path(got).name if Path(got).is_absolute() else files / got).resolve()
    inside = path.is_relative_to(files.resolve()) and path.is_file()
    expect(
        inside,
        _("no ONNX file at {got}: write it at the path you get, return that.").format(
            got=show(got)
        ),
        3,
    )
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001 - onnx raises its own error types on a bad file
        raise Mismatch(
            _("onnx.checker rejects the file ({error}).").format(error=type(exc).__name__), 3
        ) from None
    for n in (1, 7):
        x = ref.batch(n, *example.shape[1:])
        try:
            mine = ref.ort_output(str(path), x)  # a path: the weights may sit in a .data file
        except Exception as exc:  # noqa: BLE001 - onnxruntime refuses a fixed batch
            raise Mismatch(
                _(
                    "onnxruntime cannot run the file on a batch of {n} ({error}): "
                    "is the batch dimension dynamic?"
                ).format(n=n, error=type(exc).__name__),
                2,
            ) from None
        what = _("batch {n}: onnxruntime's output of your file, against the model's").format(n=n)
        expect_close(mine, ref.torch_output(model, x), what, rtol=0, atol=1e-4, hint=3)


# ---------------------------------------------------------------- 06.2


def same_op_counts(got, inputs, files) -> None:
    import onnx

    want = dict(Counter(node.op_type for node in onnx.load_from_string(_file(inputs)).graph.node))
    ok = isinstance(got, dict) and all(type(k) is str and type(v) is int for k, v in got.items())
    expect(ok, _("return a dict of op type -> count (int), not {got}.").format(got=show(got)), 3)
    for op in sorted(set(got) | set(want)):
        if got.get(op, 0) != want.get(op, 0):
            raise Mismatch(
                _("{op}: the main graph has {want} such nodes, you counted {got}.").format(
                    op=op, want=want.get(op, 0), got=got.get(op, 0)
                ),
                2,
            )


# ---------------------------------------------------------------- 06.3


def same_difference(got, inputs, files) -> None:
    model, _onnx_file, x = inputs.args
    want = float(np.abs(ref.ort_output(_file(inputs), x) - ref.torch_output(model, x)).max())
    expect(
        type(got) is float, _("return a float (float(...)), not {got}.").format(got=show(got)), 3
    )
    what = _("max |PyTorch - onnxruntime| over all elements")
    expect_close(got, want, what, rtol=1e-4, atol=1e-7, hint=3)


# ---------------------------------------------------------------- 06.4


def same_signature(got, inputs, files) -> None:
    want = ref.ort_signature(_file(inputs))
    ok = isinstance(got, dict) and all(isinstance(got.get(k), dict) for k in want)
    expect(
        ok,
        _("return {{'inputs': {{...}}, 'outputs': {{...}}}}, not {got}.").format(got=show(got)),
        3,
    )
    for part in ("inputs", "outputs"):
        names = sorted(map(str, got[part]))
        what = _("the names of the graph's {part}").format(part=part)
        expect_same_list(names, sorted(want[part]), what, 3)
        for name, dims in want[part].items():
            expect_same_list(got[part][name], dims, _("{name}'s dims").format(name=name), 2)


CASES = [
    Case(
        "06.1",
        "a SmallCNN exported with a dynamic batch",
        cnn_to_export,
        dynamic_export,
        timeout=60.0,
    ),
    Case(
        "06.1",
        "a model whose forward argument is not x",
        head_to_export,
        dynamic_export,
        timeout=60.0,
    ),
    Case("06.2", "a graph written node by node", handmade_file, same_op_counts),
    Case("06.2", "a CNN exported in training mode", training_cnn_file, same_op_counts),
    Case("06.2", "an If with two branches and a local function", nested_file, same_op_counts),
    Case("06.3", "a faithful export of a SmallCNN", model_file_and_batch, same_difference),
    Case(
        "06.3",
        "an export with one bias value shifted by 0.25",
        partial(model_file_and_batch, seed=4, n=4, batch_seed=9, shift=0.25),
        same_difference,
    ),
    Case(
        "06.4",
        "a dynamic-batch CNN whose weights are listed as inputs",
        cnn_with_weights_as_inputs,
        same_signature,
    ),
    Case("06.4", "a graph written node by node", partial(handmade_file, seed=1), same_signature),
]
