"""Exercise checks for lesson 01, against torch's own attributes and torchviz's graph."""

from __future__ import annotations

import pytest
import torch
from small_models import seeded_conv_net, seeded_input, seeded_mlp
from torchviz_reference import (
    label_counts,
    labelled_edges,
    parse_student_dot,
    shortest_path_to,
    torchviz_graph,
)


def mlp_loss(seed: int = 0):
    model = seeded_mlp(seed)
    loss = model(seeded_input(4, 8)).pow(2).mean()
    return model, loss


def autograd_leaves(output, named):
    """Names whose tensor receives a gradient from ``output``, asked of torch.autograd."""
    names = [n for n, t in named.items() if t.requires_grad and t.is_leaf]
    grads = torch.autograd.grad(
        output, [named[n] for n in names], allow_unused=True, retain_graph=True
    )
    return sorted(n for n, g in zip(names, grads, strict=True) if g is not None)


@pytest.mark.exercise("01.1", points=1)
def test_leaf_names_of_an_mlp(exercises):
    model, loss = mlp_loss()
    named = dict(model.named_parameters())
    got = exercises.leaf_names(loss, named)
    assert got == autograd_leaves(loss, named), f"got {got}"


@pytest.mark.exercise("01.1", points=1)
def test_leaf_names_skip_intermediates_and_unused(exercises):
    x = seeded_input(3, requires_grad=True)
    w = seeded_input(3, seed=2, requires_grad=True)
    unused = seeded_input(3, seed=3, requires_grad=True)
    const = seeded_input(3, seed=4)
    hidden = x * w
    out = (hidden + const).sum()
    named = {"x": x, "w": w, "unused": unused, "const": const, "hidden": hidden}
    got = exercises.leaf_names(out, named)
    assert got == autograd_leaves(out, named), f"expected {autograd_leaves(out, named)}, got {got}"


@pytest.mark.exercise("01.2", points=2)
def test_count_nodes_of_an_mlp(exercises):
    _, loss = mlp_loss()
    want = torchviz_graph(loss).number_of_nodes()
    got = exercises.count_graph_nodes(loss)
    assert got == want, f"torchviz draws {want} autograd nodes, you counted {got}"


@pytest.mark.exercise("01.2", points=2)
def test_count_nodes_with_shared_subgraphs(exercises):
    w = seeded_input(5, requires_grad=True)
    y = w * 2
    out = (y * y + y.exp() * w).sum()
    want = torchviz_graph(out).number_of_nodes()
    got = exercises.count_graph_nodes(out)
    assert got == want, f"nodes reached twice count once: want {want}, got {got}"


@pytest.mark.exercise("01.2", points=2)
def test_count_nodes_is_zero_without_a_graph(exercises):
    model = seeded_mlp()
    with torch.no_grad():
        out = model(seeded_input(2, 8)).sum()
    assert out.grad_fn is None
    got = exercises.count_graph_nodes(out)
    assert got == 0, f"no grad_fn means an empty graph, got {got}"
    _, loss = mlp_loss()
    got = exercises.count_graph_nodes(loss.detach())
    assert got == 0, f"a detached tensor has no graph, got {got}"


@pytest.mark.exercise("01.3", points=3)
def test_dot_source_matches_torchviz(exercises):
    _, loss = mlp_loss(seed=3)
    source = exercises.backward_graph_dot(loss)
    assert isinstance(source, str), f"return a str, not {type(source).__name__}"
    mine = parse_student_dot(source)
    ref = torchviz_graph(loss)
    assert label_counts(mine) == label_counts(ref), "node labels differ from torchviz's"
    assert labelled_edges(mine) == labelled_edges(ref), "edges differ from the graph's"


@pytest.mark.exercise("01.3", points=3)
def test_dot_source_of_a_conv_net(exercises):
    out = seeded_conv_net()(seeded_input(2, 1, 8, 8)).sum()
    mine = parse_student_dot(exercises.backward_graph_dot(out))
    ref = torchviz_graph(out)
    assert mine.number_of_nodes() == ref.number_of_nodes(), (
        f"{mine.number_of_nodes()} nodes, torchviz has {ref.number_of_nodes()}"
    )
    assert labelled_edges(mine) == labelled_edges(ref), "edges differ from the graph's"


def _valid_path(loss, param, names):
    """Does ``names`` spell a path of next_functions from loss.grad_fn to param's leaf node?"""
    frontier = [loss.grad_fn] if type(loss.grad_fn).__name__ == names[0] else []
    for name in names[1:]:
        frontier = [
            child
            for node in frontier
            for child, _ in node.next_functions
            if child is not None and type(child).__name__ == name
        ]
    return any(getattr(node, "variable", None) is param for node in frontier)


@pytest.mark.exercise("01.4", points=2)
@pytest.mark.parametrize("layer", ["0.weight", "2.bias"])
def test_path_to_parameter(exercises, layer):
    model, loss = mlp_loss()
    param = dict(model.named_parameters())[layer]
    names = exercises.path_to_parameter(loss, param)
    assert names, "the loss does depend on this parameter: the path is not empty"
    assert _valid_path(loss, param, names), f"{names} is not a path from the loss to {layer}"
    shortest = shortest_path_to(torchviz_graph(loss), loss, param)
    assert len(names) == shortest + 1, f"a shorter path has {shortest + 1} nodes: {names}"


@pytest.mark.exercise("01.4", points=2)
def test_path_is_shortest_and_empty_when_unreachable(exercises):
    w = seeded_input(3, requires_grad=True)
    other = seeded_input(3, seed=5, requires_grad=True)
    loss = (w.exp().sin() + w * 3).sum()
    names = exercises.path_to_parameter(loss, w)
    assert _valid_path(loss, w, names), f"{names} is not a path from the loss to w"
    assert len(names) == 4, f"the short way is Sum → Add → Mul → AccumulateGrad; got {names}"
    assert exercises.path_to_parameter(loss, other) == [], "unreachable parameter: expect []"
