"""Lesson 01's graded cases: the visible tests' cases and the hidden ones, checked in the grader.

The sandbox builds each case's inputs (grading_01_inputs.py), calls the student's function
and returns plain data; the checks below run in the grader against references computed
here from torch.autograd and torchviz, never from the solution.
"""

from __future__ import annotations

import functools
from functools import partial

import torch
from dot_reader import DotSyntaxError, read_dot
from grading_01_inputs import (
    detached_mlp_loss,
    exp_sin_loss_and_leaf,
    intermediates_and_unused,
    mlp_loss,
    mlp_loss_and_parameter,
    mlp_loss_and_parameters,
    no_grad_mlp_output,
    shared_subgraph,
    shared_weight_leaves,
    shared_weight_output,
    shared_weight_path,
    small_conv_net_output,
)
from torchviz_reference import (
    label_counts,
    labelled_edges,
    parse_student_dot,
    shortest_path_to,
    torchviz_graph,
)

from lessonlib.classroom.grading import Case, show

MAX_DOT_CHARS = 200_000


@functools.cache
def reference_graph(output: torch.Tensor):
    """torchviz's graph of one of the grader's own inputs (built once, reused)."""
    return torchviz_graph(output)


def autograd_leaves(output, named) -> list[str]:
    names = [n for n, t in named.items() if t.requires_grad and t.is_leaf]
    grads = torch.autograd.grad(
        output, [named[n] for n in names], allow_unused=True, retain_graph=True
    )
    return sorted(n for n, g in zip(names, grads, strict=True) if g is not None)


def _names(got, what: str) -> None:
    assert isinstance(got, list) and all(isinstance(n, str) for n in got), (
        f"return a list of str ({what}), not {show(got)}."
    )


# ---------------------------------------------------------------- 01.1


def check_leaves(got, inputs, files) -> None:
    _names(got, "the names of the leaves")
    want = autograd_leaves(*inputs.args)
    assert got == want, f"expected {want}, got {show(got)}."


def check_leaves_quietly(got, inputs, files) -> None:
    _names(got, "the names of the leaves")
    assert got == sorted(got), "return the names sorted."
    assert got == autograd_leaves(*inputs.args), (
        f"{show(got)} are not the leaves this output's gradient reaches (a tensor used twice "
        "is still one leaf)."
    )


# ---------------------------------------------------------------- 01.2


def check_count(got, inputs, files) -> None:
    assert type(got) is int, f"return an int, not {show(got)}."
    want = reference_graph(inputs.args[0]).number_of_nodes()
    assert got == want, f"torchviz draws {want} autograd nodes, you counted {got}."


def check_count_quietly(got, inputs, files) -> None:
    assert type(got) is int, f"return an int, not {show(got)}."
    want = reference_graph(inputs.args[0]).number_of_nodes()
    assert got == want, f"you counted {got} nodes; count each node once, however it is reached."


def check_zero(got, inputs, files) -> None:
    assert type(got) is int and got == 0, (
        f"a tensor without grad_fn has an empty graph, got {show(got)}."
    )


# ---------------------------------------------------------------- 01.3


def _check_dot(got, compare) -> None:
    """Run ``compare(graph)`` on the student's DOT: the fast reader may pass it; pydot decides."""
    assert isinstance(got, str), f"return the DOT source as a str, not {show(got)}."
    assert len(got) <= MAX_DOT_CHARS, "the DOT source is far longer than this graph needs."
    try:
        compare(read_dot(got))
        return
    except (DotSyntaxError, AssertionError):
        pass
    try:
        graph = parse_student_dot(got)
    except AssertionError:
        raise
    except Exception as exc:  # pydot's parser raises its own errors on bad input
        raise AssertionError(f"the DOT source could not be parsed ({type(exc).__name__}).") from exc
    compare(graph)


def check_dot_labels_and_edges(got, inputs, files) -> None:
    ref = reference_graph(inputs.args[0])

    def compare(mine) -> None:
        assert label_counts(mine) == label_counts(ref), "node labels differ from torchviz's."
        assert labelled_edges(mine) == labelled_edges(ref), "edges differ from the graph's."

    _check_dot(got, compare)


