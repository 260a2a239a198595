"""Reference facts about a backward graph, taken from torchviz's own drawing of it."""

from __future__ import annotations

import warnings
from collections import Counter

import networkx as nx
import pydot
import torch

from lessonlib.classroom.guard import refuse
from lessonlib.classroom.references.dot_reader import DotSyntaxError, read_dot

_TENSOR_COLOURS = {"lightblue", "orange", "darkolivegreen1", "darkolivegreen3"}


def torchviz_graph(output: torch.Tensor) -> nx.DiGraph:
    """torchviz's graph of ``output`` as networkx, autograd nodes only, edges root → leaves.

    torchviz draws tensors (coloured boxes) and autograd functions (plain boxes) with edges
    from inputs towards the output; we keep the functions and flip the edges so they point
    the way ``next_functions`` does.
    """
    from torchviz import make_dot

    refuse("*", "lessonlib.classroom.references.torchviz.torchviz_graph")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        source = make_dot(output).source
    try:  # the fast reader (pydot's parser takes ~0.2 s a graph); pydot when it is unsure
        drawn = read_dot(source)
        nodes = [(n, {k: v.strip('"') for k, v in a.items()}) for n, a in drawn.nodes(data=True)]
        edges = list(drawn.edges)
    except DotSyntaxError:
        (parsed,) = pydot.graph_from_dot_data(source)
        nodes = [
            (n.get_name(), {k: v.strip('"') for k, v in n.get_attributes().items()})
            for n in parsed.get_nodes()
            if n.get_name() not in ("node", "graph", "edge")
        ]
        edges = [(e.get_source(), e.get_destination()) for e in parsed.get_edges()]
    graph = nx.DiGraph()
    for name, attrs in nodes:
        if attrs.get("fillcolor", "") not in _TENSOR_COLOURS:
            graph.add_node(name, label=attrs["label"])
    for src, dst in edges:
        if src in graph and dst in graph:
            graph.add_edge(dst, src)
        elif dst in graph:  # a leaf tensor drawn next to its AccumulateGrad node
            graph.nodes[dst]["variable"] = src
    return graph


def shortest_path_to(graph: nx.DiGraph, output: torch.Tensor, leaf: torch.Tensor) -> int | None:
    """Edges on the shortest path from output.grad_fn to ``leaf``'s node (None: unreachable)."""
    root = str(id(output.grad_fn))
    targets = [n for n, v in graph.nodes(data="variable") if v == str(id(leaf))]
    lengths = nx.single_source_shortest_path_length(graph, root)
    found = [lengths[t] for t in targets if t in lengths]
    return min(found) if found else None


def label_counts(graph: nx.DiGraph) -> Counter:
    return Counter(data["label"] for _, data in graph.nodes(data=True))


def labelled_edges(graph: nx.DiGraph) -> Counter:
    labels = nx.get_node_attributes(graph, "label")
    return Counter((labels[a], labels[b]) for a, b in graph.edges)


def parse_student_dot(source: str) -> nx.DiGraph:
    """A student's DOT source as networkx (node labels kept), or an AssertionError."""
    parsed = pydot.graph_from_dot_data(source)
    assert parsed, "the DOT source could not be parsed"
    graph = nx.DiGraph()
    dot = parsed[0]
    for node in dot.get_nodes():
        name = node.get_name()
        if name in ("node", "graph", "edge"):
            continue
        label = (node.get_attributes().get("label") or name).strip('"')
        graph.add_node(name, label=label)
    for edge in dot.get_edges():
        src, dst = edge.get_source(), edge.get_destination()
        for end in (src, dst):
            if end not in graph:
                graph.add_node(end, label=end.strip('"'))
        graph.add_edge(src, dst)
    return graph
