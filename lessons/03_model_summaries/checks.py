"""Lesson 03's visible checks: each exercise against torchinfo's own counts and torch's Conv2d.

``lessonlib check 03``, ``pytest`` and ``lessonlib grade`` all run these cases. Builders make
seeded models' parameters and Conv2d settings (they run where your function is called, and
again where the judge runs); judges compare your answer with torchinfo and torch, never with
a solution. What 03.5 does to the flags is seen by a probe: just before the case's call, its
``before`` hook calls freeze_all_but on a fresh model and records which tensors train after.
"""

from __future__ import annotations

import functools
import sys
from functools import partial

import torch
from torch import nn
from torchinfo import summary
from torchvision.models import resnet18

from lessonlib.classroom.cases import Case, Inputs, Mismatch, expect, expect_close, show
from lessonlib.classroom.references.call_start import read_observed, with_hook, write_observed
from lessonlib.messages import N_, _

# input_shape, out_channels, kernel, stride, padding, dilation
CONV_CASES = [
    [[2, 3, 32, 32], 8, 3, 1, 0, 1],
    [[1, 3, 224, 224], 64, 7, 2, 3, 1],
    [[4, 16, 15, 17], 4, [3, 5], [2, 1], [1, 2], [2, 1]],
    [[1, 1, 28, 28], 6, 5, 3, 0, 1],
    [[3, 8, 20, 9], 8, 3, 2, 4, 3],
]
GROUPED = [[2, 8, 12, 12], 16, 3, 1, 1, 1]
TRAINABLE = "trainable"  # the record of 03.5's probe


class ScaledNet(nn.Module):
    """A bare nn.Parameter next to layers, and two modules whose names share a prefix."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.scale = nn.Parameter(torch.ones(8))
        self.fc = nn.Linear(8, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.fc(self.body(x).mean(dim=(2, 3)) * self.scale))


def fresh_model(name: str) -> nn.Module:
    """A new seeded model: resnet18, ScaledNet, mixed dtypes or a bfloat16 Linear, partly frozen."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if name.startswith("resnet18"):
            model = resnet18(weights=None)
        elif name.startswith("ScaledNet"):
            model = ScaledNet()
        elif name == "mixed dtypes":
            layers = [nn.Conv2d(3, 8, 3), nn.Linear(40, 40).half()]
            model = nn.Sequential(*layers, nn.Linear(40, 40, dtype=torch.float64))
        elif name == "nothing":
            model = nn.Sequential()
        else:  # "bfloat16 Linear"
            model = nn.Linear(100, 100, dtype=torch.bfloat16)
    frozen = {"resnet18, layer1 and bn1 frozen": ["layer1", "bn1"], "resnet18, fc frozen": ["fc"]}
    for part in frozen.get(name, ["body"] if name == "ScaledNet, body frozen" else []):
        model.get_submodule(part).requires_grad_(False)
    return model


@functools.cache
def model(name: str) -> nn.Module:
    """The judges' copy of a model (built once, only read)."""
    return fresh_model(name)


def parameters_of(name: str) -> Inputs:
    """A fresh model's ``dict(named_parameters())``."""
    return Inputs(dict(fresh_model(name).named_parameters()))


def call_with(*args, **kwargs) -> Inputs:
    """Shapes and settings as given; builder arguments arrive as JSON lists: back to tuples."""

    def tuples(value):
        return tuple(tuples(v) for v in value) if isinstance(value, list | tuple) else value

    return Inputs(*tuples(args), **{k: tuples(v) for k, v in kwargs.items()})


# ---------------------------------------------------------------- 03.1


def same_counts(got, inputs, files, name: str) -> None:
    stats = summary(model(name), verbose=0)
    total, trainable = stats.total_params, stats.trainable_params
    want = {"total": total, "trainable": trainable, "non_trainable": total - trainable}
    expect(
        isinstance(got, dict) and set(want) <= set(got),
        _("return a dict with 'total', 'trainable' and 'non_trainable', not {got}.").format(
            got=show(got)
        ),
        hint=3,
    )
    for key, hint in (("total", 2), ("trainable", 2), ("non_trainable", 3)):
        expect(
            got[key] == want[key],
            _("{key}: torchinfo counts {want}, you {got}.").format(
                key=key, want=want[key], got=show(got[key])
            ),
            hint,
        )
    expect(
        all(type(got[k]) is int for k in want),
        _("return Python ints, not {got}.").format(got=show(got)),
        3,
    )