def check_dot_nodes_and_edges(got, inputs, files) -> None:
    ref = reference_graph(inputs.args[0])

    def compare(mine) -> None:
        assert mine.number_of_nodes() == ref.number_of_nodes(), (
            f"{mine.number_of_nodes()} nodes, torchviz has {ref.number_of_nodes()}."
        )
        assert labelled_edges(mine) == labelled_edges(ref), "edges differ from the graph's."

    _check_dot(got, compare)


def check_dot_edges_quietly(got, inputs, files) -> None:
    ref = reference_graph(inputs.args[0])

    def compare(mine) -> None:
        assert labelled_edges(mine) == labelled_edges(ref), (
            "the edges differ from the backward graph's (one node per autograd node, even when "
            "it is reached twice)."
        )

    _check_dot(got, compare)


# ---------------------------------------------------------------- 01.4


def _valid_path(loss, param, names) -> bool:
    """Does ``names`` spell a path of next_functions from loss.grad_fn to param's leaf node?"""
    frontier = [loss.grad_fn] if names and type(loss.grad_fn).__name__ == names[0] else []
    for name in names[1:]:
        frontier = [
            child
            for node in frontier
            for child, _ in node.next_functions
            if child is not None and type(child).__name__ == name
        ]
    return any(getattr(node, "variable", None) is param for node in frontier)


def check_shortest_path(got, inputs, files) -> None:
    loss, param = inputs.args
    _names(got, "node class names")
    assert got, "the loss does depend on this parameter: the path is not empty."
    assert _valid_path(loss, param, got), (
        f"{show(got)} is not a path from the loss to the parameter."
    )
    shortest = shortest_path_to(reference_graph(loss), loss, param)
    assert len(got) == shortest + 1, f"a shorter path has {shortest + 1} nodes: {show(got)}."


def check_shortest_path_quietly(got, inputs, files) -> None:
    loss, param = inputs.args
    _names(got, "node class names")
    assert got and _valid_path(loss, param, got), (
        f"{show(got)} is not a path of next_functions from the loss to the parameter."
    )
    shortest = shortest_path_to(reference_graph(loss), loss, param)
    assert len(got) == shortest + 1, "there is a shorter path: search breadth-first."


def check_no_path(got, inputs, files) -> None:
    assert got == [], f"the gradient never reaches this tensor: expect [], got {show(got)}."


CASES = [
    Case("01.1", "the parameters of a two-layer MLP", mlp_loss_and_parameters, check_leaves),
    Case(
        "01.1",
        "leaves, an intermediate, a constant and an unused leaf",
        intermediates_and_unused,
        check_leaves,
    ),
    Case("01.1", "a weight used twice (hidden case)", shared_weight_leaves, check_leaves_quietly),
    Case("01.2", "the loss of a two-layer MLP", mlp_loss, check_count),
    Case("01.2", "an intermediate used three times", shared_subgraph, check_count),
    Case("01.2", "an output made under torch.no_grad()", no_grad_mlp_output, check_zero),
    Case("01.2", "a detached loss", detached_mlp_loss, check_zero),
    Case("01.2", "a weight used twice (hidden case)", shared_weight_output, check_count_quietly),
    Case(
        "01.3", "the loss of an MLP (seed 3)", partial(mlp_loss, seed=3), check_dot_labels_and_edges
    ),
    Case(
        "01.3", "a small conv net with BatchNorm", small_conv_net_output, check_dot_nodes_and_edges
    ),
    Case(
        "01.3", "a weight used twice (hidden case)", shared_weight_output, check_dot_edges_quietly
    ),
    Case(
        "01.4",
        "an MLP loss and its first weight",
        partial(mlp_loss_and_parameter, "0.weight"),
        check_shortest_path,
    ),
    Case(
        "01.4",
        "an MLP loss and its last bias",
        partial(mlp_loss_and_parameter, "2.bias"),
        check_shortest_path,
    ),
    Case(
        "01.4",
        "a loss with a long and a short way to w",
        exp_sin_loss_and_leaf,
        check_shortest_path,
    ),
    Case(
        "01.4",
        "a leaf the loss never uses",
        partial(exp_sin_loss_and_leaf, reachable=False),
        check_no_path,
    ),
    Case(
        "01.4", "a weight used twice (hidden case)", shared_weight_path, check_shortest_path_quietly
    ),
    Case(
        "01.4",
        "an output computed under no_grad (hidden case)",
        partial(shared_weight_path, frozen=True),
        check_no_path,
    ),
]
