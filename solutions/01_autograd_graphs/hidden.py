"""Lesson 01's hidden cases: other graphs, judged by the visible judges. Never shipped."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("01")

CASES = [
    Case(
        "01.1", "a weight used twice", partial(visible.shared_weight, "leaves"), visible.same_leaves
    ),
    Case("01.2", "a weight used twice", visible.shared_weight, visible.same_node_count),
    Case("01.2", "a residual block", visible.residual_output, visible.same_node_count),
    Case(
        "01.3", "a residual block", partial(visible.residual_output, seed=4), visible.same_dot_graph
    ),
    Case("01.4", "a weight used twice", partial(visible.shared_weight, "w"), visible.shortest_path),
    Case(
        "01.4",
        "an output computed under no_grad",
        partial(visible.shared_weight, "w", frozen=True),
        visible.no_path,
    ),
    Case(
        "01.4",
        "a deeper MLP and its first weight",
        partial(visible.mlp_loss, seed=7, layer="0.weight"),
        visible.shortest_path,
    ),
]