# ---------------------------------------------------------------- 03.2 and 03.3


def _meta_conv(inputs) -> tuple[nn.Conv2d, torch.Tensor]:
    shape, out_channels, kernel, *rest = inputs.args
    settings = dict(zip(("stride", "padding", "dilation", "groups", "bias"), rest, strict=False))
    conv = nn.Conv2d(shape[1], out_channels, kernel, **settings, **inputs.kwargs, device="meta")
    return conv, torch.empty(shape, device="meta")


def same_shape(got, inputs, files) -> None:
    conv, x = _meta_conv(inputs)
    want = tuple(conv(x).shape)
    expect(
        isinstance(got, tuple | list) and len(got) == 4,
        _("return a tuple of 4 ints, not {got}.").format(got=show(got)),
        hint=3,
    )
    conv.dilation = (1, 1)
    undilated = tuple(conv(x).shape)
    for i, what in enumerate(("N", "C_out", "H_out", "W_out")):
        if got[i] != want[i]:
            spans = got[i] == undilated[i] != want[i]
            message = (
                _(
                    "{what}: nn.Conv2d gives {want}, you {got}: a dilated kernel spans "
                    "dilation * (kernel - 1) + 1 pixels."
                )
                if spans
                else _("{what}: nn.Conv2d gives {want}, you {got}.")
            )
            raise Mismatch(
                message.format(what=what, want=want[i], got=show(got[i])),
                1 if i < 2 else 2 if spans else 3,
            )


def same_mult_adds(got, inputs, files) -> None:
    conv, x = _meta_conv(inputs)
    want = summary(conv, input_data=x, device="meta", verbose=0).total_mult_adds
    expect(type(got) is int, _("return an int, not {got}.").format(got=show(got)), hint=3)
    if got == want:
        return
    positions = want // (conv.weight.numel() + (conv.out_channels if conv.bias is not None else 0))
    if conv.bias is not None and got == want - conv.out_channels * positions:
        raise Mismatch(
            _("torchinfo counts {want:,}: the bias counts once per output position.").format(
                want=want
            ),
            3,
        )
    if conv.groups > 1 and got == want + conv.weight.numel() * (conv.groups - 1) * positions:
        raise Mismatch(
            _("torchinfo counts {want:,}: each filter sees in_channels // groups.").format(
                want=want
            ),
            2,
        )
    raise Mismatch(
        _("torchinfo counts {want:,} mult-adds, you {got:,}.").format(want=want, got=got), 2
    )


# ---------------------------------------------------------------- 03.4


def same_size(got, inputs, files, name: str) -> None:
    size = summary(model(name), verbose=0).total_param_bytes
    want = size / 1e6
    expect(
        isinstance(got, float | int) and type(got) is not bool,
        _("return a float, not {got}.").format(got=show(got)),
    )
    as_float32 = 4 * sum(p.numel() for p in model(name).parameters())
    if size != as_float32 and abs(got * 1e6 - as_float32) < 0.5:
        raise Mismatch(
            _("torchinfo says {want} MB: not every tensor is float32 (4 bytes).").format(want=want),
            2,
        )
    if abs(got * 2**20 - size) < 0.5:
        raise Mismatch(
            _("torchinfo says {want} MB: 1 MB is 10**6 bytes, not 2**20.").format(want=want), 3
        )
    expect_close(got, want, _("the parameters' size in MB"), rtol=1e-6, atol=1e-12, hint=1)


# ---------------------------------------------------------------- 03.5


def _flags_after(name: str, head: str):
    """The ``before`` hook: freeze a fresh model with the learner's function; record what trains."""

    def hook(args: tuple) -> None:
        f = sys.modules["exercises"].__dict__.get("freeze_all_but")
        if callable(f):
            params = dict(fresh_model(name).named_parameters())
            try:
                f(params, head)
            except Exception:  # noqa: BLE001 - the case's own call raises it too
                return
            write_observed(
                TRAINABLE, {"names": sorted(n for n, p in params.items() if p.requires_grad)}
            )

    return hook


