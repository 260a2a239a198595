"""Lesson 01 exercises, solved. Never shipped to students."""

from __future__ import annotations

import torch


def _nodes(output: torch.Tensor) -> list:
    """Every autograd node reachable from ``output.grad_fn``, each once, in BFS order."""
    from collections import deque

    if output.grad_fn is None:
        return []
    seen = {output.grad_fn}
    order = [output.grad_fn]
    queue = deque(order)
    while queue:
        node = queue.popleft()
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                order.append(child)
                queue.append(child)
    return order


def leaf_names(output: torch.Tensor, named_tensors: dict[str, torch.Tensor]) -> list[str]:
    """TODO(01.1) solved: names of the given leaf tensors that ``output``'s gradient reaches."""
    leaves = {id(node.variable) for node in _nodes(output) if hasattr(node, "variable")}
    return sorted(name for name, t in named_tensors.items() if id(t) in leaves)


def count_graph_nodes(output: torch.Tensor) -> int:
    """TODO(01.2) solved: the number of distinct nodes in ``output``'s backward graph."""
    return len(_nodes(output))


def backward_graph_dot(output: torch.Tensor) -> str:
    """TODO(01.3) solved: DOT source of the backward graph, built by walking ``grad_fn``."""
    nodes = _nodes(output)
    ids = {node: f"n{i}" for i, node in enumerate(nodes)}
    lines = ["digraph backward {", "  node [shape=box];"]
    for node in nodes:
        lines.append(f'  {ids[node]} [label="{type(node).__name__}"];')
    for node in nodes:
        for child, _ in node.next_functions:
            if child is not None:
                lines.append(f"  {ids[node]} -> {ids[child]};")
    lines.append("}")
    return "\n".join(lines)


def path_to_parameter(loss: torch.Tensor, param: torch.Tensor) -> list[str]:
    """TODO(01.4) solved: op names on a shortest path from ``loss.grad_fn`` to ``param``."""
    from collections import deque

    if loss.grad_fn is None:
        return []
    parent = {loss.grad_fn: None}
    queue = deque([loss.grad_fn])
    while queue:
        node = queue.popleft()
        if getattr(node, "variable", None) is param:
            path = []
            while node is not None:
                path.append(type(node).__name__)
                node = parent[node]
            return path[::-1]
        for child, _ in node.next_functions:
            if child is not None and child not in parent:
                parent[child] = node
                queue.append(child)
    return []
