"""Inputs for lesson 03's graded calls: seeded models' parameters and Conv2d settings.

Every builder is deterministic, so the sandbox (which calls the student's function) and the
grader (which checks the answer) each build the same inputs from the same arguments. The
models themselves come from ``model(name)``, which the checks call too (for torchinfo).
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torchvision.models import resnet18

from lessonlib.classroom.grading import Inputs
from lessonlib.classroom.references.summary_cases import CONV_CASES, ScaledNet  # noqa: F401 - CONV_CASES for grading_03


def _seeded(factory):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return factory()


def _partly_frozen_resnet() -> nn.Module:
    model = _seeded(lambda: resnet18(weights=None))
    model.layer1.requires_grad_(False)
    model.bn1.requires_grad_(False)
    return model


def _scaled_net_frozen_body() -> nn.Module:
    model = _seeded(ScaledNet)
    model.body.requires_grad_(False)
    return model


def _resnet_frozen_head() -> nn.Module:
    model = _seeded(lambda: resnet18(weights=None))
    model.fc.requires_grad_(False)  # the head must end up trainable anyway
    return model


def _mixed_dtypes() -> nn.Module:
    return _seeded(
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.Linear(40, 40).half(), nn.Linear(40, 40, dtype=torch.float64)
        )
    )


MODELS = {
    "resnet18": lambda: _seeded(lambda: resnet18(weights=None)),
    "partly frozen resnet18": _partly_frozen_resnet,
    "resnet18 with a frozen head": _resnet_frozen_head,
    "ScaledNet": lambda: _seeded(ScaledNet),
    "ScaledNet with a frozen body": _scaled_net_frozen_body,
    "mixed dtypes": _mixed_dtypes,
    "bfloat16 Linear": lambda: _seeded(lambda: nn.Linear(100, 100, dtype=torch.bfloat16)),
}


@functools.cache
def model(name: str) -> nn.Module:
    """One of MODELS, built once per process (the checks only read it: never modify it)."""
    return MODELS[name]()


def parameters_of(name: str) -> Inputs:
    """A fresh copy of the named model's ``dict(named_parameters())``."""
    return Inputs(dict(MODELS[name]().named_parameters()))


def parameters_and_head(name: str, head: str) -> Inputs:
    return Inputs(dict(MODELS[name]().named_parameters()), head)


def no_parameters() -> Inputs:
    return Inputs({})


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def call_with(*args, **kwargs) -> Inputs:
    """The arguments as given: shapes, channel counts, kernel settings.

    Builder arguments reach the sandbox as JSON, where tuples become lists; the exercises
    take shapes and (height, width) pairs as tuples, so they are turned back into tuples.
    """
    return Inputs(*_tuples(args), **{k: _tuples(v) for k, v in kwargs.items()})
