"""The grader's fast DOT reader agrees with pydot on the DOT students write, refuses the rest."""

from __future__ import annotations

import pytest

from lessonlib.classroom.references.dot_reader import DotSyntaxError, read_dot
from lessonlib.classroom.references.torchviz import label_counts, labelled_edges, parse_student_dot

VARIANTS = [
    'digraph g {\n  node [shape=box];\n  n0 [label="SumBackward0"];\n  n1 [label="AccumulateGrad"];'
    "\n  n0 -> n1;\n}",
    'digraph { a [label="MulBackward0"] b [label="AccumulateGrad"] a -> b a -> b }',
    '/* c */ strict digraph "named graph" {\n // comment\n rankdir=LR\n'
    ' 1 [label="AddBackward0", shape=box]; 2 [label=ExpBackward0]; 1 -> 2 -> 3 [color=red]; }',
    'digraph {\n# a preprocessor-style line\n"n 0" [label="A"]; "n 1" [label="B"];'
    ' "n 0" -> "n 1"\n}',
    "digraph { edge [style=dashed] node [fontname=Courier] x -> y; x [label=<b>X</b>] }",
]


@pytest.mark.parametrize("source", VARIANTS)
def test_agrees_with_pydot(source):
    mine, ref = read_dot(source), parse_student_dot(source)
    assert label_counts(mine) == label_counts(ref)
    assert labelled_edges(mine) == labelled_edges(ref)


@pytest.mark.parametrize(
    "source",
    [
        "graph { a -- b }",
        "digraph { subgraph s { a -> b } }",
        "digraph { a -> }",
        'digraph { a [label="x" }',
        "digraph { a -> b } trailing",
        "",
        "not dot at all",
        "digraph {",
    ],
)
def test_refuses_what_it_does_not_understand(source):
    with pytest.raises(DotSyntaxError):
        read_dot(source)
