"""Lesson 01's visible checks: each exercise against torch.autograd and torchviz's own graph.

``lessonlib check 01``, ``pytest`` and ``lessonlib grade`` all run these cases. Builders make
seeded graphs (they run where your function is called, and again where the judge runs);
judges compare your answer with the reference, never with a solution.
"""

from __future__ import annotations

import functools
from functools import partial

import torch

from lessonlib.classroom.cases import Case, Inputs, Mismatch, expect, expect_same_list, show
from lessonlib.classroom.guard import refuse
from lessonlib.classroom.references.small_models import (
    seeded_conv_net,
    seeded_input,
    seeded_mlp,
    shared_weight_net,
)
from lessonlib.classroom.references.torchviz import (
    label_counts,
    labelled_edges,
    read_any_dot,
    shortest_path_to,
    torchviz_graph,
)
from lessonlib.messages import _, ngettext

MAX_DOT_CHARS = 200_000

# ---------------------------------------------------------------- inputs


def mlp_loss(seed: int = 0, with_parameters: bool = False, layer: str = "") -> Inputs:
    """The squared-output loss of a seeded MLP (and its parameters, or one of them)."""
    model = seeded_mlp(seed)
    loss = model(seeded_input(4, 8)).pow(2).mean()
    named = dict(model.named_parameters())
    if layer:
        return Inputs(loss, named[layer])
    return Inputs(loss, named) if with_parameters else Inputs(loss)


def no_graph(how: str) -> Inputs:
    """An output with no grad_fn: made under torch.no_grad(), or detached."""
    model = seeded_mlp(0)
    if how == "detach":
        return Inputs(model(seeded_input(4, 8)).pow(2).mean().detach())
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


def conv_net_output() -> Inputs:
    return Inputs(seeded_conv_net()(seeded_input(2, 1, 8, 8)).sum())


def shared_weight(what: str = "output", frozen: bool = False) -> Inputs:
    """A weight used twice (weight tying) and a view in the middle."""
    out, named = shared_weight_net()
    if frozen:
        with torch.no_grad():
            out = (named["x"] @ named["w"]).sum()
    if what == "leaves":
        return Inputs(out, named)
    if what == "w":
        return Inputs(out, named["w"])
    return Inputs(out)


def residual_output(seed: int = 0) -> Inputs:
    """A residual block: x + f(x), so the input's node is reached along two paths."""
    model = seeded_mlp(seed, sizes=(6, 6, 6))
    x = seeded_input(3, 6, seed=seed + 1, requires_grad=True)
    return Inputs((x + model(x)).relu().sum())


def exp_sin_loss(reachable: bool = True) -> Inputs:
    """Two paths from the loss to w, of different lengths; or a leaf the loss never uses."""
    w = seeded_input(3, requires_grad=True)
    other = seeded_input(3, seed=5, requires_grad=True)
    return Inputs((w.exp().sin() + w * 3).sum(), w if reachable else other)


# ---------------------------------------------------------------- references


@functools.cache
def reference_graph(output: torch.Tensor):
    """torchviz's graph of one of the judge's own inputs (built once, reused)."""
    return torchviz_graph(output)


def autograd_leaves(output, named) -> list[str]:
    """The names whose tensor receives a gradient from ``output``, asked of torch.autograd."""
    refuse("*", "the checks' autograd_leaves")
    names = [n for n, t in named.items() if t.requires_grad and t.is_leaf]
    grads = torch.autograd.grad(
        output, [named[n] for n in names], allow_unused=True, retain_graph=True
    )
    return sorted(n for n, g in zip(names, grads, strict=True) if g is not None)


# ---------------------------------------------------------------- 01.1


def same_leaves(got, inputs, files) -> None:
    want = autograd_leaves(*inputs.args)
    expect(
        type(got) is list and all(type(n) is str for n in got),
        _("return a list of names (str), not {got}.").format(got=show(got)),
    )
    expect(
        got == sorted(got),
        _("you returned {got}, not in sorted order: return sorted(names).").format(got=show(got)),
        hint=3,
    )
    extra = sorted(set(got) - set(want))
    expect(
        not extra,
        _("{names} get no gradient from this output (not a leaf it uses).").format(
            names=show(extra)
        ),
        3,
    )
    expect_same_list(got, want, _("the leaf names"), hint=2)


# ---------------------------------------------------------------- 01.2


def same_node_count(got, inputs, files) -> None:
    expect(type(got) is int, _("return an int, not {got}.").format(got=show(got)))
    want = reference_graph(inputs.args[0]).number_of_nodes()
    if got > want:
        raise Mismatch(
            _(
                "torchviz draws {want} autograd nodes, you counted {got}, more than there are: "
                "was a node counted more than once? (Some are reached along several paths.)"
            ).format(want=want, got=got),
            2,
        )
    expect(
        got == want,
        _(
            "torchviz draws {want} autograd nodes, you counted {got}: count every node you can "
            "reach from grad_fn, the root and the AccumulateGrad leaves included."
        ).format(want=want, got=got),
        hint=3,
    )


def zero_nodes(got, inputs, files) -> None:
    expect(
        type(got) is int and got == 0,
        _("a tensor without grad_fn has an empty graph: expected 0, got {got}.").format(
            got=show(got)
        ),
        hint=3,
    )


# ---------------------------------------------------------------- 01.3


def _read_student_dot(got):
    expect(
        isinstance(got, str),
        _("return the DOT source as a str, not {got}.").format(got=show(got)),
        hint=1,
    )
    expect(len(got) <= MAX_DOT_CHARS, _("the DOT source is far longer than this graph needs."))
    try:
        return read_any_dot(got)
    except ValueError as exc:
        raise Mismatch(str(exc), 1) from exc


