"""Lesson 03's graded cases: the visible tests' cases and the hidden ones, checked in the grader.

The sandbox builds each case's inputs (grading_03_inputs.py), calls the student's function
and returns plain data; the checks below run in the grader against torchinfo's own counts
and torch's own Conv2d, never against the solution.

03.5 asks the function to set ``requires_grad`` on the tensors it is given *and* return the
trainable names. Only the returned value leaves the sandbox, so the grader checks the names;
the visible test (``lessonlib check 03``) also checks the flags themselves.
"""

from __future__ import annotations

import functools
import math
from functools import partial

import torch
from grading_03_inputs import (
    CONV_CASES,
    call_with,
    model,
    no_parameters,
    parameters_and_head,
    parameters_of,
)
from torch import nn
from torchinfo import summary

from lessonlib.classroom.grading import Case, show


@functools.cache
def torchinfo_stats(name: str, input_size: tuple[int, ...] | None):
    """torchinfo's summary of one of the grader's models (built once, reused)."""
    if input_size is None:
        return summary(model(name), verbose=0)
    return summary(model(name), input_size=input_size, verbose=0, device="cpu")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------- 03.1


def _check_count_dict(got) -> None:
    assert isinstance(got, dict) and {"total", "trainable", "non_trainable"} <= set(got), (
        f"return a dict with 'total', 'trainable' and 'non_trainable', not {show(got)}."
    )


def check_counts(got, inputs, files, name: str, input_size: tuple[int, ...]) -> None:
    _check_count_dict(got)
    stats = torchinfo_stats(name, input_size)
    total, trainable = stats.total_params, stats.trainable_params
    want = {"total": total, "trainable": trainable, "non_trainable": total - trainable}
    assert got == want, f"torchinfo counts {want}, you counted {show(got)}."
    assert all(type(v) is int for v in got.values()), "return Python ints."


def check_counts_with_bare_parameter(got, inputs, files, name: str, input_size) -> None:
    _check_count_dict(got)
    stats = torchinfo_stats(name, input_size)
    total, trainable = stats.total_params, stats.trainable_params
    assert got["total"] == total, (
        f"torchinfo counts {total} (scale included), you {show(got['total'])}."
    )
    assert got["trainable"] == trainable, (
        f"trainable: want {trainable}, got {show(got['trainable'])}."
    )
    assert got["non_trainable"] == total - trainable, (
        f"non_trainable: want {total - trainable}, got {show(got['non_trainable'])}."
    )


def check_no_parameters(got, inputs, files) -> None:
    want = {"total": 0, "trainable": 0, "non_trainable": 0}
    assert got == want, f"an empty dict has no parameters at all; you returned {show(got)}."


# ---------------------------------------------------------------- 03.2 and 03.3


def _meta_conv(inputs) -> tuple[nn.Conv2d, torch.Tensor]:
    input_shape, out_channels, kernel, *rest = inputs.args
    settings = dict(zip(("stride", "padding", "dilation", "groups", "bias"), rest, strict=False))
    settings.update(inputs.kwargs)
    conv = nn.Conv2d(input_shape[1], out_channels, kernel, **settings, device="meta")
    return conv, torch.empty(input_shape, device="meta")


@functools.cache
def conv_output_shape(inputs) -> tuple[int, ...]:
    conv, x = _meta_conv(inputs)
    return tuple(conv(x).shape)


@functools.cache
def conv_mult_adds(inputs) -> int:
    conv, x = _meta_conv(inputs)
    return summary(conv, input_data=x, device="meta", verbose=0).total_mult_adds


def check_conv_shape(got, inputs, files) -> None:
    assert isinstance(got, tuple | list), f"return a tuple of 4 ints, not {show(got)}."
    want = conv_output_shape(inputs)
    assert tuple(got) == want, f"nn.Conv2d gives {want}, you computed {show(tuple(got))}."


def check_conv_shape_quietly(got, inputs, files) -> None:
    assert isinstance(got, tuple | list), f"return a tuple of 4 ints, not {show(got)}."
    assert tuple(got) == conv_output_shape(inputs), (
        f"nn.Conv2d gives another shape than {show(tuple(got))} (a 1x1 kernel, stride 2)."
    )


def check_mult_adds(got, inputs, files) -> None:
    assert _is_number(got), f"return an int, not {show(got)}."
    want = conv_mult_adds(inputs)
    assert got == want, f"torchinfo counts {want:,} mult-adds, you {got:,}."


@functools.cache
def resnet_conv1_macs() -> int:
    stats = summary(model("resnet18"), input_size=(2, 3, 64, 64), verbose=0, depth=1, device="cpu")
    return next(layer for layer in stats.summary_list if layer.var_name == "conv1").macs


def check_resnet_conv1_mult_adds(got, inputs, files) -> None:
    assert _is_number(got), f"return an int, not {show(got)}."
    assert got == resnet_conv1_macs(), (
        f"torchinfo counts another number of mult-adds for resnet18's conv1 than {got:,}."
    )


# ---------------------------------------------------------------- 03.4


