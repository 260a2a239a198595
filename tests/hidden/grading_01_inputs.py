"""Inputs for lesson 01's graded calls: seeded graphs, built in the sandbox and in the grader.

Every builder is deterministic, so the sandbox (which calls the student's function) and the
grader (which checks the answer) each build the same graph from the same arguments.
"""

from __future__ import annotations

import torch
from small_models import seeded_conv_net, seeded_input, seeded_mlp, shared_weight_net

from lessonlib.classroom.grading import Inputs


def _mlp_loss(seed: int):
    model = seeded_mlp(seed)
    return model, model(seeded_input(4, 8)).pow(2).mean()


def mlp_loss(seed: int = 0) -> Inputs:
    """The squared-output loss of a seeded two-layer MLP."""
    return Inputs(_mlp_loss(seed)[1])


def mlp_loss_and_parameters(seed: int = 0) -> Inputs:
    model, loss = _mlp_loss(seed)
    return Inputs(loss, dict(model.named_parameters()))


def mlp_loss_and_parameter(layer: str, seed: int = 0) -> Inputs:
    model, loss = _mlp_loss(seed)
    return Inputs(loss, dict(model.named_parameters())[layer])


def detached_mlp_loss(seed: int = 0) -> Inputs:
    return Inputs(_mlp_loss(seed)[1].detach())


def no_grad_mlp_output(seed: int = 0) -> Inputs:
    model = seeded_mlp(seed)
    with torch.no_grad():
        return Inputs(model(seeded_input(2, 8)).sum())


def intermediates_and_unused() -> Inputs:
    """Leaves, an intermediate, a constant and a leaf the output never uses."""
    x = seeded_input(3, requires_grad=True)
    w = seeded_input(3, seed=2, requires_grad=True)
    unused = seeded_input(3, seed=3, requires_grad=True)
    const = seeded_input(3, seed=4)
    hidden = x * w
    out = (hidden + const).sum()
    return Inputs(out, {"x": x, "w": w, "unused": unused, "const": const, "hidden": hidden})


def shared_subgraph() -> Inputs:
    """One intermediate used three times: nodes reached along several paths."""
    w = seeded_input(5, requires_grad=True)
    y = w * 2
    return Inputs((y * y + y.exp() * w).sum())


def small_conv_net_output() -> Inputs:
    return Inputs(seeded_conv_net()(seeded_input(2, 1, 8, 8)).sum())


def exp_sin_loss_and_leaf(reachable: bool = True) -> Inputs:
    """Two paths from the loss to w, of different lengths; or a leaf the loss never uses."""
    w = seeded_input(3, requires_grad=True)
    other = seeded_input(3, seed=5, requires_grad=True)
    loss = (w.exp().sin() + w * 3).sum()
    return Inputs(loss, w if reachable else other)


def shared_weight_output() -> Inputs:
    """A weight used twice (weight tying) and a view in the middle."""
    return Inputs(shared_weight_net()[0])


def shared_weight_leaves() -> Inputs:
    out, named = shared_weight_net()
    return Inputs(out, named)


def shared_weight_path(frozen: bool = False) -> Inputs:
    out, named = shared_weight_net()
    if frozen:
        with torch.no_grad():
            out = (named["x"] @ named["w"]).sum()
    return Inputs(out, named["w"])