def _nodes(n: int) -> str:
    return ngettext("{n} node", "{n} nodes", n).format(n=n)


def same_dot_graph(got, inputs, files) -> None:
    mine, ref = _read_student_dot(got), reference_graph(inputs.args[0])
    mine_labels, ref_labels = label_counts(mine), label_counts(ref)
    strange = sorted(set(mine_labels) - set(ref_labels))
    if strange:
        raise Mismatch(
            _(
                "your DOT labels a node {label!r}, a name the graph does not have: label each "
                "node with its class name, type(node).__name__ (e.g. {example!r})."
            ).format(label=strange[0], example=sorted(ref_labels)[0]),
            2,
        )
    for label in sorted(ref_labels):
        m, r = mine_labels[label], ref_labels[label]
        if m > r:
            raise Mismatch(
                _(
                    "your DOT has {nodes} labelled {label}, the graph has {want}: a node reached "
                    "along two paths must be written once (give each autograd node one id)."
                ).format(nodes=_nodes(m), label=label, want=r),
                2,
            )
        expect(
            m == r,
            _(
                "your DOT has {nodes} labelled {label}, the graph has {want}: visit every node "
                "reachable through next_functions."
            ).format(nodes=_nodes(m), label=label, want=r),
            hint=3,
        )
    mine_edges, ref_edges = labelled_edges(mine), labelled_edges(ref)
    missing = sorted((ref_edges - mine_edges).elements())
    extra = sorted((mine_edges - ref_edges).elements())
    if missing:
        raise Mismatch(
            _("an edge {tail} -> {head} is missing.").format(
                tail=missing[0][0], head=missing[0][1]
            ),
            3,
        )
    if extra:
        raise Mismatch(
            _("the graph has no edge {tail} -> {head}.").format(tail=extra[0][0], head=extra[0][1]),
            3,
        )


# ---------------------------------------------------------------- 01.4


def _path_break(loss, param, names) -> int | None:
    """The first position where ``names`` stops being a path of next_functions (None: valid)."""
    frontier = [loss.grad_fn] if type(loss.grad_fn).__name__ == names[0] else []
    if not frontier:
        return 0
    for i, name in enumerate(names[1:], start=1):
        frontier = [
            child
            for node in frontier
            for child, _ in node.next_functions
            if child is not None and type(child).__name__ == name
        ]
        if not frontier:
            return i
    return None if any(getattr(n, "variable", None) is param for n in frontier) else len(names)


def shortest_path(got, inputs, files) -> None:
    loss, param = inputs.args
    expect(
        type(got) is list and all(type(n) is str for n in got),
        _("return a list of class names (str), not {got}.").format(got=show(got)),
    )
    expect(got, _("the loss does depend on this parameter: the path is not empty."), hint=1)
    broken = _path_break(loss, param, got)
    if broken == 0:
        raise Mismatch(
            _("the path starts with {first!r}, but loss.grad_fn is {root}.").format(
                first=got[0], root=type(loss.grad_fn).__name__
            ),
            3,
        )
    if broken is not None and broken < len(got):
        raise Mismatch(
            _("{node!r} (position {where}) is not in next_functions of {parent!r}.").format(
                node=got[broken], where=broken, parent=got[broken - 1]
            ),
            2,
        )
    expect(
        broken is None,
        _("the path ends at {last!r}, not at the parameter's node.").format(last=got[-1]),
        2,
    )
    shortest = shortest_path_to(reference_graph(loss), loss, param) + 1
    expect(
        len(got) == shortest,
        _("your path has {got} nodes; the shortest has {want}: search breadth-first.").format(
            got=len(got), want=shortest
        ),
        hint=1,
    )


def no_path(got, inputs, files) -> None:
    expect(
        got == [],
        _("the gradient never reaches this tensor: expect [], got {got}.").format(got=show(got)),
        3,
    )


CASES = [
    Case(
        "01.1",
        "the parameters of a two-layer MLP",
        partial(mlp_loss, with_parameters=True),
        same_leaves,
    ),
    Case(
        "01.1",
        "leaves, an intermediate, a constant and an unused leaf",
        intermediates_and_unused,
        same_leaves,
    ),
    Case("01.2", "the loss of a two-layer MLP", mlp_loss, same_node_count),
    Case("01.2", "an intermediate used three times", shared_subgraph, same_node_count),
    Case("01.2", "an output made under torch.no_grad()", partial(no_graph, "no_grad"), zero_nodes),
    Case("01.2", "a detached loss", partial(no_graph, "detach"), zero_nodes),
    Case("01.3", "the loss of an MLP (seed 3)", partial(mlp_loss, seed=3), same_dot_graph),
    Case("01.3", "a small conv net with BatchNorm", conv_net_output, same_dot_graph),
    Case(
        "01.3",
        "a weight used twice (a node reached along two paths)",
        shared_weight,
        same_dot_graph,
    ),
    Case(
        "01.4",
        "an MLP loss and its first weight",
        partial(mlp_loss, layer="0.weight"),
        shortest_path,
    ),
    Case("01.4", "an MLP loss and its last bias", partial(mlp_loss, layer="2.bias"), shortest_path),
    Case("01.4", "a loss with a long and a short way to w", exp_sin_loss, shortest_path),
    Case("01.4", "a leaf the loss never uses", partial(exp_sin_loss, reachable=False), no_path),
]