def parameters_and_head(name: str, head: str) -> Inputs:
    inputs = Inputs(dict(fresh_model(name).named_parameters()), head)
    return with_hook(inputs, _flags_after(name, head))


def trainable_head(got, inputs, files, name: str) -> None:
    head = inputs.args[1]
    want = sorted(n for n, _ in model(name).get_submodule(head).named_parameters(prefix=head))
    expect(
        type(got) is list and all(type(n) is str for n in got),
        _("return a sorted list of parameter names, not {got}.").format(got=show(got)),
        hint=3,
    )
    record = read_observed(files, TRAINABLE)
    expect(
        record is not None,
        _("the grader's record of the flags is missing from the call's folder."),
    )
    flags = record.get("names") or []
    wrong = {  # (extra, missing) sentences, for the flags after the call and for the names
        "flags": (
            N_("after your call, {name} trains: freeze every tensor outside the head."),
            N_("after your call, not {name} trains: the head ends up trainable."),
        ),
        "names": (
            N_("you return {name}: freeze every tensor outside the head."),
            N_("you return not {name}: the head ends up trainable."),
        ),
    }
    for names, what in ((flags, "flags"), (got, "names")):
        extra = [n for n in names if n not in want]
        if extra and extra[0].startswith(head):
            raise Mismatch(
                _(
                    "{name} is not inside module {head!r}: it owns the names that start {prefix!r}."
                ).format(name=extra[0], head=head, prefix=head + "."),
                2,
            )
        if extra:
            raise Mismatch(_(wrong[what][0]).format(name=extra[0]), 1)
        missing = [n for n in want if n not in names]
        if missing:
            raise Mismatch(_(wrong[what][1]).format(name=missing[0]), 3)
    expect(
        got == want,
        _("you returned {got}, not in sorted order: return sorted(names).").format(got=show(got)),
        3,
    )


def _conv_name(case) -> str:
    shape, out, kernel, stride, padding, dilation = case
    return (
        f"input {tuple(shape)}, {out} channels, kernel {kernel}, stride {stride}, "
        f"padding {padding}, dilation {dilation}"
    )


CASES = [
    Case(
        "03.1",
        "a resnet18 with layer1 and bn1 frozen",
        partial(parameters_of, "resnet18, layer1 and bn1 frozen"),
        partial(same_counts, name="resnet18, layer1 and bn1 frozen"),
    ),
    Case(
        "03.1",
        "a net with a bare nn.Parameter and a frozen body",
        partial(parameters_of, "ScaledNet, body frozen"),
        partial(same_counts, name="ScaledNet, body frozen"),
    ),
    *(Case("03.2", _conv_name(c), partial(call_with, *c), same_shape) for c in CONV_CASES),
    *(Case("03.3", _conv_name(c), partial(call_with, *c), same_mult_adds) for c in CONV_CASES),
    *(
        Case(
            "03.3",
            f"{_conv_name(GROUPED)}, groups {groups}, bias {bias}",
            partial(call_with, *GROUPED, groups=groups, bias=bias),
            same_mult_adds,
        )
        for groups, bias in [(8, False), (4, True), (1, False)]
    ),
    Case(
        "03.4", "resnet18", partial(parameters_of, "resnet18"), partial(same_size, name="resnet18")
    ),
    Case(
        "03.4",
        "float32, float16 and float64 layers",
        partial(parameters_of, "mixed dtypes"),
        partial(same_size, name="mixed dtypes"),
    ),
    Case(
        "03.5",
        "resnet18 with head fc (frozen to start with)",
        partial(parameters_and_head, "resnet18, fc frozen", "fc"),
        partial(trainable_head, name="resnet18, fc frozen"),
    ),
    Case(
        "03.5",
        "head fc next to fc2 and a bare parameter",
        partial(parameters_and_head, "ScaledNet", "fc"),
        partial(trainable_head, name="ScaledNet"),
    ),
]