def check_resnet_size(got, inputs, files) -> None:
    assert _is_number(got), f"return a float, not {show(got)}."
    stats = torchinfo_stats("resnet18", (1, 3, 32, 32))
    want = stats.total_param_bytes / 1e6
    assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9), (
        f"torchinfo: {want} MB, you: {got} MB."
    )
    printed = next(ln for ln in str(stats).splitlines() if ln.startswith("Params size (MB)"))
    assert printed.endswith(f"{got:.2f}"), f"the table says {printed!r}, you {got:.2f}."


def check_size(got, inputs, files, name: str, rel: float = 1e-6, abs_: float = 1e-12) -> None:
    assert _is_number(got), f"return a float, not {show(got)}."
    want = torchinfo_stats(name, None).total_param_bytes / 1e6
    assert math.isclose(got, want, rel_tol=rel, abs_tol=abs_), (
        f"torchinfo: {want} MB, you: {got} MB."
    )


def check_size_quietly(got, inputs, files, name: str) -> None:
    assert _is_number(got), f"return a float, not {show(got)}."
    want = torchinfo_stats(name, None).total_param_bytes / 1e6
    assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12), (
        f"{got} MB is not what these parameters take: mind each tensor's own element size."
    )


# ---------------------------------------------------------------- 03.5


def _names(got) -> None:
    assert isinstance(got, list) and all(isinstance(n, str) for n in got), (
        f"return a sorted list of parameter names, not {show(got)}."
    )


def head_names(name: str, head: str) -> list[str]:
    module = model(name).get_submodule(head)
    return sorted(n for n, _ in module.named_parameters(prefix=head))


def check_head(got, inputs, files, name: str, head: str, literal: list | None = None) -> None:
    _names(got)
    want = head_names(name, head)
    if literal is not None:
        assert want == literal, "the grader's model is not what it should be."
    assert got == want, f"expected {want}, got {show(got)}."


def check_head_quietly(got, inputs, files, name: str, head: str) -> None:
    _names(got)
    assert got == head_names(name, head), (
        f"{show(got)} are not exactly the parameters inside module {head!r}, sorted."
    )


def _conv_name(case) -> str:
    shape, out, kernel, stride, padding, dilation = case
    return (
        f"input {shape}, {out} channels, kernel {kernel}, stride {stride}, "
        f"padding {padding}, dilation {dilation}"
    )


GROUPED = ((2, 8, 12, 12), 16, 3, 1, 1, 1)

CASES = [
    Case(
        "03.1",
        "a resnet18 with layer1 and bn1 frozen",
        partial(parameters_of, "partly frozen resnet18"),
        partial(check_counts, name="partly frozen resnet18", input_size=(1, 3, 32, 32)),
    ),
    Case(
        "03.1",
        "a net with a bare nn.Parameter and a frozen body",
        partial(parameters_of, "ScaledNet with a frozen body"),
        partial(
            check_counts_with_bare_parameter,
            name="ScaledNet with a frozen body",
            input_size=(2, 3, 10, 10),
        ),
    ),
    Case("03.1", "no parameters at all (hidden case)", no_parameters, check_no_parameters),
    *(
        Case("03.2", _conv_name(case), partial(call_with, *case), check_conv_shape)
        for case in CONV_CASES
    ),
    Case(
        "03.2",
        "a pointwise conv with stride 2 (hidden case)",
        partial(call_with, (3, 5, 9, 6), 7, 1, stride=2),
        check_conv_shape_quietly,
    ),
    *(
        Case("03.3", _conv_name(case), partial(call_with, *case), check_mult_adds)
        for case in CONV_CASES
    ),
    *(
        Case(
            "03.3",
            f"{_conv_name(GROUPED)}, groups {groups}, bias {bias}",
            partial(call_with, *GROUPED, groups=groups, bias=bias),
            check_mult_adds,
        )
        for groups, bias in [(8, False), (4, True), (1, False)]
    ),
    Case(
        "03.3",
        "resnet18's first layer (hidden case)",
        partial(call_with, (2, 3, 64, 64), 64, 7, 2, 3, bias=False),
        check_resnet_conv1_mult_adds,
    ),
    Case("03.4", "resnet18", partial(parameters_of, "resnet18"), check_resnet_size),
    Case(
        "03.4",
        "float32, float16 and float64 layers",
        partial(parameters_of, "mixed dtypes"),
        partial(check_size, name="mixed dtypes"),
    ),
    Case(
        "03.4",
        "a bfloat16 layer (hidden case)",
        partial(parameters_of, "bfloat16 Linear"),
        partial(check_size_quietly, name="bfloat16 Linear"),
    ),
    Case(
        "03.5",
        "resnet18 with head fc (frozen to start with)",
        partial(parameters_and_head, "resnet18 with a frozen head", "fc"),
        partial(check_head, name="resnet18 with a frozen head", head="fc"),
    ),
    Case(
        "03.5",
        "head fc next to fc2 and a bare parameter",
        partial(parameters_and_head, "ScaledNet", "fc"),
        partial(check_head, name="ScaledNet", head="fc", literal=["fc.bias", "fc.weight"]),
    ),
    Case(
        "03.5",
        "a nested head, layer4.1 of resnet18 (hidden case)",
        partial(parameters_and_head, "resnet18", "layer4.1"),
        partial(check_head_quietly, name="resnet18", head="layer4.1"),
    ),
]
