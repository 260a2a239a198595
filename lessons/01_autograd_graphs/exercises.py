"""Lesson 01 exercises: read the backward graph yourself.

Each function takes tensors and returns plain data (names, numbers, strings). Check your
work with ``lessonlib check 01``; stuck? ``lessonlib hint 01.2``.
"""

from __future__ import annotations

import torch


def leaf_names(output: torch.Tensor, named_tensors: dict[str, torch.Tensor]) -> list[str]:
    """Return, sorted, the names in ``named_tensors`` of the leaf tensors ``output`` depends on.

    A leaf here is a tensor that autograd accumulates a gradient into when you call
    ``output.backward()`` (a parameter, or an input created with ``requires_grad=True``).
    Tensors in ``named_tensors`` that do not reach ``output``, or that are not leaves
    (intermediate results), are left out. Do not call ``backward`` — read the graph.
    """
    raise NotImplementedError("TODO(01.1)")


def count_graph_nodes(output: torch.Tensor) -> int:
    """Return how many distinct autograd nodes ``output``'s backward graph has.

    Start at ``output.grad_fn`` and follow ``next_functions``; count every node once,
    including the ``AccumulateGrad`` nodes at the leaves. A tensor without ``grad_fn``
    (made under ``torch.no_grad()`` or by ``detach()``) has an empty graph: return 0.
    """
    raise NotImplementedError("TODO(01.2)")


def backward_graph_dot(output: torch.Tensor) -> str:
    """Return Graphviz DOT source for ``output``'s backward graph, without torchviz.

    One node per distinct autograd node, labelled with its class name
    (``type(node).__name__``, e.g. ``AddmmBackward0``); one edge from each node to each
    node in its ``next_functions`` (skip ``None`` entries). Node ids are up to you.
    """
    raise NotImplementedError("TODO(01.3)")


def path_to_parameter(loss: torch.Tensor, param: torch.Tensor) -> list[str]:
    """Return the class names of the nodes on a shortest path from ``loss.grad_fn`` to ``param``.

    The path starts with ``type(loss.grad_fn).__name__`` and ends with the
    ``AccumulateGrad`` node whose ``.variable`` is ``param``. If the gradient of ``loss``
    never reaches ``param``, return an empty list.
    """
    raise NotImplementedError("TODO(01.4)")
