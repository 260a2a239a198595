"""Instructor-only checks for lesson 01: cases the visible tests do not show."""

from __future__ import annotations

import pytest
import torch
from small_models import shared_weight_net
from torchviz_reference import labelled_edges, parse_student_dot, shortest_path_to, torchviz_graph


@pytest.mark.exercise("01.1", points=1)
def test_leaves_with_a_shared_weight(exercises):
    out, named = shared_weight_net()
    assert exercises.leaf_names(out, named) == ["b", "w"]


@pytest.mark.exercise("01.2", points=2)
def test_count_with_a_shared_weight(exercises):
    out, _ = shared_weight_net()
    assert exercises.count_graph_nodes(out) == torchviz_graph(out).number_of_nodes()


@pytest.mark.exercise("01.3", points=3)
def test_dot_with_a_shared_weight(exercises):
    out, _ = shared_weight_net()
    mine = parse_student_dot(exercises.backward_graph_dot(out))
    assert labelled_edges(mine) == labelled_edges(torchviz_graph(out))


@pytest.mark.exercise("01.4", points=2)
def test_path_with_a_shared_weight_is_the_shortest(exercises):
    out, named = shared_weight_net()
    names = exercises.path_to_parameter(out, named["w"])
    assert names[0] == type(out.grad_fn).__name__ and names[-1] == "AccumulateGrad"
    assert len(names) == shortest_path_to(torchviz_graph(out), out, named["w"]) + 1
    with torch.no_grad():
        frozen = (named["x"] @ named["w"]).sum()
    assert exercises.path_to_parameter(frozen, named["w"]) == []
