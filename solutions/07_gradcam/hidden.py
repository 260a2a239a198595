"""Lesson 07's hidden cases: other layers and models, edge cases. Never shipped."""

from __future__ import annotations

from functools import partial

import torch

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("07")


def stage_outputs(inputs) -> dict[str, torch.Tensor]:
    """resnet18's layer2 and layer4[1].bn2 (before += identity), computed module by module."""
    m, _, images = inputs.args
    with torch.no_grad():
        layer2 = m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(images))))))
        block = m.layer4[1]
        x = block.relu(block.bn1(block.conv1(m.layer4[0](m.layer3(layer2)))))
    return {"layer2": layer2, "layer4.1.bn2": block.bn2(block.conv2(x))}


cam_case, same_maps = visible.cam_case, visible.same_maps
CASES = [
    Case(
        "07.1",
        "another layer of a model with in-place ReLUs",
        partial(cam_case, "cnn", 4, "5", 5, 16, 9, [4, 3, 2, 1, 0], inplace=True),
        same_maps,
    ),
    Case(
        "07.1",
        "another resnet18's layer3",
        partial(cam_case, "resnet18", 3, "layer3", 3, 64, 4, [0, 3, 3], classes=4),
        same_maps,
        timeout=20.0,
    ),
    *(
        Case(
            "07.2",
            f"an empty mask and a far one, tolerance {tol:g}",
            partial(visible.pointing_edges, tol),
            partial(visible.same_score, hint=3),
        )
        for tol in (0.0, 7.0, 7.1)
    ),
    *(
        Case(
            "07.3",
            f"gray, alpha {alpha:g}",
            partial(visible.overlay_extreme, alpha),
            visible.same_overlay,
        )
        for alpha in (0.0, 1.0)
    ),
    Case(
        "07.4",
        "resnet18's whole stages",
        partial(
            visible.outputs_case, "resnet18", 5, ["layer2", "layer4.1.bn2"], 2, 64, 8, classes=4
        ),
        partial(visible.same_outputs, reference=stage_outputs),
        timeout=20.0,
    ),
]
